"""``truthloop service local`` reports a busy port in one line, not a traceback."""

from __future__ import annotations

import socket
from pathlib import Path

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
