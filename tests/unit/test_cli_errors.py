"""``truthloop``'s one error handler: every error a user can cause is one line naming what went wrong."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from truthloop.cli import error_message, main
from truthloop.exceptions import ConfigurationError, TemplateError, TruthloopError


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _one_line(output: str) -> str:
    lines = output.strip().splitlines()
    assert "Traceback" not in output and len(lines) == 1, output
    return lines[0]


@pytest.mark.parametrize("port", ["99999", "-1"])
def test_local_up_with_an_impossible_port_is_one_line(tmp_path: Path, port: str) -> None:
    # WHEN
    result = CliRunner().invoke(main, ["local", "up", "--port", port, "--data-dir", str(tmp_path)])
    # THEN
    assert result.exit_code == 1
    assert "port must be an integer from 0 to 65535" in _one_line(result.output)


@pytest.mark.parametrize("command", [["workers", "--idle-seconds", "0.1"], ["status"]])
def test_local_commands_against_a_stopped_backend_name_it(tmp_path: Path, command: list[str]) -> None:
    # GIVEN backend.json left behind by a backend that is no longer running (killed, or its port now closed)
    endpoint = f"http://127.0.0.1:{_free_port()}"
    (tmp_path / "backend.json").write_text(json.dumps({"endpoint": endpoint, "admin_token": "t"}), encoding="utf-8")
    # WHEN
    result = CliRunner().invoke(main, ["local", *command, "--data-dir", str(tmp_path)])
    # THEN
    assert result.exit_code == 1
    line = _one_line(result.output)
    assert f"the local backend at {endpoint} does not answer" in line and "truthloop local up" in line


@pytest.mark.parametrize(
    ("content", "reason"),
    [("", "is not valid JSON"), ('{"endpoint": ', "is not valid JSON"), ("[]", "is not a JSON object")],
)
def test_local_status_with_an_unreadable_backend_json_is_one_line(tmp_path: Path, content: str, reason: str) -> None:
    # GIVEN backend.json empty, cut short or not an object (as a reader saw it while an older backend rewrote it)
    (tmp_path / "backend.json").write_text(content, encoding="utf-8")
    # WHEN
    result = CliRunner().invoke(main, ["local", "status", "--data-dir", str(tmp_path)])
    # THEN one line names the file and what is wrong with it
    assert result.exit_code == 1
    line = _one_line(result.output)
    assert "backend.json" in line and reason in line


def test_the_state_file_is_replaced_whole(tmp_path: Path) -> None:
    # GIVEN an old backend.json
    from truthloop.local.backend import read_state, write_state_file

    write_state_file(tmp_path / "backend.json", {"pid": 1})
    # WHEN a new one is written THEN it replaces the old whole, with mode 0600 and no temporary file left
    write_state_file(tmp_path / "backend.json", {"pid": 2, "endpoint": "http://127.0.0.1:9"})
    assert read_state(tmp_path) == {"pid": 2, "endpoint": "http://127.0.0.1:9"}
    assert (tmp_path / "backend.json").stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["backend.json"]


def test_local_workers_with_a_bad_gold_file_is_one_line(tmp_path: Path) -> None:
    # GIVEN a running-looking backend and a gold file whose second line is not JSON
    (tmp_path / "backend.json").write_text(json.dumps({"endpoint": "http://127.0.0.1:9", "admin_token": "t"}))
    gold = tmp_path / "gold.jsonl"
    gold.write_text('{"key": "a", "label": "x"}\n{oops\n', encoding="utf-8")
    # WHEN
    result = CliRunner().invoke(main, ["local", "workers", "--data-dir", str(tmp_path), "--gold", str(gold)])
    # THEN
    assert result.exit_code == 1 and f"{gold}:2: not valid JSON" in _one_line(result.output)


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (ConfigurationError("threshold must be within 0..1"), "threshold must be within 0..1"),
        (FileNotFoundError(2, "No such file or directory", "in.json"), "in.json: No such file or directory"),
    ],
)
def test_error_message_maps_user_errors(error: BaseException, message: str) -> None:
    assert error_message(error) == message


def test_error_message_leaves_bugs_alone() -> None:
    assert error_message(KeyError("x")) is None and error_message(AttributeError("y")) is None


def test_a_bug_keeps_its_traceback() -> None:
    # GIVEN a command failing with a programming error
    @main.command("explode-for-test")
    def explode() -> None:
        raise KeyError("bug")

    try:
        # WHEN
        result = CliRunner().invoke(main, ["explode-for-test"])
    finally:
        main.commands.pop("explode-for-test")
    # THEN it is not dressed up as a user error
    assert isinstance(result.exception, KeyError)


def test_each_command_module_no_longer_maps_errors_itself() -> None:
    # GIVEN the command modules
    root = Path(__file__).resolve().parents[2] / "sdk" / "truthloop"
    offenders = []
    for path in sorted(root.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if "raise click.ClickException(str(exc))" in text:
            offenders.append(str(path.relative_to(root)))
    # THEN the one place in truthloop/cli.py is the only mapping
    assert offenders == []


def _literal() -> None:
    from truthloop.templates._literal import parse_literal

    parse_literal("{oops")


def _comprehend() -> None:
    from truthloop.review.adapters.comprehend import classify_document

    classify_document({"Classes": []}, multi_label_threshold=2.0)


def _endpoint() -> None:
    from truthloop.review.adapters import adapt

    adapt("sagemaker:invoke_endpoint", {"predictions": [0.5]}, score_scale=0)


def _preferences() -> None:
    from truthloop.export.preferences import expand_ranking

    expand_ranking([1, 2], ties="sometimes")  # type: ignore[arg-type]


def _simulate() -> None:
    from truthloop.local.simulate import Crowd

    Crowd("http://127.0.0.1:9", admin_token="t", count=0)


@pytest.mark.parametrize(
    ("call", "kind"),
    [
        (_literal, TemplateError),
        (_comprehend, ConfigurationError),
        (_endpoint, ConfigurationError),
        (_preferences, ConfigurationError),
        (_simulate, ConfigurationError),
    ],
)
def test_user_errors_from_the_sdk_are_truthloop_errors(call: Callable[[], None], kind: type[TruthloopError]) -> None:
    # WHEN an entry point gets a bad argument / THEN it raises a TruthloopError subclass (still a ValueError)
    with pytest.raises(kind) as info:
        call()
    assert isinstance(info.value, ValueError)
