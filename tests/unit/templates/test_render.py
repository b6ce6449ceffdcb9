"""``render`` behaves like Ground Truth's renderer (aws-contracts.md §11)."""

from __future__ import annotations

import json
import logging
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest

from truthloop.exceptions import TemplateRenderError
from truthloop.templates import catalogue, render
from truthloop.templates._assets import STATIC_SCRIPTS, STATIC_STYLESHEET


@pytest.mark.parametrize(
    ("template", "task_input", "expected"),
    [
        pytest.param("{{ task.input.t }}", {"t": "<b>&</b>"}, "&lt;b&gt;&amp;&lt;/b&gt;", id="autoescape"),
        pytest.param(
            '<a title="{{ task.input.t }}">', {"t": '" onclick="x'}, '<a title="&#34; onclick=&#34;x">', id="quotes"
        ),
        pytest.param("{{ task.input.t }}", {"t": "it's"}, "it&#39;s", id="single-quote"),
        pytest.param("{{ task.input.source-ref }}", {"source-ref": "s3://b/k"}, "s3://b/k", id="hyphenated-key"),
        pytest.param(
            "{{ task.input.m.my-job-metadata.class-map['1'] }}",
            {"m": {"my-job-metadata": {"class-map": {"1": "dog"}}}},
            "dog",
            id="hyphenated-path",
        ),
        pytest.param("{{ task.input.l }}", {"l": ["a", "b"]}, "[&#34;a&#34;,&#34;b&#34;]", id="list-as-json"),
        pytest.param("{{ task.input.d }}", {"d": {"k": 1}}, "{&#34;k&#34;:1}", id="dict-as-json"),
        pytest.param("{% echo task.input.d %}", {"d": {"k": [1]}}, "{&#34;k&#34;:[1]}", id="echo-as-json"),
        pytest.param("{{ task.input.l | to_json }}", {"l": ["<x>"]}, "[&#34;&lt;x&gt;&#34;]", id="to_json"),
        pytest.param(
            "{{ task.input.l | to_json | escape }}", {"l": ["a&b"]}, "[&#34;a&amp;b&#34;]", id="to_json-escape"
        ),
        pytest.param("{{ task.input.t | escape }}", {"t": "<"}, "&lt;", id="escape"),
        pytest.param("{{ task.input.l | escape }}", {"l": [1, 2]}, "[1,2]", id="escape-list"),
        pytest.param("{{ task.input.t | escape_once }}", {"t": "&amp; &"}, "&amp; &amp;", id="escape_once"),
        pytest.param("{{ task.input.t | skip_autoescape }}", {"t": "<b>x</b>"}, "<b>x</b>", id="skip_autoescape"),
        pytest.param("{{ task.input.missing }}|{{ task.input.n }}", {"n": None}, "|", id="undefined-and-null"),
        pytest.param("{{ task.input.b }} {{ task.input.f }}", {"b": True, "f": 0.58}, "true 0.58", id="scalars"),
        pytest.param(
            "{% for l in task.input.labels %}{{ forloop.index }}:{{ l | upcase }} {% endfor %}",
            {"labels": ["a", "b"]},
            "1:A 2:B ",
            id="for-and-standard-filters",
        ),
        pytest.param(
            "{% capture u %}s3://{{ task.input.b }}/{{ task.input.k }}{% endcapture %}{{ u }}",
            {"b": "bkt", "k": "a&b"},
            "s3://bkt/a&amp;b",
            id="capture-no-double-escape",
        ),
        pytest.param(
            "{% if task.input.x == 'a' %}A{% elsif task.input.x %}B{% else %}C{% endif %}"
            "{% unless task.input.y %}U{% endunless %}{% case task.input.x %}{% when 'z' %}Z{% endcase %}",
            {"x": "z"},
            "BUZ",
            id="conditions",
        ),
        pytest.param("{{ task.input.l | join: ', ' | size }}", {"l": ["a", "b"]}, "4", id="join-size"),
    ],
)
def test_render_follows_ground_truth_semantics(template: str, task_input: dict[str, Any], expected: str) -> None:
    # WHEN
    html = render(template, task_input)
    # THEN
    assert html == expected


def test_json_attribute_round_trips_through_the_html_parser() -> None:
    # GIVEN a value that would break a naive attribute
    value = [{"label": 'say "hi" & <wave>', "x": 1}]
    # WHEN the AWS idiom writes it into an attribute
    html = render('<el data="{{ task.input.v | to_json | escape }}">', {"v": value})
    # THEN an HTML parser reads back exactly the JSON
    from html.parser import HTMLParser

    found: dict[str, str | None] = {}

    class Reader(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found.update(attrs)

    Reader().feed(html)
    assert json.loads(found["data"] or "") == value


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """No AWS credentials anywhere boto3 looks, and no endpoint override."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # a session made earlier may hold credentials


class TestGrantReadAccess:
    def test_presigns_s3_uris_through_the_given_client(self) -> None:
        # GIVEN a real boto3 client for a local S3 endpoint (presigning needs no network)
        client = boto3.client("s3", endpoint_url="http://127.0.0.1:9999", region_name="us-east-1")
        # WHEN
        url = render(
            "{{ task.input.src | grant_read_access }}", {"src": "s3://bucket/images/a b.png"}, s3_client=client
        )
        # THEN a signed GET URL for that object on that endpoint (autoescaped like any output)
        parts = urlsplit(url.replace("&amp;", "&"))
        assert (parts.scheme, parts.netloc, parts.path) == ("http", "127.0.0.1:9999", "/bucket/images/a%20b.png")
        query = parse_qs(parts.query)
        assert "Signature" in query or "X-Amz-Signature" in query
        assert "&amp;" in url

    def test_accepts_https_s3_urls(self) -> None:
        client = boto3.client("s3", endpoint_url="http://127.0.0.1:9999", region_name="us-east-1")
        url = render(
            "{{ task.input.src | grant_read_access }}",
            {"src": "https://bucket.s3.amazonaws.com/k.png"},
            s3_client=client,
        )
        assert urlsplit(url).path == "/bucket/k.png"

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("https://example.com/a.png", "https://example.com/a.png"),
            ("/static/a.png", "/static/a.png"),
            ("", ""),
            ("javascript:alert(1)", ""),
            (" JavaScript:alert(1)", ""),
            ("data:text/html,<script>alert(1)</script>", ""),
            ("data:image/png;base64,AAAA", "data:image/png;base64,AAAA"),
        ],
    )
    def test_passes_web_urls_and_drops_dangerous_schemes(self, value: str, expected: str) -> None:
        assert render("{{ task.input.src | grant_read_access }}", {"src": value}) == expected

    @pytest.mark.parametrize(
        ("endpoint", "expected"),
        [
            pytest.param(None, "data:image/svg+xml,", id="aws-placeholder"),
            pytest.param("http://127.0.0.1:9999", "http://127.0.0.1:9999/b/images/a%20b.png", id="local-backend"),
        ],
    )
    def test_without_credentials_it_renders_offline_and_warns_once(
        self, no_credentials: None, caplog: pytest.LogCaptureFixture, endpoint: str | None, expected: str
    ) -> None:
        # GIVEN an S3 client that can find no credentials at all (AWS's endpoint, or the local backend's)
        client = boto3.session.Session(region_name="us-east-1").client("s3", endpoint_url=endpoint)
        # WHEN a template reads two S3 objects
        with caplog.at_level(logging.WARNING, logger="truthloop.templates"):
            html = render(
                '<img src="{{ task.input.src | grant_read_access }}">'
                '<a href="{{ task.input.src | grant_read_access }}">',
                {"src": "s3://b/images/a b.png"},
                s3_client=client,
            )
        # THEN both render (a placeholder that names the object, or an unsigned local URL) with one warning line
        urls = re.findall(r'(?:src|href)="([^"]*)"', html)
        assert len(urls) == 2 and all(url.startswith(expected) for url in urls)
        if endpoint is None:
            assert "s3%3A%2F%2Fb%2Fimages%2Fa%20b.png" in urls[0]
        warnings = [r for r in caplog.records if r.name == "truthloop.templates"]
        assert len(warnings) == 1 and "no AWS credentials" in warnings[0].getMessage()

    def test_other_presign_failures_are_render_errors_with_the_line(self) -> None:
        # GIVEN a client whose presigning fails for another reason than credentials
        class Broken:
            def generate_presigned_url(self, *args: object, **kwargs: object) -> str:
                raise RuntimeError("endpoint resolution failed")

        # WHEN / THEN the failure does not leak raw: it is a render error naming the URI and the line
        with pytest.raises(TemplateRenderError, match="cannot presign s3://b/k") as info:
            render("<p>\n{{ task.input.src | grant_read_access }}", {"src": "s3://b/k"}, s3_client=Broken())
        assert info.value.line == 2


_GRANTING = [t for t in catalogue.all_templates() if "grant_read_access" in t.text()]


def test_some_catalogue_templates_read_s3() -> None:
    assert len(_GRANTING) >= 5


@pytest.mark.parametrize("template", _GRANTING, ids=[t.id for t in _GRANTING])
def test_every_template_reading_s3_previews_without_credentials(
    template: catalogue.CatalogueTemplate, no_credentials: None
) -> None:
    # GIVEN no AWS credentials anywhere and boto3's default client (what `truthloop templates render` uses)
    # WHEN the template renders with its fixture input
    html = template.render()
    # THEN it renders, and every granted S3 object became an offline placeholder (no s3:// left in a URL)
    assert not re.search(r'(?:src|href)="s3://', html)
    if "s3://" in json.dumps(template.task_input()):
        assert "data:image/svg+xml," in html


def test_cli_render_without_credentials_prints_one_warning_line(no_credentials: None) -> None:
    # GIVEN no AWS credentials
    from click.testing import CliRunner

    from truthloop.cli import main

    # WHEN a template that reads S3 objects is rendered from the command line
    result = CliRunner().invoke(main, ["templates", "render", "gt/bounding-box"])
    # THEN it renders (exit 0)
    assert result.exit_code == 0, result.output
    assert "data:image/svg+xml," in result.stdout


@pytest.mark.parametrize(
    ("template", "line", "message"),
    [
        pytest.param("<p>\n<p>\n{% if task.input.x %}\n{% endfor %}", 4, "syntax error", id="unbalanced-tag"),
        pytest.param("a\n{{ task.input.x | nosuchfilter }}", 2, "unknown filter", id="unknown-filter"),
        pytest.param("a\nb\n{{ task.input.x | split: 1, 2 }}", 3, "split", id="bad-filter-arguments"),
        pytest.param("a\n{% for x in %}{% endfor %}", 2, "syntax error", id="bad-for"),
        pytest.param("a\nb\n{{ task.input.x | }}", 3, "syntax error", id="bad-output"),
        pytest.param("{{ task.input.x | append }}", 1, "append", id="missing-argument"),
    ],
)
def test_errors_carry_the_template_line(template: str, line: int, message: str) -> None:
    with pytest.raises(TemplateRenderError) as info:
        render(template, {"x": "y"}, name="task.liquid.html")
    assert info.value.line == line
    assert message in str(info.value)
    assert str(info.value).startswith(f"task.liquid.html:{line}: ")


def test_asset_base_url_swaps_aws_scripts_for_the_offline_elements() -> None:
    # GIVEN both the V1 and the V2 script and the V2 stylesheet
    template = (
        '<link rel="stylesheet" href="https://assets.crowd.aws/css/crowd-html-elements-v2.css" />\n'
        '<script src="https://assets.crowd.aws/crowd-html-elements.js"></script>\n'
        "<script src='https://assets.crowd.aws/crowd-html-elements-v2.js'></script>\n<crowd-form></crowd-form>"
    )
    # WHEN
    html = render(template, {}, asset_base_url="http://127.0.0.1:8000/static/")
    # THEN nothing points at AWS and each offline file is loaded exactly once
    assert "assets.crowd.aws" not in html
    for name in (*STATIC_SCRIPTS, STATIC_STYLESHEET):
        assert html.count(f"http://127.0.0.1:8000/static/{name}") == 1
    # AND without asset_base_url the template is left as AWS would see it
    assert "https://assets.crowd.aws/crowd-html-elements.js" in render(template, {})


def test_task_input_is_not_mutated() -> None:
    data = {"labels": ["a"], "nested": {"k": [1]}}
    snapshot = json.dumps(data)
    render("{% assign x = task.input.labels %}{{ x }}{{ task.input.nested }}", data)
    assert json.dumps(data) == snapshot
