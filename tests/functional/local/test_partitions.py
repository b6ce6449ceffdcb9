"""ARNs name the partition of the backend's region: ``aws``, ``aws-cn`` in China, ``aws-us-gov`` in GovCloud.

Both backends run in each region: ``truthloop local up`` (SQLite store) and ``truthloop service local`` (its real
handlers over moto). Every ARN they make (work team, task UI, flow definition, human loop) starts with
``arn:<partition>:sagemaker:<region>:``, and the tag operations find the resources by those ARNs.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.functional.local.helpers import FAST, REVIEW_TEMPLATE, unique, wait_for
from truthloop.local import BackendConfig, LocalBackend
from truthloop.service.local import LocalService

REGIONS = [("us-east-1", "aws"), ("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov")]


@contextlib.contextmanager
def _running(kind: str, region: str, data_dir: Path) -> Iterator[str]:
    """The endpoint of a backend of ``kind`` in ``region``."""
    if kind == "local":
        config = BackendConfig(port=0, data_dir=data_dir, region=region, workers=1, **FAST)  # type: ignore[arg-type]
        with LocalBackend(config) as backend:
            yield backend.endpoint_url
        return
    saved = {k: os.environ.get(k) for k in ("POWERTOOLS_LOG_LEVEL", "POWERTOOLS_SERVICE_NAME")}
    os.environ.update({"POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_SERVICE_NAME": "truthloop-test"})
    try:
        with LocalService(port=0, data_dir=data_dir, region=region, workers=0, sweep_seconds=1.0) as service:
            yield service.endpoint_url
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _client(name: str, endpoint: str, region: str) -> Any:
    session = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name=region)
    make: Any = session.client
    return make(name, endpoint_url=endpoint)


@pytest.mark.parametrize("kind", ["local", "service"])
@pytest.mark.parametrize(("region", "partition"), REGIONS)
def test_arns_name_the_partition_of_the_region(kind: str, region: str, partition: str, tmp_path: Path) -> None:
    with _running(kind, region, tmp_path) as endpoint:
        sm = _client("sagemaker", endpoint, region)
        a2i = _client("sagemaker-a2i-runtime", endpoint, region)
        prefix = f"arn:{partition}:sagemaker:{region}:"
        # GIVEN a work team, a task UI and a flow definition made in the region
        cognito = {"UserPool": f"{region}_TestPool", "UserGroup": "labelers", "ClientId": "client-id"}
        team = sm.create_workteam(
            WorkteamName=unique("team"), Description="d", MemberDefinitions=[{"CognitoMemberDefinition": cognito}]
        )["WorkteamArn"]
        ui = sm.create_human_task_ui(HumanTaskUiName=unique("ui"), UiTemplate={"Content": REVIEW_TEMPLATE})[
            "HumanTaskUiArn"
        ]
        flow = sm.create_flow_definition(
            FlowDefinitionName=unique("flow"),
            HumanLoopConfig={
                "WorkteamArn": team,
                "HumanTaskUiArn": ui,
                "TaskCount": 1,
                "TaskTitle": "t",
                "TaskDescription": "d",
            },
            OutputConfig={"S3OutputPath": "s3://out/a2i"},
            RoleArn=f"arn:{partition}:iam::123456789012:role/truthloop-test",
        )["FlowDefinitionArn"]
        name = flow.rsplit("/", 1)[1]
        wait_for(
            lambda: sm.describe_flow_definition(FlowDefinitionName=name)["FlowDefinitionStatus"] == "Active",
            what="the flow definition to be Active",
        )
        # WHEN a human loop starts on it
        loop = a2i.start_human_loop(
            HumanLoopName=unique("loop"), FlowDefinitionArn=flow, HumanLoopInput={"InputContent": '{"text": "x"}'}
        )["HumanLoopArn"]
        # THEN every ARN made names the region's partition
        for made in (team, ui, flow, loop):
            assert made.startswith(prefix), made
        # AND the tag operations find a resource by its ARN
        sm.add_tags(ResourceArn=flow, Tags=[{"Key": "k", "Value": "v"}])
        assert sm.list_tags(ResourceArn=flow)["Tags"] == [{"Key": "k", "Value": "v"}]
