"""``render``: a worker task template plus a task input → the HTML a worker sees (Ground Truth semantics)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from liquid import BoundTemplate
from liquid.exceptions import LiquidError

from truthloop.exceptions import TemplateRenderError
from truthloop.templates._assets import replace_aws_assets
from truthloop.templates._liquid import TemplateEnvironment

__all__ = ["error_line", "parse", "render"]


def error_line(error: LiquidError) -> int | None:
    """The 1-based template line a python-liquid error points at, when it knows."""
    context = error.context()
    return context[0] if context else None


def _message(error: LiquidError) -> str:
    return str(error.message) if error.message is not None else type(error).__name__


#: Block tags, with the end tag a lone opening tag needs to parse on its own.
_BLOCKS = {
    name: f"end{name}" for name in ("if", "unless", "for", "case", "capture", "tablerow", "comment", "raw", "ifchanged")
}


def locate_syntax_error(template_text: str, env: TemplateEnvironment) -> int | None:
    """The line of the first tag or output statement that does not parse on its own.

    python-liquid reports some expression errors ("expected a primitive expression, found end of expression")
    without a position; parsing each statement alone finds it.
    """
    tokens = list(env.tokenizer()(template_text))
    for i, token in enumerate(tokens):
        if token.kind not in ("tag", "output") or token.start_index < 0:
            continue
        expression = tokens[i + 1].value if i + 1 < len(tokens) and tokens[i + 1].kind == "expression" else ""
        if token.kind == "output":
            probe = f"{{{{ {expression} }}}}"
        elif token.value in _BLOCKS:
            probe = f"{{% {token.value} {expression} %}}{{% {_BLOCKS[token.value]} %}}"
        elif token.value in ("assign", "echo", "cycle", "increment", "decrement", "liquid"):
            probe = f"{{% {token.value} {expression} %}}"
        else:
            continue
        try:
            env.from_string(probe)
        except LiquidError:
            return template_text.count("\n", 0, token.start_index) + 1
    return None


def parse(template_text: str, env: TemplateEnvironment, *, name: str | None = None) -> BoundTemplate:
    """Parse ``template_text``; syntax errors become :class:`TemplateRenderError` with the line number."""
    try:
        return env.from_string(template_text, name=name or "")
    except LiquidError as exc:
        line = error_line(exc)
        if line is None:
            line = locate_syntax_error(template_text, env)
        raise TemplateRenderError(f"syntax error: {_message(exc)}", line=line, template=name) from None


def render(
    template_text: str,
    task_input: Mapping[str, Any] | None,
    *,
    s3_client: Any = None,
    asset_base_url: str | None = None,
    name: str | None = None,
) -> str:
    """Render a GT/A2I worker task template the way Ground Truth does.

    ``task_input`` becomes ``task.input`` (GT: the pre-annotation Lambda's ``taskInput``; A2I: the parsed
    InputContent). Output is HTML-escaped, dicts and lists print as JSON, and ``grant_read_access`` presigns
    ``s3://`` URIs through ``s3_client`` (boto3's default S3 client when omitted). With ``asset_base_url`` the
    ``assets.crowd.aws`` script tags load truthloop's offline crowd elements from that URL instead.

    Raises :class:`~truthloop.exceptions.TemplateRenderError` (with ``line``) on syntax or render errors.

        >>> render('<p>{{ task.input.taskObject }}</p>', {"taskObject": "<b>hi</b>"})
        '<p>&lt;b&gt;hi&lt;/b&gt;</p>'
    """
    env = TemplateEnvironment(s3_client=s3_client)
    template = parse(template_text, env, name=name)
    try:
        html = template.render(task={"input": dict(task_input or {})})
    except LiquidError as exc:
        raise TemplateRenderError(_message(exc), line=error_line(exc), template=name) from None
    if asset_base_url is not None:
        html, _ = replace_aws_assets(html, asset_base_url)
    return html
