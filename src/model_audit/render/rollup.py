"""Roll per-layer rows up to module depth N (``--depth``): figures add, exactly."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..ir.graph import Layer
from ..report.audit_report import AuditReport


@dataclass
class Row:
    name: str
    type: str
    output_shape: object
    params: int = 0
    macs: int = 0
    flops: int = 0
    layers: list[Layer] = field(default_factory=list)
    extra: dict = field(default_factory=dict)


def rows(report: AuditReport, depth: int | None = None, fold: bool = False) -> list[Row]:
    """One row per layer, or per module at ``depth``; ``fold`` puts zero-cost view rows in their reader's row."""
    if fold:
        from .folding import fold_targets

        targets = fold_targets(report)
        if targets:
            return _folded_rows(report, depth, targets)
    if depth is None or depth <= 0:
        return [Row(l.name, l.type, l.output_shape, l.params, l.macs, l.flops, [l]) for l in report.layers]
    grouped: dict[str, Row] = {}
    for layer in report.layers:
        path = layer.module_path
        key = ".".join(path[:depth]) if len(path) > depth else layer.name
        row = grouped.get(key)
        if row is None:
            row = grouped[key] = Row(key, layer.type if key == layer.name else _type_of(report, key, layer), None)
        row.params += layer.params
        row.macs += layer.macs
        row.flops += layer.flops
        row.layers.append(layer)
        if layer.output_shapes:
            row.output_shape = layer.output_shape
    return list(grouped.values())


def _type_of(report: AuditReport, key: str, layer: Layer) -> str:
    if key in report.module_types:
        return report.module_types[key]
    return layer.type if layer.module is not None and layer.name.split("@")[0] == key else "(group)"


def _folded_rows(report: AuditReport, depth: int | None, targets: dict[str, str]) -> list[Row]:
    """Rows of the visible layers, each folded layer placed (zero figures) just before its reader."""
    waiting: dict[str, list[Layer]] = {}
    for layer in report.layers:
        if layer.name in targets:
            waiting.setdefault(targets[layer.name], []).append(layer)
    out = rows(replace(report, layers=[l for l in report.layers if l.name not in targets]), depth)
    for row in out:
        members: list[Layer] = []
        for layer in row.layers:
            members.extend(waiting.get(layer.name, []))
            members.append(layer)
        row.layers = members
    return out
