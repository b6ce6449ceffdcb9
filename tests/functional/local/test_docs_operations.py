"""docs/local.md's operations table cannot rot: it lists every operation of the emulated resource families in
botocore's models, once, and says "yes" exactly for the operations the backend serves."""

from __future__ import annotations

import re
from pathlib import Path

import botocore.session
import pytest

from truthloop.local import LocalBackend
from truthloop.local.a2i import A2I_OPERATIONS
from truthloop.local.sagemaker import served_operations

DOC = Path(__file__).resolve().parents[3] / "docs" / "local.md"
#: the SageMaker resource families the backend emulates, by operation name
FAMILIES = re.compile(
    r"Workforce|Workteam|HumanTaskUi|FlowDefinition|LabelingJob|^(Add|List|Delete)Tags$|RenderUiTemplate"
)
ROW = re.compile(r"^\| `(?P<service>[a-z0-9-]+):(?P<operation>\w+)` \| (?P<served>yes|no) \| (?P<notes>.+) \|$")


def _rows() -> list[re.Match[str]]:
    return [m for line in DOC.read_text().splitlines() if (m := ROW.match(line))]


def _aws_operations() -> set[str]:
    session = botocore.session.get_session()
    names = session.get_service_model("sagemaker").operation_names
    sagemaker = {f"sagemaker:{op}" for op in names if FAMILIES.search(op)}
    a2i = {f"sagemaker-a2i-runtime:{op}" for op in session.get_service_model("sagemaker-a2i-runtime").operation_names}
    return sagemaker | a2i


def _served() -> set[str]:
    return {f"sagemaker:{op}" for op in served_operations()} | {f"sagemaker-a2i-runtime:{op}" for op in A2I_OPERATIONS}


def test_the_table_lists_every_operation_of_the_families_once() -> None:
    # GIVEN the table's rows and botocore's operations of these resource families
    listed = [f"{m['service']}:{m['operation']}" for m in _rows()]
    # THEN each operation has exactly one row, and no row names an operation AWS does not have
    assert sorted(listed) == sorted(_aws_operations())


def test_served_says_yes_exactly_for_the_served_operations() -> None:
    # GIVEN what the table says is served
    said = {f"{m['service']}:{m['operation']}" for m in _rows() if m["served"] == "yes"}
    # THEN it is what the backend serves (every served operation is one of these families)
    assert said == _served()


@pytest.mark.parametrize("row", _rows(), ids=lambda m: m["operation"])
def test_every_row_says_something(row: re.Match[str]) -> None:
    assert len(row["notes"].strip()) >= 9  # "None known" at least: a blank cell is not an answer


def test_served_operations_are_what_a_running_backend_dispatches(backend: LocalBackend) -> None:
    # THEN the list read without a backend is what a running one serves
    assert backend.sagemaker.operations == served_operations()
