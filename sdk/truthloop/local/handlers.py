"""Loading and calling in-process "Lambda" handlers: ``module:function`` or ``path/to/file.py:function``.

Handlers get the event as plain JSON (a deep copy, as Lambda would deliver it) and a context object with the
attributes Lambda's context has (``function_name``, ``aws_request_id``, ``get_remaining_time_in_millis()``, …), so
powertools' ``inject_lambda_context`` works. Environment variables configured for a handler are set only while
it runs (calls are serialised by a lock, since ``os.environ`` is process-wide).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from truthloop.exceptions import LocalBackendError

__all__ = ["Handler", "LambdaContext", "environment", "forget_file_handlers", "load_handler"]

Handler = Callable[[Any, Any], Any]
_ENV_LOCK = threading.RLock()


@dataclass
class LambdaContext:
    """The attributes of AWS Lambda's context object that handlers and powertools read."""

    function_name: str
    invoked_function_arn: str
    timeout_seconds: float = 60.0
    memory_limit_in_mb: int = 128
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = "local"
    _started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if not self.log_group_name:
            self.log_group_name = f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self._started)) * 1000))


_FILE_MODULE_PREFIX = "truthloop_local_handler_"


def forget_file_handlers() -> int:
    """Drop the handler modules loaded from files, so the next load runs their module code again (a cold start).

    A handler creates its boto3 clients at import, from the endpoint variables of the backend that loaded it; a
    backend started later in the same process must not reuse those clients. Handlers already loaded keep working.
    """
    names = [name for name in sys.modules if name.startswith(_FILE_MODULE_PREFIX)]
    for name in names:
        sys.modules.pop(name, None)
    return len(names)


def load_handler(spec: str, *, search_paths: tuple[Path, ...] = ()) -> Handler:
    """Import ``module:function`` (or ``file.py:function``) and return the callable; raise naming what is missing."""
    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr:
        raise LocalBackendError(f"handler {spec!r} must look like 'package.module:function' or 'path/file.py:function'")
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_absolute():
            for base in (Path.cwd(), *search_paths):
                if (base / path).is_file():
                    path = base / path
                    break
        if not path.is_file():
            raise LocalBackendError(f"handler file {target!r} does not exist")
        name = _FILE_MODULE_PREFIX + "_".join(path.resolve().with_suffix("").parts[-3:]).replace("-", "_")
        module = sys.modules.get(name)
        if module is None:
            spec_obj = importlib.util.spec_from_file_location(name, path)
            if spec_obj is None or spec_obj.loader is None:
                raise LocalBackendError(f"cannot load handler file {path}")
            module = importlib.util.module_from_spec(spec_obj)
            sys.modules[name] = module
            # a handler's own directory is importable, as in a Lambda bundle
            sys.path.insert(0, str(path.parent))
            try:
                spec_obj.loader.exec_module(module)
            except BaseException:
                sys.modules.pop(name, None)
                raise
            finally:
                sys.path.remove(str(path.parent))
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise LocalBackendError(f"cannot import handler module {target!r}: {exc}") from None
    function = getattr(module, attr, None)
    if not callable(function):
        raise LocalBackendError(f"{target} has no callable {attr!r}")
    handler: Handler = function
    return handler


@contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of a handler call (serialised across threads).

    Nothing to set takes no lock: a call that sets nothing (the service's ``lambda:Invoke`` of a remote function)
    must not wait for, or hold up, in-process handlers (``truthloop service local`` runs the invoked one in this
    process, which would otherwise wait for the lock its caller holds).
    """
    if not values:
        yield
        return
    with _ENV_LOCK:
        saved = {key: os.environ.get(key) for key in values}
        os.environ.update(values)
        try:
            yield
        finally:
            for key, old in saved.items():
                if old is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = old


def as_lambda_json(value: Any) -> Any:
    """Round-trip through JSON, as Lambda's invoke does: handlers never share objects with the emulator."""
    return json.loads(json.dumps(value, default=str))
