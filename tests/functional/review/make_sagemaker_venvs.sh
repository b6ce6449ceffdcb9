#!/usr/bin/env bash
# Build the two throwaway environments test_sagemaker_sdk.py uses: the SageMaker Python SDK V3 (sagemaker-core)
# and V2 (sagemaker<3). They cannot live in the project venv: sagemaker-core pins rich<15 (the project has 15) and
# pulls pandas+scipy, and V2 and V3 both own the `sagemaker` package.
set -euo pipefail
ROOT="${TRUTHLOOP_SAGEMAKER_VENVS:-/tmp/truthloop-sagemaker}"
PYTHON="${PYTHON:-python3.11}"
mkdir -p "$ROOT"
[ -x "$ROOT/v3/bin/python" ] || { "$PYTHON" -m venv "$ROOT/v3" && "$ROOT/v3/bin/pip" install -q "sagemaker-core==${SAGEMAKER_CORE_VERSION:-2.27.0}"; }
[ -x "$ROOT/v2/bin/python" ] || { "$PYTHON" -m venv "$ROOT/v2" && "$ROOT/v2/bin/pip" install -q "sagemaker==${SAGEMAKER_V2_VERSION:-2.257.7}"; }
echo "SageMaker SDK environments ready under $ROOT"
