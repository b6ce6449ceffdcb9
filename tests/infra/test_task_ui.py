"""HumanTaskUi: a CfnHumanTaskUi from a template file, linted at synth (a lint error fails with file:line)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest

from tests.infra.support import ENV, REVIEW_TEMPLATE, cfn_lint, new_app, one, template
from truthloop.cdk._common import ConstructPropsError
from truthloop.cdk.task_ui import MAX_TEMPLATE_CHARS, HumanTaskUi, resolve_template
from truthloop.exceptions import TemplateLintError
from truthloop.naming import deterministic_name


def _has_linter() -> bool:
    try:
        from truthloop.templates import lint  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def synthesized(outdir: Path) -> tuple[HumanTaskUi, dict[str, Any]]:
    # GIVEN a task UI built from a template file
    app = new_app(outdir)
    stack = cdk.Stack(app, "Ui", env=ENV)
    ui = HumanTaskUi(stack, "TaskUi", template=REVIEW_TEMPLATE, name_prefix="acme-review")
    # WHEN synthesized
    return ui, template(stack)


def test_task_ui_holds_the_template_under_a_content_hash_name(synthesized: tuple[HumanTaskUi, Any]) -> None:
    ui, tpl = synthesized
    # THEN
    props = one(tpl, "AWS::SageMaker::HumanTaskUi")["Properties"]
    content = REVIEW_TEMPLATE.read_text()
    assert props["UiTemplate"] == {"Content": content}
    assert props["HumanTaskUiName"] == deterministic_name("acme-review", content, max_length=63, lower=True)
    assert ui.human_task_ui_name == props["HumanTaskUiName"]
    assert len(ui.human_task_ui_name) <= 63


def test_a_changed_template_gets_a_new_name(tmp_path: Path) -> None:
    # GIVEN two versions of one template
    first, second = tmp_path / "a.liquid.html", tmp_path / "b.liquid.html"
    first.write_text(REVIEW_TEMPLATE.read_text())
    second.write_text(REVIEW_TEMPLATE.read_text().replace("Is the model right?", "Is the model correct?"))
    stack = cdk.Stack(cdk.App(), "S", env=ENV)
    # WHEN
    names = {HumanTaskUi(stack, p.stem, template=p).human_task_ui_name for p in (first, second)}
    # THEN a new UI is deployed (a replacement) rather than the old one edited in place
    assert len(names) == 2


@pytest.mark.skipif(not _has_linter(), reason="truthloop.templates.lint is not available")
def test_a_lint_error_fails_with_the_file_and_line(tmp_path: Path) -> None:
    # GIVEN a template whose line 3 reuses a widget name
    path = tmp_path / "broken.liquid.html"
    path.write_text(
        "<crowd-form>\n"
        '  <crowd-input name="answer"></crowd-input>\n'
        '  <crowd-input name="answer"></crowd-input>\n'
        "</crowd-form>\n"
    )
    stack = cdk.Stack(cdk.App(), "S", env=ENV)
    # WHEN / THEN
    with pytest.raises(TemplateLintError) as caught:
        HumanTaskUi(stack, "Ui", template=path)
    assert any(f"{path}:3:" in problem for problem in caught.value.problems), caught.value.problems


def test_catalogue_names_resolve_to_templates_dir() -> None:
    path = resolve_template("a2i/endpoint-prediction-review")
    assert path.parts[-3:] == ("templates", "a2i", "endpoint-prediction-review.liquid.html")


def test_existing_ui_arn_creates_nothing() -> None:
    stack = cdk.Stack(cdk.App(), "S", env=ENV)
    arn = "arn:aws:sagemaker:us-east-1:111122223333:human-task-ui/my-review"
    ui = HumanTaskUi(stack, "Ui", existing_human_task_ui_arn=arn)
    assert (ui.human_task_ui_arn, ui.human_task_ui_name, ui.human_task_ui) == (arn, "my-review", None)


def test_bad_props_are_reported_together(tmp_path: Path) -> None:
    # GIVEN an oversized template, a bad prefix and both sources at once
    big = tmp_path / "big.liquid.html"
    big.write_text("<crowd-form>" + "x" * MAX_TEMPLATE_CHARS + "</crowd-form>")
    stack = cdk.Stack(cdk.App(), "S", env=ENV)
    with pytest.raises(ConstructPropsError) as caught:
        HumanTaskUi(
            stack,
            "Ui",
            template=big,
            existing_human_task_ui_arn="arn:aws:sagemaker:us-east-1:111122223333:workteam/x",
            name_prefix="Not_Valid",
        )
    text = "\n".join(caught.value.problems)
    assert "give only one of template, existing_human_task_ui_arn" in text
    assert "is not a human task UI ARN" in text
    assert "name_prefix 'Not_Valid'" in text
    assert f"a task UI holds at most {MAX_TEMPLATE_CHARS}" in text


def test_a_missing_template_lists_what_exists() -> None:
    stack = cdk.Stack(cdk.App(), "S", env=ENV)
    with pytest.raises(ConstructPropsError, match=r"template a2i/no-such-review not found at .*no-such-review"):
        HumanTaskUi(stack, "Ui", template="a2i/no-such-review")


def test_cfn_lint_finds_nothing(synthesized: tuple[HumanTaskUi, dict[str, Any]]) -> None:
    assert cfn_lint(synthesized[1]) == []
