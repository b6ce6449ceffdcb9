"""``truthloop demo``: the main job, offline.

Until the emulator lands this walks the parts that exist: it identifies the documented payloads shipped with
truthloop and derives the retry-safe human-loop names a review would use. It never needs AWS credentials.
"""

from __future__ import annotations

from pathlib import Path

import click

from truthloop.contracts import HumanLoopOutput, identify_file
from truthloop.exceptions import ContractError
from truthloop.naming import human_loop_name

__all__ = ["demo"]

_SAMPLES = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "contracts"


@click.command()
@click.option("--samples", type=click.Path(exists=True, file_okay=False, path_type=Path), default=_SAMPLES)
def demo(samples: Path) -> None:
    """Run the human-in-the-loop demo offline and print what happened.

    \b
    Example:
      truthloop demo
    """
    kinds: dict[str, int] = {}
    failures = 0
    for path in sorted(p for p in samples.rglob("*") if p.is_file()):
        for label, result in identify_file(path):
            if isinstance(result, ContractError):
                failures += 1
                click.echo(f"  unrecognised {label}: {result}")
                continue
            kinds[result.kind] = kinds.get(result.kind, 0) + 1
            if isinstance(result, HumanLoopOutput):
                name = human_loop_name(result.flow_definition_arn, result.input_content)
                click.echo(f"  {label}: a retry of this review would reuse loop name {name}")
    click.echo(f"identified {sum(kinds.values())} payloads of {len(kinds)} kinds:")
    for kind, count in sorted(kinds.items()):
        click.echo(f"  {count:3d}  {kind}")
    if failures:
        raise SystemExit(1)
