"""The emulated Ground Truth labeling job (aws-contracts.md §1–§4, §7).

A job moves ``Initializing`` → ``InProgress`` → ``Completed`` (or ``Failed`` / ``Stopping`` → ``Stopped``):

1. read the input manifest (and the label-category file and the template) from S3; any problem fails the job with
   a ``FailureReason`` naming the file, line or Lambda;
2. for each object, in manifest order and up to ``MaxConcurrentTaskCount`` at a time, call the pre-annotation
   Lambda with the documented event; ``isHumanAnnotationRequired: false`` skips humans, otherwise a task for
   ``NumberOfHumanWorkersPerDataObject`` workers goes to the workteam's queue; stopping conditions cap how many
   objects go to humans;
3. when an object's task is answered (or its availability lifetime passes), it joins the next consolidation batch:
   the worker responses, the consolidation request (the payload file), the post-annotation Lambda call with the
   documented event, and its response are written under ``annotations/`` with the iteration number;
4. when nothing is left in flight, ``manifests/output/output.manifest`` is written (input lines in order plus
   ``<attr>`` and ``<attr>-metadata``; failed objects carry ``failure-reason``), counters are final, and the
   ``SageMaker Ground Truth Labeling Job State Change`` event is published.
"""

from __future__ import annotations

import importlib
import json
import logging
import math
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from truthloop.arns import HUMAN_TASK_UI_ACCOUNT
from truthloop.aws import split_s3_uri
from truthloop.contracts import (
    ConsolidationEvent,
    ConsolidationResponse,
    LabelCategoryConfig,
    PreAnnotationEvent,
    PreAnnotationResponse,
    arn_resource_name,
)
from truthloop.contracts._reader import iso
from truthloop.exceptions import ContractError
from truthloop.local import templating
from truthloop.local.events import GT_DETAIL_TYPE
from truthloop.local.lambdas import LambdaError, LambdaNotMapped
from truthloop.local.runtime import Runtime
from truthloop.local.storage import JobObject, Resource, Task
from truthloop.local.workforce import WorkerDirectory

__all__ = ["JOB_KIND", "LabelingEngine", "job_owner"]

log = logging.getLogger("truthloop.local.labeling")

JOB_KIND = "labeling-job"
_IN_FLIGHT = ("pending", "queued", "labeling")
_READY = ("answered", "auto")
_FINAL_STATUSES = ("Completed", "Failed", "Stopped")


class JobFailure(Exception):
    """Raised inside the engine to fail a labeling job with a ``FailureReason``."""


def job_owner(job_key: str) -> str:
    return f"labeling-job:{job_key}"


def _file_ts(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d_%H:%M:%S")


def _creation_date(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def _iso_ms(epoch: float) -> str:
    return iso(datetime.fromtimestamp(epoch, UTC))


class LabelingEngine:
    """Runs labeling jobs; called by the engine thread (never concurrently with itself)."""

    def __init__(self, runtime: Runtime, workers: WorkerDirectory) -> None:
        self.rt = runtime
        self.workers = workers

    # ------------------------------------------------------------------ helpers
    def _s3_read(self, uri: str, what: str) -> bytes:
        try:
            bucket, key = split_s3_uri(uri)
            body: bytes = self.rt.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            return body
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
            raise JobFailure(f"ClientError: cannot read the {what} {uri}: {code}") from None

    def _s3_write(self, uri: str, value: Any, *, jsonl: bool = False) -> None:
        bucket, key = split_s3_uri(uri)
        if jsonl:
            body = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in value).encode("utf-8")
        else:
            body = json.dumps(value, ensure_ascii=False).encode("utf-8")
        self.rt.s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")

    def _output_root(self, doc: dict[str, Any]) -> str:
        return str(doc["OutputConfig"]["S3OutputPath"]).rstrip("/") + "/" + str(doc["LabelingJobName"])

    def _save(
        self, job: Resource, *, status: str | None = None, expect: Sequence[str] | None = None
    ) -> Resource | None:
        return self.rt.storage.update_resource(
            JOB_KIND, job.name, now=self.rt.now(), status=status, doc=job.doc, expect_status=expect
        )

    # ------------------------------------------------------------------ entry point
    def step(self, job: Resource) -> bool:
        """Advance one job as far as it can go now; returns whether anything changed."""
        try:
            if job.status == "Initializing":
                return self._start(job)
            if job.status == "InProgress":
                return self._advance(job)
            if job.status == "Stopping":
                return self._stop(job)
        except JobFailure as exc:
            self.fail(job, str(exc))
            return True
        return False

    # ------------------------------------------------------------------ start
    def _label_config(self, doc: dict[str, Any]) -> LabelCategoryConfig | None:
        uri = doc.get("LabelCategoryConfigS3Uri")
        if not uri:
            return None
        raw = self._s3_read(uri, "label category configuration")
        try:
            return LabelCategoryConfig.parse_json(raw)
        except ContractError as exc:
            raise JobFailure(f"ClientError: the label category configuration {uri} is invalid: {exc}") from None

    def _template(self, doc: dict[str, Any]) -> str:
        ui = doc["HumanTaskConfig"]["UiConfig"]
        if "UiTemplateS3Uri" in ui:
            return self._s3_read(ui["UiTemplateS3Uri"], "worker task template").decode("utf-8")
        arn = ui["HumanTaskUiArn"]
        name = arn_resource_name(arn, "human-task-ui")
        if f":{HUMAN_TASK_UI_ACCOUNT}:" in arn:
            return self._aws_owned_template(arn, name)
        resource = self.rt.storage.get_resource("human-task-ui", name)
        if resource is None or resource.doc.get("HumanTaskUiArn") != arn:
            raise JobFailure(f"ClientError: HumanTaskUi {arn} does not exist")
        return str(resource.doc["Content"])

    def _aws_owned_template(self, arn: str, name: str) -> str:
        try:
            task_types: Any = importlib.import_module("truthloop.labeling").TASK_TYPES
        except (ImportError, AttributeError) as exc:
            raise JobFailure(f"ClientError: AWS-owned task UI {arn} needs truthloop.labeling: {exc}") from None
        for task_type in task_types.values():
            if task_type.human_task_ui == name and task_type.template:
                return templating.catalogue_template(task_type.template)
        raise JobFailure(f"ClientError: the local backend has no equivalent of the AWS-owned task UI {arn}")

    def _read_manifest(self, uri: str) -> list[dict[str, Any]]:
        text = self._s3_read(uri, "input manifest").decode("utf-8", errors="replace")
        objects = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            if len(line.encode("utf-8")) > 100 * 1024:
                raise JobFailure(f"ClientError: {uri} line {number} is larger than 100 KB")
            try:
                value = json.loads(line)
            except ValueError as exc:
                raise JobFailure(f"ClientError: {uri} line {number} is not valid JSON: {exc}") from None
            if not isinstance(value, dict) or not (isinstance(value.get("source-ref"), str) or "source" in value):
                raise JobFailure(f"ClientError: {uri} line {number} needs a 'source-ref' (S3 URI) or 'source' key")
            objects.append(value)
        if not objects:
            raise JobFailure(f"ClientError: the input manifest {uri} has no data objects")
        return objects

    def _start(self, job: Resource) -> bool:
        doc = job.doc
        config = doc["HumanTaskConfig"]
        for arn in (
            config.get("PreHumanTaskLambdaArn"),
            config.get("AnnotationConsolidationConfig", {}).get("AnnotationConsolidationLambdaArn"),
        ):
            if arn:
                try:
                    self.rt.lambdas.resolve(arn)
                except LambdaNotMapped as exc:
                    raise JobFailure(f"ClientError: {exc}") from None
        manifest = self._read_manifest(doc["InputConfig"]["DataSource"]["S3DataSource"]["ManifestS3Uri"])
        labels = self._label_config(doc)
        doc["_Template"] = self._template(doc)
        doc["_Labels"] = None if labels is None else [dict(item) for item in labels.labels]
        doc["_Iteration"] = 0
        doc["_LastBatchAt"] = self.rt.now()
        doc["_HumanSent"] = 0
        doc["_Limit"] = self._limit(doc, len(manifest))
        key = job.name.lower()
        self.rt.storage.put_job_objects(
            [
                JobObject(job=key, object_id=str(i), seq=i, status="pending", data_object=line)
                for i, line in enumerate(manifest)
            ]
        )
        self._dispatch_objects(job)  # the first tasks exist by the time clients see InProgress
        self._update_counters(job)
        self._save(job, status="InProgress", expect=("Initializing",))
        return True

    @staticmethod
    def _limit(doc: dict[str, Any], total: int) -> int:
        conditions = doc.get("StoppingConditions") or {}
        limit = total
        if "MaxHumanLabeledObjectCount" in conditions:
            limit = min(limit, int(conditions["MaxHumanLabeledObjectCount"]))
        if "MaxPercentageOfInputDatasetLabeled" in conditions:
            limit = min(limit, math.ceil(total * int(conditions["MaxPercentageOfInputDatasetLabeled"]) / 100))
        return limit

    # ------------------------------------------------------------------ progress
    def _advance(self, job: Resource) -> bool:
        changed = self._dispatch_objects(job)
        changed |= self._maybe_consolidate(job, force=False)
        if not self.rt.storage.job_objects(job.name.lower(), (*_IN_FLIGHT, *_READY)):
            self._finish(job, "Completed")
            return True
        if changed:
            self._update_counters(job)
            self._save(job)
        return changed

    def _pre_annotate(self, job: Resource, obj: JobObject) -> tuple[dict[str, Any], bool]:
        doc = job.doc
        arn = doc["HumanTaskConfig"].get("PreHumanTaskLambdaArn")
        if not arn:
            return dict(obj.data_object), True
        event = PreAnnotationEvent(labeling_job_arn=doc["LabelingJobArn"], data_object=obj.data_object)
        result = self.rt.lambdas.invoke(arn, event.to_dict(), label_categories=doc.get("_Labels"))
        response = PreAnnotationResponse.parse(result)
        return dict(response.task_input), response.is_human_annotation_required

    def _dispatch_objects(self, job: Resource) -> bool:
        doc = job.doc
        key = job.name.lower()
        config = doc["HumanTaskConfig"]
        owner = job_owner(key)
        room = int(config.get("MaxConcurrentTaskCount") or 1000) - self.rt.storage.open_task_count(owner)
        if room <= 0:
            return False
        pending = self.rt.storage.job_objects(key, ("pending",))
        if not pending:
            return False
        now = self.rt.now()
        lifetime = int(
            config.get("TaskAvailabilityLifetimeInSeconds") or self.rt.config.default_gt_task_lifetime_seconds
        )
        tasks: list[Task] = []
        for obj in pending:
            if room <= 0:
                break
            if doc["_HumanSent"] >= doc["_Limit"]:
                self.rt.storage.update_job_objects(key, [obj.object_id], status="skipped")
                continue
            try:
                task_input, needs_human = self._pre_annotate(job, obj)
            except (LambdaError, ContractError) as exc:
                reason = f"ClientError: the pre-annotation Lambda failed for object {obj.object_id}: {exc}"
                self.rt.storage.update_job_objects(key, [obj.object_id], status="failed", failure=reason[:1024])
                continue
            except LambdaNotMapped as exc:
                raise JobFailure(f"ClientError: {exc}") from None
            if not needs_human:
                self.rt.storage.update_job_objects(
                    key, [obj.object_id], status="auto", task_input=task_input, human=False
                )
                continue
            task = Task(
                id=uuid.uuid4().hex,
                kind="gt",
                workteam_arn=config["WorkteamArn"],
                owner=owner,
                ui=f"labeling-job:{key}",
                task_input=task_input,
                title=config["TaskTitle"],
                description=config["TaskDescription"],
                keywords=list(config.get("TaskKeywords", [])),
                required=int(config["NumberOfHumanWorkersPerDataObject"]),
                time_limit=int(config["TaskTimeLimitInSeconds"]),
                created=now,
                expires_at=now + lifetime,
                object_id=obj.object_id,
            )
            tasks.append(task)
            self.rt.storage.update_job_objects(
                key, [obj.object_id], status="labeling", task_input=task_input, task_id=task.id
            )
            doc["_HumanSent"] += 1
            room -= 1
        if tasks:
            self.rt.storage.put_tasks(tasks)
        self._save(job)
        return True

    def settle_task(self, task: Task) -> None:
        """A task of this job reached a final status: the object is answered, or failed without answers."""
        key = task.owner.split(":", 1)[1]
        if task.object_id is None:
            return
        if task.answers > 0:
            self.rt.storage.update_job_objects(key, [task.object_id], status="answered")
        else:
            reason = (
                "ClientError: Annotation tasks expired: no worker answered before "
                "TaskAvailabilityLifetimeInSeconds elapsed"
                if task.status == "expired"
                else "ClientError: the labeling job was stopped before a worker answered"
            )
            self.rt.storage.update_job_objects(key, [task.object_id], status="failed", failure=reason)

    # ------------------------------------------------------------------ consolidation
    def _answers(self, task_id: str) -> list[dict[str, Any]]:
        answers = []
        for assignment in self.rt.storage.assignments(task_id):
            if assignment.status != "submitted" or assignment.submitted_at is None:
                continue
            worker = self.workers.public_id(assignment.worker_id, gt=True)
            answers.append(
                {
                    "acceptanceTime": _iso_ms(assignment.accepted_at),
                    "submissionTime": _iso_ms(assignment.submitted_at),
                    "timeSpentInSeconds": round(assignment.submitted_at - assignment.accepted_at, 3),
                    "workerId": worker,
                    "answerContent": assignment.answer or {},
                    "workerMetadata": self.workers.metadata(assignment.worker_id),
                }
            )
        return answers

    def _maybe_consolidate(self, job: Resource, *, force: bool) -> bool:
        key = job.name.lower()
        ready = self.rt.storage.job_objects(key, _READY)
        if not ready:
            return False
        in_flight = self.rt.storage.job_objects(key, _IN_FLIGHT)
        # the window is kept in the job (not in this process) so a restart or another Lambda sees the same one
        last = float(job.doc.setdefault("_LastBatchAt", self.rt.now()))
        if (
            in_flight
            and not force
            and len(ready) < 100
            and self.rt.now() - last < self.rt.config.consolidation_wait_seconds
        ):
            return False
        self._consolidate(job, ready)
        job.doc["_LastBatchAt"] = self.rt.now()
        return True

    def _data_object_ref(self, obj: JobObject) -> dict[str, Any]:
        line = obj.data_object
        if isinstance(line.get("source-ref"), str):
            return {"s3Uri": line["source-ref"]}
        source = line.get("source")
        return {"content": source if isinstance(source, str) else json.dumps(source, ensure_ascii=False)}

    def _consolidate(self, job: Resource, objects: list[JobObject]) -> None:
        doc = job.doc
        key = job.name.lower()
        doc["_Iteration"] += 1
        iteration = doc["_Iteration"]
        root = self._output_root(doc)
        now = self.rt.now()
        stamp = _file_ts(now)
        attr = doc["LabelAttributeName"]
        payload = []
        response_refs: dict[str, str] = {}
        for obj in objects:
            answers = self._answers(obj.task_id) if obj.task_id else []
            if answers:
                ref = f"{root}/annotations/worker-response/iteration-{iteration}/{obj.object_id}/{stamp}.json"
                self._s3_write(ref, {"answers": answers})
                response_refs[obj.object_id] = ref
            payload.append(
                {
                    "datasetObjectId": obj.object_id,
                    "dataObject": self._data_object_ref(obj),
                    "annotations": [
                        {
                            "workerId": a["workerId"],
                            "annotationData": {"content": json.dumps(a["answerContent"], ensure_ascii=False)},
                        }
                        for a in answers
                    ],
                }
            )
        acs = doc["HumanTaskConfig"].get("AnnotationConsolidationConfig", {}).get("AnnotationConsolidationLambdaArn")
        results: dict[str, dict[str, Any]] = {}
        failures: dict[str, str] = {}
        if acs:
            request_uri = (
                f"{root}/annotations/consolidated-annotation/consolidation-request/iteration-{iteration}/{stamp}.json"
            )
            self._s3_write(request_uri, payload)
            labels = doc.get("_Labels")
            event = ConsolidationEvent(
                labeling_job_arn=doc["LabelingJobArn"],
                label_attribute_name=attr,
                payload_s3_uri=request_uri,
                label_categories=None if labels is None else tuple(str(x["label"]) for x in labels),
                role_arn=doc["RoleArn"],
                output_config=f"{root}/annotations",
                kms_key_id=doc["OutputConfig"].get("KmsKeyId"),
                max_human_workers_per_data_object=int(doc["HumanTaskConfig"]["NumberOfHumanWorkersPerDataObject"]),
                vpc_enabled=False,
            )
            try:
                raw = self.rt.lambdas.invoke(acs, event.to_dict())
                response = ConsolidationResponse.parse(raw)
            except (LambdaError, ContractError) as exc:
                reason = f"ClientError: the annotation consolidation Lambda failed: {exc}"[:1024]
                failures = {obj.object_id: reason for obj in objects}
            except LambdaNotMapped as exc:
                raise JobFailure(f"ClientError: {exc}") from None
            else:
                response_uri = (
                    f"{root}/annotations/consolidated-annotation/consolidation-response/iteration-{iteration}/"
                    f"{stamp}.json"
                )
                self._s3_write(response_uri, raw)
                for item in response.objects:
                    results[item.dataset_object_id] = dict(item.content)
        else:
            for obj in objects:
                content: dict[str, Any] = {attr: {}}
                meta = self._custom_metadata(doc, obj, now)
                if obj.object_id in response_refs:
                    meta["worker-response-ref"] = response_refs[obj.object_id]
                content[f"{attr}-metadata"] = meta
                results[obj.object_id] = content
        for obj in objects:
            if obj.object_id in failures:
                self.rt.storage.update_job_objects(
                    key, [obj.object_id], status="failed", failure=failures[obj.object_id]
                )
                continue
            found = results.get(obj.object_id)
            if found is None or attr not in found:
                self.rt.storage.update_job_objects(
                    key,
                    [obj.object_id],
                    status="failed",
                    failure="ClientError: the annotation consolidation Lambda returned no label for this object",
                    iteration=iteration,
                )
                continue
            if f"{attr}-metadata" not in found:
                found[f"{attr}-metadata"] = self._custom_metadata(doc, obj, now)
            self.rt.storage.update_job_objects(
                key, [obj.object_id], status="consolidated", result=found, iteration=iteration
            )

    @staticmethod
    def _custom_metadata(doc: dict[str, Any], obj: JobObject, now: float) -> dict[str, Any]:
        return {
            "job_name": f"labeling-job/{doc['LabelingJobName'].lower()}",
            "type": "groundTruth/custom",
            "human-annotated": "yes" if obj.human else "no",
            "creation_date": _creation_date(now),
        }

    # ------------------------------------------------------------------ counters, finish, stop, fail
    def _update_counters(self, job: Resource) -> None:
        objects = self.rt.storage.job_objects(job.name.lower())
        human = sum(1 for o in objects if o.status == "consolidated" and o.human)
        machine = sum(1 for o in objects if o.status == "consolidated" and not o.human)
        failed = sum(1 for o in objects if o.status == "failed")
        job.doc["LabelCounters"] = {
            "TotalLabeled": human + machine,
            "HumanLabeled": human,
            "MachineLabeled": machine,
            "FailedNonRetryableError": failed,
            "Unlabeled": len(objects) - human - machine - failed,
        }

    def _write_output_manifest(self, job: Resource) -> str:
        doc = job.doc
        attr = doc["LabelAttributeName"]
        lines = []
        for obj in self.rt.storage.job_objects(job.name.lower()):
            if obj.status == "consolidated" and obj.result is not None:
                line = dict(obj.data_object)
                line[attr] = obj.result[attr]
                line[f"{attr}-metadata"] = obj.result[f"{attr}-metadata"]
                lines.append(line)
            elif obj.status == "failed":
                line = dict(obj.data_object)
                line[f"{attr}-metadata"] = {"failure-reason": obj.failure or "ClientError: unknown", "retry-count": 1}
                lines.append(line)
        uri = f"{self._output_root(doc)}/manifests/output/output.manifest"
        self._s3_write(uri, lines, jsonl=True)
        return uri

    def _finish(self, job: Resource, status: str) -> None:
        self._maybe_consolidate(job, force=True)
        self._update_counters(job)
        uri = self._write_output_manifest(job)
        job.doc["LabelingJobOutput"] = {"OutputDatasetS3Uri": uri}
        if status == "Completed":
            objects = self.rt.storage.job_objects(job.name.lower())
            if objects and all(o.status == "failed" for o in objects):
                # nothing was labeled: the job failed, and says why (the per-object reasons stay in the manifest)
                status = "Failed"
                first = next((o for o in objects if o.failure), objects[0])
                job.doc["FailureReason"] = (
                    f"all {len(objects)} data objects failed; the first ({first.object_id}): "
                    f"{first.failure or 'unknown'}"
                )[:1024]
        saved = self._save(job, status=status, expect=("InProgress", "Stopping"))
        if saved is not None:
            self._publish(job, status)

    def _stop(self, job: Resource) -> bool:
        key = job.name.lower()
        if "_Iteration" not in job.doc:  # stopped before it started
            saved = self._save(job, status="Stopped", expect=("Stopping",))
            if saved is not None:
                self._publish(job, "Stopped")
            return True
        self.rt.storage.close_tasks(job_owner(key), self.rt.now())
        pending = self.rt.storage.job_objects(key, ("pending", "queued"))
        if pending:
            self.rt.storage.update_job_objects(key, [o.object_id for o in pending], status="skipped")
        if self.rt.storage.job_objects(key, ("labeling",)):
            consolidated = self._maybe_consolidate(job, force=False)  # wait for workers who hold a task
            if consolidated:
                self._save(job)
            return consolidated
        self._finish(job, "Stopped")
        return True

    def fail(self, job: Resource, reason: str) -> None:
        """End the job ``Failed`` with ``reason`` (its open tasks closed, its event published)."""
        log.warning("labeling job %s failed: %s", job.name, reason)
        self.rt.storage.close_tasks(job_owner(job.name.lower()), self.rt.now())
        job.doc["FailureReason"] = reason[:1024]
        saved = self._save(job, status="Failed", expect=("Initializing", "InProgress", "Stopping"))
        if saved is not None:
            self._publish(job, "Failed")

    def _publish(self, job: Resource, status: str) -> None:
        self.rt.events.publish(GT_DETAIL_TYPE, [job.doc["LabelingJobArn"]], {"LabelingJobStatus": status})
