"""Build the ``truthloop`` Lambda layer locally, without Docker, and cache it by a hash of its inputs.

The layer holds the installed ``truthloop`` package (the directory it is imported from) and its runtime
dependencies (the distribution's requirements plus its ``lambda`` extra, read from the installed metadata),
pip-installed for the Lambda platform: CPython 3.12 on arm64 (Amazon Linux 2023, glibc 2.34). An optional
constraints file pins every version; the repository's app passes ``constraints.txt``, so the layer ships exactly
the versions the test suite runs against.

Two cache levels live under the build root (``$TRUTHLOOP_LAYER_BUILD_DIR``, else ``~/.cache/truthloop/layer-build``;
the repository's app uses ``infra/.layer-build/``):

* ``deps-<hash>/``: the pip install. The hash covers the requirement list, the constraints, the target
  platform and this builder's version. Rebuilt only when one of those changes (this is the only step that
  needs PyPI).
* ``layer-<hash>/python/``: the asset CDK uploads, the dependencies plus a copy of the package. The hash
  adds the content of every file in the package. Rebuilt (hard links, well under a second) when the code
  changes.

So a warm cache makes synth work offline, and a fresh machine downloads about 45 MB of wheels once.

Packages the Lambda Python runtime already provides (boto3, botocore, s3transfer) are pruned after the
install: ``aws-xray-sdk`` pulls in botocore, which would add about 90 MB to the layer.

Command line (``make layer``)::

    python -m truthloop.cdk.layer_build --constraints constraints.txt   # build (or reuse); print its directory
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DEFAULT_EXTRAS",
    "LAMBDA_PLATFORMS",
    "LAMBDA_PYTHON_VERSION",
    "RUNTIME_PROVIDED",
    "LayerBuild",
    "LayerBuildError",
    "build_layer",
    "layer_requirements",
]

#: Environment variable naming the default build root.
BUILD_DIR_ENV = "TRUTHLOOP_LAYER_BUILD_DIR"

#: Bump when the build procedure changes in a way the input hash cannot see.
BUILDER_VERSION = "1"
LAMBDA_PYTHON_VERSION = "3.12"
#: manylinux2014 covers most wheels; numpy 2.4 ships aarch64 wheels only as manylinux_2_28, which the
#: python3.12 runtime (Amazon Linux 2023, glibc 2.34) supports.
LAMBDA_PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_28_aarch64")
#: Distributions the Lambda runtime already ships (urllib3 only arrives as a botocore dependency); removed
#: from the layer after the install so the runtime's botocore keeps the urllib3 it was built with.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "urllib3")
#: Layer directories kept besides the one just built (older ones are deleted).
KEEP_OLD_LAYERS = 2

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


class LayerBuildError(RuntimeError):
    """Raised when the layer cannot be built (pip failed, or PyPI is unreachable and nothing is cached)."""


@dataclass(frozen=True)
class LayerBuild:
    """A built layer: ``directory`` holds ``python/``; ``asset_hash`` identifies its content."""

    directory: Path
    asset_hash: str
    reused: bool
    seconds: float


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


#: The extras of the default layer; the truthloop service's functions add ``service`` (its ASGI adapter).
DEFAULT_EXTRAS = ("lambda",)


def default_build_root() -> Path:
    """``$TRUTHLOOP_LAYER_BUILD_DIR``, else ``$XDG_CACHE_HOME/truthloop/layer-build`` (``~/.cache`` by default)."""
    configured = os.environ.get(BUILD_DIR_ENV)
    if configured:
        return Path(configured)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "truthloop" / "layer-build"


def _installed_requirements(extras: Sequence[str]) -> list[str]:
    """The installed distribution's requirements without extras, plus those of ``extras``."""
    from importlib import metadata

    try:
        declared = metadata.requires("truthloop") or []
        provided = set(metadata.metadata("truthloop").get_all("Provides-Extra") or [])
    except metadata.PackageNotFoundError as exc:
        raise LayerBuildError(
            "the truthloop distribution is not installed (pip install 'truthloop[cdk]'), so the layer's "
            "dependencies are unknown"
        ) from exc
    unknown = [extra for extra in extras if extra not in provided]
    if unknown:
        raise LayerBuildError(f"the installed truthloop defines no extra(s) {', '.join(unknown)} for the layer")
    wanted = {f'extra == "{extra}"' for extra in extras}
    kept = []
    for entry in declared:
        requirement, _, marker = entry.partition(";")
        marker = re.sub(r"\s+", " ", marker.replace("'", '"')).strip()
        if not marker or marker in wanted:
            kept.append(requirement.strip())
    return kept


def layer_requirements(pyproject: Path | None = None, *, extras: Sequence[str] = DEFAULT_EXTRAS) -> list[str]:
    """The requirement strings installed into the layer: runtime dependencies + the ``extras`` (default ``lambda``).

    Read from ``pyproject`` when given, else from the installed ``truthloop`` distribution's metadata. Requirements
    on the runtime-provided SDK (boto3, botocore) are left out. Raises :class:`LayerBuildError` naming an extra the
    project does not define.
    """
    if pyproject is None:
        requirements = _installed_requirements(extras)
    else:
        project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
        optional = project.get("optional-dependencies", {})
        unknown = [extra for extra in extras if extra not in optional]
        if unknown:
            raise LayerBuildError(f"{pyproject} defines no extra(s) {', '.join(unknown)} for the layer")
        requirements = [*project.get("dependencies", [])]
        for extra in extras:
            requirements += optional[extra]
    provided = {_canonical(n) for n in RUNTIME_PROVIDED}
    kept = []
    for requirement in requirements:
        match = _NAME.match(requirement)
        if match and _canonical(match.group(1)) in provided:
            continue
        kept.append(requirement)
    return sorted(set(kept))


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


def _deps_key(requirements: Sequence[str], constraints: Path | None) -> str:
    spec = {
        "builder": BUILDER_VERSION,
        "requirements": list(requirements),
        "python": LAMBDA_PYTHON_VERSION,
        "platforms": list(LAMBDA_PLATFORMS),
        "pruned": list(RUNTIME_PROVIDED),
    }
    constraints_text = constraints.read_bytes() if constraints is not None and constraints.exists() else b""
    return _digest(json.dumps(spec, sort_keys=True).encode(), constraints_text)


def _package_files(package_dir: Path) -> list[Path]:
    return sorted(
        p
        for p in package_dir.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in {".pyc", ".pyo"}
    )


def _package_key(package_dir: Path) -> str:
    parts: list[bytes] = []
    for path in _package_files(package_dir):
        parts.append(path.relative_to(package_dir).as_posix().encode())
        parts.append(path.read_bytes())
    return _digest(*parts)


@contextlib.contextmanager
def _locked(build_root: Path) -> Iterator[None]:
    """Serialise builds between processes (parallel test workers, a synth next to `make layer`)."""
    build_root.mkdir(parents=True, exist_ok=True)
    with (build_root / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def _staging(build_root: Path, prefix: str, final: Path) -> Iterator[Path]:
    """A scratch directory renamed to ``final`` when the block succeeds, and removed when it fails."""
    tmp = Path(tempfile.mkdtemp(dir=build_root, prefix=prefix))
    try:
        yield tmp
        os.rename(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _pip_install(requirements: Sequence[str], constraints: Path | None, target: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",
        "--target",
        str(target),
        "--python-version",
        LAMBDA_PYTHON_VERSION,
        "--implementation",
        "cp",
        "--only-binary=:all:",
        *(arg for platform in LAMBDA_PLATFORMS for arg in ("--platform", platform)),
    ]
    if constraints is not None:
        command += ["--constraint", str(constraints)]
    command += list(requirements)
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise LayerBuildError(
            "pip could not build the Lambda layer (is PyPI reachable? the layer cache "
            f"{target.parent} has no build for these inputs yet):\n$ {' '.join(command)}\n{result.stderr.strip()}"
        )


def _prune(target: Path) -> None:
    provided = {_canonical(n) for n in RUNTIME_PROVIDED}
    for entry in list(target.iterdir()):
        stem = entry.name.split("-")[0] if entry.name.endswith(".dist-info") else entry.name
        if _canonical(stem) in provided:
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    for cache in list(target.rglob("__pycache__")):
        shutil.rmtree(cache, ignore_errors=True)
    bin_dir = target / "bin"  # console scripts are useless in a layer
    if bin_dir.is_dir():
        shutil.rmtree(bin_dir)


def _link_tree(source: Path, destination: Path) -> None:
    def link(src: str, dst: str) -> object:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)
        return dst

    shutil.copytree(source, destination, copy_function=link, symlinks=True)


def _remove_stale(build_root: Path, prefix: str, keep: Path) -> None:
    candidates = sorted(
        (p for p in build_root.glob(f"{prefix}-*") if p.is_dir() and p != keep),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for stale in candidates[KEEP_OLD_LAYERS:]:
        shutil.rmtree(stale, ignore_errors=True)


def build_layer(
    *,
    build_root: Path | None = None,
    package_dir: Path | None = None,
    constraints: Path | None = None,
    requirements: Sequence[str] | None = None,
    extras: Sequence[str] = DEFAULT_EXTRAS,
) -> LayerBuild:
    """Build (or reuse) the layer asset directory and return where it is.

    ``package_dir`` defaults to the imported ``truthloop`` package, ``requirements`` to :func:`layer_requirements`
    (installed metadata, with ``extras``), ``build_root`` to :func:`default_build_root`; ``constraints`` is an
    optional pip constraints file. The returned ``directory`` contains ``python/`` (the layout Lambda layers expect
    for Python), and ``asset_hash`` is a stable content hash suitable for ``Code.from_asset(asset_hash=...)``.
    """
    started = time.perf_counter()
    build_root = build_root or default_build_root()
    package_dir = package_dir or Path(__file__).resolve().parent.parent
    if not (package_dir / "__init__.py").is_file():
        raise LayerBuildError(f"{package_dir} is not the truthloop package (no __init__.py)")
    if constraints is not None and not constraints.is_file():
        raise LayerBuildError(f"constraints file {constraints} does not exist")
    requirements = list(requirements) if requirements is not None else layer_requirements(extras=extras)
    deps_key = _deps_key(requirements, constraints)
    layer_key = _digest(deps_key.encode(), _package_key(package_dir).encode())
    deps_dir = build_root / f"deps-{deps_key[:20]}"
    layer_dir = build_root / f"layer-{layer_key[:20]}"
    if (layer_dir / ".complete").exists():
        return LayerBuild(layer_dir, layer_key, True, time.perf_counter() - started)

    with _locked(build_root):
        if (layer_dir / ".complete").exists():  # built by another process while we waited
            return LayerBuild(layer_dir, layer_key, True, time.perf_counter() - started)
        if not (deps_dir / ".complete").exists():
            shutil.rmtree(deps_dir, ignore_errors=True)
            with _staging(build_root, ".deps-", deps_dir) as tmp:
                _pip_install(requirements, constraints, tmp / "python")
                _prune(tmp / "python")
                (tmp / "requirements.json").write_text(json.dumps(requirements, indent=2) + "\n")
            (deps_dir / ".complete").touch()
            _remove_stale(build_root, "deps", deps_dir)

        shutil.rmtree(layer_dir, ignore_errors=True)
        with _staging(build_root, ".layer-", layer_dir) as tmp:
            _link_tree(deps_dir / "python", tmp / "python")
            shutil.copytree(
                package_dir, tmp / "python" / "truthloop", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
        (layer_dir / ".complete").touch()
        _remove_stale(build_root, "layer", layer_dir)
    return LayerBuild(layer_dir, layer_key, False, time.perf_counter() - started)


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m truthloop.cdk.layer_build", description=__doc__.split("\n\n")[0])
    parser.add_argument("--build-root", type=Path, default=None, help="default: %(default)s → the user cache")
    parser.add_argument("--constraints", type=Path, default=None, help="a pip constraints file (e.g. constraints.txt)")
    args = parser.parse_args(argv)
    try:
        build = build_layer(build_root=args.build_root, constraints=args.constraints)
    except LayerBuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    state = "reused" if build.reused else "built"
    print(f"{state} {build.directory} in {build.seconds:.1f}s (asset hash {build.asset_hash[:12]})", file=sys.stderr)
    print(build.directory)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
