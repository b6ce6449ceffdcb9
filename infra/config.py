"""The CDK app's settings: CDK context values (``cdk.json`` or ``-c key=value``) with documented defaults.

Every key starts with ``truthloop:``. Values given with ``-c`` arrive as strings; they are converted (numbers,
``true``/``false``, JSON lists/objects, comma-separated lists) and validated, and every problem is reported at
once. docs/deploy.md lists the keys; :data:`DEFAULTS` is the single place their defaults are stated.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from truthloop.cdk._common import ConstructPropsError

__all__ = ["DEFAULTS", "AppConfig", "load_config"]

#: Context key (without the ``truthloop:`` prefix) → default value.
DEFAULTS: dict[str, Any] = {
    "backend": "sagemaker",  # sagemaker (Ground Truth + A2I) | service (the truthloop service in this account)
    "account": None,  # default: the CLI's CDK_DEFAULT_ACCOUNT; unset = environment-agnostic stacks
    "region": None,  # default: the CLI's CDK_DEFAULT_REGION
    "workteamArn": None,  # an existing private work team; no TruthloopWorkforce stack then
    "oidcGroups": None,  # IdP groups of an OIDC work team (on the account's OIDC workforce)
    "createWorkforce": True,  # create the region's private workforce (one per account and region)
    "existingUserPoolId": None,  # the existing Cognito workforce's user pool (with createWorkforce=false)
    "existingUserPoolClientId": None,  # ... and its app client
    "workforceName": "truthloop",
    "cognitoDomainPrefix": None,  # default: truthloop-workers-<account id>
    "mfa": "required",  # required | optional
    "cognitoPlusPlan": True,  # Cognito Plus feature plan with threat protection
    "kmsKeyArn": None,  # an existing customer-managed key for every stack; default: one new key per stack
    "logRetentionDays": 30,
    "removalPolicy": "retain",  # retain | destroy (data buckets, tables, user pool)
    "lambdasDir": None,  # default: lambdas/ of this repository
    "labeling:taskType": "text-classification",
    "labeling:labels": ["positive", "negative", "neutral"],
    "labeling:labelAttribute": "label",
    "labeling:template": None,  # default: templates/gt/<taskType>.liquid.html
    "labeling:humanTaskUiArn": None,  # an AWS-owned task UI instead of a template (e.g. NER)
    "labeling:taskTitle": "Label the data",
    "labeling:taskDescription": "Read each item and give it the right label",
    "labeling:workersPerObject": 1,
    "labeling:taskTimeLimitSeconds": 300,
    "labeling:taskAvailabilitySeconds": 864_000,
    "labeling:maxItemsPerJob": 1000,
    "labeling:batchWindowSeconds": 300,
    "labeling:maxAttempts": 3,
    "labeling:autoAcceptThreshold": None,
    "labeling:consolidationMethod": None,
    "labeling:streaming": False,
    "review:source": "custom",  # custom | textract:analyze_document | rekognition:detect_moderation_labels
    "review:policy": {"version": 1, "rule": {"type": "threshold", "threshold": 0.7}},
    "review:template": None,  # default: by source (see REVIEW_TEMPLATES)
    "review:taskTitle": "Review a model prediction",
    "review:taskDescription": "Check the model's answer and correct it if it is wrong",
    "review:taskCount": 1,
    "review:taskTimeLimitSeconds": 3600,
    "review:taskAvailabilitySeconds": 86_400,
    "review:labelAttribute": "review",
    "review:reservedConcurrency": 10,  # 0 = no reserved concurrency
    "review:functionUrl": True,
    "service:dataBuckets": [],  # buckets flows and labeling jobs read inputs from and write outputs to
    "service:dataKeyArns": [],  # customer-managed keys of those buckets
    "service:sweepRateMinutes": 1,
    "service:apiThrottleRate": 50,  # requests per second, all callers together
    "service:apiThrottleBurst": 100,
    "service:alarmEmail": None,
    "service:authUrl": None,  # the hosted UI (https://…) of existingUserPoolId: where the portal signs workers in
}

#: Settings that only mean something with Ground Truth and A2I (truthloop:backend=sagemaker).
SAGEMAKER_ONLY = ("workteamArn", "oidcGroups", "createWorkforce", "workforceName", "labeling:humanTaskUiArn")

#: The A2I task template used for each review source unless ``truthloop:review:template`` says otherwise.
REVIEW_TEMPLATES = {
    "custom": "a2i/endpoint-prediction-review",
    "textract:analyze_document": "a2i/textract-forms-review",
    "rekognition:detect_moderation_labels": "a2i/rekognition-moderation-review",
}


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"true", "1", "yes"}:
        return True
    if text in {"false", "0", "no"}:
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    return int(str(value).strip())


def _float(value: Any) -> float:
    return float(value) if not isinstance(value, str) else float(value.strip())


def _list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    text = str(value).strip()
    if text.startswith("["):
        parsed = json.loads(text)
        if not isinstance(parsed, list):
            raise ValueError("expected a JSON list")
        return [str(v) for v in parsed]
    return [part.strip() for part in text.split(",") if part.strip()]


def _object(value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    parsed = json.loads(str(value))
    if not isinstance(parsed, dict):
        raise ValueError("expected a JSON object")
    return parsed


def _text(value: Any) -> str:
    return str(value)


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "createWorkforce": _bool,
    "cognitoPlusPlan": _bool,
    "logRetentionDays": _int,
    "oidcGroups": _list,
    "labeling:labels": _list,
    "labeling:workersPerObject": _int,
    "labeling:taskTimeLimitSeconds": _int,
    "labeling:taskAvailabilitySeconds": _int,
    "labeling:maxItemsPerJob": _int,
    "labeling:batchWindowSeconds": _int,
    "labeling:maxAttempts": _int,
    "labeling:autoAcceptThreshold": _float,
    "labeling:streaming": _bool,
    "review:policy": _object,
    "review:taskCount": _int,
    "review:taskTimeLimitSeconds": _int,
    "review:taskAvailabilitySeconds": _int,
    "review:reservedConcurrency": _int,
    "review:functionUrl": _bool,
    "service:dataBuckets": _list,
    "service:dataKeyArns": _list,
    "service:sweepRateMinutes": _int,
    "service:apiThrottleRate": _int,
    "service:apiThrottleBurst": _int,
}

#: CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)


@dataclass(frozen=True)
class AppConfig:
    """The validated settings; ``value(key)`` reads one (``key`` without the ``truthloop:`` prefix).

    ``given`` holds the keys that were set explicitly (not left at their default).
    """

    values: Mapping[str, Any]
    given: frozenset[str] = frozenset()

    @property
    def service_backend(self) -> bool:
        """True when the stacks deploy on the truthloop service instead of Ground Truth and A2I."""
        return bool(self.values["backend"] == "service")

    def value(self, key: str) -> Any:
        return self.values[key]

    def review_template(self) -> str:
        return str(self.values["review:template"] or REVIEW_TEMPLATES[self.values["review:source"]])

    def labeling_template(self) -> str | None:
        if self.values["labeling:humanTaskUiArn"]:
            return None
        template = self.values["labeling:template"]
        if template:
            return str(template)
        task_type = self.values["labeling:taskType"]
        return "gt/bounding-box" if task_type == "bounding-box-adjustment" else f"gt/{task_type}"


def load_config(get_context: Callable[[str], Any]) -> AppConfig:
    """Read every ``truthloop:*`` context value through ``get_context`` (e.g. ``app.node.try_get_context``)."""
    values: dict[str, Any] = {}
    given: set[str] = set()
    problems: list[str] = []
    for key, default in DEFAULTS.items():
        raw = get_context(f"truthloop:{key}")
        if raw is None or raw == "":
            values[key] = default
            continue
        given.add(key)
        try:
            convert = _CONVERTERS.get(key) or _text
            values[key] = convert(raw)
        except (TypeError, ValueError) as exc:
            problems.append(f"truthloop:{key}={raw!r}: {exc}")
            values[key] = default
    if values["mfa"] not in {"required", "optional"}:
        problems.append(f"truthloop:mfa must be 'required' or 'optional', got {values['mfa']!r}")
    if values["removalPolicy"] not in {"retain", "destroy"}:
        problems.append(f"truthloop:removalPolicy must be 'retain' or 'destroy', got {values['removalPolicy']!r}")
    if values["logRetentionDays"] not in LOG_RETENTION_DAYS:
        problems.append(
            f"truthloop:logRetentionDays must be one of {', '.join(map(str, LOG_RETENTION_DAYS))}, "
            f"got {values['logRetentionDays']}"
        )
    if values["review:source"] not in REVIEW_TEMPLATES:
        problems.append(
            f"truthloop:review:source must be one of {sorted(REVIEW_TEMPLATES)}, got {values['review:source']!r}"
        )
    if values["workteamArn"] and values["oidcGroups"]:
        problems.append("give truthloop:workteamArn or truthloop:oidcGroups, not both")
    pool, client = values["existingUserPoolId"], values["existingUserPoolClientId"]
    if bool(pool) != bool(client):
        problems.append("give truthloop:existingUserPoolId and truthloop:existingUserPoolClientId together")
    if pool and (values["workteamArn"] or values["oidcGroups"]):
        problems.append("truthloop:existingUserPoolId is for a Cognito work team: not with workteamArn or oidcGroups")
    if (
        not values["createWorkforce"]
        and not (pool and client)
        and not values["workteamArn"]
        and not values["oidcGroups"]
    ):
        problems.append(
            "truthloop:createWorkforce=false joins the account's existing workforce: give its Cognito user pool "
            "(truthloop:existingUserPoolId and truthloop:existingUserPoolClientId, shown by "
            "`aws sagemaker describe-workforce --workforce-name default`), or truthloop:oidcGroups for an OIDC "
            "workforce, or an existing team with truthloop:workteamArn"
        )
    if values["labeling:template"] and values["labeling:humanTaskUiArn"]:
        problems.append("give truthloop:labeling:template or truthloop:labeling:humanTaskUiArn, not both")
    if values["review:reservedConcurrency"] < 0:
        problems.append("truthloop:review:reservedConcurrency must be 0 (none) or more")
    problems += _backend_problems(values, given)
    if problems:
        raise ConstructPropsError("CDK context", problems)
    return AppConfig(values, frozenset(given))


def _backend_problems(values: Mapping[str, Any], given: set[str]) -> list[str]:
    """Settings that contradict ``truthloop:backend`` (every one of them, so that one synth shows them all)."""
    backend = values["backend"]
    if backend not in {"sagemaker", "service"}:
        return [f"truthloop:backend must be 'sagemaker' or 'service', got {backend!r}"]
    problems: list[str] = []
    if backend == "service":
        for key in SAGEMAKER_ONLY:
            if key in given:
                problems.append(f"truthloop:{key} is a Ground Truth/A2I setting; truthloop:backend=service ignores it")
        if values["review:source"] != "custom":
            problems.append(
                f"truthloop:review:source={values['review:source']!r} needs A2I's built-in integration with "
                "Textract/Rekognition; with truthloop:backend=service use 'custom' (send predictions to the router)"
            )
        if values["labeling:streaming"]:
            problems.append(
                "truthloop:labeling:streaming needs Ground Truth's streaming jobs (an SNS input topic), which the "
                "truthloop service does not have; with truthloop:backend=service upload to the input bucket instead"
            )
        auth_url = values["service:authUrl"]
        if auth_url and not values["existingUserPoolId"]:
            problems.append("truthloop:service:authUrl is the hosted UI of truthloop:existingUserPoolId (give both)")
        if auth_url and not str(auth_url).startswith("https://"):
            problems.append(f"truthloop:service:authUrl must be an https:// address, got {auth_url!r}")
        if values["existingUserPoolId"] and "cognitoDomainPrefix" in given:
            problems.append("truthloop:cognitoDomainPrefix is for a new user pool, not truthloop:existingUserPoolId")
        if not 1 <= values["service:sweepRateMinutes"] <= 1440:
            problems.append("truthloop:service:sweepRateMinutes must be 1–1440")
        for key in ("service:apiThrottleRate", "service:apiThrottleBurst"):
            if values[key] < 1:
                problems.append(f"truthloop:{key} must be at least 1")
    else:
        for key in sorted(given):
            if key.startswith("service:"):
                problems.append(f"truthloop:{key} is a service setting; it needs truthloop:backend=service")
    return problems
