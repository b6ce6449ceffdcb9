"""EndpointReviewer with the real SageMaker Python SDK (V3 ``sagemaker-core`` and V2 ``sagemaker<3``).

The SDKs cannot be installed in the project environment (sagemaker-core pins ``rich<15`` and pulls pandas and
scipy; V2 and V3 both own the ``sagemaker`` package), so each runs in its own environment built by
``make_sagemaker_venvs.sh`` (default ``/tmp/truthloop-sagemaker/{v3,v2}``; override with
``TRUTHLOOP_SAGEMAKER_V3_PYTHON`` / ``TRUTHLOOP_SAGEMAKER_V2_PYTHON``). ``sagemaker_sdk_check.py`` drives the real
``Endpoint.invoke`` / ``Predictor.predict`` against Stubber'd runtime and A2I clients there.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
VENVS = Path(os.environ.get("TRUTHLOOP_SAGEMAKER_VENVS", "/tmp/truthloop-sagemaker"))


def _python(flavour: str) -> Path | None:
    explicit = os.environ.get(f"TRUTHLOOP_SAGEMAKER_{flavour.upper()}_PYTHON")
    candidate = Path(explicit) if explicit else VENVS / flavour / "bin" / "python"
    return candidate if candidate.exists() else None


@pytest.mark.slow
@pytest.mark.parametrize(("flavour", "package"), [("v3", "sagemaker-core"), ("v2", "sagemaker")])
def test_endpoint_reviewer_with_the_real_sagemaker_sdk(flavour: str, package: str) -> None:
    # GIVEN an interpreter with the SDK installed
    python = _python(flavour)
    if python is None:
        message = f"no SageMaker SDK {flavour} environment; run {HERE / 'make_sagemaker_venvs.sh'}"
        if os.environ.get("TRUTHLOOP_REQUIRE_SAGEMAKER_SDKS") == "1":
            pytest.fail(message)  # `make test` builds them, so a missing one there is a failure
        pytest.skip(message)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "sdk"), "SAGEMAKER_SUPPRESS_V2_WARNING": "1"}
    # WHEN
    completed = subprocess.run(
        [str(python), str(HERE / "sagemaker_sdk_check.py"), flavour],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    # THEN
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["package"] == package
    assert result["confident"]["status"] == "not_routed"
    assert result["uncertain"] == {
        "status": "started",
        "labels": ["cat"],
        "confidences": [0.55],
        "body": [{"label": "cat", "score": 0.55}, {"label": "dog", "score": 0.45}],
        "input": {"image": "s3://pets/1.jpg"},
        "source": "sagemaker:invoke_endpoint",
    }
    retried = result["deserialized" if flavour == "v3" else "bytes"]
    assert retried["status"] == "already_started"
