"""The ``truthloop`` Lambda layer (the package and its runtime dependencies, python3.12 on arm64)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from constructs import Construct, IConstruct

from truthloop.cdk._common import ARCHITECTURE, PYTHON_RUNTIME, ConstructPropsError

__all__ = ["LAYER_BUILD_ROOT_CONTEXT", "LAYER_CONSTRAINTS_CONTEXT", "LAYER_DIR_CONTEXT", "TruthloopLayer"]

#: Context key naming a ready-made layer directory (it must contain ``python/``). Without it the layer is built
#: by :func:`truthloop.cdk.layer_build.build_layer`. Tests point it at a tiny stub.
LAYER_DIR_CONTEXT = "truthloop:layerDir"
#: Context keys for the build: its cache directory (default: the user cache) and a pip constraints file.
LAYER_BUILD_ROOT_CONTEXT = "truthloop:layerBuildRoot"
LAYER_CONSTRAINTS_CONTEXT = "truthloop:layerConstraints"


class TruthloopLayer(Construct):
    """A ``LayerVersion`` holding ``truthloop`` and its runtime dependencies (plus the ``extras`` of pyproject.toml).

    ``asset_dir`` (or the ``truthloop:layerDir`` context value) uses a prepared directory as-is; otherwise the
    layer is built locally with pip for the Lambda platform and cached by a hash of its inputs. Use
    :meth:`of` to share one layer between the functions of a stack.
    """

    def __init__(
        self, scope: Construct, id: str, *, asset_dir: str | Path | None = None, extras: Sequence[str] = ("lambda",)
    ) -> None:
        super().__init__(scope, id)
        self.extras = tuple(extras)
        configured = asset_dir or self.node.try_get_context(LAYER_DIR_CONTEXT)
        if configured:
            directory = Path(str(configured)).resolve()
            if not (directory / "python").is_dir():
                raise ConstructPropsError(self.node.path, [f"layer directory {directory} has no python/ sub-directory"])
            code = lambda_.Code.from_asset(str(directory))
            self.asset_hash: str | None = None
        else:
            from truthloop.cdk.layer_build import LayerBuildError, build_layer

            root = self.node.try_get_context(LAYER_BUILD_ROOT_CONTEXT)
            constraints = self.node.try_get_context(LAYER_CONSTRAINTS_CONTEXT)
            try:
                build = build_layer(
                    build_root=Path(str(root)) if root else None,
                    constraints=Path(str(constraints)) if constraints else None,
                    extras=self.extras,
                )
            except LayerBuildError as exc:
                raise ConstructPropsError(self.node.path, [str(exc)]) from exc
            directory = build.directory
            self.asset_hash = build.asset_hash
            code = lambda_.Code.from_asset(
                str(directory), asset_hash=build.asset_hash, asset_hash_type=cdk.AssetHashType.CUSTOM
            )
        self.directory = directory
        self.layer_version = lambda_.LayerVersion(
            self,
            "Layer",
            code=code,
            compatible_runtimes=[PYTHON_RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description="truthloop package and its runtime dependencies (numpy, python-liquid, powertools)",
            # Functions keep working on a deleted layer version, so old versions need not pile up.
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )

    @staticmethod
    def of(scope: IConstruct, *, extras: Sequence[str] = ("lambda",)) -> lambda_.ILayerVersion:
        """The stack-wide layer with ``extras`` (created on first use; one per set of extras)."""
        stack = cdk.Stack.of(scope)
        id = "TruthloopLayer" + "".join(e.capitalize() for e in extras if e != "lambda")
        existing = stack.node.try_find_child(id)
        if isinstance(existing, TruthloopLayer):
            return existing.layer_version
        return TruthloopLayer(stack, id, extras=extras).layer_version
