"""Pre-annotation: build a task's ``taskInput`` from its manifest line (aws-contracts.md §1, docs/interfaces.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from truthloop.contracts import PreAnnotationEvent, PreAnnotationResponse
from truthloop.contracts._reader import Obj, as_list, as_mapping, as_number, as_str, child_path
from truthloop.exceptions import ContractError
from truthloop.labeling.order import display_order, display_order_of
from truthloop.labeling.task_types import TaskType, get_task_type

__all__ = ["MODEL_LABEL_KEY", "display_order", "find_prior_attribute", "pre_annotate"]

#: Manifest key holding a model's pre-label: ``{"label": …, "confidence": 0..1}`` or ``{"boxes": […], …}``.
MODEL_LABEL_KEY = "model-label"
DEFAULT_VERIFICATION_LABELS = ("good", "bad")
DEFAULT_DIMENSION = {"name": "overall", "allowTie": True}
_BOX_TYPES = {"groundtruth/object-detection"}


def find_prior_attribute(
    line: Mapping[str, Any], types: set[str] | frozenset[str] = frozenset(_BOX_TYPES)
) -> str | None:
    """The label attribute of the latest prior job on ``line`` whose metadata ``type`` is in ``types``."""
    found = None
    for key, value in line.items():
        if key.endswith("-metadata") and isinstance(value, Mapping):
            kind = str(value.get("type", "")).lower()
            attribute = key[: -len("-metadata")]
            if kind in types and attribute in line:
                found = attribute
    return found


def _labels(line: Mapping[str, Any], labels: Sequence[Any] | None, path: str) -> list[Any]:
    if "labels" in line:
        return as_list(line["labels"], child_path(path, "labels"))
    return list(labels) if labels is not None else []


def _prior_boxes(line: Mapping[str, Any], attribute: str, path: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The prior job's boxes as ``initial-value`` items, and its class names (from ``class-map``)."""
    value = Obj(line[attribute], child_path(path, attribute))
    meta = Obj(line.get(f"{attribute}-metadata", {}), child_path(path, f"{attribute}-metadata"))
    class_map = {
        str(k): as_str(v, child_path(meta.key_path("class-map"), k))
        for k, v in (meta.opt_mapping("class-map") or {}).items()
    }
    boxes = []
    for box in value.objs("annotations"):
        class_id = str(box.integer("class_id"))
        boxes.append(
            {
                "label": class_map.get(class_id, class_id),
                "left": box.number("left"),
                "top": box.number("top"),
                "width": box.number("width"),
                "height": box.number("height"),
            }
        )
    names = [class_map[k] for k in sorted(class_map, key=lambda k: int(k) if k.isdigit() else 0)]
    return boxes, names


def _model_label(line: Mapping[str, Any], path: str) -> tuple[dict[str, Any] | None, float | None]:
    raw = line.get(MODEL_LABEL_KEY)
    if raw is None:
        return None, None
    mpath = child_path(path, MODEL_LABEL_KEY)
    model = as_mapping(raw, mpath)
    confidence = None
    if model.get("confidence") is not None:
        confidence = as_number(model["confidence"], child_path(mpath, "confidence"))
        if not 0 <= confidence <= 1:
            raise ContractError(
                f"confidence must be between 0 and 1, got {confidence:g}", child_path(mpath, "confidence")
            )
    return model, confidence


def _initial_value(kind: str, model: Mapping[str, Any], path: str) -> Any:
    mpath = child_path(path, MODEL_LABEL_KEY)
    if kind == "class":
        return as_str(model.get("label"), child_path(mpath, "label"))
    if kind == "multilabel":
        value = model.get("labels", model.get("label"))
        items = [value] if isinstance(value, str) else as_list(value, child_path(mpath, "labels"))
        return [as_str(v, child_path(mpath, f"labels[{i}]")) for i, v in enumerate(items)]
    if kind == "boxes":
        boxes = []
        for box in Obj(model, mpath).objs("boxes", required=True):
            boxes.append(
                {
                    "label": as_str(box.raw("label"), box.key_path("label")),
                    **{k: box.number(k) for k in ("left", "top", "width", "height")},
                }
            )
        return boxes
    if kind == "entities":
        entities = []
        for ent in Obj(model, mpath).objs("entities", required=True):
            entities.append(
                {
                    "label": ent.string("label"),
                    "startOffset": ent.integer("startOffset"),
                    "endOffset": ent.integer("endOffset"),
                }
            )
        return entities
    return None


def _dimensions(line: Mapping[str, Any], path: str) -> list[dict[str, Any]]:
    raw = line.get("dimensions")
    if raw is None:
        return [dict(DEFAULT_DIMENSION)]
    out = []
    for i, item in enumerate(as_list(raw, child_path(path, "dimensions"))):
        ipath = child_path(child_path(path, "dimensions"), i)
        if isinstance(item, str):
            out.append({"name": item, "allowTie": True})
        else:
            o = Obj(item, ipath)
            allow = o.opt_bool("allowTie")
            out.append({"name": o.string("name"), "allowTie": True if allow is None else allow})
    if not out:
        raise ContractError("at least one ranking dimension is needed", child_path(path, "dimensions"))
    return out


def _build(task: TaskType, line: Mapping[str, Any], labels: Sequence[Any] | None, path: str) -> dict[str, Any]:
    source = line.get("source")
    source_ref = line.get("source-ref")
    if source is None and source_ref is None:
        raise ContractError("a manifest line needs source or source-ref", path)
    task_object = source if source is not None else as_str(source_ref, child_path(path, "source-ref"))
    kind = task.answer
    if kind in ("free-text",):
        question = line.get("question", "")
        return {"taskObject": task_object, "question": as_str(question, child_path(path, "question"))}
    if kind == "ranking":
        prompt = as_str(task_object, child_path(path, "source"))
        responses = [
            as_str(r, child_path(child_path(path, "responses"), i))
            for i, r in enumerate(as_list(line.get("responses"), child_path(path, "responses")))
        ]
        if len(responses) < 2:
            raise ContractError(
                f"a ranking task needs at least 2 responses, got {len(responses)}", child_path(path, "responses")
            )
        ids_raw = line.get("responseIds")
        ids = (
            [str(i) for i in as_list(ids_raw, child_path(path, "responseIds"))]
            if ids_raw is not None
            else [f"r{i + 1}" for i in range(len(responses))]
        )
        if len(ids) != len(responses):
            raise ContractError(
                f"{len(ids)} responseIds for {len(responses)} responses", child_path(path, "responseIds")
            )
        return {"prompt": prompt, "responses": responses, "responseIds": ids, "dimensions": _dimensions(line, path)}
    if kind == "pairwise":
        prompt = as_str(task_object, child_path(path, "source"))
        a = as_str(line.get("responseA"), child_path(path, "responseA"))
        b = as_str(line.get("responseB"), child_path(path, "responseB"))
        out: dict[str, Any] = {"prompt": prompt, "responseA": a, "responseB": b}
        for key in ("modelA", "modelB"):
            if line.get(key) is not None:
                out[key] = as_str(line[key], child_path(path, key))
        # a function of the data object alone, so the post-annotation Lambda can recompute it (labeling/order.py)
        out["displayOrder"] = display_order_of(line) or display_order(prompt)
        return out
    task_input: dict[str, Any] = {"taskObject": task_object}
    if kind == "verification":
        prior = find_prior_attribute(line)
        if prior is None:
            raise ContractError(
                "no prior bounding-box job on this line (no <attr>-metadata of type object-detection)", path
            )
        task_input["labels"] = _labels(line, labels, path) or list(DEFAULT_VERIFICATION_LABELS)
        task_input["manifestLine"] = dict(line)
        task_input["priorAttribute"] = prior
        return task_input
    names = _labels(line, labels, path)
    if task.id == "bounding-box-adjustment":
        prior = find_prior_attribute(line)
        if prior is None:
            raise ContractError(
                "no prior bounding-box job on this line (no <attr>-metadata of type object-detection)", path
            )
        boxes, prior_names = _prior_boxes(line, prior, path)
        task_input["labels"] = names or prior_names
        task_input["initialValue"] = boxes
        task_input["priorAttribute"] = prior
        return task_input
    if kind == "entities":
        task_input["labels"] = [
            dict(as_mapping(item, child_path(child_path(path, "labels"), i)))
            if not isinstance(item, str)
            else {"label": item}
            for i, item in enumerate(names)
        ]
        return task_input
    task_input["labels"] = [str(n) if not isinstance(n, Mapping) else n.get("label") for n in names]
    return task_input


def pre_annotate(
    event: Mapping[str, Any],
    *,
    task_type: str | TaskType,
    auto_accept_threshold: float | None = None,
    labels: Sequence[Any] | None = None,
) -> dict[str, Any]:
    """The pre-annotation Lambda's answer for one GT event: ``{"taskInput": …, "isHumanAnnotationRequired": …}``.

    ``taskInput`` follows docs/interfaces.md for ``task_type``. Labels come from the line's ``labels`` key, else
    from ``labels``. A model pre-label on the line (``"model-label"``) becomes ``initialValue``; when its
    ``confidence`` is at least ``auto_accept_threshold`` the object skips human annotation
    (``isHumanAnnotationRequired: false``). Raises :class:`ContractError` naming the JSON path on a bad event.
    """
    task = get_task_type(task_type)
    if auto_accept_threshold is not None and not 0 <= auto_accept_threshold <= 1:
        raise ContractError(f"auto_accept_threshold must be between 0 and 1, got {auto_accept_threshold}")
    parsed = PreAnnotationEvent.parse(event)
    path = "$.dataObject"
    line = parsed.data_object
    task_input = _build(task, line, labels, path)
    model, confidence = _model_label(line, path)
    required = True
    if model is not None:
        initial = _initial_value(task.answer, model, path)
        if initial is not None and task.id != "bounding-box-adjustment":
            task_input["initialValue"] = initial
        if auto_accept_threshold is not None and confidence is not None and confidence >= auto_accept_threshold:
            required = False
    return PreAnnotationResponse(task_input=task_input, is_human_annotation_required=required).to_dict()
