"""``model-audit diff base.json head.json``: what a change did to params, MACs, FLOPs and memory.

Reads two ``--format json`` reports (plain data, so a base from main's CI artifact works), and
gives the total deltas and the per-layer ones: layers added, removed, or whose figures changed.
Layers are matched by qualified name. The figures are report/metrics.py's METRICS: an optional
one (the memory analysis' peak, saved activations, model-state bytes) is compared when both
reports have it, and the diff says so when only one does.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tabulate import tabulate

from ..escaping import md_code, md_text, plain
from .metrics import METRICS as _METRICS, Metric

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
    totals: dict[str, tuple[int, int]]  # metric -> (base, head), for the metrics both reports have
    layers: list[LayerDelta] = field(default_factory=list)
    unchanged: int = 0
    one_sided: dict[str, str] = field(default_factory=dict)  # metric -> "base" | "head": only that report has it
    holders: dict[str, list[tuple[str, int]]] = field(default_factory=dict)  # metric -> what holds most in head

    def delta(self, metric: str) -> int:
        base, head = self.totals[metric]
        return head - base

    def growth(self, metric: str) -> float | None:
        """Relative change of a total (0.05 = +5%); None when the base is zero."""
        base, head = self.totals[metric]
        return (head - base) / base if base else None

    @property
    def layer_metrics(self) -> list[Metric]:
        """The compared metrics with a per-layer figure (the per-layer delta columns)."""
        return [_METRICS[m] for m in self.totals if _METRICS[m].layer_path is not None]

    def to_dict(self) -> dict[str, Any]:
        columns = [m.key for m in self.layer_metrics]
        return {
            "base_model": self.base_model, "head_model": self.head_model,
            "totals": {m: {"base": b, "head": h, "delta": h - b, "growth": self.growth(m)} for m, (b, h) in self.totals.items()},
            "layers": [{"name": l.name, "status": l.status, "type": l.type, "base": l.base, "head": l.head,
                        "delta": {m: l.delta(m) for m in columns}} for l in self.layers],
            "unchanged_layers": self.unchanged,
            **({"only_in": dict(self.one_sided)} if self.one_sided else {}),
        }


def diff_reports(base: dict[str, Any], head: dict[str, Any]) -> ReportDiff:
    """Compare two ``AuditReport.to_dict()`` documents (schema_version 1 or 2)."""
    from .budget import holders_in

    totals: dict[str, tuple[int, int]] = {}
    one_sided: dict[str, str] = {}
    for key, metric in _METRICS.items():
        b, h = metric.of_summary(base["summary"]), metric.of_summary(head["summary"])
        if b is not None and h is not None:
            totals[key] = (int(b), int(h))
        elif b is not None or h is not None:
            one_sided[key] = "base" if b is not None else "head"
    compared = [_METRICS[m] for m in totals if _METRICS[m].layer_path is not None]
    base_layers = {l["name"]: l for l in base.get("layers", [])}
    head_layers = {l["name"]: l for l in head.get("layers", [])}
    deltas: list[LayerDelta] = []
    unchanged = 0
    for name, layer in head_layers.items():
        old = base_layers.get(name)
        figures = _figures(layer, compared)
        if old is None:
            deltas.append(LayerDelta(name, "added", layer.get("type", ""), {}, figures))
        elif _figures(old, compared) != figures:
            deltas.append(LayerDelta(name, "changed", layer.get("type", ""), _figures(old, compared), figures))
        else:
            unchanged += 1
    for name, layer in base_layers.items():
        if name not in head_layers:
            deltas.append(LayerDelta(name, "removed", layer.get("type", ""), _figures(layer, compared), {}))
    holders = {m: holders_in(head, _METRICS[m]) for m in totals if _METRICS[m].optional}
    return ReportDiff(base.get("model", "?"), head.get("model", "?"), totals, deltas, unchanged, one_sided,
                      {m: h for m, h in holders.items() if h})


def _figures(layer: dict[str, Any], metrics: list[Metric]) -> dict[str, int]:
    return {m.key: int(m.of_layer(layer) or 0) for m in metrics}


def signed(value: int, metric: Metric | None = None) -> str:
    if value == 0:
        return "0"
    return ("+" if value > 0 else "-") + (metric or _METRICS["params"]).format(abs(value))


def _pct(growth: float | None) -> str:
    if growth is None:
        return "new"
    return "0" if growth == 0 else f"{100.0 * growth:+.2f}%"


def _total_rows(diff: ReportDiff) -> list[list[str]]:
    return [[LABEL[m], _METRICS[m].format(b), _METRICS[m].format(h), signed(h - b, _METRICS[m]),
             _pct(diff.growth(m)) if b or h else "0"] for m, (b, h) in diff.totals.items()]


def _layer_columns(diff: ReportDiff) -> list[tuple[Metric, str]]:
    return [(m, "Δ " + (m.layer_label or m.label)) for m in diff.layer_metrics]


def _notes(diff: ReportDiff, quote: Any) -> list[str]:
    """One line per optional figure only one report has, and what holds the head's memory peak."""
    lines = []
    missing = {_METRICS[m].needs.split(":")[0] or LABEL[m]: side for m, side in diff.one_sided.items()}
    for what, side in sorted(missing.items()):
        lines.append(f"{what} ran for the {side} report only: its figures are not compared")
    for m, top in diff.holders.items():
        if diff.delta(m):
            lines.append(f"head {LABEL[m]}, {_METRICS[m].holders_label}: "
                         + ", ".join(f"{quote(name)} ({_METRICS[m].format(value)})" for name, value in top))
    return lines


def render_diff_table(diff: ReportDiff, limit: int | None = 50) -> str:
    head = tabulate(_total_rows(diff), headers=["", "base", "head", "delta", "change"], tablefmt="simple",
                    disable_numparse=True, colalign=("left", "right", "right", "right", "right"))
    lines = [f"base: {plain(diff.base_model)}   head: {plain(diff.head_model)}", "", head, ""]
    notes = _notes(diff, plain)
    lines += notes + ([""] if notes else [])
    if not diff.layers:
        lines.append(f"layers: no change ({diff.unchanged} layers identical)")
        return "\n".join(lines)
    shown = diff.layers if limit is None else diff.layers[:limit]
    columns = _layer_columns(diff)
    body = [[plain(l.name), l.status, plain(l.type), *[signed(l.delta(m.key), m) for m, _ in columns]] for l in shown]
    lines.append(tabulate(body, headers=["layer", "status", "type", *[h for _, h in columns]], tablefmt="simple",
                          disable_numparse=True, colalign=("left", "left", "left", *["right" for _ in columns])))
    lines.append("")
    lines.append(_counts(diff) + (f"; {len(diff.layers) - len(shown)} more not shown (--all)" if len(shown) < len(diff.layers) else ""))
    return "\n".join(lines)


def render_diff_markdown(diff: ReportDiff, limit: int | None = 50) -> str:
    lines = [f"## model-audit diff: {md_code(diff.base_model, in_table=False)} → {md_code(diff.head_model, in_table=False)}", "",
             "| | base | head | delta | change |", "|---|---:|---:|---:|---:|"]
    lines += ["| " + " | ".join(row) + " |" for row in _total_rows(diff)]
    notes = _notes(diff, lambda name: md_code(name, in_table=False))
    if notes:
        lines += [""] + [f"- {note}" for note in notes]
    if diff.layers:
        shown = diff.layers if limit is None else diff.layers[:limit]
        columns = _layer_columns(diff)
        lines += ["", "<details><summary>" + _counts(diff) + "</summary>", "",
                  "| layer | status | type | " + " | ".join(h for _, h in columns) + " |",
                  "|---|---|---|" + "---:|" * len(columns)]
        for l in shown:
            lines.append(f"| {md_code(l.name)} | {l.status} | {md_text(l.type)} | "
                         + " | ".join(signed(l.delta(m.key), m) for m, _ in columns) + " |")
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
