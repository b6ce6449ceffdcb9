"""The worker portal over HTTP (no browser): sessions, CSRF, host checks, the JSON API, decline and time limits."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.functional.local.helpers import Worker, unique
from truthloop.local import LocalBackend


def _sign_in(backend: LocalBackend, token: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=backend.endpoint_url, timeout=10)
    page = client.get("/portal/")
    login_csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert login_csrf
    response = client.post("/portal/login", data={"token": token, "csrf": login_csrf.group(1)})
    assert response.status_code == 303, response.text
    home = client.get("/portal/")
    csrf = re.search(r'name="csrf" value="([^"]+)"', home.text)
    assert csrf
    return client, csrf.group(1)


def test_session_cookie_is_httponly_and_strict(backend: LocalBackend) -> None:
    with httpx.Client(base_url=backend.endpoint_url) as client:
        page = client.get("/portal/")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf
        response = client.post(
            "/portal/login", data={"token": backend.worker_tokens["worker-1"], "csrf": csrf.group(1)}
        )
    cookie = response.headers["set-cookie"]

    assert "truthloop_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Path=/portal" in cookie
    assert response.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize(
    ("data", "status"),
    [({"token": "wrong"}, 401), ({"csrf": "forged"}, 403)],
    ids=["unknown-token", "forged-login-csrf"],
)
def test_sign_in_refuses_wrong_token_or_csrf(backend: LocalBackend, data: dict[str, str], status: int) -> None:
    with httpx.Client(base_url=backend.endpoint_url) as client:
        page = client.get("/portal/")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf
        form = {"token": backend.worker_tokens["worker-1"], "csrf": csrf.group(1), **data}
        assert client.post("/portal/login", data=form).status_code == status


def test_foreign_host_header_is_rejected(backend: LocalBackend) -> None:
    # DNS rebinding: a page on evil.example resolving to 127.0.0.1 must not reach the portal
    response = httpx.get(f"{backend.endpoint_url}/portal/", headers={"host": "evil.example"})
    assert response.status_code == 400


def test_browser_flow_needs_the_csrf_token(
    backend: LocalBackend, a2i: Any, flow: Callable[..., str], team: str
) -> None:
    # GIVEN a loop and a signed-in worker
    flow_arn = flow()
    a2i.start_human_loop(
        HumanLoopName=unique("web"), FlowDefinitionArn=flow_arn, HumanLoopInput={"InputContent": '{"text": "x"}'}
    )
    client, csrf = _sign_in(backend, backend.issue_worker(unique("web-worker")))
    try:
        _browser_flow(client, csrf, team)
    finally:
        client.close()


def _browser_flow(client: httpx.Client, csrf: str, team: str) -> None:
    team_name = team.rsplit("/", 1)[1]
    # WHEN starting without the CSRF token, then with it
    assert client.post(f"/portal/teams/{team_name}/start", data={}).status_code == 403
    started = client.post(f"/portal/teams/{team_name}/start", data={"csrf": csrf})
    assert started.status_code == 303
    task_url = started.headers["location"]
    task_id = task_url.rsplit("/", 1)[1]
    # THEN the task page renders; submitting needs the token in the X-Truthloop-CSRF header (what the page sends)
    page = client.get(task_url)
    assert page.status_code == 200 and "truthloop-csrf" in page.text
    answer = json.dumps({"sentiment": {"label": "POSITIVE"}})
    forged = client.post(
        f"/portal/tasks/{task_id}/submit", content=answer, headers={"content-type": "application/json"}
    )
    assert forged.status_code == 403
    accepted = client.post(
        f"/portal/tasks/{task_id}/submit",
        content=answer,
        headers={"content-type": "application/json", "x-truthloop-csrf": csrf},
    )
    assert accepted.status_code == 200
    assert accepted.json()["next"].startswith(f"/portal/teams/{team_name}/next")
    # AND a second submission of the same task is refused
    again = client.post(
        f"/portal/tasks/{task_id}/submit",
        content=answer,
        headers={"content-type": "application/json", "x-truthloop-csrf": csrf},
    )
    assert again.status_code == 409


def test_api_needs_a_worker_token(backend: LocalBackend) -> None:
    assert httpx.post(f"{backend.endpoint_url}/portal/api/tasks/claim").status_code == 401
    bad = httpx.get(f"{backend.endpoint_url}/portal/api/queues", headers={"authorization": "Bearer nope"})
    assert bad.status_code == 401


def test_declined_task_goes_back_to_the_queue(
    a2i: Any, flow: Callable[..., str], team: str, worker: Callable[[str], Worker]
) -> None:
    flow_arn = flow()
    a2i.start_human_loop(
        HumanLoopName=unique("decline"), FlowDefinitionArn=flow_arn, HumanLoopInput={"InputContent": '{"text": "y"}'}
    )
    first, second = worker("decliner"), worker("taker")
    task = first.claim(team)
    assert task is not None
    # the task is held: nobody else gets it
    assert second.claim(team) is None
    assert first.client.post(f"/portal/api/tasks/{task['id']}/release").json() == {"released": True}
    taken = second.claim(team)
    assert taken is not None and taken["id"] == task["id"]


def test_claiming_a_named_task_while_holding_another_is_a_409_naming_the_held_one(
    a2i: Any, flow: Callable[..., str], team: str, worker: Callable[[str], Worker]
) -> None:
    # GIVEN two open tasks of one team, the first held by a worker through the queue
    _start_loops(a2i, flow(), 2, "named")
    holder, other = worker("holder"), worker("other")
    held = holder.claim(team)
    assert held is not None
    second = other.claim(team)
    assert second is not None and second["id"] != held["id"]
    assert other.client.post(f"/portal/api/tasks/{second['id']}/release").json() == {"released": True}
    # WHEN the holder opens the second task by its id
    refused = holder.client.post("/portal/api/tasks/claim", json={"taskId": second["id"]})
    # THEN it is a conflict naming the task they hold, not a second claim
    assert refused.status_code == 409, refused.text
    assert refused.json()["__type"] == "ConflictException"
    assert refused.json()["heldTaskId"] == held["id"] and held["id"] in refused.json()["error"]
    # AND naming the held task gives it back; another worker naming it is told it is not open to them
    again = holder.client.post("/portal/api/tasks/claim", json={"taskId": held["id"], "workteamArn": team})
    assert again.status_code == 200 and again.json()["task"]["id"] == held["id"]
    taken = other.client.post("/portal/api/tasks/claim", json={"taskId": held["id"]})
    assert taken.status_code == 409 and "not open to you" in taken.json()["error"]
    # AND once the holder hands theirs back, the named task is theirs
    assert holder.client.post(f"/portal/api/tasks/{held['id']}/release").json() == {"released": True}
    now = holder.client.post("/portal/api/tasks/claim", json={"taskId": second["id"]})
    assert now.status_code == 200 and now.json()["task"]["id"] == second["id"]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"taskId": 7}, 400, "taskId must be a non-empty string"),
        ({"taskId": ""}, 400, "taskId must be a non-empty string"),
        ({"taskId": "no-such-task"}, 404, "no task no-such-task"),
        ([], 400, "the body must be a JSON object"),
    ],
)
def test_claim_refuses_a_bad_task_id(
    worker: Callable[[str], Worker], body: Any, status: int, message: str
) -> None:
    response = worker("bad").client.post("/portal/api/tasks/claim", json=body)
    assert response.status_code == status and response.json()["error"] == message


def test_time_limit_frees_the_task(
    backend: LocalBackend, a2i: Any, flow: Callable[..., str], team: str, worker: Callable[[str], Worker]
) -> None:
    flow_arn = flow()
    a2i.start_human_loop(
        HumanLoopName=unique("slow"), FlowDefinitionArn=flow_arn, HumanLoopInput={"InputContent": '{"text": "z"}'}
    )
    slow, fast = worker("slow"), worker("fast")
    task = slow.claim(team)
    assert task is not None
    # WHEN the worker's TaskTimeLimitInSeconds (default 3600 s) passes
    backend.advance_clock(3601)
    backend.wait_idle()
    # THEN their late answer is refused and the task is offered to someone else
    late = slow.answer(task["id"], {"sentiment": {"label": "MIXED"}})
    assert late.status_code == 409 and "timedout" in late.json()["error"]
    retaken = fast.claim(team)
    assert retaken is not None and retaken["id"] == task["id"]


def _start_loops(a2i: Any, flow_arn: str, count: int, prefix: str) -> None:
    for index in range(count):
        a2i.start_human_loop(
            HumanLoopName=unique(f"{prefix}{index}"),
            FlowDefinitionArn=flow_arn,
            HumanLoopInput={"InputContent": json.dumps({"text": f"{prefix} {index}"})},
        )


def test_decline_shows_another_task_and_gives_the_declined_one_to_others(
    backend: LocalBackend, a2i: Any, flow: Callable[..., str], team: str, worker: Callable[[str], Worker]
) -> None:
    # GIVEN two tasks and a signed-in worker holding the first
    _start_loops(a2i, flow(), 2, "decline")
    team_name = team.rsplit("/", 1)[1]
    client, csrf = _sign_in(backend, backend.issue_worker(unique("browser-decliner")))
    try:
        first = client.post(f"/portal/teams/{team_name}/start", data={"csrf": csrf}).headers["location"]
        # WHEN they decline it
        declined = client.post(f"{first}/decline", data={"csrf": csrf})
        # THEN they are shown the other task, never the declined one
        assert declined.status_code == 303
        second = declined.headers["location"]
        assert second.startswith("/portal/tasks/") and second != first
        # AND declining that one too leaves nothing for them, with a notice saying so
        last = client.post(f"{second}/decline", data={"csrf": csrf})
        assert "Task%20declined." in last.headers["location"] and "No%20more%20tasks" in last.headers["location"]
    finally:
        client.close()
    # AND the declined tasks are in the queue for somebody else
    taken = worker("other").claim(team)
    assert taken is not None and f"/portal/tasks/{taken['id']}" in (first, second)


def test_an_idle_claim_is_released_and_an_open_page_keeps_it(
    backend: LocalBackend, a2i: Any, flow: Callable[..., str], team: str, worker: Callable[[str], Worker]
) -> None:
    # GIVEN a worker who opened a task in the browser (lease: claim_lease_seconds) and another worker waiting
    _start_loops(a2i, flow(), 1, "lease")
    team_name = team.rsplit("/", 1)[1]
    lease = backend.config.claim_lease_seconds
    client, csrf = _sign_in(backend, backend.issue_worker(unique("browser-idle")))
    waiting = worker("waiting")
    try:
        task_url = client.post(f"/portal/teams/{team_name}/start", data={"csrf": csrf}).headers["location"]
        assert client.get(task_url).status_code == 200
        # WHEN the page sends heartbeats for longer than one lease
        for _ in range(3):
            backend.advance_clock(lease * 0.6)
            backend.wait_idle()
            beat = client.post(f"{task_url}/heartbeat", headers={"x-truthloop-csrf": csrf})
            assert beat.status_code == 200, beat.text
        # THEN the task stays theirs
        assert waiting.claim(team) is None
        # WHEN the page is closed (no heartbeat) for a lease
        backend.advance_clock(lease + 1)
        backend.wait_idle()
        # THEN the task is back in the queue and the closed page's next heartbeat says it is gone
        assert waiting.claim(team) is not None
        gone = client.post(f"{task_url}/heartbeat", headers={"x-truthloop-csrf": csrf})
        assert gone.status_code == 409 and "not assigned to you" in gone.json()["error"]
        assert client.get(task_url).status_code == 404
    finally:
        client.close()


def test_heartbeat_needs_the_csrf_token(
    backend: LocalBackend, a2i: Any, flow: Callable[..., str], team: str
) -> None:
    _start_loops(a2i, flow(), 1, "beat")
    client, csrf = _sign_in(backend, backend.issue_worker(unique("browser-beat")))
    try:
        task_url = client.post(f"/portal/teams/{team.rsplit('/', 1)[1]}/start", data={"csrf": csrf}).headers["location"]
        assert client.post(f"{task_url}/heartbeat").status_code == 403
    finally:
        client.close()


def test_queues_show_what_is_left_and_done_and_the_task_page_a_mm_ss_timer(
    backend: LocalBackend, a2i: Any, flow: Callable[..., str], team: str
) -> None:
    # GIVEN three tasks, one answered by the worker
    _start_loops(a2i, flow(), 3, "count")
    team_name = team.rsplit("/", 1)[1]
    client, csrf = _sign_in(backend, backend.issue_worker(unique("browser-counter")))
    try:
        task_url = client.post(f"/portal/teams/{team_name}/start", data={"csrf": csrf}).headers["location"]
        page = client.get(task_url).text
        # THEN the task page counts down in mm:ss (default time limit 3600 s) and shows the queue's progress
        assert re.search(r'class="timer"[^>]*>(59:59|1:00:00)<', page), page[:2000]
        assert "3 left in this queue · 0 done by you" in page
        client.post(
            f"{task_url}/submit",
            content=json.dumps({"sentiment": {"label": "POSITIVE"}}),
            headers={"content-type": "application/json", "x-truthloop-csrf": csrf},
        )
        # WHEN they look at the queues
        home = client.get("/portal/").text
        # THEN the row says what is left and what they did
        row = home[home.index(f'data-team="{team_name}"') :]
        assert row.startswith(f'data-team="{team_name}" class="available">2 task(s) available')
        assert "1 done by you" in row[:300]
    finally:
        client.close()
