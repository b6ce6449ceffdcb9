"""``AddTags``, ``ListTags`` and ``DeleteTags`` on every resource family the emulator serves.

Tags are kept in the resource's document (``doc["Tags"]``, AWS's ``[{Key, Value}]`` list): tags given at create
time are stored there too, so ``ListTags`` returns them. As on AWS, ``AddTags`` overwrites the value of a key that
is already there, ``DeleteTags`` of a key that is not there is no error, and a resource holds at most 50 tags.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from truthloop.local.errors import validation
from truthloop.local.resources import KINDS, Kind
from truthloop.local.runtime import Runtime, decode_token, encode_token, fingerprint
from truthloop.local.storage import Resource

__all__ = ["MAX_TAGS", "TagService", "merge_tags"]

#: AWS's limit of user tags per SageMaker resource (the model's ``TagList`` max)
MAX_TAGS = 50
#: ListTags' page size when MaxResults is absent (the model's minimum, so one page holds every tag)
_DEFAULT_PAGE = 50


def merge_tags(current: Iterable[Mapping[str, Any]], added: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``current`` with ``added`` applied: a key already present keeps its place and takes the new value."""
    merged: dict[str, str] = {}
    for tag in [*current, *added]:
        merged[str(tag["Key"])] = str(tag.get("Value", ""))
    return [{"Key": key, "Value": value} for key, value in merged.items()]


class TagService:
    """The tag operations, resolving a resource ARN to its document."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    @property
    def operations(self) -> dict[str, Any]:
        return {"AddTags": self.add_tags, "ListTags": self.list_tags, "DeleteTags": self.delete_tags}

    def _resolve(self, arn: str) -> tuple[Kind, Resource]:
        base = f"arn:aws:sagemaker:{self.rt.config.region}:{self.rt.config.account_id}:"
        if arn.startswith(base):
            rest = arn[len(base) :]
            for kind in KINDS.values():
                if rest.startswith(kind.arn_prefix):
                    resource = self.rt.storage.get_resource(kind.kind, rest[len(kind.arn_prefix) :])
                    if resource is not None and resource.doc.get(kind.arn_field) == arn:
                        return kind, resource
                    break
            else:
                served = ", ".join(k.kind for k in KINDS.values())
                raise validation(
                    f"Resource {arn} cannot be tagged locally: the local backend serves these resource types: {served}."
                )
        raise validation(f"Resource {arn} does not exist.")

    def add_tags(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = params["ResourceArn"]
        kind, resource = self._resolve(arn)
        tags = merge_tags(resource.doc.get("Tags", []), params["Tags"])
        if len(tags) > MAX_TAGS:
            raise validation(
                f"Resource {arn} would have {len(tags)} tags; a SageMaker resource can have at most {MAX_TAGS}."
            )
        doc = {**resource.doc, "Tags": tags}
        self.rt.storage.update_resource(kind.kind, resource.name, now=resource.modified, doc=doc)
        return {"Tags": tags}

    def list_tags(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = params["ResourceArn"]
        _, resource = self._resolve(arn)
        tags: list[dict[str, Any]] = list(resource.doc.get("Tags", []))
        key = fingerprint("ListTags", arn)
        start = int(decode_token(params.get("NextToken"), key) or 0)
        limit = int(params.get("MaxResults") or _DEFAULT_PAGE)
        out: dict[str, Any] = {"Tags": tags[start : start + limit]}
        if start + limit < len(tags):
            out["NextToken"] = encode_token(str(start + limit), key)
        return out

    def delete_tags(self, params: dict[str, Any]) -> dict[str, Any]:
        kind, resource = self._resolve(params["ResourceArn"])
        drop = set(params["TagKeys"])
        tags = [tag for tag in resource.doc.get("Tags", []) if tag["Key"] not in drop]
        doc = {**resource.doc, "Tags": tags}
        self.rt.storage.update_resource(kind.kind, resource.name, now=resource.modified, doc=doc)
        return {}
