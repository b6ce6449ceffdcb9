"""Local workers: tokens for the portal, the worker ids and identity data GT/A2I write into output files.

Each ``truthloop local up`` issues a fresh token per configured worker (``worker-1``, ``worker-2``, …) and prints
them; only their SHA-256 is stored, so a token from an earlier run stops working. Every local worker is a member of
every workteam (the local stand-in for Cognito user groups).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import uuid
from typing import Any

from truthloop.arns import cognito_issuer
from truthloop.local.runtime import Runtime
from truthloop.local.storage import Worker

__all__ = ["WorkerDirectory", "hash_token"]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class WorkerDirectory:
    """Creates workers, authenticates tokens, and describes workers the way AWS output files do."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self._cache: dict[str, Worker] = {}
        self._lock = threading.Lock()

    def issue(self, name: str, *, simulated: bool = False) -> tuple[Worker, str]:
        """Create the worker ``name`` (or keep its identity) with a new token; returns the token once."""
        token = secrets.token_urlsafe(24)
        existing = next((w for w in self.rt.storage.list_workers() if w.name == name), None)
        if existing is not None:
            worker = Worker(existing.id, name, hash_token(token), existing.sub, existing.created, existing.simulated)
        else:
            worker = Worker(
                id=secrets.token_hex(8),
                name=name,
                token_hash=hash_token(token),
                sub=str(uuid.uuid4()),
                created=self.rt.now(),
                simulated=simulated,
            )
        self.rt.storage.put_worker(worker)
        with self._lock:
            self._cache = {k: v for k, v in self._cache.items() if v.id != worker.id}
        return worker, token

    def authenticate(self, token: str) -> Worker | None:
        digest = hash_token(token)
        with self._lock:
            cached = self._cache.get(digest)
        if cached is not None:
            return cached
        worker = self.rt.storage.worker_by_token_hash(digest)
        if worker is not None:
            with self._lock:
                self._cache[digest] = worker
        return worker

    def get(self, worker_id: str) -> Worker | None:
        return self.rt.storage.get_worker(worker_id)

    def workteams(self, worker: Worker) -> list[str]:
        """The workteam ARNs whose queues ``worker`` sees (every active workteam)."""
        teams = self.rt.storage.resources_in_status("workteam", ("Active",))
        return [str(t.doc["WorkteamArn"]) for t in teams]

    def public_id(self, worker_id: str, *, gt: bool) -> str:
        """The ``workerId`` in output files: ``private.<region>.<id>`` for GT, the bare id for A2I (as observed)."""
        return f"private.{self.rt.config.region}.{worker_id}" if gt else worker_id

    def _identity_provider(self) -> tuple[str, str]:
        forces = self.rt.storage.resources_in_status("workforce", ("Active",))
        for force in forces:
            if "CognitoConfig" in force.doc:
                pool = force.doc["CognitoConfig"]["UserPool"]
                return "Cognito", cognito_issuer(self.rt.config.region, pool)
            if "OidcConfig" in force.doc:
                return "Oidc", str(force.doc["OidcConfig"].get("Issuer", ""))
        region = self.rt.config.region
        return "Cognito", cognito_issuer(region, f"{region}_truthloop")

    def metadata(self, worker_id: str) -> dict[str, Any]:
        """``workerMetadata`` for a private-workforce answer."""
        worker = self.get(worker_id)
        kind, issuer = self._identity_provider()
        return {
            "identityData": {
                "identityProviderType": kind,
                "issuer": issuer,
                "sub": worker.sub if worker is not None else worker_id,
            }
        }
