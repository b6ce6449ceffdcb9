"""Every CLI command and sub-command has help text with an example."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from truthloop.cli import main


def _walk(group: click.Group, prefix: tuple[str, ...]) -> list[tuple[str, ...]]:
    ctx = click.Context(group)
    paths = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        paths.append((*prefix, name))
        if isinstance(command, click.Group):
            paths += _walk(command, (*prefix, name))
    return paths


COMMANDS = _walk(main, ())


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(p) for p in COMMANDS])
def test_command_help_has_an_example(path: tuple[str, ...]) -> None:
    # WHEN
    result = CliRunner().invoke(main, [*path, "--help"], catch_exceptions=False)
    # THEN
    assert result.exit_code == 0, result.output
    assert "Example" in result.output, f"`truthloop {' '.join(path)} --help` shows no example"
    assert f"truthloop {' '.join(path)}" in result.output, "the example should show the command itself"
