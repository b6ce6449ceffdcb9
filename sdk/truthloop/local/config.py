"""Configuration of the local backend: one keyword object, every default stated once.

A JSON file can hold the same keys (``truthloop local up --config local.json``)::

    {
      "region": "us-east-1",
      "lambdas": {
        "arn:aws:lambda:us-east-1:123456789012:function:sagemaker-pre":
            {"handler": "pre_annotation.handler:handler", "environment": {"TRUTHLOOP_TASK_TYPE": "free-text"}}
      },
      "event_handlers": [{"handler": "review_completed.handler:handler",
                          "detail_types": ["SageMaker A2I HumanLoop Status Change"]}],
      "max_active_human_loops": 1000,
      "faults": {"throttle_rate": 0.1, "operations": ["StartHumanLoop"], "seed": 7}
    }
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from truthloop.contracts.events import canonical_detail_type
from truthloop.exceptions import LocalBackendError

__all__ = [
    "DEFAULT_ACCOUNT_ID",
    "DEFAULT_PORT",
    "LOCAL_DOCUMENTS_BUCKET",
    "LOCAL_TABLE",
    "STORAGE_KINDS",
    "BackendConfig",
    "EventHandlerConfig",
    "FaultConfig",
    "LambdaConfig",
]

DEFAULT_PORT = 4566
#: the account id in every ARN the emulator makes (moto uses the same one)
DEFAULT_ACCOUNT_ID = "123456789012"
#: the stores the backend can keep its state in
STORAGE_KINDS = ("sqlite", "dynamodb")
#: with ``storage="dynamodb"``: the table and the bucket for large documents, in the backend's moto server
LOCAL_TABLE = "truthloop-local"
LOCAL_DOCUMENTS_BUCKET = "truthloop-local-documents"


@dataclass(frozen=True)
class LambdaConfig:
    """A user Lambda ARN mapped to an in-process handler (``module:function`` or ``path/to/file.py:function``)."""

    handler: str
    environment: Mapping[str, str] = field(default_factory=dict)
    timeout_seconds: float = 60.0


@dataclass(frozen=True)
class EventHandlerConfig:
    """An EventBridge target: ``handler`` receives each matching event as ``handler(event, context)``."""

    handler: str
    detail_types: tuple[str, ...] = ()
    environment: Mapping[str, str] = field(default_factory=dict)

    def matches(self, detail_type: str) -> bool:
        wanted = canonical_detail_type(detail_type)
        return not self.detail_types or any(canonical_detail_type(d) == wanted for d in self.detail_types)


@dataclass(frozen=True)
class FaultConfig:
    """Fault injection: answer a fraction of calls with ``ThrottlingException`` (HTTP 429 on A2I)."""

    throttle_rate: float = 0.0
    operations: tuple[str, ...] = ()
    seed: int | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.throttle_rate <= 1.0:
            raise LocalBackendError(f"faults.throttle_rate must be between 0 and 1, got {self.throttle_rate}")

    def applies_to(self, operation: str) -> bool:
        return self.throttle_rate > 0 and (not self.operations or operation in self.operations)


@dataclass(frozen=True)
class BackendConfig:
    """Everything ``truthloop local up`` can be told. Times are in seconds."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    data_dir: Path = Path(".truthloop")
    region: str = "us-east-1"
    account_id: str = DEFAULT_ACCOUNT_ID
    workers: int = 3
    lambdas: Mapping[str, LambdaConfig] = field(default_factory=dict)
    event_handlers: tuple[EventHandlerConfig, ...] = ()
    duplicate_events: bool = False
    max_active_human_loops: int | None = None
    faults: FaultConfig = field(default_factory=FaultConfig)
    flow_activation_seconds: float = 0.5
    consolidation_wait_seconds: float = 30.0
    engine_interval_seconds: float = 0.25
    event_retry_seconds: float = 1.0
    event_max_attempts: int = 8
    #: an engine step that fails (say, output.json cannot be written) is retried after this many seconds, doubling
    #: up to the cap; after ``engine_max_attempts`` the item ends Failed with the last error as its reason
    engine_retry_seconds: float = 1.0
    engine_retry_cap_seconds: float = 300.0
    engine_max_attempts: int = 8
    default_a2i_task_lifetime_seconds: int = 864000
    default_gt_task_lifetime_seconds: int = 2592000
    #: a portal claim lapses after this long unless the task page renews it (it does every third of it)
    claim_lease_seconds: float = 60.0
    #: start moto from empty (its state is per process); False shares it with other in-process moto users
    reset_s3: bool = True
    #: where state lives: SQLite under the data directory, or DynamoDB + S3 in the backend's moto server (the
    #: service's store; moto keeps that table in memory, so it does not survive a restart)
    storage: Literal["sqlite", "dynamodb"] = "sqlite"

    def __post_init__(self) -> None:
        if self.host not in ("127.0.0.1", "localhost", "::1"):
            raise LocalBackendError(f"the local backend only binds to loopback (127.0.0.1), not {self.host!r}")
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise LocalBackendError(f"port must be an integer from 0 to 65535 (0: any free port), got {self.port!r}")
        if self.workers < 0:
            raise LocalBackendError(f"workers must be >= 0, got {self.workers}")
        if self.engine_max_attempts < 1:
            raise LocalBackendError(f"engine_max_attempts must be >= 1, got {self.engine_max_attempts}")
        if self.claim_lease_seconds <= 0:
            raise LocalBackendError(f"claim_lease_seconds must be > 0, got {self.claim_lease_seconds}")
        if self.max_active_human_loops is not None and self.max_active_human_loops < 0:
            raise LocalBackendError("max_active_human_loops must be >= 0")
        if self.storage not in STORAGE_KINDS:
            raise LocalBackendError(f"storage must be one of {', '.join(STORAGE_KINDS)}, got {self.storage!r}")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], **overrides: Any) -> BackendConfig:
        """Build from a JSON-like mapping (unknown keys are an error naming the key)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise LocalBackendError(
                f"unknown configuration key(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        values: dict[str, Any] = dict(data)
        if "data_dir" in values:
            values["data_dir"] = Path(values["data_dir"])
        if "lambdas" in values:
            lambdas = {}
            for arn, spec in dict(values["lambdas"]).items():
                if isinstance(spec, str):
                    spec = {"handler": spec}
                lambdas[arn] = LambdaConfig(
                    handler=spec["handler"],
                    environment=dict(spec.get("environment", {})),
                    timeout_seconds=float(spec.get("timeout_seconds", 60.0)),
                )
            values["lambdas"] = lambdas
        if "event_handlers" in values:
            handlers = []
            for spec in values["event_handlers"]:
                if isinstance(spec, str):
                    spec = {"handler": spec}
                handlers.append(
                    EventHandlerConfig(
                        handler=spec["handler"],
                        detail_types=tuple(spec.get("detail_types", ())),
                        environment=dict(spec.get("environment", {})),
                    )
                )
            values["event_handlers"] = tuple(handlers)
        if "faults" in values and isinstance(values["faults"], Mapping):
            faults = dict(values["faults"])
            values["faults"] = FaultConfig(
                throttle_rate=float(faults.get("throttle_rate", 0.0)),
                operations=tuple(faults.get("operations", ())),
                seed=faults.get("seed"),
            )
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @classmethod
    def from_file(cls, path: str | Path, **overrides: Any) -> BackendConfig:
        p = Path(path)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise LocalBackendError(f"cannot read configuration {p}: {exc}") from None
        if not isinstance(data, dict):
            raise LocalBackendError(f"{p}: the configuration must be a JSON object")
        return cls.from_mapping(data, **overrides)

    def with_(self, **changes: Any) -> BackendConfig:
        return replace(self, **changes)

    @property
    def database_path(self) -> Path:
        return self.data_dir / "truthloop.db"
