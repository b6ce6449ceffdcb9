"""`make synth`: the real CDK CLI (node_modules) runs infra/app.py with the real layer and cdk-nag."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("make") is None or shutil.which("node") is None, reason="needs make and node")
def test_make_synth_produces_the_three_stacks() -> None:
    # GIVEN a clean assembly directory
    shutil.rmtree(ROOT / "cdk.out", ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    # WHEN `make synth` runs
    started = time.perf_counter()
    result = subprocess.run(["make", "synth"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    seconds = time.perf_counter() - started
    # THEN it succeeds (cdk-nag found nothing) and writes the three templates
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    manifest = json.loads((ROOT / "cdk.out" / "manifest.json").read_text())
    stacks = sorted(k for k, v in manifest["artifacts"].items() if v["type"] == "aws:cloudformation:stack")
    assert stacks == ["TruthloopLabeling", "TruthloopReview", "TruthloopWorkforce"]
    layers = [
        r
        for name in stacks
        for r in json.loads((ROOT / "cdk.out" / f"{name}.template.json").read_text())["Resources"].values()
        if r["Type"] == "AWS::Lambda::LayerVersion"
    ]
    assert layers and all(r["Properties"]["CompatibleArchitectures"] == ["arm64"] for r in layers)
    print(f"make synth: {seconds:.1f} s")  # shown with -s; the benchmark of record is docs/deploy.md's timing
