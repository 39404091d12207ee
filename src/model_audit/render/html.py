"""``--format html``: one self-contained page — summary, budgets, findings, layer graph, SVG charts, layers.

No scripts, no external stylesheet or font: the file opens the same from a CI artifact, an
e-mail attachment or a laptop without network. Charts are plain SVG drawn here: MACs and params
by layer, when probes ran the gradient norm by depth on a log scale, and when the memory analysis
ran live memory over the step (memory_chart.py).
"""
from __future__ import annotations

import math
from html import escape
from typing import Any, Sequence

from .table import extras_text
from ..report.audit_report import AuditReport
from ..units import format_count
from ..report.budget import LABELS
from ..report.metrics import METRICS
from .cells import findings_by_layer, findings_cell, params_cell
from .memory_chart import memory_section
from .receptive_field import row_field
from .rollup import rows

MAX_BARS = 60
_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1100px;color:#1f2328;padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #d0d7de;padding-bottom:.3rem}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{border:1px solid #d0d7de;padding:3px 8px;text-align:left}
th{background:#f6f8fa}td.n{text-align:right;font-variant-numeric:tabular-nums}code{font-size:12px}
.ok{color:#1a7f37}.bad{color:#cf222e}.error{color:#cf222e}.warning{color:#9a6700}.info{color:#0969da}
.cards{display:flex;gap:1rem;flex-wrap:wrap}.card{border:1px solid #d0d7de;border-radius:6px;padding:.6rem 1rem;min-width:9rem}
.card b{display:block;font-size:1.3rem}svg text{font:11px system-ui,sans-serif;fill:#1f2328}.note{color:#57606a}
.graph{overflow:auto;max-height:80vh;border:1px solid #d0d7de;border-radius:6px}
"""


def render_html(report: AuditReport, depth: int | None = None, all_rows: bool = False, **_: Any) -> str:
    """The page; the layers table has the terminal table's columns and folds view rows unless ``all_rows``."""
    title = f"model-audit: {report.model}"
    body = [f"<h1>{escape(title)}</h1>", _summary(report), _budgets(report), _findings(report), memory_section(report),
            _graph(report)]
    table = rows(report, depth, fold=not all_rows)
    body.append("<h2>MACs by layer</h2>" + bar_chart([(r.name, r.macs) for r in table], "MACs", "#0969da"))
    body.append("<h2>Parameters by layer</h2>" + bar_chart([(r.name, r.params) for r in table], "params", "#8250df"))
    norms = _grad_norms(report)
    if norms:
        body.append("<h2>Gradient norm by depth</h2>" + line_chart(norms))
    body.append(_layers(report, table, depth, all_rows))
    extras = extras_text(report, memory=False).strip()  # the memory section above has its lines
    if extras:
        body.append(f"<h2>Extras</h2><pre>{escape(extras)}</pre>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{escape(title)}</title>"
            f"<style>{_CSS}</style></head>\n<body>\n" + "\n".join(part for part in body if part) + "\n</body></html>\n")


def _summary(report: AuditReport) -> str:
    shapes = ", ".join("[" + ", ".join(map(str, s)) + "]" for s in report.input_shapes)
    cards = "".join(f"<div class=\"card\">{label}<b>{format_count(value)}</b><span class=\"note\">{value:,}</span></div>"
                    for label, value in (("params", report.params), ("MACs", report.macs), ("FLOPs", report.flops)))
    details = (f"input {escape(shapes)} · tracer {escape(report.tracer)} · device {escape(report.device)} · "
               f"mode {escape(report.mode)} · trainable {report.trainable_params:,} · without bias "
               f"{report.params_without_bias:,} · without norm {report.params_without_norm:,} · buffers {report.buffers:,}")
    uncounted = ", ".join(f"{op} ×{n}" for op, n in sorted(report.uncounted_ops.items())) or "none"
    notes = "".join(f"<li>{escape(note)}</li>" for note in report.notes)
    return (f"<div class=\"cards\">{cards}</div><p>{details}</p><p>uncounted ops: {escape(uncounted)}</p>"
            + (f"<ul class=\"note\">{notes}</ul>" if notes else ""))


def _budgets(report: AuditReport) -> str:
    section = report.extra.get("budget")
    if not section or not section.get("limits"):
        return ""
    breached = {b["metric"]: b["message"] for b in section.get("breaches", [])}
    items = []
    for metric, limit in section["limits"].items():
        shown = METRICS[metric].format(limit) if metric in METRICS else str(limit)
        if metric in breached:
            items.append(f"<li class=\"bad\">✗ {escape(breached[metric])}</li>")
        else:
            items.append(f"<li class=\"ok\">✓ {escape(LABELS.get(metric, metric))} within {escape(shown)}</li>")
    return "<h2>Budgets</h2><ul>" + "".join(items) + "</ul>"


def _findings(report: AuditReport) -> str:
    if not report.findings:
        return "<h2>Findings</h2><p>No findings.</p>"
    head = "<tr><th>severity</th><th>rule</th><th>layer</th><th>finding</th><th>fix</th><th>source</th></tr>"
    body = "".join(
        f"<tr><td class=\"{escape(str(f.severity))}\">{escape(str(f.severity))}</td><td><code>{escape(f.rule)}</code></td>"
        f"<td><code>{escape(f.layer or '')}</code></td><td>{escape(f.message)}</td><td>{escape(f.fix)}</td>"
        f"<td><code>{escape(f.source or '')}</code></td></tr>" for f in report.findings)
    return f"<h2>Findings ({len(report.findings)})</h2><table>{head}{body}</table>"


def _graph(report: AuditReport) -> str:
    """The collapsed layer graph (render/graph.py), inline; the page stays script-free."""
    from .graph import build_graph
    from .svg import render_svg

    if not report.layers:
        return ""
    return "<h2>Layer graph</h2><div class=\"graph\">" + render_svg(build_graph(report)) + "</div>"


def _layers(report: AuditReport, table: list, depth: int | None, all_rows: bool = False) -> str:
    columns: dict = {}
    if hasattr(report.probe, "layers"):  # a ProbeReport (a plain dict has no per-layer columns to add)
        from .probe_table import probe_columns

        columns.update(probe_columns(report.probe))
    by_layer = findings_by_layer(report.findings)
    if by_layer:
        columns["findings"] = lambda row: findings_cell(row, by_layer)
    head = ("<tr><th>layer</th><th>type</th><th>output shape</th><th>params</th><th>MACs</th><th>FLOPs</th>"
            "<th>% MACs</th><th>RF</th>" + "".join(f"<th>{escape(name)}</th>" for name in columns) + "</tr>")
    body = []
    for row in table:
        shape = row.output_shape
        shape_text = "" if shape is None else str(list(shape)) if isinstance(shape, tuple) else " ".join(str(list(s)) for s in shape)
        share = f"{100.0 * row.macs / report.macs:.1f}%" if report.macs and row.macs else ""
        name = row.name + ("" if all(l.executed for l in row.layers) else " (not run)")
        extra = "".join(f"<td class=\"n\">{escape(str(fn(row)))}</td>" for fn in columns.values())
        body.append(f"<tr><td><code>{escape(name)}</code></td><td>{escape(row.type)}</td><td>{escape(shape_text)}</td>"
                    f"<td class=\"n\">{escape(params_cell(row, lambda n: f'{n:,}'))}</td><td class=\"n\">{row.macs:,}</td>"
                    f"<td class=\"n\">{row.flops:,}</td><td class=\"n\">{share}</td>"
                    f"<td class=\"n\">{escape(row_field(row.layers))}</td>{extra}</tr>")
    blanks = "".join("<th></th>" for _ in columns)
    body.append(f"<tr><th>total</th><th></th><th></th><th class=\"n\">{report.params:,}</th><th class=\"n\">{report.macs:,}</th>"
                f"<th class=\"n\">{report.flops:,}</th><th class=\"n\">100%</th><th></th>{blanks}</tr>")
    where = f" (depth {depth})" if depth else ""
    note = ""
    if not all_rows:
        from .folding import folded_note

        text = folded_note(report)
        note = f"<p class=\"note\">{escape(text)}</p>" if text else ""
    return f"<h2>Layers{where}</h2>{note}<table>{head}{''.join(body)}</table>"


def bar_chart(items: Sequence[tuple[str, int]], unit: str, color: str, max_bars: int = MAX_BARS) -> str:
    """Horizontal bars in model order; only the ``max_bars`` largest non-zero items are drawn."""
    nonzero = [(i, name, value) for i, (name, value) in enumerate(items) if value]
    if not nonzero:
        return f"<p class=\"note\">No layer has {escape(unit)}.</p>"
    kept = sorted(sorted(nonzero, key=lambda t: -t[2])[:max_bars])
    peak = max(value for _, _, value in kept)
    label_w, bar_w, row_h = 260, 620, 18
    height = row_h * len(kept) + 8
    parts = [f"<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" width=\"{label_w + bar_w + 90}\" height=\"{height}\" "
             f"aria-label=\"{escape(unit)} by layer\">"]
    for row, (_, name, value) in enumerate(kept):
        y = 4 + row * row_h
        width = max(1.0, bar_w * value / peak)
        short = name if len(name) <= 40 else "…" + name[-39:]
        parts.append(f"<g><title>{escape(name)}: {value:,} {escape(unit)}</title>"
                     f"<text x=\"{label_w - 6}\" y=\"{y + 12}\" text-anchor=\"end\">{escape(short)}</text>"
                     f"<rect x=\"{label_w}\" y=\"{y + 2}\" width=\"{width:.1f}\" height=\"{row_h - 5}\" fill=\"{color}\"/>"
                     f"<text x=\"{label_w + width + 4:.1f}\" y=\"{y + 12}\">{format_count(value)}</text></g>")
    parts.append("</svg>")
    hidden = len(nonzero) - len(kept)
    note = f"<p class=\"note\">{hidden} smaller layers not drawn (see the table).</p>" if hidden else ""
    return "".join(parts) + note


def line_chart(points: Sequence[tuple[str, float]]) -> str:
    """Gradient norm per layer in depth order, log10 y axis (norms span orders of magnitude)."""
    positive = [(name, value) for name, value in points if value > 0]
    if not positive:
        return "<p class=\"note\">Every measured gradient norm is zero.</p>"
    logs = [math.log10(value) for _, value in positive]
    low, high = math.floor(min(logs)), math.ceil(max(logs))
    high = high if high > low else low + 1
    left, width, top, height = 60, 820, 10, 240
    step = width / max(1, len(positive) - 1)

    def y(log: float) -> float:
        return top + height * (high - log) / (high - low)

    parts = [f"<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" width=\"{left + width + 20}\" height=\"{top + height + 40}\" "
             "aria-label=\"gradient norm by depth\">"]
    for tick in range(low, high + 1):
        parts.append(f"<line x1=\"{left}\" x2=\"{left + width}\" y1=\"{y(tick):.1f}\" y2=\"{y(tick):.1f}\" stroke=\"#d0d7de\"/>"
                     f"<text x=\"{left - 6}\" y=\"{y(tick) + 4:.1f}\" text-anchor=\"end\">1e{tick}</text>")
    coords = [(left + i * step, y(log)) for i, log in enumerate(logs)]
    parts.append("<polyline fill=\"none\" stroke=\"#cf222e\" stroke-width=\"1.5\" points=\""
                 + " ".join(f"{x:.1f},{yy:.1f}" for x, yy in coords) + "\"/>")
    for (x, yy), (name, value) in zip(coords, positive):
        parts.append(f"<circle cx=\"{x:.1f}\" cy=\"{yy:.1f}\" r=\"3\" fill=\"#cf222e\"><title>{escape(name)}: {value:.3g}</title></circle>")
    parts.append(f"<text x=\"{left}\" y=\"{top + height + 16}\">input side</text>"
                 f"<text x=\"{left + width}\" y=\"{top + height + 16}\" text-anchor=\"end\">output side</text>"
                 f"<text x=\"{left + width / 2}\" y=\"{top + height + 32}\" text-anchor=\"middle\">layer depth "
                 f"({len(positive)} layers with gradients; 2-norm of each layer's parameter gradients)</text></svg>")
    return "".join(parts)


def _grad_norms(report: AuditReport) -> list[tuple[str, float]]:
    probe: Any = report.probe
    if probe is None:
        return []
    data = probe.to_dict() if hasattr(probe, "to_dict") else probe
    layers = data.get("layers", []) if isinstance(data, dict) else []
    return [(str(layer.get("name")), float(layer["grad_norm"])) for layer in layers
            if isinstance(layer, dict) and isinstance(layer.get("grad_norm"), (int, float))]
