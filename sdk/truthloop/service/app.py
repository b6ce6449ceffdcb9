"""One service instance: the local backend's HTTP application and engine steps, wired to AWS's parts.

What is shared with ``truthloop local up``: the A2I runtime and SageMaker operations, the protocol validation, the
portal and the engine's steps. What differs sits behind three interfaces: the :class:`~truthloop.local.storage.
Storage` (DynamoDB + S3), the :class:`~truthloop.local.steps.StepRunner` (SQS messages) and the Lambda resolver
(``lambda:Invoke``); events go to EventBridge with ``PutEvents``.

    >>> service = Service.from_env(os.environ)                     # doctest: +SKIP
    >>> service.app                                                # the ASGI application (Mangum serves it)
    >>> service.run_step(StepMessage("settle_task", task_id))      # one engine step; follow-ups are enqueued

Nothing here starts a thread: each Lambda invocation does its work and returns.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import anyio.to_thread
import boto3
from botocore.config import Config
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route, Router
from starlette.types import Receive, Scope, Send

from truthloop.exceptions import ServiceConfigurationError
from truthloop.local.a2i import A2IService
from truthloop.local.api import AwsApi
from truthloop.local.config import BackendConfig
from truthloop.local.engine import EngineSteps, StepOutcome
from truthloop.local.lambdas import LambdaRegistry
from truthloop.local.portal import PortalApp
from truthloop.local.runtime import Runtime
from truthloop.local.sagemaker import SageMakerService
from truthloop.local.steps import StepMessage
from truthloop.local.storage import Storage
from truthloop.local.storage.dynamodb import DynamoDBStorage
from truthloop.local.workforce import WorkerDirectory
from truthloop.service.events import EventBridgePublisher
from truthloop.service.invoker import LambdaInvoker
from truthloop.service.runner import SqsStepRunner
from truthloop.service.settings import ServiceSettings

__all__ = ["CLIENT_CONFIG", "UI_TEMPLATE_PATH", "Clients", "Service", "ServiceApp"]

#: botocore does the retrying (standard mode: throttling and transient errors, with jittered backoff)
#: where the links in DescribeHumanTaskUi's ``UiTemplate.Url`` point (the same path as the local backend's)
UI_TEMPLATE_PATH = "/_truthloop/ui-templates/"
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30)


class Clients:
    """The boto3 clients one service instance uses (made once per Lambda container)."""

    def __init__(self, region: str, factory: Callable[..., Any] | None = None) -> None:
        make = factory or boto3.client
        self.dynamodb = make("dynamodb", region_name=region, config=CLIENT_CONFIG)
        self.s3 = make("s3", region_name=region, config=CLIENT_CONFIG)
        self.sqs = make("sqs", region_name=region, config=CLIENT_CONFIG)
        self.events = make("events", region_name=region, config=CLIENT_CONFIG)
        self.lambda_ = make("lambda", region_name=region, config=CLIENT_CONFIG)


class ServiceApp:
    """The service's ASGI application: the portal (``/portal``), the signed task UI template links that
    ``DescribeHumanTaskUi`` answers with (``/_truthloop/ui-templates/{name}``), and the AWS APIs (everything else).

    The local backend's dispatcher adds its admin API and local S3 routes; the service has neither (S3 is AWS's).
    """

    def __init__(self, api: AwsApi, portal: PortalApp, runtime: Runtime, sagemaker: SageMakerService) -> None:
        self.api = api
        self.runtime = runtime
        self.sagemaker = sagemaker
        self.router = Router(
            routes=[
                Mount("/portal", app=portal.app),
                Route(f"{UI_TEMPLATE_PATH}{{name}}", self.ui_template, methods=["GET"]),
            ]
        )

    async def ui_template(self, request: Request) -> Response:
        """A task UI's template, for the holder of the link DescribeHumanTaskUi gave (its signature)."""
        name = request.path_params["name"]
        if not self.runtime.verify(name, request.query_params.get("signature", "")):
            return PlainTextResponse("AccessDenied", status_code=403)
        content = await anyio.to_thread.run_sync(self.sagemaker.task_ui_content, name)
        if content is None:
            return PlainTextResponse("NoSuchKey", status_code=404)
        return PlainTextResponse(content, media_type="text/html")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path", "").startswith(("/portal", UI_TEMPLATE_PATH)):
            await self.router(scope, receive, send)
        else:
            await self.api(scope, receive, send)


class Service:
    """The HTTP application, the engine steps and the sweep of one deployment."""

    def __init__(self, settings: ServiceSettings, *, storage: Storage, clients: Clients) -> None:
        self.settings = settings
        self.storage = storage
        self.clients = clients
        config = BackendConfig(region=settings.region, account_id=settings.account_id)
        secret = storage.get_meta("secret")
        if secret is None:  # the first instance makes it; a racing one may overwrite it before anyone signed
            storage.set_meta("secret", secrets.token_hex(32))
            secret = storage.get_meta("secret") or ""
        self.runner = SqsStepRunner(clients.sqs, settings.queue_url)
        self.invoker = LambdaInvoker(clients.lambda_)
        self.events = EventBridgePublisher(
            storage,
            clients.events,
            bus=settings.event_bus,
            source=settings.event_source,
            account_id=settings.account_id,
            region=settings.region,
            clock=lambda: self.runtime.now(),
        )
        self.runtime = Runtime(
            config=config,
            storage=storage,
            s3_url="",
            s3_client_factory=lambda: clients.s3,
            lambdas=LambdaRegistry({}, s3_client_factory=lambda: clients.s3, remote=self.invoker),
            events=self.events,
            base_url=settings.base_url,
            secret=bytes.fromhex(secret),
            steps=self.runner,
        )
        self.workers = WorkerDirectory(self.runtime)
        self.sagemaker = SageMakerService(self.runtime)
        self.a2i = A2IService(self.runtime)
        self.steps = EngineSteps(self.runtime, self.workers)
        api = AwsApi(self.runtime, self.a2i, self.sagemaker)
        # the HTTP API's own name (or the custom domain in TRUTHLOOP_SERVICE_BASE_URL): loopback alone is local-only
        host = urlsplit(settings.base_url).hostname if settings.base_url_set else None
        sign_in = None
        if settings.user_pool_id:
            from truthloop.service.identity import CognitoSignIn

            try:
                sign_in = CognitoSignIn.for_pool(
                    region=settings.region,
                    user_pool_id=settings.user_pool_id,
                    client_id=settings.user_pool_client_id,
                    auth_url=settings.auth_url,
                    jwks_url=settings.jwks_url or None,
                )
            except ValueError as exc:  # an http:// address off loopback
                raise ServiceConfigurationError(str(exc)) from None
        portal = PortalApp(
            self.runtime,
            self.workers,
            self.sagemaker,
            allowed_hosts=(host,) if host else ("*",),
            sign_in=sign_in,
            public_url=settings.portal_url,
        )
        self.app = ServiceApp(api, portal, self.runtime, self.sagemaker)

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        client_factory: Callable[..., Any] | None = None,
        storage_factory: Callable[[ServiceSettings, Clients], Storage] | None = None,
    ) -> Service:
        """The service described by the ``TRUTHLOOP_SERVICE_*`` variables (see :mod:`truthloop.service.settings`)."""
        settings = ServiceSettings.from_env(os.environ if env is None else env)
        clients = Clients(settings.region, client_factory)
        storage = (storage_factory or dynamodb_storage)(settings, clients)
        return cls(settings, storage=storage, clients=clients)

    # ------------------------------------------------------------------ engine
    def run_step(self, message: StepMessage) -> StepOutcome:
        """Run one engine step (isolated: a failing item is deferred or failed) and enqueue what follows it."""
        outcome = self.steps.run(message)
        for follow_up, delay in outcome.follow_ups:
            self.runner.enqueue(follow_up.step, follow_up.id, delay_seconds=delay)
        return outcome

    def sweep(self) -> StepOutcome:
        """The scheduled step: settle loops a crash left ``Stopping``, expire what is due, enqueue what is due."""
        self.steps.recover_stopping()
        return self.run_step(StepMessage("sweep"))


def dynamodb_storage(settings: ServiceSettings, clients: Clients) -> Storage:
    """The service's store: the DynamoDB table and the S3 bucket of large documents."""
    return DynamoDBStorage(settings.table, bucket=settings.bucket, dynamodb=clients.dynamodb, s3=clients.s3)
