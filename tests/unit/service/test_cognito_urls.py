"""Cognito URLs are built for the region's partition: ``amazonaws.com.cn`` in China, ``amazonaws.com`` elsewhere.

The portal's token verifier (its expected ``iss`` and the JWKS it fetches) and the local backend's worker metadata
(``identityData.issuer`` in A2I and Ground Truth output) both name the user pool by its issuer URL.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from truthloop.local.config import BackendConfig
from truthloop.local.events import EventBus
from truthloop.local.lambdas import LambdaRegistry
from truthloop.local.runtime import Runtime
from truthloop.local.storage import SQLiteStorage
from truthloop.local.workforce import WorkerDirectory
from truthloop.service.identity import CognitoSignIn

PARTITION_REGIONS = [
    ("us-east-1", "amazonaws.com"),
    ("cn-north-1", "amazonaws.com.cn"),
    ("us-gov-west-1", "amazonaws.com"),
]


@pytest.mark.parametrize(("region", "suffix"), PARTITION_REGIONS)
def test_the_portal_verifies_tokens_of_the_regions_partition(region: str, suffix: str) -> None:
    # WHEN the portal's sign-in is made for a pool of the region (no JWKS URL given, as on AWS)
    sign_in = CognitoSignIn.for_pool(
        region=region, user_pool_id=f"{region}_Pool", client_id="client", auth_url=""
    )
    # THEN it expects the partition's issuer and fetches the pool's keys from under it
    issuer = f"https://cognito-idp.{region}.{suffix}/{region}_Pool"
    assert sign_in.verifier.issuer == issuer
    assert sign_in.verifier.jwks_url == f"{issuer}/.well-known/jwks.json"


@pytest.mark.parametrize(("region", "suffix"), PARTITION_REGIONS)
def test_worker_metadata_names_the_issuer_of_the_regions_partition(tmp_path: Path, region: str, suffix: str) -> None:
    # GIVEN the local backend's worker directory in the region (no workforce made: the default pool)
    storage = SQLiteStorage(tmp_path / "truthloop.db")
    config = BackendConfig(region=region)
    runtime = Runtime(
        config=config,
        storage=storage,
        s3_url="",
        s3_client_factory=lambda: None,
        lambdas=LambdaRegistry({}, s3_client_factory=lambda: None),
        events=EventBus(storage, account_id=config.account_id, region=region, clock=lambda: 0.0),
        base_url="http://127.0.0.1:1",
        secret=b"s" * 32,
    )
    try:
        # WHEN a worker's answer metadata is made
        worker, _ = WorkerDirectory(runtime).issue("w1")
        identity = WorkerDirectory(runtime).metadata(worker.id)["identityData"]
    finally:
        storage.close()
    # THEN its issuer is the user pool's URL in the region's partition
    assert identity["identityProviderType"] == "Cognito"
    assert identity["issuer"] == f"https://cognito-idp.{region}.{suffix}/{region}_truthloop"
