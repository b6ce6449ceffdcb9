"""Shared Playwright fixtures for the browser tests (Debian's Chromium, headless, offline).

Fixtures other browser tests may use:

* ``browser`` (session): one Chromium for the whole run, launched from ``/usr/bin/chromium``.
* ``page``: a fresh context and page per test. Every request that does not go to 127.0.0.1 is aborted and
  recorded; the test fails at teardown if there was one, or if the page threw an uncaught JavaScript error.
  ``page.truthloop_external`` / ``page.truthloop_errors`` hold what was seen.
* ``s3`` (session): moto's S3 server on 127.0.0.1 with ``templates/samples/`` uploaded to
  ``s3://truthloop-samples/`` (``images/street.svg``, ``images/bar.svg``, ``documents/paystub.svg``);
  ``s3.client`` is a boto3 client for it (what ``grant_read_access`` presigns through).
* ``site`` (session): a tiny HTTP server on 127.0.0.1 serving ``templates/static/`` under ``/static/``, pages a
  test registers (``site.add_page(html)``) and recording answers POSTed to ``/submit/<token>`` (checking the
  ``X-Truthloop-CSRF`` header).
* ``ready(page)``: waits until the offline crowd elements fired ``all-crowd-elements-ready``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("TRUTHLOOP_CHROMIUM", "/usr/bin/chromium"))
STATIC = ROOT / "templates" / "static"
SAMPLES = ROOT / "templates" / "samples"
SAMPLE_BUCKET = "truthloop-samples"
SAMPLE_KEYS = {
    "images/street.svg": "street.svg",
    "images/bar.svg": "bar.svg",
    "documents/paystub.svg": "paystub.svg",
}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LOOPBACK = {"127.0.0.1", "localhost"}
_TYPES = {".js": "application/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/browser carries the ``browser`` marker."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


# --------------------------------------------------------------------------------------------- browser


# module scope: the sync API keeps its event loop running in this thread until it stops, which would break the
# later tests (service handlers through Mangum) that run a loop of their own in the same process
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: `make test` installs Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def guard_network(context: Any) -> list[str]:
    """Abort every request of ``context`` that leaves 127.0.0.1; the returned list records their URLs."""
    external: list[str] = []

    def guard(route: Any) -> None:
        host = urlsplit(route.request.url).hostname
        if host in LOOPBACK:
            route.continue_()
        else:
            external.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    return external


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, device_scale_factor=1)
    external = guard_network(context)
    errors: list[str] = []
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.truthloop_external = external
    page.truthloop_errors = errors
    yield page
    context.close()
    assert not external, f"the page tried to reach the network: {external}"
    assert not errors, f"uncaught JavaScript errors: {errors}"


def ready(page: Any) -> None:
    """Wait until the offline elements fired ``all-crowd-elements-ready`` and every image (shadow DOM too) loaded."""
    page.wait_for_function("() => window.TruthloopCrowd && window.TruthloopCrowd.ready === true", timeout=5000)
    page.wait_for_function(_IMAGES_LOADED, timeout=5000)


_IMAGES_LOADED = """() => {
  const images = [];
  const walk = (root) => root.querySelectorAll('*').forEach((el) => {
    if (el.localName === 'img' && el.getAttribute('src')) images.push(el);
    if (el.shadowRoot) walk(el.shadowRoot);
  });
  walk(document);
  return images.every((img) => img.complete && img.naturalWidth > 0);
}"""


# --------------------------------------------------------------------------------------------- S3


@dataclass
class LocalS3:
    url: str
    client: Any

    def ensure_samples(self) -> None:
        """(Re)create the sample bucket: other tests may reset moto's state between ours."""
        try:
            self.client.head_object(Bucket=SAMPLE_BUCKET, Key="documents/paystub.svg")
            return
        except Exception:  # missing bucket or object: upload again
            pass
        with contextlib.suppress(self.client.exceptions.BucketAlreadyOwnedByYou):
            self.client.create_bucket(Bucket=SAMPLE_BUCKET)
        for key, name in SAMPLE_KEYS.items():
            self.client.put_object(
                Bucket=SAMPLE_BUCKET, Key=key, Body=(SAMPLES / name).read_bytes(), ContentType="image/svg+xml"
            )


@pytest.fixture(scope="session")
def _s3_server() -> Iterator[LocalS3]:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    client = boto3.session.Session(
        aws_access_key_id="truthloop-test", aws_secret_access_key="truthloop-test", region_name="us-east-1"
    ).client("s3", endpoint_url=url, config=Config(s3={"addressing_style": "path"}))
    yield LocalS3(url, client)
    server.stop()


@pytest.fixture
def s3(_s3_server: LocalS3) -> LocalS3:
    _s3_server.ensure_samples()
    return _s3_server


# --------------------------------------------------------------------------------------------- site


@dataclass
class Submission:
    answer: Any
    csrf: str | None


@dataclass
class Site:
    """Pages registered by tests, the offline assets, and the answers POSTed back."""

    url: str = ""
    pages: dict[str, str] = field(default_factory=dict)
    answers: dict[str, list[Submission]] = field(default_factory=dict)
    next_urls: dict[str, str] = field(default_factory=dict)
    csrf: dict[str, str] = field(default_factory=dict)
    lock: threading.Condition = field(default_factory=threading.Condition)

    @property
    def static_url(self) -> str:
        return f"{self.url}/static"

    def token(self) -> str:
        return secrets.token_urlsafe(12)

    def add_page(self, html: str, token: str | None = None, *, next_url: str | None = None) -> str:
        """Register ``html`` under ``/page/<token>``; its answers go to :meth:`submit_url` of the same token."""
        token = token or self.token()
        self.pages[token] = html
        if next_url:
            self.next_urls[token] = next_url
        return f"{self.url}/page/{token}"

    def submit_url(self, token: str) -> str:
        return f"{self.url}/submit/{token}"

    def csrf_for(self, token: str) -> str:
        return self.csrf.setdefault(token, secrets.token_urlsafe(16))

    def wait_answer(self, token: str, timeout: float = 5.0) -> Submission:
        with self.lock:
            if not self.lock.wait_for(lambda: bool(self.answers.get(token)), timeout=timeout):
                raise AssertionError(f"no answer was POSTed for page {token} within {timeout}s")
            return self.answers[token][-1]


def _handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep test output quiet
            pass

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if path.startswith("/static/"):
                target = (STATIC / path.removeprefix("/static/")).resolve()
                if STATIC not in target.parents or not target.is_file():
                    self._send(HTTPStatus.NOT_FOUND, b"not found", "text/plain")
                    return
                content_type = _TYPES.get(target.suffix, "application/octet-stream")
                self._send(HTTPStatus.OK, target.read_bytes(), content_type)
            elif path.startswith("/page/") and path.removeprefix("/page/") in site.pages:
                self._send(HTTPStatus.OK, site.pages[path.removeprefix("/page/")].encode(), "text/html; charset=utf-8")
            elif path == "/done":
                self._send(HTTPStatus.OK, b"<!DOCTYPE html><title>done</title><p id='done'>Thanks</p>", "text/html")
            else:
                self._send(HTTPStatus.NOT_FOUND, b"not found", "text/plain")

        def do_POST(self) -> None:
            path = urlsplit(self.path).path
            token = path.removeprefix("/submit/")
            if not path.startswith("/submit/") or token not in site.pages:
                self._send(HTTPStatus.NOT_FOUND, b'{"message": "no such page"}', "application/json")
                return
            expected = site.csrf.get(token)
            sent = self.headers.get("X-Truthloop-CSRF")
            if expected is not None and sent != expected:
                self._send(HTTPStatus.FORBIDDEN, b'{"message": "bad CSRF token"}', "application/json")
                return
            length = int(self.headers.get("Content-Length", "0"))
            try:
                answer = json.loads(self.rfile.read(length))
            except ValueError:
                self._send(HTTPStatus.BAD_REQUEST, b'{"message": "not JSON"}', "application/json")
                return
            with site.lock:
                site.answers.setdefault(token, []).append(Submission(answer, sent))
                site.lock.notify_all()
            reply: dict[str, Any] = {"ok": True}
            if token in site.next_urls:
                reply["next"] = site.next_urls[token]
            self._send(HTTPStatus.OK, json.dumps(reply).encode(), "application/json")

    return Handler


@pytest.fixture(scope="session")
def site() -> Iterator[Site]:
    state = Site()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join()
