"""The engine settles each item on its own: a failing one is retried and then failed; races end in one final state.

Issue 15 measured both defects: a flow whose output bucket does not exist kept 20 of 20 loops of a healthy flow
``InProgress``, and StopHumanLoop racing a completion left 13 of 200 loops ``Stopping`` for good, with no event.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.functional.local.helpers import FAST, ROLE, Worker, s3_json, unique, wait_for
from truthloop.local import BackendConfig, LocalBackend
from truthloop.local.engine import EngineSteps
from truthloop.local.events import A2I_DETAIL_TYPE
from truthloop.local.storage import HumanLoop

_FINAL = {"Completed", "Stopped", "Failed"}


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBackend]:
    """Fast retries: a failing item is tried three times, 0.05 s then 0.1 s apart.

    SQLite only: the steps are the same on both stores, and the store's part (deferred settlements) is in the one
    storage suite; 240 loops through moto's DynamoDB take minutes on this machine.
    """
    config = BackendConfig(
        port=0,
        data_dir=tmp_path_factory.mktemp("truthloop-isolation"),
        workers=0,
        engine_retry_seconds=0.05,
        engine_max_attempts=3,
        **FAST,  # type: ignore[arg-type]
    )
    with LocalBackend(config) as running:
        yield running


def _loop_events(backend: LocalBackend) -> Counter[str]:
    records = backend.storage.list_events(limit=100_000)
    return Counter(r.body["detail"]["humanLoopName"] for r in records if r.detail_type == A2I_DETAIL_TYPE)


def _answer_all(worker: Worker, team: str, count: int) -> None:
    for _ in range(count):
        task = worker.claim(team)
        assert task is not None
        assert worker.answer(task["id"], {"sentiment": {"label": "POSITIVE"}}).status_code == 200


def test_a_flow_whose_output_bucket_is_missing_does_not_hold_back_a_healthy_flow(
    backend: LocalBackend, sm: Any, a2i: Any, team: str, flow: Callable[..., str], worker: Callable[[str], Worker]
) -> None:
    # GIVEN a flow writing to a bucket that does not exist, and a healthy flow, on the same workteam
    healthy = flow()
    broken_config = sm.describe_flow_definition(FlowDefinitionName=healthy.rsplit("/", 1)[1])["HumanLoopConfig"]
    broken_name = unique("broken")
    broken = sm.create_flow_definition(
        FlowDefinitionName=broken_name,
        HumanLoopConfig=broken_config,
        OutputConfig={"S3OutputPath": f"s3://{unique('no-such-bucket')}/a2i"},
        RoleArn=ROLE,
    )["FlowDefinitionArn"]
    wait_for(
        lambda: sm.describe_flow_definition(FlowDefinitionName=broken_name)["FlowDefinitionStatus"] == "Active",
        what="the broken flow to become Active",
    )
    broken_loops = [unique("broken") for _ in range(20)]
    healthy_loops = [unique("healthy") for _ in range(20)]
    for name, arn in [*((n, broken) for n in broken_loops), *((n, healthy) for n in healthy_loops)]:
        a2i.start_human_loop(HumanLoopName=name, FlowDefinitionArn=arn, HumanLoopInput={"InputContent": '{"t": 1}'})

    # WHEN a worker answers every loop, the broken flow's loops first
    _answer_all(worker("answers-all"), team, 40)

    # THEN every healthy loop completes with its output, while the broken ones are still being retried
    def healthy_done() -> bool:
        statuses = [a2i.describe_human_loop(HumanLoopName=n)["HumanLoopStatus"] for n in healthy_loops]
        return all(status == "Completed" for status in statuses)

    wait_for(healthy_done, timeout=10, what="the healthy flow's loops to complete")
    # AND the broken loops end Failed after the bounded retries, naming the missing bucket, each with one event
    for name in broken_loops:
        described = wait_for(
            lambda n=name: (d := a2i.describe_human_loop(HumanLoopName=n))["HumanLoopStatus"] == "Failed" and d,
            timeout=10,
            what=f"{name} to fail",
        )
        assert described["FailureCode"] == "InternalError"
        assert "gave up after 3 attempts" in described["FailureReason"]
        assert "NoSuchBucket" in described["FailureReason"]
    sent = _loop_events(backend)
    assert all(sent[name] == 1 for name in broken_loops + healthy_loops)


def test_stop_racing_completion_ends_every_loop_final_with_output_and_one_event(
    backend: LocalBackend, a2i: Any, s3: Any, team: str, flow: Callable[..., str], worker: Callable[[str], Worker]
) -> None:
    # GIVEN 200 loops
    arn = flow()
    names = [unique("race") for _ in range(200)]
    for name in names:
        a2i.start_human_loop(HumanLoopName=name, FlowDefinitionArn=arn, HumanLoopInput={"InputContent": '{"t": 1}'})
    reviewer = worker("racer")

    # WHEN the worker holding each loop answers it while a StopHumanLoop for it is sent at the same time
    def stop(name: str) -> None:
        a2i.stop_human_loop(HumanLoopName=name)

    for name in names:
        task = reviewer.claim(team)
        assert task is not None and task["humanLoopName"] == name
        stopper = threading.Thread(target=stop, args=(name,))
        stopper.start()
        assert reviewer.answer(task["id"], {"sentiment": {"label": "NEGATIVE"}}).status_code == 200
        stopper.join()
    backend.wait_idle(timeout=30)

    # THEN every loop is final (Completed or Stopped), with its output.json, and exactly one event
    described = [a2i.describe_human_loop(HumanLoopName=name) for name in names]
    assert {d["HumanLoopStatus"] for d in described} <= {"Completed", "Stopped"}
    for loop in described:
        assert s3_json(s3, loop["HumanLoopOutput"]["OutputS3Uri"])["humanAnswers"][0]["answerContent"]
    sent = _loop_events(backend)
    assert [sent[name] for name in names] == [1] * len(names)


def test_a_stop_landing_between_the_settle_read_and_write_still_ends_the_loop_stopped(
    backend: LocalBackend, a2i: Any, s3: Any, team: str, flow: Callable[..., str], worker: Callable[[str], Worker]
) -> None:
    # GIVEN a loop whose task was answered, and StopHumanLoop arriving just before the engine's transition
    arn = flow()
    name = unique("window")
    a2i.start_human_loop(HumanLoopName=name, FlowDefinitionArn=arn, HumanLoopInput={"InputContent": '{"t": 1}'})
    storage = backend.storage
    original = storage.transition_human_loop
    stopped = []

    def stop_first(loop_name: str, expect: Any, status: str, **kwargs: Any) -> HumanLoop | None:
        if loop_name == name and not stopped:
            stopped.append(original(loop_name, ("InProgress",), "Stopping", now=kwargs["now"]))
        return original(loop_name, expect, status, **kwargs)

    with backend.engine._lock:  # the engine thread waits while the task is answered and the storage is patched
        reviewer = worker("window")
        task = reviewer.claim(team)
        assert task is not None
        assert reviewer.answer(task["id"], {"sentiment": {"label": "MIXED"}}).status_code == 200
        storage.transition_human_loop = stop_first  # type: ignore[method-assign]
    try:
        # WHEN the engine settles it
        backend.wait_idle()
    finally:
        storage.transition_human_loop = original  # type: ignore[method-assign]

    # THEN the loop is Stopped (not left Stopping), with its output and one event
    assert stopped and stopped[0] is not None
    described = a2i.describe_human_loop(HumanLoopName=name)
    assert described["HumanLoopStatus"] == "Stopped"
    assert s3_json(s3, described["HumanLoopOutput"]["OutputS3Uri"])["humanLoopName"] == name
    assert _loop_events(backend)[name] == 1


def test_loops_left_stopping_by_an_earlier_version_are_settled_at_start(
    backend: LocalBackend, a2i: Any, team: str, flow: Callable[..., str], worker: Callable[[str], Worker]
) -> None:
    # GIVEN a loop left Stopping although its task was answered and marked settled (what the old race left)
    arn = flow()
    name = unique("stuck")
    a2i.start_human_loop(HumanLoopName=name, FlowDefinitionArn=arn, HumanLoopInput={"InputContent": '{"t": 1}'})
    with backend.engine._lock:
        reviewer = worker("stuck")
        task = reviewer.claim(team)
        assert task is not None
        assert reviewer.answer(task["id"], {"sentiment": {"label": "MIXED"}}).status_code == 200
        backend.storage.transition_human_loop(name, ("InProgress",), "Stopping", now=backend.runtime.now())
        backend.storage.mark_settled(task["id"])

    # WHEN the engine starts (its recovery runs before the first round)
    recovered = EngineSteps(backend.runtime, backend.workers).recover_stopping()

    # THEN the loop is Stopped with its output
    assert recovered == 1
    described = a2i.describe_human_loop(HumanLoopName=name)
    assert described["HumanLoopStatus"] == "Stopped"
    assert described["HumanLoopOutput"]["OutputS3Uri"].endswith(f"/{name}/output.json")
    assert described["HumanLoopStatus"] in _FINAL
