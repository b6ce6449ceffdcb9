"""Fixtures for the local backend's functional tests: one running backend per module and store, plain boto3 clients.

The ``backend`` fixture runs every test that uses it three times: on the local backend with the SQLite store, with
the DynamoDB store (the service's store, in the backend's moto server), and on ``truthloop service local`` (the
service's real Lambda handlers over moto; see service.py). A test or module that is about the local backend itself
opts out of the service with ``local_only("why")``, a module with ``LOCAL_ONLY = "why"``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from tests.functional.local.helpers import COGNITO, FAST, NO_RETRIES, REVIEW_TEMPLATE, ROLE, Worker, unique, wait_for
from tests.functional.local.service import BACKENDS, running_service
from tests.functional.local.stores import STORES, scan_free
from truthloop.local import BackendConfig, LocalBackend


@pytest.hookimpl(tryfirst=True)  # the mark must be there before parametrize marks and fixture params are applied
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A module that says ``LOCAL_ONLY = "why"`` runs its backend tests on the local backend's stores only."""
    if "backend" in metafunc.fixturenames and getattr(metafunc.module, "LOCAL_ONLY", ""):
        metafunc.definition.add_marker(pytest.mark.parametrize("backend", STORES, indirect=True))


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if request.param == "service":
        with running_service(tmp_path_factory.mktemp("truthloop-service")) as service, scan_free(service.storage):
            yield service
        return
    config = BackendConfig(
        port=0,
        data_dir=tmp_path_factory.mktemp("truthloop-local"),
        workers=2,
        storage=request.param,
        **FAST,  # type: ignore[arg-type]
    )
    with LocalBackend(config) as running, scan_free(running.storage):
        yield running


@pytest.fixture
def aws_env(backend: LocalBackend, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The standard AWS_ENDPOINT_URL_* variables pointing at the backend: plain boto3 code needs nothing else."""
    env = backend.client_env()
    for key, value in env.items():
        if key.startswith("AWS_ENDPOINT_URL"):
            monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def sm(aws_env: dict[str, str]) -> Any:
    return boto3.client("sagemaker", config=NO_RETRIES)


@pytest.fixture
def a2i(aws_env: dict[str, str]) -> Any:
    return boto3.client("sagemaker-a2i-runtime", config=NO_RETRIES)


@pytest.fixture
def s3(aws_env: dict[str, str]) -> Any:
    return boto3.client("s3")


@pytest.fixture
def team(sm: Any) -> str:
    arn: str = sm.create_workteam(
        WorkteamName=unique("team"), Description="reviewers", MemberDefinitions=[{"CognitoMemberDefinition": COGNITO}]
    )["WorkteamArn"]
    return arn


@pytest.fixture
def bucket(s3: Any) -> str:
    name = unique("bucket")
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def flow(sm: Any, team: str, bucket: str) -> Callable[..., str]:
    """Create an Active flow definition (TaskCount and lifetime configurable); returns its ARN."""

    def make(task_count: int = 1, lifetime: int | None = None, template: str = REVIEW_TEMPLATE) -> str:
        ui = sm.create_human_task_ui(HumanTaskUiName=unique("ui"), UiTemplate={"Content": template})
        name = unique("flow")
        config: dict[str, Any] = {
            "WorkteamArn": team,
            "HumanTaskUiArn": ui["HumanTaskUiArn"],
            "TaskCount": task_count,
            "TaskTitle": "Review a prediction",
            "TaskDescription": "Is the model right?",
        }
        if lifetime is not None:
            config["TaskAvailabilityLifetimeInSeconds"] = lifetime
        arn: str = sm.create_flow_definition(
            FlowDefinitionName=name,
            HumanLoopConfig=config,
            OutputConfig={"S3OutputPath": f"s3://{bucket}/a2i"},
            RoleArn=ROLE,
        )["FlowDefinitionArn"]
        wait_for(
            lambda: sm.describe_flow_definition(FlowDefinitionName=name)["FlowDefinitionStatus"] == "Active",
            what="flow definition to become Active",
        )
        return arn

    return make


@pytest.fixture
def worker(backend: Any) -> Iterator[Callable[[str], Worker]]:
    made: list[Worker] = []

    def make(name: str) -> Worker:
        made.append(Worker(backend, unique(name)))
        return made[-1]

    yield make
    for w in made:
        w.close()
