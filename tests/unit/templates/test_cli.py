"""``truthloop templates`` commands, and the preview server's HTTP guard rails (real HTTP on 127.0.0.1)."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from truthloop.cli import main
from truthloop.templates import catalogue
from truthloop.templates.preview import PreviewServer


def _run(*args: str) -> Any:
    return CliRunner().invoke(main, ["templates", *args], catch_exceptions=False)


def test_list_shows_every_catalogue_template() -> None:
    result = _run("list")
    assert result.exit_code == 0
    ids = [line.split()[0] for line in result.output.splitlines()]
    assert ids == catalogue.names()


def test_render_a_catalogue_template_with_its_fixture(tmp_path: Path) -> None:
    out = tmp_path / "task.html"
    result = _run("render", "gt/text-classification", "--out", str(out))
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert "The battery died after two days" in html
    assert 'categories="[&#34;positive&#34;,&#34;negative&#34;,&#34;neutral&#34;]"' in html


def test_render_page_with_offline_assets(tmp_path: Path) -> None:
    result = _run("render", "gt/free-text", "--page", "--asset-base-url", "http://127.0.0.1:8000/static")
    assert result.exit_code == 0
    assert "http://127.0.0.1:8000/static/crowd-core.js" in result.output
    assert "Content-Security-Policy" in result.output


def test_render_a_file_needs_an_input(tmp_path: Path) -> None:
    template = tmp_path / "t.html"
    template.write_text("<p>{{ task.input.x }}</p>")
    result = CliRunner().invoke(main, ["templates", "render", str(template)])
    assert result.exit_code == 2
    assert "--input is required" in result.output


def test_render_errors_name_the_file_and_line(tmp_path: Path) -> None:
    template = tmp_path / "t.html"
    template.write_text("<p>\n{{ task.input.x | nope }}</p>")
    data = tmp_path / "in.json"
    data.write_text('{"x": 1}')
    result = CliRunner().invoke(main, ["templates", "render", str(template), "--input", str(data)])
    assert result.exit_code == 1
    assert f"Error: {template}:2: unknown filter 'nope'" in result.output


def test_bad_input_json_is_a_usage_error(tmp_path: Path) -> None:
    data = tmp_path / "in.json"
    data.write_text("[1, 2")
    result = CliRunner().invoke(main, ["templates", "render", "gt/ner", "--input", str(data)])
    assert result.exit_code == 2
    assert "is not valid JSON" in result.output


def test_lint_catalogue_templates_is_clean() -> None:
    result = _run("lint", "gt/ner", "a2i/textract-forms-review")
    assert result.exit_code == 0
    assert result.output.splitlines() == [
        "gt/ner: 0 error(s), 0 warning(s)",
        "a2i/textract-forms-review: 0 error(s), 0 warning(s)",
    ]


def test_lint_reports_problems_with_lines_and_fails(tmp_path: Path) -> None:
    template = tmp_path / "bad.liquid.html"
    template.write_text(
        '<script src="https://assets.crowd.aws/crowd-html-elements.js"></script>\n<crowd-form>\n'
        "<crowd-input name='a'></crowd-input><crowd-input name='a'></crowd-input>\n</crowd-form>\n"
    )
    result = _run("lint", str(template))
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"{template}:3: error: name 'a' is used by 2 answer elements (lines 3, 3): their answers overwrite each "
        "other [duplicate-name]",
        f"{template}: 1 error(s), 0 warning(s)",
    ]


def test_lint_strict_fails_on_warnings(tmp_path: Path) -> None:
    template = tmp_path / "warn.html"
    template.write_text("<crowd-form><crowd-input name='a'></crowd-input></crowd-form>")
    assert _run("lint", str(template)).exit_code == 0
    assert _run("lint", "--strict", str(template)).exit_code == 1


def test_unknown_template_argument() -> None:
    result = CliRunner().invoke(main, ["templates", "lint", "gt/nope"])
    assert result.exit_code == 2
    assert "neither a file nor a catalogue template" in result.output


# --------------------------------------------------------------------------------------------- preview server


@pytest.fixture
def server() -> Iterator[PreviewServer]:
    preview = PreviewServer("<crowd-form><crowd-input name='q'></crowd-input></crowd-form>", {"x": 1})
    preview.start()
    yield preview
    preview.stop()


def _request(
    server: PreviewServer, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    payload = json.dumps(body).encode() if body is not None else None
    sent = {"Content-Type": "application/json", **(headers or {})}
    connection.request(method, path, body=payload, headers=sent)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, data


def test_preview_serves_the_page_under_its_token_only(server: PreviewServer) -> None:
    status, page = _request(server, "GET", f"/{server.token}/")
    assert status == 200
    assert f'content="{server.csrf}"' in page.decode()
    assert _request(server, "GET", "/")[0] == 404
    assert _request(server, "GET", "/wrong-token/")[0] == 404
    assert _request(server, "GET", f"/{server.token}/static/crowd-core.js")[0] == 200
    assert _request(server, "GET", f"/{server.token}/static/../../pyproject.toml")[0] == 404


def test_preview_rejects_answers_without_the_csrf_token_or_from_other_hosts(server: PreviewServer) -> None:
    submit = f"/{server.token}/submit"
    assert _request(server, "POST", submit, {"q": "1"})[0] == 403
    assert _request(server, "POST", submit, {"q": "1"}, {"X-Truthloop-CSRF": "guess"})[0] == 403
    evil_host = {"X-Truthloop-CSRF": server.csrf, "Host": "evil.example:80"}
    assert _request(server, "POST", submit, {"q": "1"}, evil_host)[0] == 404
    wrong_type = {"X-Truthloop-CSRF": server.csrf, "Content-Type": "text/plain"}
    assert _request(server, "POST", submit, {"q": "1"}, wrong_type)[0] == 415
    assert _request(server, "POST", submit, [1], {"X-Truthloop-CSRF": server.csrf})[0] == 400
    with pytest.raises(TimeoutError):
        server.wait(0.05)


def test_preview_takes_exactly_one_answer(server: PreviewServer) -> None:
    submit = f"/{server.token}/submit"
    status, body = _request(server, "POST", submit, {"q": "42"}, {"X-Truthloop-CSRF": server.csrf})
    assert status == 200
    assert json.loads(body) == {"ok": True, "next": f"/{server.token}/done"}
    assert server.wait(1) == {"q": "42"}
    assert _request(server, "POST", submit, {"q": "43"}, {"X-Truthloop-CSRF": server.csrf})[0] == 409
    assert server.wait(1) == {"q": "42"}


def test_preview_refuses_non_loopback_addresses() -> None:
    from truthloop.exceptions import TemplateError

    with pytest.raises(TemplateError, match="only listens on loopback"):
        PreviewServer("<p></p>", {}, host="0.0.0.0")
