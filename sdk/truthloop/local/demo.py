"""``truthloop demo``: the whole human-in-the-loop cycle on the local backend, in well under two minutes.

1. start the local backend in-process (fresh data directory, dummy credentials: AWS is never contacted);
2. with plain boto3, as a user would: an S3 bucket with the shipped samples, a workteam, a review task UI and
   flow definition, and a bounding-box labeling job using AWS's built-in ``PRE-``/``ACS-BoundingBox`` ARNs;
3. route 30 recorded Comprehend sentiment predictions through truthloop's real review router and ReviewClient
   over boto3; the policy sends low-confidence ones to A2I;
4. simulated workers answer every task through the portal API (gold answers, 85 % accuracy);
5. the ``review_completed`` Lambda handler receives each HumanLoop Status Change event and writes the results
   table and the reviewed dataset; the labeling job writes its output manifest;
6. training files: the reviewed dataset (GT manifest) and the labeled manifest are copied to ``demo-output/`` with
   a COCO file made from the boxes and JSON Lines made from the reviews (see :mod:`truthloop.local.demo_output`);
   the backend's state stays in ``demo-output/backend`` so ``truthloop local up --data-dir`` re-opens it;
7. a summary: what was routed and why, loops completed, accuracy against gold, and where every file is.

``--interactive`` stops after step 3 and leaves the portal up with a worker token, so a person can label. Its
labeling job asks for one worker per image (the automatic run asks for three), so one person can finish it; the
terminal says what is left, and the demo goes on to the summary by itself once nothing is.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from truthloop.exceptions import TruthloopError
from truthloop.local.demo_output import DemoOutput, prepare_output_dir

__all__ = ["DEFAULT_OUTPUT", "SAMPLES", "DemoResult", "demo", "run_demo"]

SAMPLES = Path(__file__).resolve().parent / "samples"
BUCKET = "truthloop-demo"
RESULTS_TABLE = "truthloop-demo-results"
POLICY_THRESHOLD = 0.75
ROLE = "arn:aws:iam::123456789012:role/truthloop-demo"
A2I_EVENT = "SageMaker A2I HumanLoop Status Change"
DEFAULT_OUTPUT = Path("demo-output")
#: the project's review_completed Lambda (the demo runs from a clone: ``lambdas/`` sits beside ``sdk/``)
COMPLETION_HANDLER = Path(__file__).resolve().parents[3] / "lambdas" / "review_completed" / "handler.py"


@dataclass
class DemoResult:
    """What the demo did, for the summary and for tests."""

    predictions: int = 0
    routed: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    loops: dict[str, str] = field(default_factory=dict)
    model_correct_on_routed: int = 0
    reviewed_correct: int = 0
    reviewed: int = 0
    model_correct_overall: int = 0
    final_correct_overall: int = 0
    job_status: str = ""
    job_counters: dict[str, int] = field(default_factory=dict)
    boxes_matched: int = 0
    boxes_gold: int = 0
    answers: int = 0
    files: dict[str, str] = field(default_factory=dict)
    local_files: dict[str, Path] = field(default_factory=dict)
    reopen_command: str = ""
    workers_per_image: int = 3
    left: dict[str, int] = field(default_factory=dict)
    results_stored: int = 0
    seconds: float = 0.0


def _reviews() -> list[dict[str, Any]]:
    return [json.loads(line) for line in (SAMPLES / "reviews.jsonl").read_text().splitlines() if line.strip()]


def _boxes() -> list[dict[str, Any]]:
    return [json.loads(line) for line in (SAMPLES / "boxes.jsonl").read_text().splitlines() if line.strip()]


def _iou(a: dict[str, Any], b: dict[str, Any]) -> float:
    ax2, ay2 = a["left"] + a["width"], a["top"] + a["height"]
    bx2, by2 = b["left"] + b["width"], b["top"] + b["height"]
    w = max(0, min(ax2, bx2) - max(a["left"], b["left"]))
    h = max(0, min(ay2, by2) - max(a["top"], b["top"]))
    inter = w * h
    union = a["width"] * a["height"] + b["width"] * b["height"] - inter
    return inter / union if union else 0.0


class _Demo:
    def __init__(
        self, console: Any, output: DemoOutput, *, port: int, accuracy: float, seed: int, workers: int, per_image: int
    ) -> None:
        self.console = console
        self.output = output
        self.data_dir = output.backend_dir
        self.port = port
        self.accuracy = accuracy
        self.seed = seed
        self.workers = workers
        self.result = DemoResult(workers_per_image=per_image)

    # ------------------------------------------------------------------ steps
    def start_backend(self) -> Any:
        from truthloop.local.backend import LocalBackend
        from truthloop.local.config import BackendConfig, EventHandlerConfig

        completion_env = {
            "TRUTHLOOP_RESULTS_TABLE": RESULTS_TABLE,
            "TRUTHLOOP_REVIEWED_BUCKET": BUCKET,
            "TRUTHLOOP_REVIEWED_PREFIX": "reviewed/",
            "TRUTHLOOP_LABEL_ATTRIBUTE": "sentiment",
        }
        config = BackendConfig(
            port=self.port,
            data_dir=self.data_dir,
            workers=1,
            event_handlers=(
                EventHandlerConfig(
                    handler=f"{COMPLETION_HANDLER}:handler",
                    detail_types=(A2I_EVENT,),
                    environment=completion_env,
                ),
            ),
            flow_activation_seconds=0.2,
            consolidation_wait_seconds=5.0,
            engine_interval_seconds=0.1,
        )
        return LocalBackend(config)

    def setup(self, backend: Any) -> dict[str, str]:
        import boto3

        from truthloop.arns import consolidation_lambda_arn, pre_annotation_lambda_arn
        from truthloop.local.templating import catalogue_template

        s3 = boto3.client("s3")
        sm = boto3.client("sagemaker")
        dynamodb = boto3.client("dynamodb")
        s3.create_bucket(Bucket=BUCKET)
        dynamodb.create_table(
            TableName=RESULTS_TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )  # the backend starts with an empty moto, so this is always new
        lines = []
        for entry in _boxes():
            key = f"images/{entry['image']}"
            s3.put_object(
                Bucket=BUCKET, Key=key, Body=(SAMPLES / "images" / entry["image"]).read_bytes(), ContentType="image/png"
            )
            lines.append({"source-ref": f"s3://{BUCKET}/{key}"})
        s3.put_object(Bucket=BUCKET, Key="labeling/input.manifest", Body="".join(json.dumps(x) + "\n" for x in lines))
        labels = {"document-version": "2018-11-28", "labels": [{"label": "red"}, {"label": "blue"}]}
        s3.put_object(Bucket=BUCKET, Key="labeling/labels.json", Body=json.dumps(labels))
        s3.put_object(
            Bucket=BUCKET,
            Key="labeling/bounding-box.liquid.html",
            Body=catalogue_template("gt/bounding-box").encode("utf-8"),
        )
        team = sm.create_workteam(
            WorkteamName="demo-reviewers",
            Description="Local demo workteam",
            MemberDefinitions=[
                {
                    "CognitoMemberDefinition": {
                        "UserPool": "us-east-1_demo",
                        "UserGroup": "reviewers",
                        "ClientId": "demo",
                    }
                }
            ],
        )["WorkteamArn"]
        ui = sm.create_human_task_ui(
            HumanTaskUiName="sentiment-review",
            UiTemplate={"Content": catalogue_template("a2i/comprehend-sentiment-review")},
        )["HumanTaskUiArn"]
        flow = sm.create_flow_definition(
            FlowDefinitionName="sentiment-review",
            HumanLoopConfig={
                "WorkteamArn": team,
                "HumanTaskUiArn": ui,
                "TaskCount": 1,
                "TaskTitle": "Check a sentiment prediction",
                "TaskDescription": "Is the model's sentiment right? If not, pick the right one.",
            },
            OutputConfig={"S3OutputPath": f"s3://{BUCKET}/a2i-output"},
            RoleArn=ROLE,
        )["FlowDefinitionArn"]
        sm.create_labeling_job(
            LabelingJobName="demo-shapes",
            LabelAttributeName="shapes",
            InputConfig={"DataSource": {"S3DataSource": {"ManifestS3Uri": f"s3://{BUCKET}/labeling/input.manifest"}}},
            OutputConfig={"S3OutputPath": f"s3://{BUCKET}/labeling/output/"},
            RoleArn=ROLE,
            LabelCategoryConfigS3Uri=f"s3://{BUCKET}/labeling/labels.json",
            HumanTaskConfig={
                "WorkteamArn": team,
                "UiConfig": {"UiTemplateS3Uri": f"s3://{BUCKET}/labeling/bounding-box.liquid.html"},
                "PreHumanTaskLambdaArn": pre_annotation_lambda_arn("BoundingBox", "us-east-1"),
                "AnnotationConsolidationConfig": {
                    "AnnotationConsolidationLambdaArn": consolidation_lambda_arn("BoundingBox", "us-east-1")
                },
                "TaskTitle": "Box the shapes",
                "TaskDescription": "Draw a tight box around every red and every blue rectangle",
                "NumberOfHumanWorkersPerDataObject": self.result.workers_per_image,
                "TaskTimeLimitInSeconds": 300,
                "TaskAvailabilityLifetimeInSeconds": 3600,
                "MaxConcurrentTaskCount": 100,
            },
        )
        deadline = time.monotonic() + 20
        while sm.describe_flow_definition(FlowDefinitionName="sentiment-review")["FlowDefinitionStatus"] != "Active":
            if time.monotonic() > deadline:
                raise TruthloopError("the demo flow definition did not become Active")
            time.sleep(0.1)
        return {"team": team, "flow": flow}

    def route(self, flow: str) -> None:
        from truthloop.review.policy import ReviewPolicy
        from truthloop.review.router import router_from_env

        policy = ReviewPolicy.threshold(POLICY_THRESHOLD)
        router = router_from_env(
            {"TRUTHLOOP_FLOW_DEFINITION_ARN": flow, "TRUTHLOOP_REVIEW_POLICY": json.dumps(policy.to_dict())}
        )
        reviews = _reviews()
        with self._progress("routing predictions", len(reviews)) as advance:
            for review in reviews:
                outcome = router.route(
                    {
                        "source": "comprehend:detect_sentiment",
                        "response": review["prediction"],
                        "input": {"text": review["text"]},
                    }
                )
                self.result.predictions += 1
                if outcome.status in ("started", "already_started") and outcome.human_loop_name:
                    self.result.routed += 1
                    self.result.loops[review["id"]] = outcome.human_loop_name
                    for rule in outcome.decision.rules:
                        self.result.reasons[rule] += 1
                advance()

    def answer(self, backend: Any) -> None:
        from truthloop.local.simulate import Crowd

        gold: dict[str, dict[str, Any]] = {r["text"]: {"label": r["gold"]} for r in _reviews()}
        for entry in _boxes():
            gold[f"s3://{BUCKET}/images/{entry['image']}"] = {
                "boxes": entry["boxes"],
                "width": entry["width"],
                "height": entry["height"],
            }
        total = self.result.routed + self.result.workers_per_image * len(_boxes())
        crowd = Crowd(
            backend.endpoint_url,
            admin_token=backend.admin_token,
            count=self.workers,
            accuracy=self.accuracy,
            seed=self.seed,
            gold=gold,
        )
        with self._progress(f"{self.workers} simulated workers answering", total) as advance:
            seen = [0]

            def tick(stats: Any) -> None:
                while seen[0] < stats.answered:
                    seen[0] += 1
                    advance()

            stats = crowd.run(idle_seconds=1.5, on_answer=tick)
        self.result.answers = stats.answered

    def wait(self, backend: Any) -> None:
        import boto3

        sm = boto3.client("sagemaker")
        a2i = boto3.client("sagemaker-a2i-runtime")
        deadline = time.monotonic() + 60
        with self.console.status("waiting for loops, the labeling job and event delivery"):
            while time.monotonic() < deadline:
                job = sm.describe_labeling_job(LabelingJobName="demo-shapes")
                statuses = [
                    a2i.describe_human_loop(HumanLoopName=n)["HumanLoopStatus"] for n in self.result.loops.values()
                ]
                if job["LabelingJobStatus"] in ("Completed", "Failed", "Stopped") and all(
                    s in ("Completed", "Failed", "Stopped") for s in statuses
                ):
                    break
                time.sleep(0.2)
            backend.wait_idle(timeout=30)

    def summarise(self, backend: Any) -> None:
        import boto3

        from truthloop.contracts import HumanLoopOutput
        from truthloop.review.results import review_result_from_output

        s3 = boto3.client("s3")
        sm = boto3.client("sagemaker")
        a2i = boto3.client("sagemaker-a2i-runtime")
        dynamodb = boto3.client("dynamodb")
        reviews = {r["id"]: r for r in _reviews()}
        outputs = []
        for review_id, review in reviews.items():
            model = review["prediction"]["Sentiment"]
            self.result.model_correct_overall += model == review["gold"]
            final = model
            name = self.result.loops.get(review_id)
            if name is not None:
                self.result.model_correct_on_routed += model == review["gold"]
                described = a2i.describe_human_loop(HumanLoopName=name)
                if described["HumanLoopStatus"] == "Completed":
                    uri = described["HumanLoopOutput"]["OutputS3Uri"]
                    outputs.append(uri)
                    bucket, _, key = uri[5:].partition("/")
                    output = HumanLoopOutput.parse(json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
                    result = review_result_from_output(output)
                    final = result.human_label or model
                    self.result.reviewed += 1
                    self.result.reviewed_correct += final == review["gold"]
            self.result.final_correct_overall += final == review["gold"]
        job = sm.describe_labeling_job(LabelingJobName="demo-shapes")
        self.result.job_status = job["LabelingJobStatus"]
        self.result.job_counters = {k: int(str(v)) for k, v in job["LabelCounters"].items()}
        manifest_uri = job.get("LabelingJobOutput", {}).get("OutputDatasetS3Uri", "")
        gold = {f"s3://{BUCKET}/images/{e['image']}": e for e in _boxes()}
        if manifest_uri:
            bucket, _, key = manifest_uri[5:].partition("/")
            for line in s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode().splitlines():
                row = json.loads(line)
                truth = gold[row["source-ref"]]
                classes = row.get("shapes-metadata", {}).get("class-map", {})
                found = [
                    {**a, "label": classes.get(str(a.get("class_id")))}
                    for a in row.get("shapes", {}).get("annotations", [])
                ]
                for box in truth["boxes"]:
                    self.result.boxes_gold += 1
                    self.result.boxes_matched += any(f["label"] == box["label"] and _iou(f, box) >= 0.5 for f in found)
        self.result.results_stored = dynamodb.scan(
            TableName=RESULTS_TABLE, Select="COUNT", FilterExpression="attribute_exists(humanLoopName)"
        )["Count"]
        self.result.files = {
            "A2I outputs (output.json)": (
                f"s3://{BUCKET}/a2i-output/sentiment-review/YYYY/MM/DD/hh/mm/ss/<loop>/output.json "
                f"({len(outputs)} files)"
            ),
            "review results table": f"DynamoDB {RESULTS_TABLE} ({self.result.results_stored} items)",
            "worker responses": f"s3://{BUCKET}/labeling/output/demo-shapes/annotations/worker-response/",
        }
        self.output.write(
            s3, bucket=BUCKET, reviewed_prefix="reviewed/", labeled_manifest_uri=manifest_uri, images="images/"
        )
        self.result.local_files = dict(self.output.files)
        self.result.reopen_command = self.output.reopen_command()

    def remaining(self) -> dict[str, int]:
        """What a person still has to do: reviews not answered, images not labeled."""
        import boto3

        sm = boto3.client("sagemaker")
        a2i = boto3.client("sagemaker-a2i-runtime")
        reviews = sum(
            a2i.describe_human_loop(HumanLoopName=n)["HumanLoopStatus"] == "InProgress"
            for n in self.result.loops.values()
        )
        job = sm.describe_labeling_job(LabelingJobName="demo-shapes")
        images = 0 if job["LabelingJobStatus"] in ("Completed", "Failed", "Stopped") else len(_boxes())
        if images:
            images = int(str(job["LabelCounters"].get("Unlabeled", images)))
        return {"reviews": reviews, "images": images}

    def wait_for_person(self, backend: Any, token: str, stop: threading.Event) -> None:
        """Print the portal and a guide, then what is left whenever it changes, until nothing is or ``stop``."""
        self.console.print(f"\n[bold]Worker portal:[/] {backend.portal_url}/")
        self.console.print(f"[bold]Worker token:[/]  {token}")
        self.console.print(
            "Sign in with the token. Queue demo-reviewers holds both jobs: "
            f"{self.result.routed} sentiment reviews and {len(_boxes())} images to box "
            f"({self.result.workers_per_image} worker per image, so you can finish alone). "
            "The demo goes on by itself when everything is answered; Ctrl+C stops early.\n"
        )
        last: dict[str, int] = {}
        try:
            while not stop.wait(1.0):
                left = self.remaining()
                if left != last:
                    self.console.print(f"left to do: {left['reviews']} reviews, {left['images']} images")
                    last = left
                if not any(left.values()):
                    break
        except KeyboardInterrupt:
            pass
        backend.wait_idle(timeout=30)
        self.result.left = self.remaining()

    # ------------------------------------------------------------------ output
    def _progress(self, description: str, total: int) -> Any:
        from contextlib import contextmanager

        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        @contextmanager
        def run() -> Any:
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=self.console,
                transient=False,
            ) as progress:
                task = progress.add_task(description, total=total)
                lock = threading.Lock()

                def advance() -> None:
                    with lock:
                        progress.advance(task)

                yield advance

        return run()

    def print_summary(self) -> None:
        from rich.table import Table

        r = self.result
        table = Table(title="truthloop demo: summary", show_header=False, title_justify="left")
        table.add_column(style="bold")
        table.add_column()
        why = ", ".join(f"{n}× {rule}" for rule, n in r.reasons.most_common()) or "none"
        table.add_row("predictions", f"{r.predictions} Comprehend sentiment predictions (recorded)")
        table.add_row("routed to review", f"{r.routed} ({why}: confidence below {POLICY_THRESHOLD:.2f})")
        table.add_row("kept the model's answer", str(r.predictions - r.routed))
        table.add_row("human loops completed", f"{r.reviewed} of {r.routed}")
        table.add_row("model accuracy on routed items", f"{r.model_correct_on_routed}/{r.routed}")
        table.add_row("after human review", f"{r.reviewed_correct}/{r.reviewed}")
        table.add_row(
            "overall accuracy vs gold",
            f"model {r.model_correct_overall}/{r.predictions} → with review {r.final_correct_overall}/{r.predictions}",
        )
        counters = r.job_counters
        table.add_row(
            "labeling job demo-shapes",
            f"{r.job_status}: {counters.get('HumanLabeled', 0)} images labeled by "
            f"{r.workers_per_image} worker{'s' if r.workers_per_image > 1 else ''} each, "
            f"{counters.get('FailedNonRetryableError', 0)} failed",
        )
        table.add_row("consolidated boxes vs gold", f"{r.boxes_matched}/{r.boxes_gold} boxes found (IoU ≥ 0.5)")
        table.add_row("worker answers", str(r.answers))
        table.add_row("time", f"{r.seconds:.1f} s")
        if any(r.left.values()):
            table.add_row("left undone", f"{r.left['reviews']} reviews, {r.left['images']} images")
        self.console.print(table)
        self.console.print("[bold]Files[/] (they stay after the demo exits):")
        for what, path in r.local_files.items():
            self.console.print(f"  {what}: {path}", soft_wrap=True)
        self.console.print("[bold]In the local backend[/] (S3 and DynamoDB):")
        for what, where in r.files.items():
            self.console.print(f"  {what}: {where}", soft_wrap=True)
        self.console.print(f"[bold]Re-open the backend on the same state:[/] {r.reopen_command}", soft_wrap=True)


def run_demo(
    *,
    output_dir: Path = DEFAULT_OUTPUT,
    port: int = 0,
    accuracy: float = 0.85,
    seed: int = 1,
    workers: int = 5,
    interactive: bool = False,
    console: Any = None,
    stop: threading.Event | None = None,
) -> DemoResult:
    """Run the demo, leave its files in ``output_dir`` and return what happened.

    ``interactive`` waits for a person (until nothing is left or ``stop`` is set) instead of simulated workers.
    """
    from rich.console import Console

    started = time.monotonic()
    console = console or Console()
    for key, value in {"AWS_ACCESS_KEY_ID": "truthloop-demo", "AWS_SECRET_ACCESS_KEY": "truthloop-demo"}.items():
        os.environ.setdefault(key, value)
    for noisy in ("truthloop.labeling", "truthloop.review", "truthloop.local", "botocore", "aws_lambda_powertools"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    prepare_output_dir(output_dir)
    output = DemoOutput(output_dir)
    demo_run = _Demo(
        console, output, port=port, accuracy=accuracy, seed=seed, workers=workers, per_image=1 if interactive else 3
    )
    backend = demo_run.start_backend()
    try:
        with console.status("starting the local backend (SageMaker + A2I + S3 on 127.0.0.1)"):
            backend.start()
        with backend.environment():
            os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
            console.print(
                f"local backend on [bold]{backend.endpoint_url}[/] (S3 {backend.s3_url}), state in {output.backend_dir}"
            )
            with console.status("creating a workteam, a review flow, a task UI and a bounding-box labeling job"):
                ids = demo_run.setup(backend)
            demo_run.route(ids["flow"])
            if interactive:
                demo_run.wait_for_person(backend, backend.worker_tokens["worker-1"], stop or threading.Event())
            else:
                demo_run.answer(backend)
                demo_run.wait(backend)
            with console.status(f"writing the manifests and training files to {output_dir}"):
                demo_run.summarise(backend)
            demo_run.result.seconds = time.monotonic() - started
            demo_run.print_summary()
    finally:
        backend.stop()  # saves the local S3 into the backend directory
    return demo_run.result


@click.command()
@click.option("--interactive", is_flag=True, help="Leave the portal up with a worker token so you can label.")
@click.option("--port", type=int, default=0, show_default=True, help="Port of the local backend (0: any free one).")
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_OUTPUT,
    show_default=True,
    help="Where the manifests, training files and the backend's state are kept (a new run replaces it).",
)
@click.option("--workers", type=int, default=5, show_default=True, help="Simulated workers.")
@click.option("--accuracy", type=float, default=0.85, show_default=True, help="Simulated workers' accuracy.")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the simulated workers.")
def demo(interactive: bool, port: int, output_dir: Path, workers: int, accuracy: float, seed: int) -> None:
    """Run the human-in-the-loop demo on the local backend (no AWS account needed).

    Routes 30 recorded sentiment predictions through truthloop's review router to A2I human loops, runs a
    bounding-box labeling job with built-in Ground Truth Lambdas, lets simulated workers answer (or you, with
    --interactive), then writes the reviewed and labeled manifests and the training files made from them (COCO,
    JSON Lines) to --output-dir, and prints a summary with accuracy against gold.

    \b
    Example:
      truthloop demo
      truthloop demo --interactive --port 4566
      truthloop local up --data-dir demo-output/backend   # re-open the demo's backend afterwards
    """
    run_demo(output_dir=output_dir, port=port, accuracy=accuracy, seed=seed, workers=workers, interactive=interactive)
