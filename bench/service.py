"""Cost model of the truthloop service, measured; prints ONE JSON object on stdout.

Runs the service's real Lambda handlers (``lambdas/service_api``, ``service_engine``, ``service_sweep``) on an
emulated deployment (moto in-process: DynamoDB, S3, SQS, EventBridge; truthloop.service.emulated) and counts, per
scenario, every AWS request the service makes (botocore ``provide-client-params`` / ``after-call`` hooks on every
client): DynamoDB read and write requests and request units, S3 requests, SQS requests, EventBridge events, Lambda
invocations and their in-process duration. Scenarios:

* ``start_human_loop``: one StartHumanLoop (API invocation only);
* ``review_task_count_1`` / ``review_task_count_3``: StartHumanLoop, every worker's claim and answer through the
  portal API, and the engine until the loop is Completed with ``output.json`` and its event;
* ``gt_object_3_workers``: a labeling job with one object and three workers, from CreateLabelingJob to Completed;
* ``portal_render_1000_open_tasks``: one signed-in worker opening the portal's queues page (``GET /portal/``: the
  worker, the workteams, each queue's count of tasks the worker may take and of tasks they answered) while 1,000
  tasks of a labeling job are open in the team.

Prices: public us-east-1 on-demand list prices (stated in the output). Request units: moto reports no consumed
capacity, so units are computed as DynamoDB bills the base table for items up to 1 KB (1 per write, 2 per
transactional write item, 0.5 per eventually consistent read, 1 per consistent read); a larger item costs one more
unit per KB (write) or 4 KB (read), and every global secondary index an item is in adds its own write units
(docs/service.md, "What a call costs", counts them per call), so ``write_request_units_base_table`` is a floor.
``read_request_units_measured`` sizes what each read evaluated (:class:`~truthloop.local.storage.dynamodb_units.
ReadUnits`: a Query page's items rounded up to 4 KB, filtered-out items included), and the cost uses it.
Targets (issue 13): StartHumanLoop <= 3 write and <= 2 read requests; a completed one-worker
review <= 12 write requests; no Scan; no always-on compute.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT / "sdk", ROOT / "lambdas", ROOT):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_LOG_LEVEL": "ERROR",
        "POWERTOOLS_SERVICE_NAME": "truthloop-bench",
    }
)
os.environ.pop("AWS_ENDPOINT_URL", None)

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

from truthloop.arns import consolidation_lambda_arn, pre_annotation_lambda_arn  # noqa: E402
from truthloop.local.handlers import LambdaContext  # noqa: E402
from truthloop.local.storage.dynamodb_units import ReadUnits  # noqa: E402
from truthloop.service.driver import QueueDriver  # noqa: E402
from truthloop.service.emulated import create_deployment  # noqa: E402
from truthloop.service.entry import current_service  # noqa: E402
from truthloop.service.http_api import (  # noqa: E402
    from_http_api_response,
    http_api_response,
    through_handler,
    to_http_api_event,
)
from truthloop.templates import catalogue  # noqa: E402

REGION = "us-east-1"
LAMBDA_MEMORY_GB = 0.5
#: USD, us-east-1 on-demand list prices
PRICES = {
    "dynamodb_write_request_unit_per_million": 0.625,
    "dynamodb_read_request_unit_per_million": 0.125,
    "s3_put_copy_post_list_per_million": 5.0,
    "s3_get_and_other_per_million": 0.4,
    "sqs_standard_request_per_million": 0.40,
    "eventbridge_custom_event_per_million": 1.00,
    "http_api_request_per_million": 1.00,
    "lambda_request_per_million": 0.20,
    "lambda_gb_second_x86": 0.0000166667,
    "lambda_memory_gb_assumed": LAMBDA_MEMORY_GB,
}
_DDB_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
_DDB_READS = {"GetItem", "Query", "Scan", "TransactGetItems", "BatchGetItem"}
_S3_CLASS_A = {"PutObject", "CopyObject", "ListObjects", "ListObjectsV2", "CreateMultipartUpload", "UploadPart"}
COGNITO = {"UserPool": "us-east-1_Bench", "UserGroup": "g", "ClientId": "c"}
ROLE = "arn:aws:iam::123456789012:role/bench"


class Meter:
    """Counts requests and request units per service and operation, and Lambda invocations with durations."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.write_units = 0.0
        self.read_units = 0.0
        self.lambda_invocations: Counter[str] = Counter()
        self.lambda_seconds = 0.0
        #: read units sized by the items each read evaluated (watches the service's DynamoDB client)
        self.measured = ReadUnits()

    def reset(self) -> None:
        self.calls.clear()
        self.write_units = self.read_units = self.lambda_seconds = 0.0
        self.lambda_invocations.clear()
        self.measured.units = self.measured.seconds = 0.0

    def on_params(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.service_model.service_name != "dynamodb":
            return
        name = model.name
        if name == "TransactWriteItems":
            self.write_units += 2 * len(params.get("TransactItems", []))
        elif name == "BatchWriteItem":
            self.write_units += sum(len(v) for v in params.get("RequestItems", {}).values())
        elif name in _DDB_WRITES:
            self.write_units += 1
        elif name == "TransactGetItems":
            self.read_units += 2 * len(params.get("TransactItems", []))
        elif name in _DDB_READS:
            self.read_units += 1 if params.get("ConsistentRead") else 0.5

    def on_call(self, model: Any, **_: Any) -> None:
        self.calls[f"{model.service_model.service_name}:{model.name}"] += 1

    def timed(self, name: str, function: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        def call(event: Any, context: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(event, context)
            finally:
                self.lambda_seconds += time.perf_counter() - started
                self.lambda_invocations[name] += 1

        return call

    def report(self) -> dict[str, Any]:
        ddb = {k.split(":")[1]: v for k, v in self.calls.items() if k.startswith("dynamodb:")}
        s3 = {k.split(":")[1]: v for k, v in self.calls.items() if k.startswith("s3:")}
        sqs = {k.split(":")[1]: v for k, v in self.calls.items() if k.startswith("sqs:")}
        writes = sum(v for k, v in ddb.items() if k in _DDB_WRITES)
        reads = sum(v for k, v in ddb.items() if k in _DDB_READS)
        s3_a = sum(v for k, v in s3.items() if k in _S3_CLASS_A)
        s3_b = sum(s3.values()) - s3_a
        events = self.calls.get("events:PutEvents", 0)
        invocations = sum(self.lambda_invocations.values())
        # the meter's own re-reads (sizing each read) ran inside the handlers' time: not the handlers' work
        seconds = max(0.0, self.lambda_seconds - self.measured.seconds)
        http = self.lambda_invocations.get("service_api", 0)
        cost = (
            self.write_units * PRICES["dynamodb_write_request_unit_per_million"]
            + self.measured.units * PRICES["dynamodb_read_request_unit_per_million"]
            + s3_a * PRICES["s3_put_copy_post_list_per_million"]
            + s3_b * PRICES["s3_get_and_other_per_million"]
            + sum(sqs.values()) * PRICES["sqs_standard_request_per_million"]
            + events * PRICES["eventbridge_custom_event_per_million"]
            + http * PRICES["http_api_request_per_million"]
            + invocations * PRICES["lambda_request_per_million"]
            + seconds * LAMBDA_MEMORY_GB * PRICES["lambda_gb_second_x86"] * 1_000_000
        )
        return {
            "dynamodb": {
                "write_requests": writes,
                "read_requests": reads,
                "write_request_units_base_table": self.write_units,
                "read_request_units": round(self.read_units, 1),
                "read_request_units_measured": round(self.measured.units, 1),
                "scans": ddb.get("Scan", 0),
                "by_operation": dict(sorted(ddb.items())),
            },
            "s3": {"class_a_requests": s3_a, "class_b_requests": s3_b, "by_operation": dict(sorted(s3.items()))},
            "sqs": {"requests": sum(sqs.values()), "by_operation": dict(sorted(sqs.items()))},
            "eventbridge_events": events,
            "lambda": {
                "invocations": dict(sorted(self.lambda_invocations.items())),
                "seconds_in_process": round(seconds, 4),
            },
            "usd_per_million": round(cost, 2),
        }


def _handler(name: str, meter: Meter) -> Callable[[Any, Any], Any]:
    module = __import__(f"{name}.handler", fromlist=["handler"])
    return meter.timed(name, module.handler)


class Bench:
    def __init__(self, meter: Meter) -> None:
        self.meter = meter
        self.api = _handler("service_api", meter)
        sqs = boto3.client("sqs", region_name=REGION)
        endpoint = "https://api.bench.local"
        self.sm = through_handler(boto3.client("sagemaker", region_name=REGION, endpoint_url=endpoint), self.api)
        self.a2i = through_handler(
            boto3.client("sagemaker-a2i-runtime", region_name=REGION, endpoint_url=endpoint), self.api
        )
        self.driver = QueueDriver(
            sqs,
            os.environ["TRUTHLOOP_SERVICE_QUEUE_URL"],
            engine=_handler("service_engine", meter),
            sweep=_handler("service_sweep", meter),
            region=REGION,
        )

    def portal(self, path: str, body: Any, token: str) -> Any:
        headers = {"host": "api.local", "content-type": "application/json", "authorization": f"Bearer {token}"}
        event = to_http_api_event("POST", path, "", headers, json.dumps(body).encode())
        status, _, content = from_http_api_response(self.api(event, LambdaContext("api", "arn:bench")))
        if status >= 300:
            raise RuntimeError(f"POST {path}: {status} {content[:300]!r}")
        return json.loads(content) if content else None

    def page(self, method: str, path: str, *, cookie: str = "", form: dict[str, str] | None = None) -> Any:
        """A portal page as a browser asks for it: status, ``set-cookie`` values (name=value) and the HTML."""
        headers = {"host": "api.local", "cookie": cookie}
        body = b""
        if form is not None:
            headers["content-type"] = "application/x-www-form-urlencoded"
            body = urllib.parse.urlencode(form).encode()
        event = to_http_api_event(method, path, "", headers, body)
        response = self.api(event, LambdaContext("api", "arn:bench"))
        status, lines, content = http_api_response(response)
        cookies = [value.split(";", 1)[0] for name, value in lines if name == "set-cookie"]
        return status, cookies, content.decode()

    def sign_in(self, token: str) -> str:
        """The session cookie of a worker signed in to the portal with a worker token."""
        _, cookies, _ = self.page("GET", "/portal/")
        csrf = next(c.split("=", 1)[1] for c in cookies if c.startswith("truthloop_login="))
        status, cookies, html = self.page(
            "POST", "/portal/login", cookie="; ".join(cookies), form={"csrf": csrf, "token": token}
        )
        session = [c for c in cookies if c.split("=", 1)[1]]  # the login cookie is deleted (emptied)
        if status != 303 or not session:
            raise RuntimeError(f"signing in to the portal: {status} {html[:300]!r}")
        return "; ".join(session)

    def answer(self, token: str, answer: dict[str, Any]) -> None:
        claimed = self.portal("/portal/api/tasks/claim", {}, token)
        self.portal(f"/portal/api/tasks/{claimed['task']['id']}/answer", {"answer": answer}, token)


OPEN_TASKS = 1000


def portal_render(bench: Bench, team: str, token: str) -> dict[str, Any]:
    """One worker opening the portal's queues page while ``OPEN_TASKS`` tasks of a labeling job are open."""
    s3 = boto3.client("s3", region_name=REGION)
    lines = "".join(json.dumps({"source": f"review {n}: " + "x" * 200}) + "\n" for n in range(OPEN_TASKS))
    s3.put_object(Bucket="bench-output", Key="queue.manifest", Body=lines.encode())
    bench.sm.create_labeling_job(
        LabelingJobName="bench-queue",
        LabelAttributeName="sentiment",
        InputConfig={"DataSource": {"S3DataSource": {"ManifestS3Uri": "s3://bench-output/queue.manifest"}}},
        OutputConfig={"S3OutputPath": "s3://bench-output/queue/"},
        RoleArn=ROLE,
        LabelCategoryConfigS3Uri="s3://bench-output/labels.json",
        HumanTaskConfig={
            "WorkteamArn": team,
            "UiConfig": {"UiTemplateS3Uri": "s3://bench-output/ui.html"},
            "PreHumanTaskLambdaArn": pre_annotation_lambda_arn("TextMultiClass", REGION),
            "AnnotationConsolidationConfig": {
                "AnnotationConsolidationLambdaArn": consolidation_lambda_arn("TextMultiClass", REGION)
            },
            "TaskTitle": "t",
            "TaskDescription": "d",
            "NumberOfHumanWorkersPerDataObject": 1,
            "TaskTimeLimitInSeconds": 300,
        },
    )
    bench.driver.drain(timeout=600)
    cookie = bench.sign_in(token)
    bench.meter.reset()
    status, _, html = bench.page("GET", "/portal/", cookie=cookie)
    report = bench.meter.report()
    if status != 200 or f"{OPEN_TASKS} task(s) available" not in html:
        raise RuntimeError(f"the queues page does not show {OPEN_TASKS} open tasks: {status} {html[:500]!r}")
    return report


def main() -> None:
    meter = Meter()
    with mock_aws():
        session = boto3.DEFAULT_SESSION or boto3.setup_default_session() or boto3.DEFAULT_SESSION
        assert session is not None
        session.events.register("provide-client-params", meter.on_params)
        session.events.register("after-call", meter.on_call)
        made = create_deployment(lambda name: boto3.client(name, region_name=REGION))
        os.environ.update(made.env)
        boto3.client("s3", region_name=REGION).create_bucket(Bucket="bench-output")
        bench = Bench(meter)
        service = current_service()
        # the re-reads that size each read go through a client of their own, which the meter does not count
        reader: Any = boto3.session.Session(region_name=REGION).client("dynamodb", region_name=REGION)
        meter.measured.watch(service.clients.dynamodb, reader=reader)
        team = bench.sm.create_workteam(
            WorkteamName="t", Description="d", MemberDefinitions=[{"CognitoMemberDefinition": COGNITO}]
        )["WorkteamArn"]
        ui = bench.sm.create_human_task_ui(HumanTaskUiName="ui", UiTemplate={"Content": "<crowd-form></crowd-form>"})
        flows = {}
        for count in (1, 3):
            flows[count] = bench.sm.create_flow_definition(
                FlowDefinitionName=f"flow-{count}",
                HumanLoopConfig={
                    "WorkteamArn": team,
                    "HumanTaskUiArn": ui["HumanTaskUiArn"],
                    "TaskCount": count,
                    "TaskTitle": "t",
                    "TaskDescription": "d",
                },
                OutputConfig={"S3OutputPath": "s3://bench-output/a2i"},
                RoleArn=ROLE,
            )["FlowDefinitionArn"]
        bench.driver.drain()
        tokens = [service.workers.issue(f"worker-{i}")[1] for i in range(3)]
        input_content = json.dumps({"text": "x" * 200, "score": 0.42})

        def start(name: str, flow: str) -> None:
            bench.a2i.start_human_loop(
                HumanLoopName=name, FlowDefinitionArn=flow, HumanLoopInput={"InputContent": input_content}
            )

        scenarios: dict[str, Any] = {}
        meter.reset()
        start("only-start", flows[1])
        scenarios["start_human_loop"] = meter.report()
        bench.answer(tokens[0], {"label": "ok"})  # finished outside the measurement: the queue is the team's
        bench.driver.drain()
        for count in (1, 3):
            meter.reset()
            start(f"review-{count}", flows[count])
            for token in tokens[:count]:
                bench.answer(token, {"label": "ok"})
            bench.driver.drain()
            status = bench.a2i.describe_human_loop(HumanLoopName=f"review-{count}")["HumanLoopStatus"]
            assert status == "Completed", status
            scenarios[f"review_task_count_{count}"] = meter.report()

        s3 = boto3.client("s3", region_name=REGION)
        s3.put_object(Bucket="bench-output", Key="in.manifest", Body=b'{"source": "great product"}\n')
        s3.put_object(
            Bucket="bench-output", Key="labels.json", Body=b'{"labels": [{"label": "pos"}, {"label": "neg"}]}'
        )
        s3.put_object(Bucket="bench-output", Key="ui.html", Body=catalogue.load("gt/text-classification").text())
        meter.reset()
        bench.sm.create_labeling_job(
            **{
                "LabelingJobName": "bench-job",
                "LabelAttributeName": "sentiment",
                "InputConfig": {"DataSource": {"S3DataSource": {"ManifestS3Uri": "s3://bench-output/in.manifest"}}},
                "OutputConfig": {"S3OutputPath": "s3://bench-output/out/"},
                "RoleArn": ROLE,
                "LabelCategoryConfigS3Uri": "s3://bench-output/labels.json",
                "HumanTaskConfig": {
                    "WorkteamArn": team,
                    "UiConfig": {"UiTemplateS3Uri": "s3://bench-output/ui.html"},
                    "PreHumanTaskLambdaArn": pre_annotation_lambda_arn("TextMultiClass", REGION),
                    "AnnotationConsolidationConfig": {
                        "AnnotationConsolidationLambdaArn": consolidation_lambda_arn("TextMultiClass", REGION)
                    },
                    "TaskTitle": "t",
                    "TaskDescription": "d",
                    "NumberOfHumanWorkersPerDataObject": 3,
                    "TaskTimeLimitInSeconds": 300,
                },
            },
        )
        bench.driver.drain()
        for token in tokens:
            bench.answer(token, {"crowd-classifier": {"label": "pos"}})
        bench.driver.drain()
        job = bench.sm.describe_labeling_job(LabelingJobName="bench-job")
        assert job["LabelingJobStatus"] == "Completed", job
        scenarios["gt_object_3_workers"] = meter.report()

        scenarios["portal_render_1000_open_tasks"] = portal_render(bench, team, tokens[0])

        meter.reset()
        bench.driver.sweep()
        idle_sweep = meter.report()

    minutes = 30 * 24 * 60
    sweep_seconds = idle_sweep["lambda"]["seconds_in_process"]
    # the SQS event source mapping long-polls (20 s) with 5 pollers while the queue is empty
    idle_receives = 5 * 3 * minutes
    idle = {
        "scheduled_sweeps": minutes,
        "dynamodb_read_requests_per_sweep": idle_sweep["dynamodb"]["read_requests"],
        "dynamodb_write_requests_per_sweep": idle_sweep["dynamodb"]["write_requests"],
        "sqs_long_polls_assumed": idle_receives,
        "always_on_compute": "none (Lambda and on-demand DynamoDB only)",
        "usd": round(
            minutes
            * (
                idle_sweep["dynamodb"]["read_request_units"] * PRICES["dynamodb_read_request_unit_per_million"]
                + idle_sweep["dynamodb"]["write_request_units_base_table"]
                * PRICES["dynamodb_write_request_unit_per_million"]
                + PRICES["lambda_request_per_million"]
                + sweep_seconds * LAMBDA_MEMORY_GB * PRICES["lambda_gb_second_x86"] * 1_000_000
            )
            / 1_000_000
            + idle_receives * PRICES["sqs_standard_request_per_million"] / 1_000_000,
            4,
        ),
        "note": "excludes storage (DynamoDB $0.25/GB-month, S3 $0.023/GB-month) and CloudWatch Logs",
    }
    start_cost = scenarios["start_human_loop"]["dynamodb"]
    review = scenarios["review_task_count_1"]["dynamodb"]
    targets = {
        "start_human_loop_write_requests_le_3": start_cost["write_requests"] <= 3,
        "start_human_loop_read_requests_le_2": start_cost["read_requests"] <= 2,
        "review_one_worker_write_requests_le_12": review["write_requests"] <= 12,
        "no_scan": all(s["dynamodb"]["scans"] == 0 for s in scenarios.values())
        and idle_sweep["dynamodb"]["scans"] == 0,
    }
    print(
        json.dumps(
            {
                "runtime": "service Lambda handlers in-process on moto (DynamoDB, S3, SQS, EventBridge)",
                "prices_usd_us_east_1_on_demand": PRICES,
                "input_content_bytes": len(input_content),
                "scenarios": scenarios,
                "idle_sweep": idle_sweep,
                "idle_month": idle,
                "targets": targets,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
