"""The ``truthloop`` command. Each area contributes its own click command from ``truthloop/<area>/cli.py``.

Commands are imported lazily so ``truthloop --help`` stays fast and an area's optional dependencies are
only needed when its command runs. Errors a user can cause are turned into one-line messages here, in
:func:`error_message`, for every command (no command maps errors itself); anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

import click

__all__ = ["COMMANDS", "error_message", "main"]

#: command name → "module:attribute" of the click command implementing it.
COMMANDS: dict[str, str] = {
    "contracts": "truthloop.contracts.cli:contracts",
    "templates": "truthloop.templates.cli:templates",
    "local": "truthloop.local.cli:local",
    "service": "truthloop.service.cli:service",
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


def error_message(exc: BaseException) -> str | None:
    """The one-line message ``truthloop`` prints for an error the user can cause; ``None`` for a bug."""
    from truthloop.exceptions import TruthloopError

    if isinstance(exc, TruthloopError):
        notes = getattr(exc, "__notes__", ())
        return " ".join([str(exc), *notes])
    module = type(exc).__module__.split(".", 1)[0]
    if module in ("botocore", "boto3"):  # an AWS call outside the SDK's own mapping (kept chained by the caller)
        from truthloop.aws import error_from_client_error

        if hasattr(exc, "response"):
            return str(error_from_client_error(exc))
        return f"{type(exc).__name__}: {exc}"
    if module == "httpx":
        request = getattr(exc, "_request", None)
        where = f" ({request.method} {request.url})" if request is not None else ""
        return f"{type(exc).__name__}: {exc}{where}"
    if isinstance(exc, OSError):
        target = f"{exc.filename}: " if exc.filename else ""
        return f"{target}{exc.strerror or exc}"
    return None


class LazyGroup(click.Group):
    """A click group that imports each sub-command only when it is listed or invoked, and maps user errors to
    one-line messages (:func:`error_message`) for all of them."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            message = error_message(exc)
            if message is None:
                raise
            raise click.ClickException(message) from exc

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
