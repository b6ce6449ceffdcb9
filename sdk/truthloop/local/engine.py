"""The engine: everything that happens after an API call returns, as idempotent per-item steps.

:class:`EngineSteps` holds the steps (:mod:`truthloop.local.steps` lists them): sweep expired tasks and timed-out
assignments, activate flow definitions, settle finished tasks (an A2I loop gets its ``output.json``, one final status
and its event; a GT object joins the next consolidation batch), advance labeling jobs, deliver events. Each step reads
its item from storage, so a restart (or a second delivery) simply continues where the previous one stopped. A step
that raises is retried with exponential backoff (the attempt count and next time are stored with the item) and after
``engine_max_attempts`` its item ends ``Failed`` with the error as its reason; other items go on meanwhile.

:class:`Engine` is the local backend's runner: a thread that runs rounds of these steps, woken early by API calls.
The service runs the very same steps from SQS messages (:mod:`truthloop.service`).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from truthloop.aws import split_s3_uri
from truthloop.contracts import arn_resource_name
from truthloop.contracts._reader import iso
from truthloop.local.events import A2I_DETAIL_TYPE
from truthloop.local.labeling import JOB_KIND, LabelingEngine
from truthloop.local.runtime import Runtime
from truthloop.local.steps import RetryPolicy, StepMessage
from truthloop.local.storage import HumanLoop, Task
from truthloop.local.workforce import WorkerDirectory

__all__ = ["Engine", "EngineSteps", "StepOutcome", "a2i_output_key"]

log = logging.getLogger("truthloop.local.engine")

_FINAL = ("Completed", "Failed", "Stopped")
_JOB_ACTIVE = ("Initializing", "InProgress", "Stopping")
#: how many tasks, jobs and events one sweep names (the rest are named by the next sweep)
_SWEEP_LIMIT = 200
#: a loop can change under a settle step at most once (StopHumanLoop: InProgress -> Stopping); re-read that often
_TRANSITION_TRIES = 3


def _iso_ms(epoch: float) -> str:
    return iso(datetime.fromtimestamp(epoch, UTC))


def a2i_output_key(s3_output_path: str, flow_name: str, loop_name: str, created: float) -> tuple[str, str]:
    """``<S3OutputPath>/<flow>/YYYY/MM/DD/hh/mm/ss/<loop>/output.json`` (creation time, UTC) as (bucket, key)."""
    bucket, prefix = split_s3_uri(s3_output_path.rstrip("/"), "S3OutputPath", key_required=False)
    stamp = datetime.fromtimestamp(created, UTC).strftime("%Y/%m/%d/%H/%M/%S")
    key = "/".join(p for p in (prefix, flow_name, stamp, loop_name, "output.json") if p)
    return bucket, key


@dataclass
class StepOutcome:
    """What one step did: whether anything changed, and which steps should follow (the service enqueues them)."""

    changed: bool = False
    follow_ups: list[tuple[StepMessage, float]] = field(default_factory=list)

    def then(self, step: str, item_id: str = "", delay_seconds: float = 0.0) -> StepOutcome:
        self.follow_ups.append((StepMessage(step, item_id), max(0.0, delay_seconds)))
        return self


def _reason(exc: BaseException) -> str:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code") if hasattr(exc, "response") else None
    text = f"{type(exc).__name__}: {exc}" if code is None else f"{code}: {exc}"
    return text[:1024]


class EngineSteps:
    """The engine's steps, each on one item, each safe to run twice and isolated from the others."""

    def __init__(self, runtime: Runtime, workers: WorkerDirectory, retry: RetryPolicy | None = None) -> None:
        self.rt = runtime
        self.workers = workers
        self.labeling = LabelingEngine(runtime, workers)
        config = runtime.config
        self.retry = retry or RetryPolicy(
            config.engine_retry_seconds, config.engine_retry_cap_seconds, config.engine_max_attempts
        )
        #: steps that raised (each is retried or failed with a reason; the count is for status and tests)
        self.errors = 0
        self._steps: dict[str, Callable[[str], StepOutcome]] = {
            "sweep": self.sweep,
            "activate_flow": self.activate_flow,
            "settle_task": self.settle_task,
            "advance_job": self.advance_job,
            "deliver_event": self.deliver_event,
        }

    def run(self, message: StepMessage) -> StepOutcome:
        """Run one step; an exception is recorded against its item (backoff, then ``Failed``) and not raised."""
        try:
            return self._steps[message.step](message.id)
        except Exception as exc:
            self.errors += 1
            log.warning("engine step %s(%s) failed: %s", message.step, message.id, _reason(exc))
            return self._record_failure(message, exc)

    # ------------------------------------------------------------------ sweep
    def sweep(self, _item: str = "") -> StepOutcome:
        """Expire tasks, time out assignments, and name every step that is due now."""
        now = self.rt.now()
        outcome = StepOutcome(changed=self.rt.storage.sweep_tasks(now) > 0)
        for flow in self.rt.storage.resources_in_status("flow-definition", ("Initializing",)):
            outcome.then("activate_flow", flow.name, float(flow.doc.get("ActivateAt", 0)) - now)
        for task in self.rt.storage.tasks_to_settle(_SWEEP_LIMIT, now):
            outcome.then("settle_task", task.id)
        for job in self.rt.storage.resources_in_status(JOB_KIND, _JOB_ACTIVE)[:_SWEEP_LIMIT]:
            outcome.then("advance_job", job.name, float(job.doc.get("_RetryAt", 0)) - now)
        for event in self.rt.storage.due_events(now, _SWEEP_LIMIT):
            outcome.then("deliver_event", str(event.id))
        return outcome

    def recover_stopping(self, limit: int = 1000) -> int:
        """Settle loops left ``Stopping`` although their task is final and settled (a race in earlier versions)."""
        recovered = 0
        for loop in self.rt.storage.human_loops_in_status("Stopping", limit):
            task = self.rt.storage.get_task(loop.task_id) if loop.task_id else None
            if task is None or task.status not in ("done", "expired", "cancelled"):
                continue  # a worker still holds it: the loop becomes Stopped when they submit or time out
            self._settle_loop(task)
            self.rt.storage.mark_settled(task.id)
            recovered += 1
        return recovered

    # ------------------------------------------------------------------ flows
    def activate_flow(self, name: str) -> StepOutcome:
        flow = self.rt.storage.get_resource("flow-definition", name)
        if flow is None or flow.status != "Initializing":
            return StepOutcome()
        wait = float(flow.doc.get("ActivateAt", 0)) - self.rt.now()
        if wait > 0:
            return StepOutcome().then("activate_flow", name, wait)
        updated = self.rt.storage.update_resource(
            "flow-definition", name, now=self.rt.now(), status="Active", expect_status=("Initializing",)
        )
        return StepOutcome(changed=updated is not None)

    # ------------------------------------------------------------------ tasks
    def settle_task(self, task_id: str) -> StepOutcome:
        """An A2I loop: ``output.json``, then one conditional transition and its event. A GT object: joins a batch."""
        task = self.rt.storage.get_task(task_id)
        if task is None or task.settled or task.status not in ("done", "expired", "cancelled"):
            return StepOutcome()  # deleted, settled by an earlier delivery, or not finished yet
        outcome = StepOutcome(changed=True)
        if task.kind == "a2i":
            self._settle_loop(task)
        else:
            self.labeling.settle_task(task)
            outcome.then("advance_job", task.owner.split(":", 1)[1])
        self.rt.storage.mark_settled(task.id)
        return outcome

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

    def _loop_outcome(self, loop: HumanLoop, task: Task, output_uri: str | None) -> tuple[str, dict[str, Any]]:
        """The final status (and fields) the loop reaches from its current status given its finished task."""
        if task.status == "done" or (task.status == "cancelled" and task.answers > 0):
            assert output_uri is not None
            return ("Completed" if loop.status == "InProgress" else "Stopped"), {"output_s3_uri": output_uri}
        if task.status == "expired":
            lifetime = round(task.expires_at - task.created)
            return "Failed", {
                "failure_code": "Expired",
                "failure_reason": (
                    f"The human loop expired: {task.answers} of {task.required} required answer(s) were submitted "
                    f"within TaskAvailabilityLifetimeInSeconds ({lifetime} s)."
                ),
            }
        return "Stopped", {}  # cancelled by StopHumanLoop with no answers

    def _settle_loop(self, task: Task) -> None:
        """Write ``output.json`` (when answered) before ONE conditional transition to the final status.

        StopHumanLoop may move the loop InProgress -> Stopping between the read and the write; the transition then
        fails and is recomputed from the status it found, so every race ends in exactly one final status.
        """
        name = task.owner.removeprefix("human-loop:")
        output_uri: str | None = None
        for _ in range(_TRANSITION_TRIES):
            loop = self.rt.storage.get_human_loop(name)
            if loop is None:
                return  # deleted
            if loop.status in _FINAL:
                # final already: an earlier delivery transitioned but stopped before its event (crash) or this is
                # a duplicate; publishing again keeps events at-least-once, as EventBridge's are
                self.publish_loop_event(loop)
                return
            answered = task.status == "done" or (task.status == "cancelled" and task.answers > 0)
            if answered and output_uri is None:
                output_uri = self._write_output(loop, task)
            status, fields = self._loop_outcome(loop, task, output_uri)
            updated = self.rt.storage.transition_human_loop(name, (loop.status,), status, now=self.rt.now(), **fields)
            if updated is not None:
                self.publish_loop_event(updated)
                return
        raise RuntimeError(f"human loop {name} kept changing while its task was settled")

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

    # ------------------------------------------------------------------ jobs
    def advance_job(self, name: str) -> StepOutcome:
        job = self.rt.storage.get_resource(JOB_KIND, name)
        if job is None or job.status not in _JOB_ACTIVE:
            return StepOutcome()
        wait = float(job.doc.get("_RetryAt", 0)) - self.rt.now()
        if wait > 0:
            return StepOutcome().then("advance_job", name, wait)
        outcome = StepOutcome(changed=self.labeling.step(job))
        current = self.rt.storage.get_resource(JOB_KIND, name) if outcome.changed else job
        if current is not None and current.status in _JOB_ACTIVE:
            if current.doc.get("_StepAttempts"):
                current.doc.pop("_StepAttempts", None)
                current.doc.pop("_RetryAt", None)
                current.doc.pop("_LastError", None)
                self.rt.storage.update_resource(JOB_KIND, name, now=self.rt.now(), doc=current.doc)
            if outcome.changed:  # go on at once; an idle job is looked at again by the next scheduled sweep
                outcome.then("advance_job", name)
        return outcome

    # ------------------------------------------------------------------ events
    def deliver_event(self, event_id: str) -> StepOutcome:
        return StepOutcome(changed=self.rt.events.deliver_one(int(event_id)))

    # ------------------------------------------------------------------ failures
    def _record_failure(self, message: StepMessage, exc: Exception) -> StepOutcome:
        """Count the failure against the item; retry it later, or fail it for good with the reason."""
        reason = _reason(exc)
        now = self.rt.now()
        if message.step == "settle_task":
            task = self.rt.storage.get_task(message.id)
            if task is None or task.settled:
                return StepOutcome()
            attempts = task.settle_attempts + 1
            if not self.retry.exhausted(attempts):
                delay = self.retry.delay(attempts)
                self.rt.storage.defer_settlement(task.id, attempts=attempts, next_attempt=now + delay, error=reason)
                return StepOutcome(changed=True).then("settle_task", task.id, delay)
            self._give_up_task(task, reason, attempts)
            return StepOutcome(changed=True)
        if message.step == "advance_job":
            job = self.rt.storage.get_resource(JOB_KIND, message.id)
            if job is None or job.status not in _JOB_ACTIVE:
                return StepOutcome()
            attempts = int(job.doc.get("_StepAttempts", 0)) + 1
            if self.retry.exhausted(attempts):
                self.labeling.fail(job, f"InternalError: gave up after {attempts} attempts: {reason}")
                return StepOutcome(changed=True)
            delay = self.retry.delay(attempts)
            job.doc.update({"_StepAttempts": attempts, "_RetryAt": now + delay, "_LastError": reason})
            self.rt.storage.update_resource(JOB_KIND, job.name, now=now, doc=job.doc)
            return StepOutcome(changed=True).then("advance_job", job.name, delay)
        if message.step == "activate_flow":
            return StepOutcome().then("activate_flow", message.id, self.retry.base_seconds)
        return StepOutcome()  # sweep and deliver_event keep their own state; the next round repeats them

    def _give_up_task(self, task: Task, reason: str, attempts: int) -> None:
        text = f"gave up after {attempts} attempts: {reason}"[:1024]
        if task.kind == "a2i":
            name = task.owner.removeprefix("human-loop:")
            updated = self.rt.storage.transition_human_loop(
                name,
                ("InProgress", "Stopping"),
                "Failed",
                now=self.rt.now(),
                failure_code="InternalError",
                failure_reason=f"The human loop could not be settled: {text}",
            )
            if updated is not None:
                self.publish_loop_event(updated)
        elif task.object_id is not None:
            job = task.owner.split(":", 1)[1]
            self.rt.storage.update_job_objects(job, [task.object_id], status="failed", failure=f"ClientError: {text}")
        self.rt.storage.mark_settled(task.id)


class Engine:
    """The local runner: rounds of :class:`EngineSteps` in a background thread, woken early by API calls."""

    def __init__(self, runtime: Runtime, workers: WorkerDirectory) -> None:
        self.rt = runtime
        self.steps = EngineSteps(runtime, workers)
        self.labeling = self.steps.labeling
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def errors(self) -> int:
        return self.steps.errors

    def start(self) -> None:
        with self._lock:
            recovered = self.steps.recover_stopping()
        if recovered:
            log.info("settled %d human loop(s) left Stopping by an earlier run", recovered)
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

    def enqueue(self, step: str, item_id: str = "", *, delay_seconds: float = 0.0) -> None:
        """:class:`~truthloop.local.steps.StepRunner`: the round finds the work in storage; just wake it."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.step()
            except Exception:  # storage itself failed (each item's failure is handled inside its step)
                self.steps.errors += 1
                log.exception("engine round failed")
                busy = False
            if not busy:
                self._wake.wait(timeout=self.rt.config.engine_interval_seconds)
                self._wake.clear()

    def step(self) -> bool:
        """One round: the sweep, then every step it names that is due now, each isolated from the others.

        Events are delivered by the event bus's own thread. Returns whether anything changed.
        """
        with self._lock:
            sweep = self.steps.sweep()
            busy = sweep.changed
            for message, delay in sweep.follow_ups:
                if message.step == "deliver_event" or delay > 0:
                    continue
                busy |= self.steps.run(message).changed
            return busy
