"""The ``truthloop`` command. Each area contributes its own click command from ``truthloop/<area>/cli.py``.

Commands are imported lazily so ``truthloop --help`` stays fast and an area's optional dependencies are
only needed when its command runs.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

import click

__all__ = ["COMMANDS", "main"]

#: command name → "module:attribute" of the click command implementing it.
COMMANDS: dict[str, str] = {
    "contracts": "truthloop.contracts.cli:contracts",
    "templates": "truthloop.templates.cli:templates",
    "local": "truthloop.local.cli:local",
    "demo": "truthloop.local.demo:demo",
    "review": "truthloop.review.cli:review",
    "labeling": "truthloop.labeling.cli:labeling",
    "consolidate": "truthloop.consolidation.cli:consolidate",
    "agreement": "truthloop.consolidation.cli:agreement",
    "manifest": "truthloop.manifest.cli:manifest",
    "export": "truthloop.export.cli:export",
    "leaderboard": "truthloop.leaderboard.cli:leaderboard",
}


def _available(name: str) -> bool:
    module = COMMANDS[name].split(":", 1)[0]
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


class LazyGroup(click.Group):
    """A click group that imports each sub-command only when it is listed or invoked."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | {n for n in COMMANDS if _available(n)})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None or cmd_name not in COMMANDS or not _available(cmd_name):
            return command
        module_name, attr = COMMANDS[cmd_name].split(":", 1)
        loaded: Any = getattr(importlib.import_module(module_name), attr)
        if not isinstance(loaded, click.Command):
            raise TypeError(f"{COMMANDS[cmd_name]} is not a click command")
        return loaded


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="truthloop")
def main() -> None:
    """truthloop: human-in-the-loop ML on AWS (Ground Truth labeling and A2I review), with a local backend.

    \b
    Example:
      truthloop contracts identify event.json output.manifest
    """


if __name__ == "__main__":  # pragma: no cover
    main()
