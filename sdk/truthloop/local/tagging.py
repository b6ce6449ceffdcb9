"""``AddTags``, ``ListTags`` and ``DeleteTags`` on every resource family the emulator serves.

Tags given at create time are kept in the resource's document (``doc["Tags"]``, AWS's ``[{Key, Value}]`` list).
Once ``AddTags`` or ``DeleteTags`` changed them, they live in a document of their own (storage kind ``tags``, named
after the resource's ARN and creation time), so that an engine saving the resource's document (a running labeling
job saves its counters) never overwrites a tag change, and a tag change never overwrites the engine's document.
A resource created again under the same name has a new creation time, so it never inherits the old one's tags.

As on AWS, ``AddTags`` overwrites the value of a key that is already there, ``DeleteTags`` of a key that is not
there is no error, and a resource holds at most 50 tags.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from truthloop.arns import arn as make_arn
from truthloop.local.errors import validation
from truthloop.local.resources import KINDS, Kind
from truthloop.local.runtime import Runtime, decode_token, encode_token, fingerprint
from truthloop.local.storage import Resource

__all__ = ["MAX_TAGS", "TAGS_KIND", "TAG_OPERATIONS", "TagService", "merge_tags"]

#: AWS's limit of user tags per SageMaker resource (the model's ``TagList`` max)
MAX_TAGS = 50
#: the operations this module serves, and the method serving each
TAG_OPERATIONS = {"AddTags": "add_tags", "ListTags": "list_tags", "DeleteTags": "delete_tags"}
#: the storage kind of the tag documents
TAGS_KIND = "tags"
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
    def operations(self) -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
        return {operation: getattr(self, method) for operation, method in TAG_OPERATIONS.items()}

    def _resolve(self, arn: str) -> tuple[Kind, Resource]:
        base = make_arn("sagemaker", self.rt.config.region, self.rt.config.account_id, "")
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

    @staticmethod
    def _key(kind: Kind, resource: Resource) -> str:
        return f"{resource.doc[kind.arn_field]}#{resource.created!r}"

    def current(self, kind_name: str, resource: Resource) -> list[dict[str, Any]]:
        """The resource's tags now: its tag document once tags changed, else the tags it was created with."""
        stored = self.rt.storage.get_resource(TAGS_KIND, self._key(KINDS[kind_name], resource))
        tags = stored.doc["Tags"] if stored is not None else resource.doc.get("Tags", [])
        return [dict(tag) for tag in tags]

    def forget(self, kind_name: str, resource: Resource) -> None:
        """Drop the tag document of a resource being deleted."""
        self.rt.storage.delete_resource(TAGS_KIND, self._key(KINDS[kind_name], resource))

    def _store(self, kind: Kind, resource: Resource, tags: list[dict[str, Any]]) -> None:
        key, now = self._key(kind, resource), self.rt.now()
        if self.rt.storage.update_resource(TAGS_KIND, key, now=now, doc={"Tags": tags}) is not None:
            return
        document = Resource(kind=TAGS_KIND, name=key, status="Active", created=now, modified=now, doc={"Tags": tags})
        if not self.rt.storage.create_resource(document):  # created by a concurrent call in the meantime
            self.rt.storage.update_resource(TAGS_KIND, key, now=now, doc={"Tags": tags})

    def add_tags(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = params["ResourceArn"]
        kind, resource = self._resolve(arn)
        tags = merge_tags(self.current(kind.kind, resource), params["Tags"])
        if len(tags) > MAX_TAGS:
            raise validation(
                f"Resource {arn} would have {len(tags)} tags; a SageMaker resource can have at most {MAX_TAGS}."
            )
        self._store(kind, resource, tags)
        return {"Tags": tags}

    def list_tags(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = params["ResourceArn"]
        kind, resource = self._resolve(arn)
        tags = self.current(kind.kind, resource)
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
        self._store(kind, resource, [tag for tag in self.current(kind.kind, resource) if tag["Key"] not in drop])
        return {}
