"""The shape of a ``--format json`` report as ``model-audit diff`` reads it, checked before any use.

A diff input is a file from elsewhere (a CI artifact, a hand-edited base): each field the diff
reads is checked for its type and range here, so a wrong file is one line naming the field,
never a ``KeyError`` or a ``nan`` total that compares false with every limit.
"""
from __future__ import annotations

READABLE_SCHEMAS = (1, 2)  # 2 renamed functional layers only (CHANGELOG.md)

from typing import Any

from ..numbers import MAX_COUNT
from .metrics import METRICS as _METRICS

METRICS = ("params", "macs", "flops")  # every report has these; the other METRICS only when their analysis ran


def _count(value: Any, optional: bool = False) -> bool:
    if value is None:
        return optional
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT


def report_problem(data: Any) -> str | None:
    """What is wrong with a parsed report for diffing (one phrase naming the field), or None."""
    if not isinstance(data, dict):
        return f"the top level is a JSON {type(data).__name__}, not an object"
    if data.get("schema_version") not in READABLE_SCHEMAS:
        return (f"unsupported schema_version {data.get('schema_version')!r} "
                f"(this model-audit reads {', '.join(map(str, READABLE_SCHEMAS))})")
    if not isinstance(data.get("model", ""), str):
        return "'model' is not a string"
    summary = data.get("summary")
    if not isinstance(summary, dict):
        return "'summary' is not an object"
    for metric in METRICS:
        if not _count(summary.get(metric)):
            return f"summary.{metric} is {summary.get(metric)!r}, not a non-negative integer"
    for metric in _METRICS.values():
        problem = _optional(summary, metric.summary_path, "summary") if metric.optional else None
        if problem is not None:
            return problem
    layers = data.get("layers")
    if not isinstance(layers, list):
        return "'layers' is not a list"
    for i, layer in enumerate(layers):
        if not isinstance(layer, dict):
            return f"layers[{i}] is not an object"
        if not isinstance(layer.get("name"), str):
            return f"layers[{i}].name is {layer.get('name')!r}, not a string"
        if not isinstance(layer.get("type", ""), str):
            return f"layers[{i}].type is not a string"
        for metric in METRICS:
            if not _count(layer.get(metric), optional=True):
                return f"layers[{i}].{metric} is {layer.get(metric)!r}, not a non-negative integer"
        for metric in _METRICS.values():
            problem = _optional(layer, metric.layer_path, f"layers[{i}]") if metric.optional and metric.layer_path else None
            if problem is not None:
                return problem
    return None


def _optional(data: dict, path: tuple[str, ...], where: str) -> str | None:
    """An analysis' figure at ``path``: absent is fine, present must be an object chain ending in a count."""
    for depth, key in enumerate(path):
        if key not in data or data[key] is None:
            return None
        where += f".{key}"
        data = data[key]
        if depth < len(path) - 1 and not isinstance(data, dict):
            return f"{where} is not an object"
    return None if _count(data) else f"{where} is {data!r}, not a non-negative integer"
