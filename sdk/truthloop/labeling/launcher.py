"""Batch uploaded data objects into Ground Truth labeling jobs, and re-queue the ones a job could not label.

Inputs arrive on one SQS queue, as EventBridge events:

* ``Object Created`` (S3, input bucket): a JSON Lines manifest under ``manifests/`` (each line one data object,
  with ``source`` or ``source-ref``), or any object under ``objects/`` (one data object
  ``{"source-ref": "s3://bucket/key"}``). Each data object becomes a *pending item* in the DynamoDB table, keyed
  by a hash of its content, so a redelivered or re-uploaded object is registered once.
* ``SageMaker Ground Truth Labeling Job State Change`` for a job this launcher started: ``Completed`` marks
  labelled items ``done`` and re-queues the objects the job failed; ``Failed``/``Stopped`` re-queue all its items.
  After ``max_attempts`` an item is ``failed`` and reported on the notification topic.

* ``Scheduled Event`` (every 15 minutes): nothing to register; the run launches what is still pending.

After each batch the launcher groups pending items into jobs of at most ``max_items_per_job``. A job's name is a
hash of its items, their attempt numbers and a random launch id (:func:`job_name`): items are claimed for that
name with a conditional write, the manifest is written and ``CreateLabelingJob`` is called; a retry after any
failure reads the name back from the claimed items, and ``ResourceInUse`` then means the job already exists. The
random part keeps a name from ever meeting a job of an earlier deployment (job names cannot be reused).

Item states: ``pending`` → ``launching`` (claimed for job ``job``) → ``launched`` → ``done`` | ``pending``
(attempts + 1) | ``failed``.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from truthloop.aws import map_client_errors, split_s3_uri
from truthloop.contracts import canonical_json
from truthloop.exceptions import AwsError, ConfigurationError, LabelingError
from truthloop.naming import deterministic_name, validate_label_attribute_name

logger = logging.getLogger(__name__)

ITEM_KEY = "truthloop-item"
#: A data object's manifest line may be at most 100 KB (aws-contracts.md §4).
MAX_LINE_BYTES = 100 * 1024
MANIFEST_PREFIX = "manifests/"
OBJECTS_PREFIX = "objects/"
OBJECT_CREATED = "Object Created"
JOB_STATE_CHANGE = "SageMaker Ground Truth Labeling Job State Change"
#: EventBridge's schedule event: nothing to register, but the launcher runs, so pending items left over by a large
#: backlog and launches that died midway are picked up even when no upload arrives.
SCHEDULED = "Scheduled Event"
#: A claimed batch whose job was not confirmed within this time is retried (the same job name).
STALE_LAUNCH_SECONDS = 600
MAX_JOBS_PER_INVOCATION = 10


class LauncherError(LabelingError, ValueError):
    """Raised when a queue message is not an event the launcher understands (the message goes to the DLQ)."""


@dataclass(frozen=True)
class JobConfig:
    """The labeling pipeline's settings (``TRUTHLOOP_JOB_CONFIG``, written by the LabelingPipeline construct)."""

    job_name_prefix: str
    label_attribute_name: str
    role_arn: str
    workteam_arn: str
    input_bucket: str
    output_s3_uri: str
    task_title: str
    task_description: str
    ui_template_s3_uri: str | None = None
    human_task_ui_arn: str | None = None
    pre_annotation_lambda_arn: str | None = None
    consolidation_lambda_arn: str | None = None
    labels: tuple[str, ...] = ()
    task_keywords: tuple[str, ...] = ()
    workers_per_object: int = 1
    task_time_limit_seconds: int = 300
    task_availability_seconds: int | None = None
    max_concurrent_task_count: int | None = None
    kms_key_arn: str | None = None
    jobs_prefix: str = "jobs/"
    max_items_per_job: int = 1000
    max_attempts: int = 3
    notification_topic_arn: str | None = None
    content_classifiers: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, text: str) -> JobConfig:
        """Parse and validate ``TRUTHLOOP_JOB_CONFIG``; every problem is reported at once."""
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise ConfigurationError(f"TRUTHLOOP_JOB_CONFIG is not JSON: {exc}") from None
        if not isinstance(raw, dict):
            raise ConfigurationError("TRUTHLOOP_JOB_CONFIG must be a JSON object")
        names = {
            "jobNamePrefix": "job_name_prefix",
            "labelAttributeName": "label_attribute_name",
            "roleArn": "role_arn",
            "workteamArn": "workteam_arn",
            "inputBucket": "input_bucket",
            "outputS3Uri": "output_s3_uri",
            "taskTitle": "task_title",
            "taskDescription": "task_description",
            "uiTemplateS3Uri": "ui_template_s3_uri",
            "humanTaskUiArn": "human_task_ui_arn",
            "preAnnotationLambdaArn": "pre_annotation_lambda_arn",
            "consolidationLambdaArn": "consolidation_lambda_arn",
            "labels": "labels",
            "taskKeywords": "task_keywords",
            "workersPerObject": "workers_per_object",
            "taskTimeLimitSeconds": "task_time_limit_seconds",
            "taskAvailabilitySeconds": "task_availability_seconds",
            "maxConcurrentTaskCount": "max_concurrent_task_count",
            "kmsKeyArn": "kms_key_arn",
            "jobsPrefix": "jobs_prefix",
            "maxItemsPerJob": "max_items_per_job",
            "maxAttempts": "max_attempts",
            "notificationTopicArn": "notification_topic_arn",
            "contentClassifiers": "content_classifiers",
        }
        problems = [f"unknown key {key!r}" for key in raw if key not in names]
        kwargs: dict[str, Any] = {}
        for key, attr in names.items():
            if key in raw and raw[key] is not None:
                value = raw[key]
                kwargs[attr] = tuple(value) if isinstance(value, list) else value
        required = ["jobNamePrefix", "labelAttributeName", "roleArn", "workteamArn", "inputBucket", "outputS3Uri"]
        problems += [f"{key} is required" for key in [*required, "taskTitle", "taskDescription"] if not raw.get(key)]
        if not raw.get("uiTemplateS3Uri") and not raw.get("humanTaskUiArn"):
            problems.append("one of uiTemplateS3Uri and humanTaskUiArn is required")
        if raw.get("labelAttributeName"):
            try:
                validate_label_attribute_name(str(raw["labelAttributeName"]))
            except ConfigurationError as exc:
                problems.append(str(exc))
        for key, low, high in (("maxItemsPerJob", 1, 100_000), ("maxAttempts", 1, 100), ("workersPerObject", 1, 9)):
            value = raw.get(key)
            if value is not None and not (isinstance(value, int) and low <= value <= high):
                problems.append(f"{key} must be an integer from {low} to {high}, got {value!r}")
        if problems:
            raise ConfigurationError("TRUTHLOOP_JOB_CONFIG: " + "; ".join(problems))
        return cls(**kwargs)


@dataclass
class Outcome:
    """What one invocation did (logged, and returned for tests)."""

    registered: int = 0
    duplicates: int = 0
    rejected: list[str] = field(default_factory=list)
    launched_jobs: list[str] = field(default_factory=list)
    done: int = 0
    requeued: int = 0
    failed: list[str] = field(default_factory=list)


def _timestamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def item_id(data_object: dict[str, Any]) -> str:
    """A stable id for a data object: a hash of its content without truthloop's own key."""
    content = {k: v for k, v in data_object.items() if k != ITEM_KEY}
    return deterministic_name("item", content, max_length=38, digest_chars=32).rsplit("-", 1)[-1]


def job_name(prefix: str, claims: Iterable[tuple[str, int]], launch: str) -> str:
    """The labeling job name for a set of (item id, attempt) pairs claimed by the launch ``launch``.

    ``launch`` is random per claim: job names are unique per account and never reusable (a stopped job keeps its
    name), so items registered again after a redeploy must not get the name of a job an earlier deployment made.
    The name is stored with the claim, so a retried launch finishes under the same name.
    """
    return deterministic_name(
        prefix, {"claims": sorted(claims), "launch": launch}, max_length=63, lower=True, digest_chars=24
    )


class Launcher:
    """Registers data objects, launches labeling jobs and reconciles finished jobs (see the module docstring)."""

    def __init__(
        self,
        config: JobConfig,
        *,
        table: Any,
        s3: Any,
        sagemaker: Any,
        sns: Any = None,
        clock: Any = time.time,
        new_launch_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self.new_launch_id = new_launch_id
        self.config = config
        self.table = table
        self.s3 = s3
        self.sagemaker = sagemaker
        self.sns = sns
        self.clock = clock
        self.outcome = Outcome()

    def _now(self) -> str:
        return _timestamp(self.clock())

    # ----------------------------------------------------------------------------------------- dispatch

    def handle_message(self, body: str) -> None:
        """Handle one SQS message body (an EventBridge event); raise :class:`LauncherError` for unknown ones."""
        try:
            event = json.loads(body)
        except ValueError as exc:
            raise LauncherError(f"message body is not JSON: {exc}") from None
        kind = event.get("detail-type") if isinstance(event, dict) else None
        if kind == OBJECT_CREATED:
            detail = event.get("detail") or {}
            bucket = (detail.get("bucket") or {}).get("name")
            key = (detail.get("object") or {}).get("key")
            if not bucket or not key:
                raise LauncherError("Object Created event without detail.bucket.name / detail.object.key")
            self.register_object(str(bucket), str(key))
        elif kind == SCHEDULED:
            logger.info("scheduled run: launching what is pending")
        elif kind == JOB_STATE_CHANGE:
            resources = event.get("resources") or []
            status = (event.get("detail") or {}).get("LabelingJobStatus")
            if not resources or not status:
                raise LauncherError("job state event without resources[0] / detail.LabelingJobStatus")
            self.reconcile_job(str(resources[0]).rsplit("/", 1)[-1], str(status))
        else:
            raise LauncherError(f"unexpected event detail-type {kind!r}")

    # ----------------------------------------------------------------------------------------- registration

    def register_object(self, bucket: str, key: str) -> None:
        """Register the data objects of an uploaded manifest or object as pending items.

        Lines that are not valid data objects are skipped and reported (file, line number, reason) on the
        notification topic; the valid lines of the same manifest are registered.
        """
        rejected: list[str] = []
        if key.startswith(MANIFEST_PREFIX):
            for number, line in self._manifest_lines(bucket, key):
                where = f"s3://{bucket}/{key}:{number}"
                try:
                    data_object = self._parse_line(line)
                except LauncherError as exc:
                    rejected.append(f"{where}: {exc}")
                    continue
                self._register(data_object, where)
        elif key.startswith(OBJECTS_PREFIX):
            if not key.endswith("/"):
                self._register({"source-ref": f"s3://{bucket}/{key}"}, f"s3://{bucket}/{key}")
        else:
            logger.info("ignoring s3://%s/%s: not under %s or %s", bucket, key, MANIFEST_PREFIX, OBJECTS_PREFIX)
        if rejected:
            self.outcome.rejected += rejected
            self._notify(
                "truthloop: manifest lines rejected",
                {"rejected": rejected, "hint": "each line must be a JSON object with source or source-ref"},
            )

    def _manifest_lines(self, bucket: str, key: str) -> Iterator[tuple[int, bytes]]:
        with map_client_errors("GetObject"):
            body = self.s3.get_object(Bucket=bucket, Key=key)["Body"]
        for number, line in enumerate(body.iter_lines(), start=1):
            if line.strip():
                yield number, line

    @staticmethod
    def _parse_line(line: bytes) -> dict[str, Any]:
        if len(line) > MAX_LINE_BYTES:
            raise LauncherError(f"line is {len(line)} bytes; a manifest line may hold at most {MAX_LINE_BYTES}")
        try:
            value = json.loads(line)
        except ValueError as exc:
            raise LauncherError(f"not JSON ({exc})") from None
        if not isinstance(value, dict):
            raise LauncherError(f"expected a JSON object, got {type(value).__name__}")
        source, source_ref = value.get("source"), value.get("source-ref")
        if source is None and source_ref is None:
            raise LauncherError("needs 'source' (inline data) or 'source-ref' (an s3:// URI)")
        if source_ref is not None and not (isinstance(source_ref, str) and source_ref.startswith("s3://")):
            raise LauncherError(f"'source-ref' must be an s3:// URI, got {source_ref!r}")
        return value

    def _register(self, data_object: dict[str, Any], where: str) -> None:
        identifier = item_id(data_object)
        now = self._now()
        try:
            with map_client_errors("PutItem"):
                self.table.put_item(
                    Item={
                        "item": identifier,
                        "status": "pending",
                        "attempts": 0,
                        "line": canonical_json({k: v for k, v in data_object.items() if k != ITEM_KEY}),
                        "origin": where,
                        "createdAt": now,
                        "updatedAt": now,
                    },
                    ConditionExpression="attribute_not_exists(#i)",
                    ExpressionAttributeNames={"#i": "item"},
                )
        except AwsError as exc:
            if exc.code != "ConditionalCheckFailedException":
                raise
            self.outcome.duplicates += 1
            return
        self.outcome.registered += 1

    # ----------------------------------------------------------------------------------------- launching

    def launch_pending(self) -> list[str]:
        """Finish stale launches, then start jobs for pending items; return the names of the jobs started."""
        for name, items in self._stale_launches().items():
            self._ensure_job(name, items)
        started: list[str] = []
        pending = self._query(
            "status-index", "status", "pending", limit=self.config.max_items_per_job * MAX_JOBS_PER_INVOCATION
        )
        size = self.config.max_items_per_job
        for start in range(0, len(pending), size):
            chunk = pending[start : start + size]
            claims = [(str(i["item"]), int(i["attempts"])) for i in chunk]
            name = job_name(self.config.job_name_prefix, claims, self.new_launch_id())
            claimed = self._claim(name, chunk)
            if len(claimed) != len(chunk):
                # Another invocation took some of these items: give ours back; the next run batches again.
                self._release(name, claimed)
                continue
            self._ensure_job(name, claimed)
            started.append(name)
        self.outcome.launched_jobs += started
        return started

    def _query(self, index: str, key: str, value: str, *, limit: int | None = None) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "IndexName": index,
            "KeyConditionExpression": "#k = :v",
            "ExpressionAttributeNames": {"#k": key},
            "ExpressionAttributeValues": {":v": value},
        }
        while True:
            with map_client_errors("Query"):
                page = self.table.query(**kwargs)
            items += page.get("Items", [])
            if "LastEvaluatedKey" not in page or (limit is not None and len(items) >= limit):
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        # Query on a GSI is eventually consistent: the item itself is read again when claimed.
        return items[:limit] if limit is not None else items

    def _stale_launches(self) -> dict[str, list[dict[str, Any]]]:
        cutoff = _timestamp(self.clock() - STALE_LAUNCH_SECONDS)
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for item in self._query("status-index", "status", "launching"):
            if str(item.get("updatedAt", "")) <= cutoff and item.get("job"):
                groups[str(item["job"])].append(item)
        return dict(groups)

    def _claim(self, name: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        claimed = []
        for item in items:
            try:
                with map_client_errors("UpdateItem"):
                    self.table.update_item(
                        Key={"item": item["item"]},
                        UpdateExpression="SET #s = :launching, #j = :job, updatedAt = :now",
                        ConditionExpression="#s = :pending AND attempts = :attempts",
                        ExpressionAttributeNames={"#s": "status", "#j": "job"},
                        ExpressionAttributeValues={
                            ":launching": "launching",
                            ":pending": "pending",
                            ":job": name,
                            ":now": self._now(),
                            ":attempts": item["attempts"],
                        },
                    )
            except AwsError as exc:
                if exc.code != "ConditionalCheckFailedException":
                    raise
                continue
            claimed.append(item)
        return claimed

    def _release(self, name: str, items: list[dict[str, Any]]) -> None:
        for item in items:
            self._transition(item["item"], name, "pending", expected=("launching",), remove_job=True)

    def _ensure_job(self, name: str, items: list[dict[str, Any]]) -> None:
        """Write the job's manifest and create it (idempotent), then mark its items launched."""
        config = self.config
        items = sorted(items, key=lambda i: str(i["item"]))
        lines = []
        for item in items:
            data_object = json.loads(item["line"])
            data_object[ITEM_KEY] = item["item"]
            lines.append(json.dumps(data_object, ensure_ascii=False, separators=(",", ":")))
        manifest_key = f"{config.jobs_prefix}{name}/input.manifest"
        put: dict[str, Any] = {"Bucket": config.input_bucket, "ContentType": "application/jsonlines"}
        if config.kms_key_arn:
            put.update(ServerSideEncryption="aws:kms", SSEKMSKeyId=config.kms_key_arn)
        with map_client_errors("PutObject"):
            self.s3.put_object(Key=manifest_key, Body=("\n".join(lines) + "\n").encode(), **put)
        request = self.create_request(name, f"s3://{config.input_bucket}/{manifest_key}")
        if config.labels:
            labels_key = f"{config.jobs_prefix}{name}/labels.json"
            document = {"document-version": "2018-11-28", "labels": [{"label": label} for label in config.labels]}
            with map_client_errors("PutObject"):
                self.s3.put_object(Key=labels_key, Body=json.dumps(document).encode(), **put)
            request["LabelCategoryConfigS3Uri"] = f"s3://{config.input_bucket}/{labels_key}"
        try:
            with map_client_errors("CreateLabelingJob"):
                self.sagemaker.create_labeling_job(**request)
        except AwsError as exc:
            if exc.code != "ResourceInUse":
                raise
            logger.info("labeling job %s already exists (a retried launch)", name)
        for item in items:
            self._transition(item["item"], name, "launched", expected=("launching",))
        logger.info("labeling job %s started with %d items", name, len(items))

    def create_request(self, name: str, manifest_uri: str) -> dict[str, Any]:
        """The CreateLabelingJob request for a job over ``manifest_uri`` (aws-contracts.md §4)."""
        c = self.config
        human: dict[str, Any] = {
            "WorkteamArn": c.workteam_arn,
            "UiConfig": {"UiTemplateS3Uri": c.ui_template_s3_uri}
            if c.ui_template_s3_uri
            else {"HumanTaskUiArn": c.human_task_ui_arn},
            "TaskTitle": c.task_title,
            "TaskDescription": c.task_description,
            "NumberOfHumanWorkersPerDataObject": c.workers_per_object,
            "TaskTimeLimitInSeconds": c.task_time_limit_seconds,
        }
        if c.pre_annotation_lambda_arn:
            human["PreHumanTaskLambdaArn"] = c.pre_annotation_lambda_arn
        if c.consolidation_lambda_arn:
            human["AnnotationConsolidationConfig"] = {"AnnotationConsolidationLambdaArn": c.consolidation_lambda_arn}
        if c.task_keywords:
            human["TaskKeywords"] = list(c.task_keywords)
        if c.task_availability_seconds:
            human["TaskAvailabilityLifetimeInSeconds"] = c.task_availability_seconds
        if c.max_concurrent_task_count:
            human["MaxConcurrentTaskCount"] = c.max_concurrent_task_count
        input_config: dict[str, Any] = {"DataSource": {"S3DataSource": {"ManifestS3Uri": manifest_uri}}}
        if c.content_classifiers:
            input_config["DataAttributes"] = {"ContentClassifiers": list(c.content_classifiers)}
        output: dict[str, Any] = {"S3OutputPath": c.output_s3_uri}
        if c.kms_key_arn:
            output["KmsKeyId"] = c.kms_key_arn
        return {
            "LabelingJobName": name,
            "LabelAttributeName": c.label_attribute_name,
            "InputConfig": input_config,
            "OutputConfig": output,
            "RoleArn": c.role_arn,
            "HumanTaskConfig": human,
        }

    # ----------------------------------------------------------------------------------------- reconciliation

    def reconcile_job(self, name: str, status: str) -> None:
        """Apply a finished job's result to its items (idempotent: duplicate events change nothing)."""
        items = [i for i in self._query("job-index", "job", name) if i.get("status") == "launched"]
        if not items:
            logger.info("job %s (%s): no launched items (not ours, or already reconciled)", name, status)
            return
        if status == "Completed":
            results = self._job_results(name)
            for item in items:
                reason = results.get(str(item["item"]), "missing from the job's output manifest")
                if reason == "":
                    self._transition(item["item"], name, "done", expected=("launched",))
                    self.outcome.done += 1
                else:
                    self._requeue(item, name, reason)
        elif status in {"Failed", "Stopped"}:
            reason = f"labeling job {name} ended {status}"
            if status == "Failed":
                reason += f": {self._failure_reason(name)}"
            for item in items:
                self._requeue(item, name, reason)
        else:
            logger.info("job %s is %s; nothing to do yet", name, status)
            return
        if self.outcome.failed:
            self._notify(
                "truthloop: data objects could not be labelled",
                {"job": name, "failed": self.outcome.failed, "maxAttempts": self.config.max_attempts},
            )

    def _failure_reason(self, name: str) -> str:
        try:
            with map_client_errors("DescribeLabelingJob"):
                return str(self.sagemaker.describe_labeling_job(LabelingJobName=name).get("FailureReason") or "")
        except AwsError as exc:
            return f"(could not describe the job: {exc})"

    def _job_results(self, name: str) -> dict[str, str]:
        """item id → "" (labelled) or the failure reason, from the job's output manifest."""
        with map_client_errors("DescribeLabelingJob"):
            described = self.sagemaker.describe_labeling_job(LabelingJobName=name)
        uri = (described.get("LabelingJobOutput") or {}).get("OutputDatasetS3Uri")
        if not uri:
            return {}
        bucket, key = split_s3_uri(str(uri))
        attribute = self.config.label_attribute_name
        results: dict[str, str] = {}
        with map_client_errors("GetObject"):
            body = self.s3.get_object(Bucket=bucket, Key=key)["Body"]
        for line in body.iter_lines():
            if not line.strip():
                continue
            row = json.loads(line)
            identifier = row.get(ITEM_KEY)
            if not identifier:
                continue
            metadata = row.get(f"{attribute}-metadata") or {}
            failure = metadata.get("failure-reason") if isinstance(metadata, dict) else None
            if failure or attribute not in row:
                results[str(identifier)] = str(failure or f"no '{attribute}' in the output manifest line")
            else:
                results[str(identifier)] = ""
        return results

    def _requeue(self, item: dict[str, Any], name: str, reason: str) -> None:
        attempts = int(item["attempts"]) + 1
        if attempts >= self.config.max_attempts:
            if self._transition(item["item"], name, "failed", expected=("launched",), reason=reason):
                self.outcome.failed.append(f"{item.get('origin', item['item'])}: {reason}")
            return
        if self._transition(item["item"], name, "pending", expected=("launched",), remove_job=True, attempts=attempts):
            self.outcome.requeued += 1

    def _transition(
        self,
        identifier: str,
        name: str,
        status: str,
        *,
        expected: tuple[str, ...],
        remove_job: bool = False,
        attempts: int | None = None,
        reason: str | None = None,
    ) -> bool:
        """Move an item to ``status`` if it still belongs to job ``name`` in one of the ``expected`` states."""
        sets = ["#s = :status", "updatedAt = :now"]
        values: dict[str, Any] = {":status": status, ":now": self._now(), ":job": name}
        if attempts is not None:
            sets.append("attempts = :attempts")
            values[":attempts"] = attempts
        if reason is not None:
            sets.append("reason = :reason")
            values[":reason"] = reason[:1000]
        placeholders = []
        for n, state in enumerate(expected):
            values[f":e{n}"] = state
            placeholders.append(f":e{n}")
        expression = "SET " + ", ".join(sets) + (" REMOVE #j" if remove_job else "")
        try:
            with map_client_errors("UpdateItem"):
                self.table.update_item(
                    Key={"item": identifier},
                    UpdateExpression=expression,
                    ConditionExpression=f"#j = :job AND #s IN ({', '.join(placeholders)})",
                    ExpressionAttributeNames={"#s": "status", "#j": "job"},
                    ExpressionAttributeValues=values,
                )
        except AwsError as exc:
            if exc.code != "ConditionalCheckFailedException":
                raise
            return False
        return True

    # ----------------------------------------------------------------------------------------- notifications

    def _notify(self, subject: str, message: dict[str, Any]) -> None:
        if self.sns is None or not self.config.notification_topic_arn:
            logger.warning("%s: %s", subject, json.dumps(message))
            return
        with map_client_errors("Publish"):
            self.sns.publish(
                TopicArn=self.config.notification_topic_arn,
                Subject=subject[:100],
                Message=json.dumps(message, indent=2)[:250_000],
            )
