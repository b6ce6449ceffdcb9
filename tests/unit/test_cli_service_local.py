"""``truthloop service local`` reports a busy port and a wrong ``--lambda`` in one line, not a traceback."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from truthloop.cli import main


def test_a_busy_port_is_reported_in_one_line(tmp_path: Path) -> None:
    # GIVEN a port another program listens on
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        # WHEN the service is started on it
        result = CliRunner().invoke(main, ["service", "local", "--port", port, "--data-dir", str(tmp_path)])
    # THEN the command fails naming the address, without a traceback
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.output
    assert "Traceback" not in result.output


PRE = "arn:aws:lambda:us-east-1:123456789012:function:sagemaker-pre"


@pytest.mark.parametrize(
    ("value", "code", "fragment"),
    [
        ("not-an-arn=pkg:fn", 2, "must look like ARN=module:function"),
        (f"{PRE}=nowhere/handler.py:handler", 1, "'nowhere/handler.py' does not exist"),
    ],
    ids=["malformed", "missing-file"],
)
def test_a_wrong_lambda_option_is_one_line(tmp_path: Path, value: str, code: int, fragment: str) -> None:
    # WHEN the service is started with a --lambda that is malformed or names a handler file that does not exist
    args = ["service", "local", "--port", "0", "--data-dir", str(tmp_path), "--lambda", value]
    result = CliRunner().invoke(main, args)
    # THEN it stops before serving, naming the value (and the ARN), without a traceback
    assert result.exit_code == code
    assert fragment in result.output and "Traceback" not in result.output
