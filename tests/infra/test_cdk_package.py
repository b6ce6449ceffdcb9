"""truthloop.cdk as a library: the docs' own-app example, synthesized from a built wheel outside the repository.

The wheel is built from this checkout and installed without ``-e`` into a directory of its own, which the app's
interpreter puts first on its path (the other dependencies, aws-cdk-lib and cdk-nag, come from the test
environment). The app runs in a fresh directory; the Lambda code and templates it synthesizes must come from the
installed package, never from the checkout.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "deploy.md"


def _docs_app() -> str:
    (source,) = [b for b in re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S) if "truthloop.cdk" in b]
    return source


def _run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600, **kwargs)  # type: ignore[call-overload]
    assert result.returncode == 0, f"$ {' '.join(command)}\n{result.stdout}\n{result.stderr}"
    return result  # type: ignore[no-any-return]


@pytest.mark.slow
def test_the_docs_app_synthesizes_from_an_installed_wheel(tmp_path: Path) -> None:
    # GIVEN a wheel of this checkout, installed (not editable) into a directory outside the repository
    wheels = tmp_path / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(wheels), str(ROOT)])
    (wheel,) = wheels.glob("truthloop-*.whl")
    site = tmp_path / "site"
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-compile",
            "--quiet",
            "--target",
            str(site),
            str(wheel),
        ]
    )
    # AND the app of docs/deploy.md in a fresh directory, with a ready-made layer (a test does not pip for arm64)
    app_dir = tmp_path / "my-app"
    app_dir.mkdir()
    (app_dir / "app.py").write_text(_docs_app())
    layer = tmp_path / "layer"
    (layer / "python").mkdir(parents=True)
    (layer / "python" / "placeholder.py").write_text("")
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "CDK_CONTEXT_JSON", "CDK_OUTDIR"}}
    env.update(
        PYTHONPATH=str(site),
        CDK_OUTDIR=str(app_dir / "cdk.out"),
        CDK_CONTEXT_JSON=json.dumps({"truthloop:layerDir": str(layer)}),
        JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="18,20",
    )
    probe = _run([sys.executable, "-c", "import truthloop.cdk as c; print(c.__file__)"], cwd=app_dir, env=env)
    assert Path(probe.stdout.strip()).is_relative_to(site), "the app must import the installed package"
    # WHEN the app is synthesized there (cdk-nag runs on the way and fails the synth on any finding)
    _run([sys.executable, "app.py"], cwd=app_dir, env=env)
    # THEN the stack is there, with the Lambda handlers and the review template taken from the installed package
    out = app_dir / "cdk.out"
    template = json.loads((out / "MyLabeling.template.json").read_text())
    kinds = {r["Type"] for r in template["Resources"].values()}
    assert {"AWS::Lambda::Function", "AWS::SageMaker::HumanTaskUi", "Custom::TruthloopFlowDefinition"} <= kinds
    handlers = {
        r["Properties"]["Handler"] for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"
    }
    assert {"labeling_launcher.handler.lambda_handler", "review_router.handler.handler"} <= handlers
    staged = list(out.glob("asset.*/labeling_launcher/handler.py"))
    assert staged, "the launcher's code asset is missing"
    assets = json.loads((out / "MyLabeling.assets.json").read_text())
    assert str(ROOT) not in json.dumps(assets) and str(ROOT) not in json.dumps(template)
