"""``truthloop local``: run the local backend and simulated workers."""

from __future__ import annotations

import json
import re
import signal
import threading
from pathlib import Path
from typing import Any

import click

from truthloop.exceptions import LocalBackendError
from truthloop.local.config import DEFAULT_PORT, BackendConfig, EventHandlerConfig, FaultConfig, LambdaConfig

__all__ = ["local"]


def _not_answering(state: dict[str, Any], exc: Exception) -> LocalBackendError:
    return LocalBackendError(
        f"the local backend at {state.get('endpoint')} does not answer ({type(exc).__name__}: {exc}); is "
        "`truthloop local up` (or `truthloop service local`) still running with this --data-dir?"
    )


def _data_dir_option(function: Any) -> Any:
    return click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path(".truthloop"),
        show_default=True,
        help="Directory holding the SQLite database, the S3 objects and backend.json.",
    )(function)


@click.group()
def local() -> None:
    """The local backend: Ground Truth and A2I emulated on 127.0.0.1, with a worker portal.

    \b
    Example:
      truthloop local up --port 4566
      truthloop local workers --count 5 --accuracy 0.8 --seed 1
    """


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _parse_lambda(values: tuple[str, ...]) -> dict[str, LambdaConfig]:
    """``ARN=HANDLER[,NAME=VALUE...]``: the handler and, after commas, the environment it runs with."""
    mapping = {}
    for value in values:
        arn, sep, rest = value.partition("=")
        handler, *pairs = rest.split(",")
        if not sep or not arn.startswith("arn:") or not handler:
            raise click.BadParameter(
                f"{value!r} must look like ARN=module:function (or ARN=file.py:function,NAME=VALUE,...)",
                param_hint="--lambda",
            )
        env = {}
        for pair in pairs:
            name, eq, setting = pair.partition("=")
            if not eq or not _ENV_NAME.match(name):
                raise click.BadParameter(
                    f"{pair!r} in {value!r} is not an environment variable NAME=VALUE", param_hint="--lambda"
                )
            env[name] = setting
        mapping[arn] = LambdaConfig(handler=handler, environment=env)
    return mapping


def _parse_handlers(values: tuple[str, ...]) -> tuple[EventHandlerConfig, ...]:
    handlers = []
    for value in values:
        kind, sep, handler = value.partition("=")
        if sep and kind in ("a2i", "gt"):
            detail = {
                "a2i": "SageMaker A2I HumanLoop Status Change",
                "gt": "SageMaker Ground Truth Labeling Job State Change",
            }[kind]
            handlers.append(EventHandlerConfig(handler=handler, detail_types=(detail,)))
        else:
            handlers.append(EventHandlerConfig(handler=value))
    return tuple(handlers)


@local.command()
@click.option("--port", type=int, default=DEFAULT_PORT, show_default=True, help="Port for the AWS APIs and the portal.")
@_data_dir_option
@click.option("--region", default="us-east-1", show_default=True, help="Region in every ARN the backend makes.")
@click.option("--workers", "worker_count", type=int, default=3, show_default=True, help="Portal tokens to issue.")
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="JSON configuration file (see docs/local.md); command-line options override it.",
)
@click.option(
    "--lambda",
    "lambdas",
    multiple=True,
    metavar="ARN=HANDLER",
    help=(
        "Map a Lambda ARN to an in-process handler (module:function or file.py:function); environment variables "
        "for it follow after commas: ARN=HANDLER,TRUTHLOOP_TASK_TYPE=text-ranking. Checked at start."
    ),
)
@click.option(
    "--on-event",
    "handlers",
    multiple=True,
    metavar="[a2i=|gt=]HANDLER",
    help="Deliver EventBridge events to a handler; a2i=/gt= subscribe to one detail-type.",
)
@click.option("--duplicate-events", is_flag=True, help="Deliver every event twice (tests handler idempotency).")
@click.option(
    "--max-active-human-loops",
    type=int,
    default=None,
    help="Quota: StartHumanLoop answers ServiceQuotaExceededException (HTTP 402) beyond it.",
)
@click.option(
    "--throttle-rate",
    type=float,
    default=None,
    help="Fault injection: fraction of calls answered with ThrottlingException.",
)
@click.option(
    "--throttle-operation",
    "throttle_operations",
    multiple=True,
    help="Limit --throttle-rate to these operations (e.g. StartHumanLoop).",
)
def up(
    port: int,
    data_dir: Path,
    region: str,
    worker_count: int,
    config_file: Path | None,
    lambdas: tuple[str, ...],
    handlers: tuple[str, ...],
    duplicate_events: bool,
    max_active_human_loops: int | None,
    throttle_rate: float | None,
    throttle_operations: tuple[str, ...],
) -> None:
    """Start the local backend on 127.0.0.1 and keep it running until Ctrl+C.

    Serves the SageMaker subset (JSON 1.1) and the A2I runtime (REST-JSON) on --port, the worker portal at
    /portal, and S3 (written through to --data-dir) all on --port. State survives restarts, even kill -9.

    \b
    Example:
      truthloop local up --port 4566 --data-dir .truthloop --workers 2
      truthloop local up --lambda \\
        arn:aws:lambda:us-east-1:111122223333:function:pre=pre_annotation/handler.py:handler,TRUTHLOOP_TASK_TYPE=text-ranking
    """
    from truthloop.local.backend import LocalBackend

    base = BackendConfig.from_file(config_file) if config_file else BackendConfig()
    faults = base.faults
    if throttle_rate is not None or throttle_operations:
        faults = FaultConfig(
            throttle_rate=throttle_rate if throttle_rate is not None else faults.throttle_rate,
            operations=throttle_operations or faults.operations,
            seed=faults.seed,
        )
    config = base.with_(
        port=port,
        data_dir=data_dir,
        region=region,
        workers=worker_count,
        lambdas={**base.lambdas, **_parse_lambda(lambdas)},
        event_handlers=base.event_handlers + _parse_handlers(handlers),
        duplicate_events=duplicate_events or base.duplicate_events,
        max_active_human_loops=max_active_human_loops
        if max_active_human_loops is not None
        else base.max_active_human_loops,
        faults=faults,
    )
    backend = LocalBackend(config).start()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with backend.environment() as env:
        click.echo(f"truthloop local backend on {backend.endpoint_url} (SageMaker, A2I runtime and S3)")
        click.echo(f"worker portal: {backend.portal_url}/")
        click.echo("point boto3 at it with:")
        click.echo(f"  export AWS_ENDPOINT_URL={env['AWS_ENDPOINT_URL']}")
        click.echo(
            f"  (with any credentials, e.g. AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x AWS_DEFAULT_REGION={region})"
        )
        click.echo("worker tokens (sign in to the portal with one):")
        for name, token in backend.worker_tokens.items():
            click.echo(f"  {name}: {token}")
        click.echo(f"state: {config.data_dir} (admin token in {config.data_dir / 'backend.json'}); Ctrl+C stops")
        try:
            while not stop.wait(0.5):
                pass
        finally:
            click.echo("stopping…")
            backend.stop()


@local.command()
@_data_dir_option
def status(data_dir: Path) -> None:
    """Show what the running local backend holds (loops, jobs, workers, events).

    \b
    Example:
      truthloop local status --data-dir .truthloop
    """
    import httpx

    from truthloop.local.backend import read_state

    state = read_state(data_dir)
    try:
        response = httpx.get(
            state["endpoint"] + "/_truthloop/status",
            headers={"authorization": f"Bearer {state['admin_token']}"},
            timeout=10,
        )
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise _not_answering(state, exc) from exc
    click.echo(json.dumps(response.json(), indent=2))


@local.command()
@_data_dir_option
@click.option("--count", type=int, default=5, show_default=True, help="Number of simulated workers.")
@click.option("--accuracy", type=float, default=0.8, show_default=True, help="Probability of a correct answer.")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed: the same seed gives the same answers.")
@click.option(
    "--gold",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help='JSON Lines of {"key": …, "label"|"labels"|"boxes"|"entities"|"text": …} gold answers.',
)
@click.option("--follow", is_flag=True, help="Keep answering new tasks until Ctrl+C instead of exiting when idle.")
@click.option(
    "--idle-seconds",
    type=float,
    default=2.0,
    show_default=True,
    help="Without --follow, stop after this long with no task available.",
)
def workers(
    data_dir: Path, count: int, accuracy: float, seed: int, gold: Path | None, follow: bool, idle_seconds: float
) -> None:
    """Answer pending portal tasks with simulated workers (through the portal's HTTP API).

    Answers follow each task's template (classifier categories, bounding boxes, entities, text, rankings); with
    --gold, a worker is right with probability --accuracy and wrong otherwise. Works with `truthloop local up` and
    with `truthloop service local` (give its --data-dir).

    \b
    Example:
      truthloop local workers --count 5 --accuracy 0.8 --seed 1
    """
    import httpx

    from truthloop.local.backend import read_state
    from truthloop.local.simulate import Crowd, load_gold

    state = read_state(data_dir)
    crowd = Crowd(
        state["endpoint"],
        admin_token=state["admin_token"],
        count=count,
        accuracy=accuracy,
        seed=seed,
        gold=load_gold(gold) if gold else {},
    )
    try:
        stats = crowd.run(idle_seconds=None if follow else idle_seconds, progress=True)
    except httpx.TransportError as exc:
        raise _not_answering(state, exc) from exc
    click.echo(f"{stats.answered} answers from {count} simulated workers ({stats.correct} matched gold)")
