"""The local backend: an emulator of Ground Truth and A2I that speaks the AWS wire protocols.

``truthloop local up`` (or :class:`LocalBackend` in-process) serves the SageMaker subset (JSON 1.1) and the A2I
runtime (REST-JSON) on one loopback port, S3 through moto's server, and the worker portal at ``/portal``.
"""

from typing import TYPE_CHECKING, Any

from truthloop.local.config import BackendConfig, EventHandlerConfig, FaultConfig, LambdaConfig
from truthloop.local.events import EventTarget
from truthloop.local.storage import SQLiteStorage, Storage

if TYPE_CHECKING:
    from truthloop.local.backend import LocalBackend, read_state


def __getattr__(name: str) -> Any:
    """``LocalBackend`` and ``read_state`` load the HTTP server (uvicorn) on first use: the service's Lambda
    functions import the shared parts of this package without it."""
    if name in ("LocalBackend", "read_state"):
        from truthloop.local import backend

        return getattr(backend, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BackendConfig",
    "EventHandlerConfig",
    "EventTarget",
    "FaultConfig",
    "LambdaConfig",
    "LocalBackend",
    "SQLiteStorage",
    "Storage",
    "read_state",
]
