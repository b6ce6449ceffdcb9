"""``truthloop service``: the serverless service (API Gateway + Lambda + DynamoDB + SQS), emulated locally."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import click

__all__ = ["service"]


@click.group()
def service() -> None:
    """The truthloop service: the A2I runtime, SageMaker subset and portal as AWS Lambda functions.

    \b
    Example:
      truthloop service local --port 4566 --data-dir .truthloop-service
    """


@service.command("local")
@click.option("--port", type=int, default=4566, show_default=True, help="Port for every API, moto and the portal.")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".truthloop-service"),
    show_default=True,
    help="Directory holding the S3 objects, the DynamoDB journal and backend.json.",
)
@click.option("--region", default="us-east-1", show_default=True, help="Region of the emulated deployment.")
@click.option("--workers", "worker_count", type=int, default=3, show_default=True, help="Portal tokens to issue.")
@click.option("--sweep-seconds", type=float, default=60.0, show_default=True, help="Interval of the scheduled sweep.")
@click.option(
    "--sign-in",
    is_flag=True,
    help="Portal sign-in with a moto Cognito user pool (local hosted UI) instead of worker tokens.",
)
@click.option(
    "--lambda",
    "lambdas",
    multiple=True,
    metavar="ARN=HANDLER[,NAME=VALUE...]",
    help="Serve a labeling job's own Lambda ARN (Lambda's Invoke API) with a module:function or file.py:function "
    "handler, with environment variables after commas. Repeatable.",
)
def local_command(
    port: int,
    data_dir: Path,
    region: str,
    worker_count: int,
    sweep_seconds: float,
    sign_in: bool,
    lambdas: tuple[str, ...],
) -> None:
    """Run the service's real Lambda handlers on 127.0.0.1 over moto, on one port, until Ctrl+C.

    Requests signed for S3, DynamoDB, SQS, SNS or EventBridge go to moto; every other request is an HTTP API
    event for the API handler (SageMaker, A2I runtime, portal). The engine handler is fed from the SQS queue and
    the sweep handler runs on a schedule, in the background. Requests signed for Lambda are its Invoke API for the
    ARNs given with --lambda (a labeling job's own pre-annotation and consolidation functions).

    Persistence: state survives a restart on the same --data-dir, even kill -9. S3 objects are written through to
    --data-dir/s3 and every DynamoDB write is journaled to --data-dir/dynamodb (fsynced before the answer; replayed
    and compacted at start). The engine queue is not kept: the sweep, run at start, finds every step still due.

    \b
    Example:
      truthloop service local --port 4566 --data-dir .truthloop-service
    """
    from truthloop.local.cli import _parse_lambda
    from truthloop.service.local import LocalService

    mapping = _parse_lambda(lambdas)
    running = LocalService(
        port=port,
        data_dir=data_dir,
        region=region,
        workers=worker_count,
        sweep_seconds=sweep_seconds,
        lambdas=mapping,
        sign_in=sign_in,
    ).start()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        click.echo(f"truthloop service on {running.endpoint_url} (Lambda handlers over moto, storage: DynamoDB)")
        click.echo(f"worker portal: {running.portal_url}/")
        click.echo("point boto3 at it with:")
        for name, value in running.client_env().items():
            click.echo(f"  export {name}={value}")
        click.echo(
            f"  (with any credentials, e.g. AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x AWS_DEFAULT_REGION={region})"
        )
        if sign_in:
            click.echo(f"user pool {running.user_pool_id}, portal client {running.user_pool_client_id}: add workers")
            click.echo("  with admin-create-user, admin-set-user-password --permanent and admin-add-user-to-group")
        else:
            click.echo("worker tokens (sign in to the portal with one):")
            for name, token in running.worker_tokens.items():
                click.echo(f"  {name}: {token}")
        click.echo(f"simulated workers: truthloop local workers --data-dir {data_dir}")
        click.echo(f"state: {data_dir} (S3 and DynamoDB; the engine queue is re-derived at start); Ctrl+C stops")
        while not stop.wait(0.5):
            pass
    finally:
        click.echo("stopping…")
        running.stop()
