"""The pre-annotation Lambda: configuration from the environment, auto-accept metric."""

from __future__ import annotations

from typing import Any

import pytest

from truthloop.exceptions import ConfigurationError

from .conftest import ARN, LambdaContext, emf


def _event(line: dict[str, Any]) -> dict[str, Any]:
    return {"version": "2018-10-16", "labelingJobArn": ARN, "dataObject": line}


def test_handler_builds_task_input_and_counts_auto_accepts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN
    monkeypatch.setenv("TRUTHLOOP_TASK_TYPE", "text-classification")
    monkeypatch.setenv("TRUTHLOOP_AUTO_ACCEPT_THRESHOLD", "0.9")
    import pre_annotation.handler as module

    line = {"source": "hi", "labels": ["a", "b"], "model-label": {"label": "b", "confidence": 0.97}}
    # WHEN
    result = module.lambda_handler(_event(line), LambdaContext())
    # THEN
    assert result == {
        "taskInput": {"taskObject": "hi", "labels": ["a", "b"], "initialValue": "b"},
        "isHumanAnnotationRequired": False,
    }
    assert emf(capsys.readouterr().out) == {"Invocations": 1, "AutoAccepted": 1}


def test_bad_threshold_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUTHLOOP_TASK_TYPE", "text-classification")
    monkeypatch.setenv("TRUTHLOOP_AUTO_ACCEPT_THRESHOLD", "high")
    import pre_annotation.handler as module

    with pytest.raises(ConfigurationError, match="TRUTHLOOP_AUTO_ACCEPT_THRESHOLD"):
        module.lambda_handler(_event({"source": "x"}), LambdaContext())
