"""``truthloop templates preview``: serve one rendered template on 127.0.0.1 and hand back the submitted answer.

The server listens on the loopback interface only, under a random token path (``/<token>/``). The page is the
offline :func:`~truthloop.templates.render_page` output; its answer must come back as JSON to
``/<token>/submit`` with the page's CSRF token in ``X-Truthloop-CSRF`` and a loopback ``Host`` header (no DNS
rebinding). The template file is re-read on every page load, so edits show after a browser refresh.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from truthloop.exceptions import TemplateError
from truthloop.templates._assets import static_dir
from truthloop.templates._page import render_page

__all__ = ["MAX_ANSWER_BYTES", "PreviewServer", "read_template"]

#: The largest answer the preview accepts (A2I's InputContent limit; answers are far smaller).
MAX_ANSWER_BYTES: Final = 3 * 1024 * 1024
_TYPES = {".js": "application/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
_DONE = (
    "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Answer received</title></head>"
    "<body style='font-family: system-ui, sans-serif; padding: 2rem'><h1>Answer received</h1>"
    "<p>The answer is printed in your terminal. You can close this tab.</p></body></html>"
)


class PreviewServer:
    """Serves ``template`` rendered with ``task_input`` until one answer is submitted.

    ``template`` is the template text, or a callable returning it (re-read on each page load).
    """

    def __init__(
        self,
        template: str | Callable[[], str],
        task_input: Mapping[str, Any],
        *,
        s3_client: Any = None,
        host: str = "127.0.0.1",
        port: int = 0,
        title: str = "truthloop preview",
    ) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise TemplateError(f"the preview server only listens on loopback addresses, not {host!r}")
        self._template = template
        self.task_input = dict(task_input)
        self.s3_client = s3_client
        self.title = title
        self.token = secrets.token_urlsafe(16)
        self.csrf = secrets.token_urlsafe(24)
        self._answer: Any = None
        self._received = threading.Event()
        self._done_served = threading.Event()
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{self.token}/"

    def page(self) -> str:
        text = self._template() if callable(self._template) else self._template
        return render_page(
            text,
            self.task_input,
            submit_url=f"/{self.token}/submit",
            asset_base_url=f"/{self.token}/static",
            csrf_token=self.csrf,
            s3_client=self.s3_client,
            title=self.title,
        )

    def start(self) -> str:
        """Start serving in a background thread; returns the page URL."""
        self._thread = threading.Thread(target=self._server.serve_forever, name="truthloop-preview", daemon=True)
        self._thread.start()
        return self.url

    def wait(self, timeout: float | None = None) -> Any:
        """The submitted answer; raises :class:`TimeoutError` if none arrives within ``timeout`` seconds."""
        if not self._received.wait(timeout):
            raise TimeoutError(f"no answer was submitted within {timeout:g} seconds")
        return self._answer

    def stop(self, grace_seconds: float = 0.0) -> None:
        """Stop serving; ``grace_seconds`` lets the browser first load the "answer received" page."""
        if grace_seconds > 0 and self._received.is_set():
            self._done_served.wait(grace_seconds)
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> PreviewServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------------------------------ HTTP

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self
        static = static_dir()

        class Handler(BaseHTTPRequestHandler):
            server_version = "truthloop-preview"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.send_header("X-Content-Type-Options", "nosniff")
                self.send_header("Referrer-Policy", "no-referrer")
                self.end_headers()
                self.wfile.write(body)

            def _json(self, status: int, payload: Mapping[str, Any]) -> None:
                self._send(status, json.dumps(payload).encode("utf-8"), "application/json")

            def _host_ok(self) -> bool:
                host = (self.headers.get("Host") or "").rsplit(":", 1)[0].strip("[]")
                return host in ("127.0.0.1", "localhost", "::1")

            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                prefix = f"/{server.token}/"
                if not self._host_ok() or not path.startswith(prefix):
                    self._send(HTTPStatus.NOT_FOUND, b"not found", "text/plain")
                    return
                rest = path.removeprefix(prefix)
                if rest == "":
                    try:
                        body = server.page().encode("utf-8")
                    except TemplateError as exc:
                        self._send(HTTPStatus.INTERNAL_SERVER_ERROR, str(exc).encode("utf-8"), "text/plain")
                        return
                    self._send(HTTPStatus.OK, body, "text/html; charset=utf-8")
                elif rest == "done":
                    self._send(HTTPStatus.OK, _DONE.encode("utf-8"), "text/html; charset=utf-8")
                    server._done_served.set()
                elif rest.startswith("static/"):
                    target = (static / rest.removeprefix("static/")).resolve()
                    if static.resolve() not in target.parents or not target.is_file():
                        self._send(HTTPStatus.NOT_FOUND, b"not found", "text/plain")
                        return
                    self._send(HTTPStatus.OK, target.read_bytes(), _TYPES.get(target.suffix, "text/plain"))
                else:
                    self._send(HTTPStatus.NOT_FOUND, b"not found", "text/plain")

            def do_POST(self) -> None:
                if not self._host_ok() or urlsplit(self.path).path != f"/{server.token}/submit":
                    self._json(HTTPStatus.NOT_FOUND, {"message": "not found"})
                    return
                if not secrets.compare_digest(self.headers.get("X-Truthloop-CSRF", ""), server.csrf):
                    self._json(HTTPStatus.FORBIDDEN, {"message": "missing or wrong X-Truthloop-CSRF header"})
                    return
                if not (self.headers.get("Content-Type") or "").startswith("application/json"):
                    self._json(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, {"message": "send the answer as application/json"})
                    return
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_ANSWER_BYTES:
                    self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"message": "answer too large"})
                    return
                try:
                    answer = json.loads(self.rfile.read(length))
                except ValueError as exc:
                    self._json(HTTPStatus.BAD_REQUEST, {"message": f"answer is not JSON: {exc}"})
                    return
                if not isinstance(answer, dict):
                    self._json(HTTPStatus.BAD_REQUEST, {"message": "the answer must be a JSON object"})
                    return
                if server._received.is_set():
                    self._json(HTTPStatus.CONFLICT, {"message": "an answer was already submitted"})
                    return
                server._answer = answer
                server._received.set()
                self._json(HTTPStatus.OK, {"ok": True, "next": f"/{server.token}/done"})

        return Handler


def read_template(path: Path) -> Callable[[], str]:
    """A callable that re-reads ``path`` (so a refresh shows the latest edit)."""
    return lambda: path.read_text(encoding="utf-8")
