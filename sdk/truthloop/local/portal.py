"""The worker portal at ``/portal``: sign in with a worker token, pick a workteam queue, label, submit, next.

* Browser flow: ``GET /portal/`` (sign-in form or queues) → ``POST /portal/login`` → ``POST /portal/teams/{team}/start``
  → ``GET /portal/tasks/{id}`` renders the task's template (with truthloop's offline crowd elements under
  ``/portal/static/``); its crowd-form POSTs the answer object as JSON to ``/portal/tasks/{id}/submit`` and then
  follows the ``next`` URL of the reply.
* A browser claim is a short lease (``claim_lease_seconds``) that the open task page renews
  (``POST /portal/tasks/{id}/heartbeat``): a closed tab hands the task back within a minute, not at the time limit.
  *Decline* (``POST /portal/tasks/{id}/decline``) hands the task to the others and shows this worker another one;
  *Stop working* (``POST /portal/tasks/{id}/release``) hands it back and returns to the queues.
* Sessions are an HttpOnly, SameSite=Strict cookie holding a random id (``secrets.token_urlsafe``); every state
  change needs the session's CSRF token (form field, ``X-CSRF-Token`` header or ``csrf`` query parameter).
* The JSON API under ``/portal/api/`` (``Authorization: Bearer <worker token>``) is what simulated workers use.
* Hosted (the service with a Cognito user pool, ``sign_in`` given): no worker tokens. ``GET /portal/oauth2/login``
  starts the authorization-code flow with PKCE (S256) at the user pool's hosted UI; ``GET /portal/oauth2/callback``
  exchanges the code, verifies the ID token and keeps it as the session cookie (HttpOnly, SameSite=Lax, Secure on
  https), so any API container serves any request. Every request verifies the token again; the CSRF token is an
  HMAC of it. The JSON API takes the same tokens (``Authorization: Bearer <Cognito ID or access token>``). A worker
  sees the queues of the workteams whose ``CognitoMemberDefinition.UserGroup`` (of this pool) is one of their
  ``cognito:groups``; another team's queue or task is refused (403).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import html
import json
import re
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qsl, quote, urlsplit

import anyio.to_thread
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from truthloop.exceptions import TruthloopError
from truthloop.local import templating
from truthloop.local.runtime import Runtime
from truthloop.local.storage import Assignment, AssignmentError, ClaimConflict, SupportsClaimLeases, Task, Worker
from truthloop.local.workforce import WorkerDirectory
from truthloop.templates._page import asset_content_security_policy

__all__ = ["HostedSignIn", "PortalApp", "SignInError", "SignedInWorker", "TaskView", "answer_from_body"]

SESSION_COOKIE = "truthloop_session"
LOGIN_COOKIE = "truthloop_login"
#: the hosted sign-in's state and PKCE verifier, between /oauth2/login and /oauth2/callback
OAUTH_COOKIE = "truthloop_oauth"
OAUTH_SECONDS = 600
SESSION_SECONDS = 12 * 3600
_SECURITY_HEADERS = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


class SignInError(Exception):
    """A token or sign-in the hosted portal refuses; the message says why."""


@dataclass(frozen=True)
class SignedInWorker:
    """A worker as a verified Cognito token names them."""

    sub: str
    name: str
    groups: frozenset[str]
    expires: float
    issuer: str


class HostedSignIn(Protocol):
    """The hosted portal's sign-in (:class:`truthloop.service.identity.CognitoSignIn`)."""

    @property
    def user_pool_id(self) -> str: ...

    def verify(self, token: str) -> SignedInWorker: ...

    def authorize_url(self, *, redirect_uri: str, state: str, code_challenge: str) -> str: ...

    def logout_url(self, *, logout_uri: str) -> str: ...

    def exchange(self, *, code: str, redirect_uri: str, code_verifier: str) -> str: ...


@dataclass
class Session:
    worker_id: str
    csrf: str
    expires: float
    #: the worker's Cognito groups (hosted); ``None``: a local worker, who is in every workteam
    groups: frozenset[str] | None = None


@dataclass(frozen=True)
class TaskView:
    """What a worker (or a simulated one) needs to answer a task."""

    task: Task
    template: str
    team_name: str
    task_type: str | None
    label_attribute_name: str | None
    labeling_job: str | None
    human_loop: str | None
    deadline: float

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.task.id,
            "kind": self.task.kind,
            "workteamArn": self.task.workteam_arn,
            "workteamName": self.team_name,
            "title": self.task.title,
            "description": self.task.description,
            "keywords": self.task.keywords,
            "taskInput": self.task.task_input,
            "template": self.template,
            "taskType": self.task_type,
            "labelAttributeName": self.label_attribute_name,
            "labelingJobName": self.labeling_job,
            "humanLoopName": self.human_loop,
            "objectId": self.task.object_id,
            "deadline": self.deadline,
        }


def answer_from_body(raw: Any) -> dict[str, Any]:
    """The crowd-form answer object: AWS documents it wrapped in a one-item array; stored as the bare object."""
    if isinstance(raw, list) and len(raw) == 1:
        raw = raw[0]
    if not isinstance(raw, dict):
        raise ValueError("the answer must be a JSON object (or a one-item array holding one)")
    return raw


def _page(title: str, body: str, *, status: int = 200) -> HTMLResponse:
    document = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} · truthloop worker portal</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 0; background: #f6f7f9; color: #16191f; }}
header {{ background: #232f3e; color: #fff; padding: .6rem 1.2rem; display: flex; justify-content: space-between; }}
main {{ max-width: 56rem; margin: 2rem auto; padding: 0 1rem; }}
.card {{ background: #fff; border: 1px solid #d5dbdb; border-radius: 6px; padding: 1rem 1.4rem; margin-bottom: 1rem; }}
button {{ background: #ec7211; color: #16191f; border: 0; border-radius: 4px; padding: .45rem 1rem; cursor: pointer;
  font: inherit; font-weight: 600; }}
button:hover:not(:disabled) {{ background: #eb5f07; }}
button:disabled {{ background: #e9ebed; color: #5f6b7a; border: 1px dashed #8d99a8; cursor: not-allowed; }}
button.secondary {{ background: #fff; color: #16191f; border: 1px solid #545b64; }}
button:focus-visible {{ outline: 3px solid #0972d3; outline-offset: 2px; }}
input[type=password] {{ width: 24rem; max-width: 100%; padding: .4rem; }}
.muted {{ color: #545b64; }} .error {{ color: #b0001a; }}
.notice {{ background: #f2f8fd; border-left: 4px solid #0972d3; padding: .4rem .8rem; }}
table {{ border-collapse: collapse; width: 100%; }} td, th {{ text-align: left; padding: .4rem; }}
</style></head><body><header><strong>truthloop</strong><span>worker portal (local)</span></header>
<main>{body}</main></body></html>"""
    return HTMLResponse(document, status_code=status, headers=_SECURITY_HEADERS)


class PortalApp:
    """Builds the portal's Starlette app over the backend runtime."""

    def __init__(
        self,
        runtime: Runtime,
        workers: WorkerDirectory,
        sagemaker: Any,
        *,
        allowed_hosts: Sequence[str] = ("127.0.0.1", "localhost", "[::1]"),
        sign_in: HostedSignIn | None = None,
        public_url: str = "",
    ) -> None:
        self.rt = runtime
        self.workers = workers
        self.sagemaker = sagemaker
        self.sign_in = sign_in
        #: where browsers reach the portal (``https://…/portal``): the OAuth redirect and sign-out addresses
        self.public_url = (public_url or runtime.portal_url).rstrip("/")
        self._known_workers: set[str] = set()
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()
        routes: list[Route | Mount] = [
            Route("/", self.home, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/oauth2/login", self.oauth_login, methods=["GET"]),
            Route("/oauth2/callback", self.oauth_callback, methods=["GET"]),
            Route("/teams/{team}/start", self.start, methods=["POST"]),
            Route("/teams/{team}/next", self.next_task, methods=["GET"]),
            Route("/tasks/{task_id}", self.show_task, methods=["GET"]),
            Route("/tasks/{task_id}/submit", self.submit, methods=["POST"]),
            Route("/tasks/{task_id}/release", self.release, methods=["POST"]),
            Route("/tasks/{task_id}/decline", self.decline, methods=["POST"]),
            Route("/tasks/{task_id}/heartbeat", self.heartbeat, methods=["POST"]),
            Route("/api/queues", self.api_queues, methods=["GET"]),
            Route("/api/tasks/claim", self.api_claim, methods=["POST"]),
            Route("/api/tasks/{task_id}", self.api_task, methods=["GET"]),
            Route("/api/tasks/{task_id}/answer", self.api_answer, methods=["POST"]),
            Route("/api/tasks/{task_id}/release", self.api_release, methods=["POST"]),
        ]
        if templating.STATIC_DIR.is_dir():
            routes.append(Mount("/static", app=_AssetFiles(directory=str(templating.STATIC_DIR)), name="static"))
        self.app = Starlette(
            routes=routes,
            middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))],
        )

    # ------------------------------------------------------------------ sessions
    def _session(self, request: Request) -> Session | None:
        sid = request.cookies.get(SESSION_COOKIE)
        if not sid:
            return None
        if self.sign_in is not None:
            try:
                return self._token_session(sid)
            except SignInError:
                return None
        with self._lock:
            session = self._sessions.get(sid)
            if session is None or session.expires < time.time():
                self._sessions.pop(sid, None)
                return None
        return session

    @staticmethod
    def _csrf_ok(request: Request, session: Session, form: Any = None) -> bool:
        supplied = (
            request.headers.get("x-truthloop-csrf")
            or request.headers.get("x-csrf-token")
            or request.query_params.get("csrf")
        )
        if supplied is None and form is not None:
            value = form.get("csrf")
            supplied = value if isinstance(value, str) else None
        return supplied is not None and secrets.compare_digest(supplied, session.csrf)

    def _token_session(self, token: str) -> Session:
        """The session of a Cognito token (verified now); :class:`SignInError` if it is refused."""
        assert self.sign_in is not None
        who = self.sign_in.verify(token)
        worker = self._cognito_worker(who)
        csrf = base64.urlsafe_b64encode(hmac.new(self.rt.secret, b"csrf|" + token.encode(), hashlib.sha256).digest())
        return Session(worker.id, csrf.decode("ascii").rstrip("="), who.expires, who.groups)

    def _cognito_worker(self, who: SignedInWorker) -> Worker:
        """The worker record of a signed-in Cognito user (made at their first sign-in; the id is stable)."""
        worker_id = hashlib.sha256(f"{who.issuer}|{who.sub}".encode()).hexdigest()[:16]
        worker = Worker(worker_id, who.name, f"cognito-{worker_id}", who.sub, self.rt.now())
        if worker_id in self._known_workers:
            return worker
        stored = self.workers.get(worker_id)
        if stored is None or stored.name != who.name:
            self.rt.storage.put_worker(worker)
        with self._lock:
            self._known_workers.add(worker_id)
        return worker

    def _worker(self, session: Session) -> Worker | None:
        return self.workers.get(session.worker_id)

    def _teams(self, session: Session | None = None) -> dict[str, str]:
        """Active workteams ``{arn: name}``; with a hosted session, only those of the worker's Cognito groups."""
        found = self.rt.storage.resources_in_status("workteam", ("Active",))
        groups = None if session is None else session.groups
        return {str(t.doc["WorkteamArn"]): t.name for t in found if groups is None or self._member(t.doc, groups)}

    def _member(self, doc: dict[str, Any], groups: frozenset[str]) -> bool:
        pool = self.sign_in.user_pool_id if self.sign_in is not None else None
        for member in doc.get("MemberDefinitions", []):
            cognito = member.get("CognitoMemberDefinition") if isinstance(member, dict) else None
            if isinstance(cognito, dict) and cognito.get("UserPool") == pool and cognito.get("UserGroup") in groups:
                return True
        return False

    def _refused_team(self, session: Session, workteam_arn: str) -> Response | None:
        """403 when the worker's groups do not include the task's workteam."""
        if session.groups is None or workteam_arn in self._teams(session):
            return None
        return JSONResponse({"error": "this task belongs to a workteam you are not a member of"}, status_code=403)

    def _bearer(self, request: Request) -> tuple[Worker, Session] | None:
        """The caller of the JSON API: a worker token (local) or a Cognito token (hosted)."""
        value = request.headers.get("authorization", "")
        if not value.lower().startswith("bearer "):
            return None
        token = value[7:].strip()
        if self.sign_in is not None:
            try:
                session = self._token_session(token)
            except SignInError:
                return None
            worker = self.workers.get(session.worker_id)
            return None if worker is None else (worker, session)
        found = self.workers.authenticate(token)
        return None if found is None else (found, Session(found.id, "", float("inf")))

    def _unauthorised(self, request: Request) -> Response:
        """401 for the JSON API, naming why a Cognito token was refused."""
        reason = "a worker token is required (Authorization: Bearer …)"
        value = request.headers.get("authorization", "")
        if self.sign_in is not None:
            reason = "a Cognito ID or access token of this deployment is required (Authorization: Bearer …)"
            if value.lower().startswith("bearer "):
                try:
                    self.sign_in.verify(value[7:].strip())
                except SignInError as exc:
                    reason = f"token refused: {exc}"
        return JSONResponse({"error": reason}, status_code=401, headers={"www-authenticate": "Bearer"})

    # ------------------------------------------------------------------ task views
    def task_view(self, task: Task, deadline: float) -> TaskView:
        teams = self._teams()
        kind, _, ref = task.ui.partition(":")
        template = ""
        task_type = label_attribute = job_name = loop_name = None
        if kind == "human-task-ui":
            template = self.sagemaker.task_ui_content(ref) or ""
            loop_name = task.owner.removeprefix("human-loop:")
        elif kind == "labeling-job":
            job = self.rt.storage.get_resource("labeling-job", ref)
            if job is not None:
                template = str(job.doc.get("_Template", ""))
                job_name = str(job.doc["LabelingJobName"])
                label_attribute = str(job.doc["LabelAttributeName"])
                task_type = self._job_task_type(job.doc)
        return TaskView(
            task=task,
            template=template,
            team_name=teams.get(task.workteam_arn, task.workteam_arn.rsplit("/", 1)[-1]),
            task_type=task_type or None,
            label_attribute_name=label_attribute,
            labeling_job=job_name,
            human_loop=loop_name,
            deadline=deadline,
        )

    @staticmethod
    def _job_task_type(doc: dict[str, Any]) -> str | None:
        """The truthloop task type of a job, from the job alone (the same on the local backend and the service):
        its built-in Lambdas, AWS-owned task UI or catalogue template; ``None`` (unknown) for the user's own."""
        from truthloop.labeling.task_types import task_type_of_job

        return task_type_of_job(doc["HumanTaskConfig"], str(doc.get("_Template", "")))

    # ------------------------------------------------------------------ browser pages
    async def home(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return self._login_page(request)
        worker = self._worker(session)
        if worker is None:
            return self._login_page(request, error="Your worker no longer exists; sign in again.")
        teams = self._teams(session)
        counts, done = await anyio.to_thread.run_sync(self._counts, list(teams), worker.id)
        rows = []
        for arn, name in sorted(teams.items(), key=lambda item: item[1]):
            available = counts.get(arn, 0)
            button = (
                f'<form method="post" action="/portal/teams/{quote(name)}/start">'
                f'<input type="hidden" name="csrf" value="{session.csrf}">'
                f'<button type="submit" {"disabled" if not available else ""}>Start working</button></form>'
            )
            rows.append(
                f"<tr><td><strong>{html.escape(name)}</strong></td>"
                f'<td data-team="{html.escape(name)}" class="available">{available} task(s) available</td>'
                f'<td class="done">{"" if done is None else f"{done.get(arn, 0)} done by you"}</td>'
                f"<td>{button}</td></tr>"
            )
        message = request.query_params.get("message", "")
        # the notice is about the last action: drop it from the address so a reload does not show it again
        notice = (
            f'<p class="notice" role="status">{html.escape(message)}</p>'
            "<script>history.replaceState(null, '', location.pathname)</script>"
            if message
            else ""
        )
        body = f"""<div class="card"><h1>Hello, {html.escape(worker.name)}</h1>{notice}
<table><thead><tr><th>Workteam</th><th>Queue</th><th>Progress</th><th><span class="muted">Action</span></th></tr>
</thead><tbody>
{"".join(rows) or '<tr><td colspan="4" class="muted">No workteams yet.</td></tr>'}</tbody></table></div>
<form method="post" action="/portal/logout"><input type="hidden" name="csrf" value="{session.csrf}">
<button type="submit">Sign out</button></form>"""
        return _page("Queues", body)

    def _counts(self, arns: list[str], worker_id: str) -> tuple[dict[str, int], dict[str, int] | None]:
        """Per workteam: tasks this worker could take now, and tasks they answered."""
        leases = self._leases()
        done = leases.queue_done_counts(arns, worker_id) if leases is not None else None
        return self.rt.storage.queue_counts(arns, worker_id), done

    def _leases(self) -> SupportsClaimLeases | None:
        """The store's short claims and declines, when it has them (SQLite and DynamoDB do; a store without them
        holds claims until the time limit and makes Decline a plain hand-back)."""
        storage = self.rt.storage
        return storage if isinstance(storage, SupportsClaimLeases) else None

    def _claim(self, arns: list[str], worker_id: str) -> tuple[Task, Assignment] | None:
        leases = self._leases()
        if leases is None:
            return self.rt.storage.claim_task(arns, worker_id, self.rt.now())
        return leases.claim_task(arns, worker_id, self.rt.now(), lease_seconds=self.rt.config.claim_lease_seconds)

    def _renew(self, task_id: str, worker_id: str) -> bool:
        """Renew the worker's claim (or, without leases, check they still hold it)."""
        leases = self._leases()
        if leases is None:
            return self._held(task_id, worker_id) is not None
        return leases.renew_lease(task_id, worker_id, self.rt.now(), self.rt.config.claim_lease_seconds) is not None

    def _release(self, task_id: str, worker_id: str, *, decline: bool) -> bool:
        leases = self._leases()
        if leases is None:
            return self.rt.storage.release_assignment(task_id, worker_id, self.rt.now())
        return leases.release_assignment(task_id, worker_id, self.rt.now(), decline=decline)

    def _login_page(self, request: Request, *, error: str = "", status: int = 200) -> Response:
        if self.sign_in is not None:
            notice = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
            body = f"""<div class="card"><h1>Sign in</h1>{notice}
<p class="muted">Workers sign in with their account of this deployment's user pool.</p>
<p><a class="button" id="sign-in" href="/portal/oauth2/login">Sign in</a></p></div>"""
            return _page("Sign in", body, status=status)
        login_csrf = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(32)
        notice = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
        body = f"""<div class="card"><h1>Sign in</h1>{notice}
<p class="muted">Use a worker token printed by <code>truthloop local up</code>.</p>
<form method="post" action="/portal/login"><input type="hidden" name="csrf" value="{login_csrf}">
<label>Worker token <input type="password" name="token" autocomplete="off" required autofocus></label>
<button type="submit">Sign in</button></form></div>"""
        response = _page("Sign in", body, status=status)
        response.set_cookie(LOGIN_COOKIE, login_csrf, httponly=True, samesite="strict", path="/portal")
        return response

    async def login(self, request: Request) -> Response:
        if self.sign_in is not None:
            return self._login_page(request, error="Worker tokens are not accepted here: sign in.", status=403)
        form = await _form(request)
        supplied = form.get("csrf")
        expected = request.cookies.get(LOGIN_COOKIE)
        if not isinstance(supplied, str) or not expected or not secrets.compare_digest(supplied, expected):
            return self._login_page(request, error="The sign-in form expired; try again.", status=403)
        token = form.get("token")
        worker = self.workers.authenticate(token) if isinstance(token, str) and token else None
        if worker is None:
            return self._login_page(request, error="Unknown worker token.", status=401)
        sid = secrets.token_urlsafe(32)
        with self._lock:
            self._sessions[sid] = Session(worker.id, secrets.token_urlsafe(32), time.time() + SESSION_SECONDS)
        response = RedirectResponse("/portal/", status_code=303, headers=_SECURITY_HEADERS)
        response.set_cookie(
            SESSION_COOKIE, sid, httponly=True, samesite="strict", path="/portal", max_age=SESSION_SECONDS
        )
        response.delete_cookie(LOGIN_COOKIE, path="/portal")
        return response

    async def logout(self, request: Request) -> Response:
        session = self._session(request)
        if session is not None:
            form = await _form(request)
            if not self._csrf_ok(request, session, form):
                return _page("Forbidden", '<p class="error">Missing or wrong CSRF token.</p>', status=403)
            with self._lock:
                self._sessions.pop(request.cookies.get(SESSION_COOKIE, ""), None)
        target = "/portal/"
        if self.sign_in is not None:  # end the hosted UI's own session too, or it signs the worker straight back in
            with contextlib.suppress(SignInError):
                target = self.sign_in.logout_url(logout_uri=f"{self.public_url}/")
        response = RedirectResponse(target, status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/portal")
        return response

    # ------------------------------------------------------------------ hosted sign-in (Cognito)
    @property
    def _redirect_uri(self) -> str:
        return f"{self.public_url}/oauth2/callback"

    @property
    def _secure(self) -> bool:
        return urlsplit(self.public_url).scheme == "https"

    async def oauth_login(self, request: Request) -> Response:
        """Start the authorization-code flow with PKCE: state and verifier in a short HttpOnly cookie."""
        if self.sign_in is None:
            return _page("Not found", '<p class="error">This portal signs in with worker tokens.</p>', status=404)
        state = secrets.token_urlsafe(24)
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=")
        try:
            target = self.sign_in.authorize_url(
                redirect_uri=self._redirect_uri, state=state, code_challenge=challenge.decode("ascii")
            )
        except SignInError as exc:
            return self._login_page(request, error=str(exc), status=503)
        response = RedirectResponse(target, status_code=303, headers=_SECURITY_HEADERS)
        response.set_cookie(
            OAUTH_COOKIE,
            f"{state}.{verifier}",
            max_age=OAUTH_SECONDS,
            path="/portal/oauth2",
            httponly=True,
            samesite="lax",  # the hosted UI's redirect back is a cross-site top-level GET
            secure=self._secure,
        )
        return response

    async def oauth_callback(self, request: Request) -> Response:
        """The hosted UI's redirect: check the state, exchange the code (with the verifier), keep the ID token."""
        if self.sign_in is None:
            return _page("Not found", '<p class="error">This portal signs in with worker tokens.</p>', status=404)
        sign_in = self.sign_in
        params = request.query_params
        if params.get("error"):
            reason = f"{params.get('error')}: {params.get('error_description', '')}".rstrip(": ")
            return self._login_page(request, error=f"Sign-in failed ({reason}).", status=400)
        state, _, verifier = (request.cookies.get(OAUTH_COOKIE) or "").partition(".")
        code = params.get("code", "")
        if not state or not verifier or not secrets.compare_digest(state, params.get("state", "")):
            return self._login_page(
                request, error="The sign-in expired or was not started here; try again.", status=400
            )
        if not code:
            return self._login_page(request, error="The sign-in server sent no authorization code.", status=400)
        try:
            token = await anyio.to_thread.run_sync(
                lambda: sign_in.exchange(code=code, redirect_uri=self._redirect_uri, code_verifier=verifier)
            )
            session = await anyio.to_thread.run_sync(self._token_session, token)
        except SignInError as exc:
            return self._login_page(request, error=f"Sign-in refused: {exc}", status=401)
        response = RedirectResponse("/portal/", status_code=303, headers=_SECURITY_HEADERS)
        response.set_cookie(
            SESSION_COOKIE,
            token,
            max_age=max(1, int(session.expires - time.time())),
            path="/portal",
            httponly=True,
            samesite="lax",
            secure=self._secure,
        )
        response.delete_cookie(OAUTH_COOKIE, path="/portal/oauth2")
        return response

    def _team_arn(self, name: str, session: Session | None = None) -> str | None:
        return next((arn for arn, team in self._teams(session).items() if team == name), None)

    async def _claim_and_redirect(self, session: Session, team: str, *, before: str = "") -> Response:
        arn = self._team_arn(team, session)
        if arn is None:
            if session.groups is not None and self._team_arn(team) is not None:
                return _page(
                    "Forbidden",
                    f'<p class="error">You are not a member of workteam {html.escape(team)}.</p>',
                    status=403,
                )
            return _page("Not found", f'<p class="error">No workteam named {html.escape(team)}.</p>', status=404)
        claimed = await anyio.to_thread.run_sync(self._claim, [arn], session.worker_id)
        if claimed is None:
            message = quote(f"{before}No more tasks in {team} for you right now.")
            return RedirectResponse(f"/portal/?message={message}", status_code=303)
        return RedirectResponse(f"/portal/tasks/{claimed[0].id}", status_code=303)

    async def start(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return RedirectResponse("/portal/", status_code=303)
        form = await _form(request)
        if not self._csrf_ok(request, session, form):
            return _page("Forbidden", '<p class="error">Missing or wrong CSRF token.</p>', status=403)
        return await self._claim_and_redirect(session, request.path_params["team"])

    async def next_task(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return RedirectResponse("/portal/", status_code=303)
        if not self._csrf_ok(request, session):
            return _page("Forbidden", '<p class="error">Missing or wrong CSRF token.</p>', status=403)
        return await self._claim_and_redirect(session, request.path_params["team"])

    def _held(self, task_id: str, worker_id: str) -> tuple[Task, float] | None:
        task = self.rt.storage.get_task(task_id)
        if task is None:
            return None
        for assignment in self.rt.storage.assignments(task_id):
            now = self.rt.now()
            if (
                assignment.worker_id == worker_id
                and assignment.status == "active"
                and assignment.deadline > now
                and (assignment.lease_until is None or assignment.lease_until > now)
            ):
                return task, assignment.deadline
        return None

    async def show_task(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return RedirectResponse("/portal/", status_code=303)
        task_id = request.path_params["task_id"]
        if session.groups is not None:
            found = await anyio.to_thread.run_sync(self.rt.storage.get_task, task_id)
            if found is not None and self._refused_team(session, found.workteam_arn) is not None:
                message = '<p class="error">This task belongs to a workteam you are not a member of.</p>'
                return _page("Forbidden", message, status=403)
        held = await anyio.to_thread.run_sync(self._held, task_id, session.worker_id)
        if held is None:
            return _page(
                "Not available", '<p class="error">This task is not assigned to you (any more).</p>', status=404
            )
        task, deadline = held
        view = await anyio.to_thread.run_sync(self.task_view, task, deadline)
        submit_url = f"/portal/tasks/{task.id}/submit?csrf={quote(session.csrf)}"
        try:
            page = await anyio.to_thread.run_sync(
                lambda: templating.render_page(
                    view.template,
                    task.task_input,
                    submit_url=submit_url,
                    asset_base_url="/portal/static",
                    csrf_token=session.csrf,
                    s3_client=self.rt.s3,
                    title=task.title,
                )
            )
        except TruthloopError as exc:
            body = (
                f'<div class="card"><h1>{html.escape(task.title)}</h1><p class="error">The task template could not be '
                f"rendered: {html.escape(str(exc))}</p></div>"
            )
            return _page("Template error", body, status=500)
        lease = self.rt.config.claim_lease_seconds
        renewed = await anyio.to_thread.run_sync(self._renew, task.id, session.worker_id)
        if not renewed:  # the claim lapsed between the check and now
            return _page(
                "Not available", '<p class="error">This task is not assigned to you (any more).</p>', status=404
            )
        arns = [task.workteam_arn]
        counts, done = await anyio.to_thread.run_sync(self._counts, arns, session.worker_id)
        banner = _task_bar(
            team=view.team_name,
            title=task.title,
            task_id=task.id,
            csrf=session.csrf,
            seconds_left=max(0.0, deadline - self.rt.now()),
            left=counts.get(task.workteam_arn, 0),
            done=None if done is None else done.get(task.workteam_arn, 0),
            heartbeat_seconds=max(1.0, lease / 3),
            nonce=_script_nonce(page),
        )
        page = _insert_after_body(page, banner)
        return HTMLResponse(page, headers={**_SECURITY_HEADERS, "x-truthloop-task": task.id})

    async def submit(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return JSONResponse({"error": "not signed in"}, status_code=401)
        content_type = request.headers.get("content-type", "")
        form = None
        if "application/json" in content_type:
            raw_body = await request.body()
            try:
                raw: Any = json.loads(raw_body)
            except ValueError:
                return JSONResponse({"error": "the body is not JSON"}, status_code=400)
        else:
            form = await _form(request)
            value = form.get("answer")
            try:
                raw = json.loads(value) if isinstance(value, str) else None
            except ValueError:
                return JSONResponse({"error": "the answer field is not JSON"}, status_code=400)
        if not self._csrf_ok(request, session, form):
            return JSONResponse({"error": "missing or wrong CSRF token"}, status_code=403)
        try:
            answer = answer_from_body(raw)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        task_id = request.path_params["task_id"]
        result = await self._submit(task_id, session, answer)
        if isinstance(result, Response):
            return result
        team = self._teams().get(result.workteam_arn, "")
        next_url = f"/portal/teams/{quote(team)}/next?csrf={quote(session.csrf)}"
        if form is not None:
            return RedirectResponse(next_url, status_code=303)
        return JSONResponse({"status": "submitted", "taskId": task_id, "next": next_url})

    async def _submit(self, task_id: str, session: Session, answer: dict[str, Any]) -> Task | Response:
        if session.groups is not None:
            found = await anyio.to_thread.run_sync(self.rt.storage.get_task, task_id)
            refused = None if found is None else self._refused_team(session, found.workteam_arn)
            if refused is not None:
                return refused
        worker_id = session.worker_id
        try:
            task = await anyio.to_thread.run_sync(
                lambda: self.rt.storage.submit_answer(task_id, worker_id, answer, self.rt.now())
            )
        except AssignmentError as exc:
            return JSONResponse({"error": str(exc)}, status_code=409)
        if task.status != "open":  # answered, or the last holder of a stopped loop's task submitted
            self.rt.steps.enqueue("settle_task", task_id)
        return task

    async def _hand_back(self, request: Request, *, decline: bool) -> tuple[Session, Task | None] | Response:
        session = self._session(request)
        if session is None:
            return RedirectResponse("/portal/", status_code=303)
        form = await _form(request)
        if not self._csrf_ok(request, session, form):
            return _page("Forbidden", '<p class="error">Missing or wrong CSRF token.</p>', status=403)
        task_id = request.path_params["task_id"]
        await anyio.to_thread.run_sync(lambda: self._release(task_id, session.worker_id, decline=decline))
        self.rt.steps.enqueue("settle_task", task_id)  # a stopped loop's task is cancelled when its last holder leaves
        return session, await anyio.to_thread.run_sync(self.rt.storage.get_task, task_id)

    async def release(self, request: Request) -> Response:
        """Stop working: the task goes back to the queue (this worker may get it again later)."""
        handed = await self._hand_back(request, decline=False)
        if isinstance(handed, Response):
            return handed
        return RedirectResponse(f"/portal/?message={quote('Task handed back to the queue.')}", status_code=303)

    async def decline(self, request: Request) -> Response:
        """Decline: the task goes to the other workers and this one is shown the next task of the same queue."""
        handed = await self._hand_back(request, decline=True)
        if isinstance(handed, Response):
            return handed
        session, task = handed
        team = self._teams().get(task.workteam_arn, "") if task is not None else ""
        if not team:
            return RedirectResponse(f"/portal/?message={quote('Task declined.')}", status_code=303)
        return await self._claim_and_redirect(session, team, before="Task declined. ")

    async def heartbeat(self, request: Request) -> Response:
        """The open task page renews its claim; 409 once the claim is gone (lapsed, timed out, or answered)."""
        session = self._session(request)
        if session is None:
            return JSONResponse({"error": "not signed in"}, status_code=401)
        if not self._csrf_ok(request, session):
            return JSONResponse({"error": "missing or wrong CSRF token"}, status_code=403)
        task_id = request.path_params["task_id"]
        renewed = await anyio.to_thread.run_sync(self._renew, task_id, session.worker_id)
        if not renewed:
            return JSONResponse({"error": f"task {task_id} is not assigned to you any more"}, status_code=409)
        return JSONResponse({"taskId": task_id, "held": True})

    # ------------------------------------------------------------------ JSON API (simulated workers)
    def _api_view(self, task: Task, deadline: float) -> dict[str, Any]:
        """The task as JSON plus its template rendered for it (``rendered``; ``null`` when it cannot render)."""
        view = self.task_view(task, deadline)
        data = view.to_json()
        try:
            data["rendered"] = templating.render(view.template, task.task_input, s3_client=self.rt.s3)
            data["renderError"] = None
        except TruthloopError as exc:
            data["rendered"] = None
            data["renderError"] = str(exc)
        return data

    async def api_queues(self, request: Request) -> Response:
        caller = self._bearer(request)
        if caller is None:
            return self._unauthorised(request)
        worker, session = caller
        teams = self._teams(session)
        counts = await anyio.to_thread.run_sync(self.rt.storage.queue_counts, list(teams), worker.id)
        queues = [
            {"workteamArn": arn, "workteamName": name, "available": counts.get(arn, 0)} for arn, name in teams.items()
        ]
        return JSONResponse({"worker": {"id": worker.id, "name": worker.name}, "queues": queues})

    async def api_claim(self, request: Request) -> Response:
        caller = self._bearer(request)
        if caller is None:
            return self._unauthorised(request)
        worker, session = caller
        body = await request.body()
        try:
            wanted = json.loads(body) if body.strip() else {}
        except ValueError:
            return JSONResponse({"error": "the body is not JSON"}, status_code=400)
        if not isinstance(wanted, dict):
            return JSONResponse({"error": "the body must be a JSON object"}, status_code=400)
        teams = list(self._teams(session))
        arn, task_id = wanted.get("workteamArn"), wanted.get("taskId")
        for field_name, value in (("workteamArn", arn), ("taskId", task_id)):
            if value is not None and (not isinstance(value, str) or not value):
                return JSONResponse({"error": f"{field_name} must be a non-empty string"}, status_code=400)
        if task_id is not None:  # open a given task: it must be of one of the worker's teams
            named = await anyio.to_thread.run_sync(self.rt.storage.get_task, task_id)
            if named is None:
                return JSONResponse({"error": f"no task {task_id}"}, status_code=404)
            if arn is not None and arn != named.workteam_arn:
                return JSONResponse({"error": f"task {task_id} is not of workteam {arn}"}, status_code=400)
            arn = named.workteam_arn
        if arn is not None:
            if arn not in teams:
                if arn in self._teams():
                    return JSONResponse({"error": f"you are not a member of workteam {arn}"}, status_code=403)
                return JSONResponse({"error": f"no workteam {arn}"}, status_code=404)
            teams = [arn]
        try:
            claimed = await anyio.to_thread.run_sync(
                lambda: self.rt.storage.claim_task(teams, worker.id, self.rt.now(), task_id=task_id)
            )
        except ClaimConflict as exc:  # one claim per workteam: the one held is named so the client can go back to it
            conflict = {"__type": "ConflictException", "error": str(exc), "heldTaskId": exc.held_task_id}
            return JSONResponse(conflict, status_code=409)
        if claimed is None:
            if task_id is not None:
                reason = f"task {task_id} is not open to you (answered, declined, held by enough workers, or closed)"
                return JSONResponse({"__type": "ConflictException", "error": reason}, status_code=409)
            return Response(status_code=204)
        task, assignment = claimed
        data = await anyio.to_thread.run_sync(self._api_view, task, assignment.deadline)
        return JSONResponse({"task": data})

    async def api_task(self, request: Request) -> Response:
        caller = self._bearer(request)
        if caller is None:
            return self._unauthorised(request)
        worker, session = caller
        if session.groups is not None:
            found = await anyio.to_thread.run_sync(self.rt.storage.get_task, request.path_params["task_id"])
            refused = None if found is None else self._refused_team(session, found.workteam_arn)
            if refused is not None:
                return refused
        held = await anyio.to_thread.run_sync(self._held, request.path_params["task_id"], worker.id)
        if held is None:
            return JSONResponse({"error": "this task is not assigned to you"}, status_code=404)
        data = await anyio.to_thread.run_sync(self._api_view, *held)
        return JSONResponse({"task": data})

    async def api_answer(self, request: Request) -> Response:
        caller = self._bearer(request)
        if caller is None:
            return self._unauthorised(request)
        session = caller[1]
        try:
            body = json.loads(await request.body())
            answer = answer_from_body(body.get("answer") if isinstance(body, dict) else None)
        except ValueError as exc:
            return JSONResponse({"error": f'expected {{"answer": {{…}}}}: {exc}'}, status_code=400)
        result = await self._submit(request.path_params["task_id"], session, answer)
        if isinstance(result, Response):
            return result
        return JSONResponse({"status": "submitted", "taskId": result.id, "taskStatus": result.status})

    async def api_release(self, request: Request) -> Response:
        caller = self._bearer(request)
        if caller is None:
            return self._unauthorised(request)
        worker = caller[0]
        task_id = request.path_params["task_id"]
        released = await anyio.to_thread.run_sync(
            lambda: self.rt.storage.release_assignment(task_id, worker.id, self.rt.now())
        )
        if released:
            self.rt.steps.enqueue("settle_task", task_id)  # a stopped loop's task ends when its last holder leaves
        return JSONResponse({"released": released}, status_code=200 if released else 404)


class _AssetFiles(StaticFiles):
    """The offline crowd elements, with the same Content-Security-Policy as the hosted portal's CDN sends them."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["content-security-policy"] = asset_content_security_policy()
        response.headers["x-content-type-options"] = "nosniff"
        return response


def _task_bar(
    *,
    team: str,
    title: str,
    task_id: str,
    csrf: str,
    seconds_left: float,
    left: int,
    done: int | None,
    heartbeat_seconds: float,
    nonce: str | None,
) -> str:
    """The bar above a task: queue and progress, a mm:ss countdown, Decline / Stop working, and the heartbeat.

    ``nonce`` is the page's script nonce (its Content-Security-Policy runs no other inline script).
    """
    hours, rest = divmod(int(seconds_left), 3600)
    minutes, seconds = divmod(rest, 60)
    clock = f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes:02d}:{seconds:02d}"
    hidden = f'<input type="hidden" name="csrf" value="{html.escape(csrf)}">'
    nonce_attr = f' nonce="{html.escape(nonce)}"' if nonce else ""
    config = html.escape(
        json.dumps({"task": task_id, "csrf": csrf, "every": heartbeat_seconds, "left": int(seconds_left)}), quote=True
    )
    return f"""<div id="truthloop-task-bar" role="region" aria-label="Task information" data-config="{config}">
<style>
#truthloop-task-bar {{ font: 14px/1.4 system-ui, sans-serif; background: #232f3e; color: #fff; padding: 6px 12px;
  display: flex; flex-wrap: wrap; gap: 6px 16px; align-items: center; }}
#truthloop-task-bar form {{ display: inline; margin: 0; }}
#truthloop-task-bar button {{ font: inherit; border-radius: 4px; padding: 3px 12px; cursor: pointer;
  background: #fff; color: #16191f; border: 1px solid #fff; }}
#truthloop-task-bar button.decline {{ background: transparent; color: #fff; border-color: #d1d5db; }}
#truthloop-task-bar button:hover {{ background: #e9ebed; color: #16191f; }}
#truthloop-task-bar button:focus-visible {{ outline: 3px solid #7cc4ff; outline-offset: 2px; }}
#truthloop-task-bar .timer {{ font-variant-numeric: tabular-nums; }}
#truthloop-task-bar .lost {{ background: #fde8e8; color: #8c0016; padding: 2px 8px; border-radius: 4px; }}
</style>
<span>{html.escape(team)} · {html.escape(title)}</span>
<span class="progress">{left} left in this queue{"" if done is None else f" · {done} done by you"}</span>
<span>time left <span class="timer" role="timer" aria-live="off">{clock}</span></span>
<span class="lost" role="alert" hidden></span>
<form method="post" action="/portal/tasks/{quote(task_id)}/decline">{hidden}
<button type="submit" class="decline" title="Give this task to someone else and show me another">Decline task</button>
</form>
<form method="post" action="/portal/tasks/{quote(task_id)}/release">{hidden}
<button type="submit" title="Hand this task back and go to the queues">Stop working</button></form>
<script{nonce_attr}>
(() => {{
  const bar = document.getElementById("truthloop-task-bar");
  const cfg = JSON.parse(bar.dataset.config);
  const timer = bar.querySelector(".timer"), lost = bar.querySelector(".lost");
  const ends = Date.now() + cfg.left * 1000;
  const pad = (n) => String(n).padStart(2, "0");
  const tick = () => {{
    const s = Math.max(0, Math.round((ends - Date.now()) / 1000));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    timer.textContent = (h ? h + ":" + pad(m) : pad(m)) + ":" + pad(s % 60);
  }};
  tick();
  setInterval(tick, 1000);
  const beat = async () => {{
    try {{
      const r = await fetch("/portal/tasks/" + encodeURIComponent(cfg.task) + "/heartbeat",
        {{method: "POST", headers: {{"X-Truthloop-CSRF": cfg.csrf}}, credentials: "same-origin"}});
      if (r.status === 409) {{
        lost.textContent = "This task is no longer yours (it was idle too long or its time ran out).";
        lost.hidden = false;
      }}
    }} catch (e) {{ /* the next beat retries */ }}
  }};
  setInterval(beat, cfg.every * 1000);
}})();
</script></div>"""


_NONCE = re.compile(r"nonce-([A-Za-z0-9_\-]+)")


def _script_nonce(page: str) -> str | None:
    """The script nonce of a page made by ``render_page`` (from its Content-Security-Policy), if it has one."""
    match = _NONCE.search(page)
    return match.group(1) if match else None


async def _form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (the only form encoding the portal's pages use)."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return dict(parse_qsl(body, keep_blank_values=True))


def _insert_after_body(page: str, fragment: str) -> str:
    lower = page.lower()
    start = lower.find("<body")
    if start < 0:
        return fragment + page
    end = page.find(">", start)
    return page[: end + 1] + fragment + page[end + 1 :]
