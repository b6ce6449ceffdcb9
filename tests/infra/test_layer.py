"""The Lambda layer build (truthloop.cdk.layer_build): inputs, cache behaviour, one real build for the platform."""

from __future__ import annotations

import shutil
import struct
import time
from pathlib import Path
from typing import Any

import pytest

from truthloop.cdk import layer_build as layer
from truthloop.cdk.layer_build import LAMBDA_PLATFORMS, RUNTIME_PROVIDED, build_layer, layer_requirements

ROOT = Path(__file__).resolve().parents[2]
EM_AARCH64 = 183  # ELF e_machine of arm64


def _repo(tmp_path: Path) -> Path:
    """A minimal repository: pyproject, constraints and a small truthloop package."""
    repo = tmp_path / "repo"
    (repo / "sdk" / "truthloop").mkdir(parents=True)
    shutil.copy(ROOT / "pyproject.toml", repo / "pyproject.toml")
    shutil.copy(ROOT / "constraints.txt", repo / "constraints.txt")
    (repo / "sdk" / "truthloop" / "__init__.py").write_text('"""stub"""\n')
    (repo / "sdk" / "truthloop" / "naming.py").write_text("X = 1\n")
    return repo


def _inputs(repo: Path) -> dict[str, Any]:
    """The build inputs of a minimal repository (its package, constraints and pyproject requirements)."""
    return {
        "package_dir": repo / "sdk" / "truthloop",
        "constraints": repo / "constraints.txt",
        "requirements": layer_requirements(repo / "pyproject.toml"),
    }


def _prebuilt_deps(repo: Path, build_root: Path) -> Path:
    """Pretend the pip step already ran for this repo's inputs (so the cache logic runs without PyPI)."""
    key = layer._deps_key(layer_requirements(repo / "pyproject.toml"), repo / "constraints.txt")
    deps = build_root / f"deps-{key[:20]}"
    (deps / "python" / "somedep").mkdir(parents=True)
    (deps / "python" / "somedep" / "__init__.py").write_text("")
    (deps / ".complete").touch()
    return deps


@pytest.mark.parametrize("source", ["installed metadata", "pyproject.toml"])
def test_requirements_are_the_runtime_dependencies_without_the_sdk(source: str) -> None:
    # GIVEN the requirements as an installed truthloop reports them, or as the checkout declares them
    requirements = (
        layer_requirements() if source == "installed metadata" else layer_requirements(ROOT / "pyproject.toml")
    )
    names = {r.split(">")[0].split("=")[0].split("[")[0].split("<")[0].strip().lower() for r in requirements}
    assert {"numpy", "python-liquid", "aws-lambda-powertools"} <= names
    assert not names & {"boto3", "botocore"}
    assert "manylinux2014_aarch64" in LAMBDA_PLATFORMS and "boto3" in RUNTIME_PROVIDED


def test_cache_reuses_and_rebuilds_on_change(tmp_path: Path) -> None:
    # GIVEN a repository whose dependency step is cached
    repo, build_root = _repo(tmp_path), tmp_path / "build"
    _prebuilt_deps(repo, build_root)
    # WHEN the layer is built twice
    first = build_layer(build_root=build_root, **_inputs(repo))
    second = build_layer(build_root=build_root, **_inputs(repo))
    # THEN the second build is the first one, reused
    assert (first.reused, second.reused) == (False, True)
    assert second.directory == first.directory and second.asset_hash == first.asset_hash
    assert (first.directory / "python" / "truthloop" / "naming.py").read_text() == "X = 1\n"
    assert (first.directory / "python" / "somedep" / "__init__.py").is_file()
    # WHEN the package changes
    (repo / "sdk" / "truthloop" / "naming.py").write_text("X = 2\n")
    third = build_layer(build_root=build_root, **_inputs(repo))
    # THEN a new layer with a new hash holds the new code
    assert not third.reused and third.asset_hash != first.asset_hash
    assert (third.directory / "python" / "truthloop" / "naming.py").read_text() == "X = 2\n"


def test_changed_constraints_need_pip_and_a_failure_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN cached dependencies for the old constraints, then a constraints change
    repo, build_root = _repo(tmp_path), tmp_path / "build"
    _prebuilt_deps(repo, build_root)
    (repo / "constraints.txt").write_text((repo / "constraints.txt").read_text() + "# changed\n")
    # AND pip without any package index (as on a machine without network)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    # WHEN the layer is built
    with pytest.raises(layer.LayerBuildError) as caught:
        build_layer(build_root=build_root, **_inputs(repo))
    # THEN the error explains it and shows pip's own message; no half-built layer is left behind
    assert "is PyPI reachable?" in str(caught.value)
    assert "No matching distribution" in str(caught.value) or "ERROR" in str(caught.value)
    assert not list(build_root.glob("layer-*")) and not list(build_root.glob(".deps-*"))


def test_old_layers_are_pruned(tmp_path: Path) -> None:
    repo, build_root = _repo(tmp_path), tmp_path / "build"
    _prebuilt_deps(repo, build_root)
    for version in range(5):
        (repo / "sdk" / "truthloop" / "naming.py").write_text(f"X = {version}\n")
        build_layer(build_root=build_root, **_inputs(repo))
        time.sleep(0.01)
    assert len(list(build_root.glob("layer-*"))) == 1 + layer.KEEP_OLD_LAYERS


@pytest.mark.slow
def test_real_build_targets_lambda_python312_arm64(tmp_path: Path) -> None:
    # GIVEN an empty cache: pip installs the real dependencies for the Lambda platform (PyPI or pip's cache)
    build = build_layer(build_root=tmp_path / "build", constraints=ROOT / "constraints.txt")
    python = build.directory / "python"
    # THEN the layer holds truthloop and its runtime dependencies, built for CPython 3.12 on arm64
    for package in ("truthloop", "numpy", "liquid", "aws_lambda_powertools", "aws_xray_sdk"):
        assert (python / package).is_dir(), package
    assert not (python / "botocore").exists() and not (python / "boto3").exists()
    extensions = list((python / "numpy").rglob("*.so"))
    assert extensions and all(
        "cpython-312-aarch64-linux-gnu" in so.name or so.parent.name == "numpy.libs"
        for so in extensions
        if so.name.startswith("_")
    )
    header = extensions[0].read_bytes()[:20]
    assert header[:4] == b"\x7fELF" and struct.unpack("<H", header[18:20])[0] == EM_AARCH64
    size = sum(p.stat().st_size for p in python.rglob("*") if p.is_file())
    assert size < 250 * 1024 * 1024, f"layer is {size / 1e6:.0f} MB; Lambda allows 250 MB unzipped"
    # AND a second build reuses it without pip
    again = build_layer(build_root=tmp_path / "build", constraints=ROOT / "constraints.txt")
    assert again.reused and again.directory == build.directory


def test_extras_add_their_requirements_and_an_unknown_extra_is_named(tmp_path: Path) -> None:
    # GIVEN a pyproject with a 'service' extra
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "x"\ndependencies = ["numpy>=1.26", "boto3>=1.35"]\n'
        '[project.optional-dependencies]\nlambda = ["aws-lambda-powertools>=3.0"]\n'
        'service = ["aws-lambda-powertools>=3.0", "mangum>=0.22"]\n'
    )
    # WHEN the requirements of the default and of the service layer are read
    default = layer_requirements(pyproject)
    service = layer_requirements(pyproject, extras=("lambda", "service"))
    # THEN the service layer adds its extra once, still without the runtime's SDK
    assert default == ["aws-lambda-powertools>=3.0", "numpy>=1.26"]
    assert service == ["aws-lambda-powertools>=3.0", "mangum>=0.22", "numpy>=1.26"]
    # AND an extra the project does not define is named
    with pytest.raises(layer.LayerBuildError, match="defines no extra\\(s\\) portal"):
        layer_requirements(pyproject, extras=("lambda", "portal"))
