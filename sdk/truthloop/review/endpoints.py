"""Custom-endpoint wrappers: one call both predicts and, when the policy says so, routes to human review.

Three ways to call a SageMaker endpoint, one reviewer:

* boto3 — :meth:`EndpointReviewer.invoke_endpoint` wraps ``sagemaker-runtime.invoke_endpoint``;
* SageMaker Python SDK V3 — :meth:`EndpointReviewer.invoke` wraps ``sagemaker.core.resources.Endpoint.invoke``
  (package ``sagemaker-core``);
* SageMaker Python SDK V2 — :meth:`EndpointReviewer.predict` wraps ``sagemaker.predictor.Predictor.predict``
  (package ``sagemaker<3``).

The SDK objects are used through their public methods only: this module never imports ``sagemaker``, so the
core package and the Lambdas do not depend on it (install the ``truthloop[sagemaker]`` extra to use V3).

    reviewer = EndpointReviewer(ReviewClient(), flow_definition_arn=FLOW, policy=ReviewPolicy.threshold(0.8),
                                class_names=["cat", "dog"])
    reviewed = reviewer.invoke_endpoint(runtime, EndpointName="pets", Body=payload,
                                        ContentType="application/json", input={"s3Uri": image_uri})
    reviewed.body, reviewed.predictions, reviewed.outcome.status
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from truthloop.aws import map_client_errors
from truthloop.review.adapters.endpoint import Extractor
from truthloop.review.client import ReviewClient, ReviewOutcome
from truthloop.review.policy import ReviewPolicy
from truthloop.review.types import Prediction

__all__ = ["EndpointReviewer", "ReviewedPrediction"]

SOURCE = "sagemaker:invoke_endpoint"


@dataclass(frozen=True)
class ReviewedPrediction:
    """The endpoint's answer and what review did with it.

    ``body`` is the decoded JSON body (or what the SDK's deserializer returned), ``raw`` the bytes read from the
    response (``None`` when an SDK deserializer consumed them), ``response`` the SDK/boto3 response object with
    its streaming body already read.
    """

    body: Any
    raw: bytes | None
    predictions: tuple[Prediction, ...]
    outcome: ReviewOutcome
    response: Any = None


def _read(body: Any) -> Any:
    read = getattr(body, "read", None)
    return read() if callable(read) else body


def _json_input(value: Any) -> Any:
    """What the reviewer sees as the model input when the caller gives none: JSON bodies as such."""
    if isinstance(value, (bytes, bytearray)):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return {"text": value}
    if isinstance(value, (Mapping, list, int, float)):
        return value
    return None


class EndpointReviewer:
    """Predict with a SageMaker endpoint and review the prediction in the same call."""

    def __init__(
        self,
        client: ReviewClient,
        *,
        flow_definition_arn: str,
        policy: ReviewPolicy | None = None,
        class_names: Sequence[str] | None = None,
        extractor: Extractor | None = None,
        multi_label: bool = False,
    ) -> None:
        self.client = client
        self.flow_definition_arn = flow_definition_arn
        self.policy = policy
        self.options: dict[str, Any] = {"multi_label": multi_label}
        if class_names is not None:
            self.options["class_names"] = list(class_names)
        if extractor is not None:
            self.options["extractor"] = extractor

    def review_body(self, body: Any, *, input: Any = None) -> tuple[tuple[Prediction, ...], ReviewOutcome]:
        """Adapt and review an already-obtained endpoint body."""
        outcome = self.client.review(
            SOURCE,
            body,
            flow_definition_arn=self.flow_definition_arn,
            input=input,
            policy=self.policy,
            **self.options,
        )
        return outcome.decision.predictions, outcome

    def invoke_endpoint(self, runtime_client: Any, *, input: Any = None, **request: Any) -> ReviewedPrediction:
        """``runtime_client.invoke_endpoint(**request)`` (boto3 ``sagemaker-runtime``), then review.

        ``input`` defaults to the request ``Body`` when it is JSON or text.
        """
        with map_client_errors("InvokeEndpoint"):
            response = runtime_client.invoke_endpoint(**request)
        raw = _read(response.get("Body"))
        response = {**response, "Body": raw}
        chosen_input = input if input is not None else _json_input(request.get("Body"))
        predictions, outcome = self.review_body(raw, input=chosen_input)
        return ReviewedPrediction(_decoded(raw), raw, predictions, outcome, response)

    def invoke(self, endpoint: Any, body: Any, *, input: Any = None, **kwargs: Any) -> ReviewedPrediction:
        """SageMaker SDK V3: ``endpoint.invoke(body=body, **kwargs)`` (``sagemaker.core.resources.Endpoint``).

        Works with and without the endpoint's serializer/deserializer; ``content_type``, ``accept``, ``session``
        and ``region`` pass through in ``kwargs``.
        """
        with map_client_errors("InvokeEndpoint"):
            output = endpoint.invoke(body=body, **kwargs)
        value = getattr(output, "body", output)
        raw = _read(value)
        raw_bytes = bytes(raw) if isinstance(raw, (bytes, bytearray)) else None
        chosen_input = input if input is not None else _json_input(body)
        predictions, outcome = self.review_body(raw, input=chosen_input)
        return ReviewedPrediction(_decoded(raw), raw_bytes, predictions, outcome, output)

    def predict(self, predictor: Any, data: Any, *, input: Any = None, **kwargs: Any) -> ReviewedPrediction:
        """SageMaker SDK V2: ``predictor.predict(data, **kwargs)`` (``sagemaker.predictor.Predictor``).

        The predictor's deserializer decides what comes back: bytes (the default ``BytesDeserializer``) are
        decoded as JSON; ``JSONDeserializer`` output is used as is.
        """
        with map_client_errors("InvokeEndpoint"):
            result = predictor.predict(data, **kwargs)
        result = _read(result)
        raw_bytes = bytes(result) if isinstance(result, (bytes, bytearray)) else None
        chosen_input = input if input is not None else _json_input(data)
        predictions, outcome = self.review_body(result, input=chosen_input)
        return ReviewedPrediction(_decoded(result), raw_bytes, predictions, outcome, result)


def _decoded(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        try:
            return json.loads(value)
        except ValueError:
            return bytes(value)
    return value
