"""``model-audit diff base.json head.json``: what a change did to params, MACs and FLOPs.

Reads two ``--format json`` reports (plain data, so a base from main's CI artifact works), and
gives the total deltas and the per-layer ones: layers added, removed, or whose figures changed.
Layers are matched by qualified name.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tabulate import tabulate

from ..escaping import md_code, md_text, plain
from ..units import format_count
from .metrics import METRICS as _METRICS

METRICS = tuple(_METRICS)
LABEL = {key: metric.label for key, metric in _METRICS.items()}


@dataclass
class LayerDelta:
    name: str
    status: str  # added | removed | changed
    type: str
    base: dict[str, int]
    head: dict[str, int]

    def delta(self, metric: str) -> int:
        return self.head.get(metric, 0) - self.base.get(metric, 0)


@dataclass
class ReportDiff:
    base_model: str
    head_model: str
    totals: dict[str, tuple[int, int]]  # metric -> (base, head)
    layers: list[LayerDelta] = field(default_factory=list)
    unchanged: int = 0

    def delta(self, metric: str) -> int:
        base, head = self.totals[metric]
        return head - base

    def growth(self, metric: str) -> float | None:
        """Relative change of a total (0.05 = +5%); None when the base is zero."""
        base, head = self.totals[metric]
        return (head - base) / base if base else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "base_model": self.base_model, "head_model": self.head_model,
            "totals": {m: {"base": b, "head": h, "delta": h - b, "growth": self.growth(m)} for m, (b, h) in self.totals.items()},
            "layers": [{"name": l.name, "status": l.status, "type": l.type, "base": l.base, "head": l.head,
                        "delta": {m: l.delta(m) for m in METRICS}} for l in self.layers],
            "unchanged_layers": self.unchanged,
        }


def diff_reports(base: dict[str, Any], head: dict[str, Any]) -> ReportDiff:
    """Compare two ``AuditReport.to_dict()`` documents (schema_version 1 or 2)."""
    totals = {m: (int(base["summary"][m]), int(head["summary"][m])) for m in METRICS}
    base_layers = {l["name"]: l for l in base.get("layers", [])}
    head_layers = {l["name"]: l for l in head.get("layers", [])}
    deltas: list[LayerDelta] = []
    unchanged = 0
    for name, layer in head_layers.items():
        old = base_layers.get(name)
        figures = _figures(layer)
        if old is None:
            deltas.append(LayerDelta(name, "added", layer.get("type", ""), {}, figures))
        elif _figures(old) != figures:
            deltas.append(LayerDelta(name, "changed", layer.get("type", ""), _figures(old), figures))
        else:
            unchanged += 1
    for name, layer in base_layers.items():
        if name not in head_layers:
            deltas.append(LayerDelta(name, "removed", layer.get("type", ""), _figures(layer), {}))
    return ReportDiff(base.get("model", "?"), head.get("model", "?"), totals, deltas, unchanged)


def _figures(layer: dict[str, Any]) -> dict[str, int]:
    return {m: int(layer.get(m) or 0) for m in METRICS}


def signed(value: int) -> str:
    if value == 0:
        return "0"
    return ("+" if value > 0 else "-") + format_count(abs(value))


def _pct(growth: float | None) -> str:
    if growth is None:
        return "new"
    return "0" if growth == 0 else f"{100.0 * growth:+.2f}%"


def render_diff_table(diff: ReportDiff, limit: int | None = 50) -> str:
    head = tabulate([[LABEL[m], format_count(b), format_count(h), signed(h - b), _pct(diff.growth(m)) if b or h else "0"]
                     for m, (b, h) in diff.totals.items()],
                    headers=["", "base", "head", "delta", "change"], tablefmt="simple", disable_numparse=True,
                    colalign=("left", "right", "right", "right", "right"))
    lines = [f"base: {plain(diff.base_model)}   head: {plain(diff.head_model)}", "", head, ""]
    if not diff.layers:
        lines.append(f"layers: no change ({diff.unchanged} layers identical)")
        return "\n".join(lines)
    shown = diff.layers if limit is None else diff.layers[:limit]
    body = [[plain(l.name), l.status, plain(l.type), *[signed(l.delta(m)) for m in METRICS]] for l in shown]
    lines.append(tabulate(body, headers=["layer", "status", "type", "Δ params", "Δ MACs", "Δ FLOPs"], tablefmt="simple",
                          disable_numparse=True, colalign=("left", "left", "left", "right", "right", "right")))
    lines.append("")
    lines.append(_counts(diff) + (f"; {len(diff.layers) - len(shown)} more not shown (--all)" if len(shown) < len(diff.layers) else ""))
    return "\n".join(lines)


def render_diff_markdown(diff: ReportDiff, limit: int | None = 50) -> str:
    lines = [f"## model-audit diff: {md_code(diff.base_model, in_table=False)} → {md_code(diff.head_model, in_table=False)}", "",
             "| | base | head | delta | change |", "|---|---:|---:|---:|---:|"]
    for m, (b, h) in diff.totals.items():
        lines.append(f"| {LABEL[m]} | {format_count(b)} | {format_count(h)} | {signed(h - b)} | "
                     f"{_pct(diff.growth(m)) if b or h else '0'} |")
    if diff.layers:
        shown = diff.layers if limit is None else diff.layers[:limit]
        lines += ["", "<details><summary>" + _counts(diff) + "</summary>", "",
                  "| layer | status | type | Δ params | Δ MACs | Δ FLOPs |", "|---|---|---|---:|---:|---:|"]
        for l in shown:
            lines.append(f"| {md_code(l.name)} | {l.status} | {md_text(l.type)} | " + " | ".join(signed(l.delta(m)) for m in METRICS) + " |")
        if len(shown) < len(diff.layers):
            lines.append(f"\n… {len(diff.layers) - len(shown)} more layers")
        lines += ["", "</details>"]
    else:
        lines += ["", f"No layer changed ({diff.unchanged} identical)."]
    return "\n".join(lines) + "\n"


def render_diff_json(diff: ReportDiff) -> str:
    return json.dumps(diff.to_dict(), indent=2)


def _counts(diff: ReportDiff) -> str:
    by = {s: sum(1 for l in diff.layers if l.status == s) for s in ("added", "removed", "changed")}
    return f"layers: {by['added']} added, {by['removed']} removed, {by['changed']} changed, {diff.unchanged} unchanged"
