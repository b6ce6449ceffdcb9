"""Benchmark of the A2I review path; prints ONE JSON object on stdout.

* ``decision_us``: ``ReviewPolicy.decide`` per call, per source, on that source's representative response
  (median and p99 in microseconds; the adapter's cost is reported separately as ``adapt_us``).
* ``router``: the ``review_router`` Lambda handler on 10,000 SQS records (batches of 10, a realistic mix of
  sources) with a botocore ``sagemaker-a2i-runtime`` client whose StartHumanLoop is answered in-process (request
  validation and serialisation still run), pinned to one core.

Targets (issue 8): median decision <= 20 us for every source; >= 5,000 predictions/s through the router.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT / "sdk", ROOT / "lambdas"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_REGION", "us-east-1")
os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"
os.environ["POWERTOOLS_TRACE_DISABLED"] = "true"
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "truthloop-bench")

from truthloop.review import AnyOf, ConfidenceBelow, RequiredFormKeys, ReviewPolicy, Sampling  # noqa: E402
from truthloop.review.adapters import adapt  # noqa: E402

FIXTURES = ROOT / "tests" / "unit" / "review" / "fixtures"
FLOW = "arn:aws:sagemaker:us-east-1:111122223333:flow-definition/bench-review"
DECISIONS = 20_000
RECORDS = 10_000
BATCH = 10

#: (source, fixture, adapter options)
SOURCES: list[tuple[str, str, dict[str, Any]]] = [
    ("rekognition:detect_moderation_labels", "rekognition_moderation.json", {}),
    ("rekognition:detect_labels", "rekognition_labels.json", {}),
    ("textract:analyze_document", "textract_forms_multipage.json", {}),
    ("comprehend:detect_sentiment", "comprehend_sentiment.json", {}),
    ("comprehend:classify_document", "comprehend_classify_multiclass.json", {}),
    ("comprehend:detect_entities", "comprehend_entities.json", {}),
    ("sagemaker:invoke_endpoint", "endpoint_vector.json", {}),
]


def _policy(source: str) -> ReviewPolicy:
    rules: list[Any] = [ConfidenceBelow(0.7, per={"Alcohol": 0.9, "Pay Date": 0.8}), Sampling(2)]
    if source == "textract:analyze_document":
        rules.append(RequiredFormKeys({"Net Pay": ["NetPay"], "Pay Date": ["PayDate"]}))
    return ReviewPolicy(AnyOf(*rules))


def _load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def _stats(samples_ns: list[int]) -> dict[str, float]:
    ordered = sorted(samples_ns)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {"median": round(statistics.median(ordered) / 1000, 3), "p99": round(p99 / 1000, 3)}


def bench_decisions() -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    decision_us: dict[str, dict[str, float]] = {}
    adapt_us: dict[str, dict[str, float]] = {}
    clock = time.perf_counter_ns
    for source, fixture, options in SOURCES:
        response = _load(fixture)
        policy = _policy(source)
        predictions = adapt(source, response, **options).predictions
        keys = [b"input-%d" % i for i in range(DECISIONS)]
        decide = policy.decide
        for key in keys[:1000]:  # warm up
            decide(predictions, key=key)
        samples = []
        for key in keys:
            start = clock()
            decide(predictions, key=key)
            samples.append(clock() - start)
        decision_us[source] = {**_stats(samples), "predictions": len(predictions)}
        adapt_samples = []
        for _ in range(2000):
            start = clock()
            adapt(source, response, **options)
            adapt_samples.append(clock() - start)
        adapt_us[source] = _stats(adapt_samples)
    return decision_us, adapt_us


# ============================================================================================ router


def _records(rng: random.Random) -> list[dict[str, Any]]:
    """A mix of prediction records with jittered confidences (so some route and some do not)."""
    mix = [
        ("comprehend:detect_sentiment", 40),
        ("comprehend:detect_entities", 20),
        ("rekognition:detect_moderation_labels", 15),
        ("comprehend:classify_document", 10),
        ("sagemaker:invoke_endpoint", 10),
        ("textract:analyze_document", 5),
    ]
    fixtures = {source: _load(name) for source, name, _ in SOURCES}
    records = []
    sources = [s for s, weight in mix for _ in range(weight)]
    for i in range(RECORDS):
        source = sources[i % len(sources)]
        response = json.loads(json.dumps(fixtures[source]))
        if source == "comprehend:detect_sentiment":
            top = round(rng.uniform(0.5, 1.0), 3)
            response["SentimentScore"] = {"Positive": top, "Negative": round(1 - top, 3), "Neutral": 0.0, "Mixed": 0.0}
        elif source == "comprehend:detect_entities":
            for entity in response["Entities"]:
                entity["Score"] = round(rng.uniform(0.6, 1.0), 3)
        elif source == "rekognition:detect_moderation_labels":
            for label in response["ModerationLabels"]:
                label["Confidence"] = round(rng.uniform(60, 100), 2)
        records.append({"source": source, "response": response, "input": {"text": f"object {i}"}})
    return records


def _sqs_event(batch: list[dict[str, Any]], offset: int) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"m-{offset + i}",
                "receiptHandle": f"r-{offset + i}",
                "body": json.dumps(record),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:111122223333:predictions",
                "awsRegion": "us-east-1",
            }
            for i, record in enumerate(batch)
        ]
    }


class _Context:
    function_name = "review-router-bench"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:111122223333:function:review-router-bench"
    aws_request_id = "bench"


def bench_router() -> dict[str, Any]:
    import boto3
    from botocore.awsrequest import AWSResponse

    os.environ["TRUTHLOOP_FLOW_DEFINITION_ARN"] = FLOW
    os.environ["TRUTHLOOP_REVIEW_POLICY"] = ReviewPolicy(AnyOf(ConfidenceBelow(0.7), Sampling(2))).to_json()
    import review_router.handler as handler

    started: list[str] = []

    def answer(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        body = params["body"].decode() if isinstance(params["body"], bytes) else params["body"]
        start = body.index('"HumanLoopName": "') + 18  # params is the serialised request
        name = body[start : body.index('"', start)]
        started.append(name)
        arn = f"arn:aws:sagemaker:us-east-1:111122223333:human-loop/{name}"
        return AWSResponse(None, 200, {}, None), {"HumanLoopArn": arn, "ResponseMetadata": {"HTTPStatusCode": 200}}

    a2i = boto3.client("sagemaker-a2i-runtime", region_name="us-east-1")
    a2i.meta.events.register("before-call.sagemaker-a2i-runtime.StartHumanLoop", answer)
    router = handler.current_router()
    router.client._a2i = a2i

    records = _records(random.Random(8))
    batches = [records[i : i + BATCH] for i in range(0, len(records), BATCH)]
    events = [_sqs_event(batch, i * BATCH) for i, batch in enumerate(batches)]
    failures = 0
    predictions = 0
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink):  # EMF metrics go to stdout; keep ours to one JSON object
        handler.handler(events[0], _Context())  # warm up (imports, client setup)
        started.clear()
        start = time.perf_counter()
        for event in events:
            result = handler.handler(event, _Context())
            failures += len(result["batchItemFailures"])
        elapsed = time.perf_counter() - start
    for line in sink.getvalue().splitlines():
        if '"PredictionsSeen"' in line:
            predictions += int(sum(json.loads(line)["PredictionsSeen"]))
    warm = _sqs_event(batches[0], 0)  # the warm-up batch was counted in the metrics too
    predictions -= sum(len(adapt(r["source"], r["response"]).predictions) for r in batches[0])
    del warm
    return {
        "records": RECORDS,
        "batch_size": BATCH,
        "predictions": predictions,
        "seconds": round(elapsed, 3),
        "records_per_s": round(RECORDS / elapsed, 1),
        "predictions_per_s": round(predictions / elapsed, 1),
        "loops_started": len(started),
        "unique_loop_names": len(set(started)),
        "failed_records": failures,
    }


def main() -> None:
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    load_before = os.getloadavg()
    decision_us, adapt_us = bench_decisions()
    router = bench_router()
    load_after = os.getloadavg()
    worst_median = max(v["median"] for v in decision_us.values())
    print(
        json.dumps(
            {
                "decision_us": decision_us,
                "adapt_us": adapt_us,
                "router": router,
                "targets": {"decision_median_us": 20, "predictions_per_s": 5000},
                "meets_targets": worst_median <= 20 and router["predictions_per_s"] >= 5000,
                "python": platform.python_version(),
                "cores_used": 1,
                # the machine's load (1, 5, 15 min) around the run: on a shared host, numbers move with it
                "load_average": {
                    "before": [round(x, 2) for x in load_before],
                    "after": [round(x, 2) for x in load_after],
                },
            }
        )
    )


if __name__ == "__main__":
    main()
