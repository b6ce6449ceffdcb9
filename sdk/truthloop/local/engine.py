"""The engine thread: everything that happens after an API call returns.

It sweeps expired tasks and timed-out assignments, activates flow definitions, settles finished tasks (an A2I loop
gets its ``output.json`` and final status; a GT object joins the next consolidation batch) and advances labeling
jobs. Each step reads its work from storage, so a restart simply continues where the previous process stopped.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime
from typing import Any

from truthloop.contracts import arn_resource_name
from truthloop.contracts._reader import iso
from truthloop.local.events import A2I_DETAIL_TYPE
from truthloop.local.labeling import JOB_KIND, LabelingEngine
from truthloop.local.runtime import Runtime
from truthloop.local.s3 import parse_s3_uri
from truthloop.local.storage import HumanLoop, Task
from truthloop.local.workforce import WorkerDirectory

__all__ = ["Engine", "a2i_output_key"]

log = logging.getLogger("truthloop.local.engine")

_FINAL = ("Completed", "Failed", "Stopped")


def _iso_ms(epoch: float) -> str:
    return iso(datetime.fromtimestamp(epoch, UTC))


def a2i_output_key(s3_output_path: str, flow_name: str, loop_name: str, created: float) -> tuple[str, str]:
    """``<S3OutputPath>/<flow>/YYYY/MM/DD/hh/mm/ss/<loop>/output.json`` (creation time, UTC) as (bucket, key)."""
    bucket, prefix = parse_s3_uri(s3_output_path.rstrip("/"))
    stamp = datetime.fromtimestamp(created, UTC).strftime("%Y/%m/%d/%H/%M/%S")
    key = "/".join(p for p in (prefix, flow_name, stamp, loop_name, "output.json") if p)
    return bucket, key


class Engine:
    """Runs :meth:`step` in a background thread, woken early by API calls that create work."""

    def __init__(self, runtime: Runtime, workers: WorkerDirectory) -> None:
        self.rt = runtime
        self.workers = workers
        self.labeling = LabelingEngine(runtime, workers)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.errors = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="truthloop-engine", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.step()
            except Exception:  # keep the engine alive; the failing item is retried next round
                self.errors += 1
                log.exception("engine step failed")
                busy = False
            if not busy:
                self._wake.wait(timeout=self.rt.config.engine_interval_seconds)
                self._wake.clear()

    def step(self) -> bool:
        """One round of work; returns whether anything changed (then the next round starts at once)."""
        with self._lock:
            now = self.rt.now()
            busy = self.rt.storage.sweep_tasks(now) > 0
            busy |= self._activate_flows(now)
            for task in self.rt.storage.tasks_to_settle(200):
                if task.kind == "a2i":
                    self._settle_loop(task)
                else:
                    self.labeling.settle_task(task)
                self.rt.storage.mark_settled(task.id)
                busy = True
            for job in self.rt.storage.resources_in_status(JOB_KIND, ("Initializing", "InProgress", "Stopping")):
                busy |= self.labeling.step(job)
            return busy

    # ------------------------------------------------------------------ flows
    def _activate_flows(self, now: float) -> bool:
        changed = False
        for flow in self.rt.storage.resources_in_status("flow-definition", ("Initializing",)):
            if now >= float(flow.doc.get("ActivateAt", 0)):
                self.rt.storage.update_resource(
                    "flow-definition", flow.name, now=now, status="Active", expect_status=("Initializing",)
                )
                changed = True
        return changed

    # ------------------------------------------------------------------ A2I loops
    def human_answers(self, task: Task) -> list[dict[str, Any]]:
        answers = []
        for assignment in self.rt.storage.assignments(task.id):
            if assignment.status != "submitted" or assignment.submitted_at is None:
                continue
            answers.append(
                {
                    "acceptanceTime": _iso_ms(assignment.accepted_at),
                    "answerContent": assignment.answer or {},
                    "submissionTime": _iso_ms(assignment.submitted_at),
                    "timeSpentInSeconds": round(assignment.submitted_at - assignment.accepted_at, 3),
                    "workerId": self.workers.public_id(assignment.worker_id, gt=False),
                    "workerMetadata": self.workers.metadata(assignment.worker_id),
                }
            )
        return answers

    def _write_output(self, loop: HumanLoop, task: Task) -> str:
        flow_name = arn_resource_name(loop.flow_arn, "flow-definition")
        flow = self.rt.storage.get_resource("flow-definition", flow_name)
        if flow is None:
            raise RuntimeError(f"flow definition {flow_name} of human loop {loop.name} no longer exists")
        bucket, key = a2i_output_key(flow.doc["OutputConfig"]["S3OutputPath"], flow_name, loop.name, loop.created)
        output = {
            "flowDefinitionArn": loop.flow_arn,
            "humanAnswers": self.human_answers(task),
            "humanLoopName": loop.name,
            "inputContent": task.task_input,
        }
        self.rt.s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=json.dumps(output, ensure_ascii=False).encode("utf-8"),
            ContentType="application/json",
        )
        return f"s3://{bucket}/{key}"

    def _settle_loop(self, task: Task) -> None:
        name = task.owner.removeprefix("human-loop:")
        loop = self.rt.storage.get_human_loop(name)
        if loop is None:
            return  # deleted
        now = self.rt.now()
        updated: HumanLoop | None = None
        if loop.status in ("InProgress", "Stopping"):
            if task.status == "done" or (task.status == "cancelled" and task.answers > 0):
                uri = self._write_output(loop, task)
                status = "Completed" if loop.status == "InProgress" else "Stopped"
                updated = self.rt.storage.transition_human_loop(
                    name, (loop.status,), status, now=now, output_s3_uri=uri
                )
            elif task.status == "expired":
                lifetime = round(task.expires_at - task.created)
                updated = self.rt.storage.transition_human_loop(
                    name,
                    ("InProgress", "Stopping"),
                    "Failed",
                    now=now,
                    failure_code="Expired",
                    failure_reason=(
                        f"The human loop expired: {task.answers} of {task.required} required answer(s) were submitted "
                        f"within TaskAvailabilityLifetimeInSeconds ({lifetime} s)."
                    ),
                )
            else:  # cancelled by StopHumanLoop with no answers
                updated = self.rt.storage.transition_human_loop(name, ("Stopping", "InProgress"), "Stopped", now=now)
        final = updated or self.rt.storage.get_human_loop(name)
        if final is not None and final.status in _FINAL:
            self.publish_loop_event(final)

    def publish_loop_event(self, loop: HumanLoop) -> None:
        detail: dict[str, Any] = {
            "creationTime": _iso_ms(loop.created),
            "failureCode": loop.failure_code,
            "failureReason": loop.failure_reason,
            "flowDefinitionArn": loop.flow_arn,
            "humanLoopArn": loop.arn,
            "humanLoopName": loop.name,
        }
        if loop.output_s3_uri is not None:
            detail["humanLoopOutput"] = {"outputS3Uri": loop.output_s3_uri}
        detail["humanLoopStatus"] = loop.status
        self.rt.events.publish(A2I_DETAIL_TYPE, [loop.arn], detail)
