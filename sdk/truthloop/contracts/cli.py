"""``truthloop contracts``: identify GT/A2I payload files."""

from __future__ import annotations

import click

from truthloop.contracts import Contract, OutputManifestLine, identify_file
from truthloop.exceptions import ContractError

__all__ = ["contracts"]


@click.group()
def contracts() -> None:
    """Inspect GT and A2I payloads (events, manifests, output.json, service responses).

    \b
    Example:
      truthloop contracts identify payload.json output.manifest
    """


@contracts.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
def identify(files: tuple[str, ...]) -> None:
    """Print ``FILE: kind`` for each JSON file (``FILE:LINE: kind`` per line of .jsonl/.manifest files).

    Exits 1 if any payload is not recognised, printing the JSON path of the first problem.

    \b
    Example:
      truthloop contracts identify tests/fixtures/contracts/*.json
    """
    failed = False
    for path in files:
        try:
            results = list(identify_file(path))
        except (OSError, UnicodeDecodeError) as exc:
            click.echo(f"{path}: error: cannot read: {exc}")
            failed = True
            continue
        for label, result in results:
            if isinstance(result, ContractError):
                failed = True
                click.echo(f"{label}: error: {result}")
            else:
                click.echo(f"{label}: {result.kind}{_opaque_note(result)}")
    if failed:
        raise SystemExit(1)


def _opaque_note(contract: Contract) -> str:
    """`` (opaque label: NAME [TYPE], …)`` for an output manifest line with labels truthloop does not model."""
    if not isinstance(contract, OutputManifestLine) or not contract.opaque_labels:
        return ""
    names = ", ".join(
        f"{label.name} [{label.metadata.type if label.metadata else 'no type'}]" for label in contract.opaque_labels
    )
    return f" (opaque label, task type not modelled: {names})"
