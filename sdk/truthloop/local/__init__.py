"""The local backend: an emulator of Ground Truth and A2I that speaks the AWS wire protocols.

``truthloop local up`` (or :class:`LocalBackend` in-process) serves the SageMaker subset (JSON 1.1) and the A2I
runtime (REST-JSON) on one loopback port, S3 through moto's server, and the worker portal at ``/portal``.
"""

from truthloop.local.backend import LocalBackend, read_state
from truthloop.local.config import BackendConfig, EventHandlerConfig, FaultConfig, LambdaConfig
from truthloop.local.events import EventTarget
from truthloop.local.storage import SQLiteStorage, Storage

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
