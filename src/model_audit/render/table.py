"""The terminal table: one row per layer (or per module at ``--depth``), human units, totals."""
from __future__ import annotations

from typing import Any

from tabulate import tabulate

from ..report.audit_report import AuditReport
from ..units import format_count
from .cells import findings_by_layer, findings_cell, params_cell
from ..escaping import plain
from .findings import render_findings
from .memory import memory_columns, memory_text
from .receptive_field import erf_line, row_field, summary_line
from .rollup import rows


def _shape(shape: object) -> str:
    if shape is None:
        return "-"
    if isinstance(shape, tuple):
        return "[" + ", ".join(map(str, shape)) + "]"
    return " ".join(_shape(s) for s in shape)  # several outputs


def _pct(part: int, total: int) -> str:
    return f"{100.0 * part / total:.1f}%" if total else "-"


def render_table(report: AuditReport, depth: int | None = None, columns: dict | None = None,
                 all_rows: bool = False, **_: Any) -> str:
    """Render the per-layer table plus a summary block; ``columns`` adds name -> per-row value callables.

    Analyses' per-layer fields (``report.columns``), the probe and the fvcore cross-check add their
    own columns; the cross-check and the effective receptive field add their blocks after the summary.
    Zero-cost view/reshape rows are folded into their reader unless ``all_rows`` (see folding.py).
    """
    columns = {**analysis_columns(report), **(columns or {})}
    check = report.extra.get("cross_check")
    if check is not None and not isinstance(check, dict):
        from .crosscheck import crosscheck_columns

        columns = {**columns, **crosscheck_columns(check)}
    columns = {**columns, **memory_columns(report)}
    if report.probe is not None:
        from .probe_table import probe_columns

        columns = {**columns, **probe_columns(report.probe)}
    by_layer = findings_by_layer(report.findings)
    if by_layer:
        columns = {**columns, "findings": lambda row: findings_cell(row, by_layer)}
    headers = ["layer", "type", "output shape", "params", "MACs", "FLOPs", "% MACs", "RF", *columns.keys()]
    body = []
    for row in rows(report, depth, fold=not all_rows):
        body.append([
            plain(row.name) + ("" if all(l.executed for l in row.layers) else " (not run)"),
            plain(row.type),
            _shape(row.output_shape),
            params_cell(row, format_count),
            format_count(row.macs) if row.macs else "",
            format_count(row.flops) if row.flops else "",
            _pct(row.macs, report.macs) if row.macs else "",
            row_field(row.layers),
            *[fn(row) for fn in columns.values()],
        ])
    body.append(["total", "", "", format_count(report.params), format_count(report.macs),
                 format_count(report.flops), "100%" if report.macs else "", "", *["" for _ in columns]])
    table = tabulate(body, headers=headers, tablefmt="simple", disable_numparse=True,
                     colalign=("left", "left", "left", "right", "right", "right", "right", "right",
                               *["left" if name == "findings" else "right" for name in columns]))
    summary = render_summary(report)
    if not all_rows:
        from .folding import folded_note

        note = folded_note(report)
        summary += f"\nnote: {note}" if note else ""
    if report.probe is not None:
        from .probe_table import render_probe_summary

        summary += "\n" + render_probe_summary(report.probe)
    return table + "\n\n" + summary + "\n\n" + render_findings(report.findings) + extras_text(report)


def analysis_columns(report: AuditReport) -> dict[str, Any]:
    """A column per per-layer field an analysis declared: the value of a one-layer row, else the sum."""

    def column(key: str) -> Any:
        def value(row: Any) -> str:
            values = [layer.attrs[key] for layer in row.layers if key in layer.attrs]
            if not values:
                return ""
            if len(values) == 1:
                return _cell(values[0])
            if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                return _cell(sum(values))
            return _cell(values[-1])

        return value

    return {header: column(key) for key, header in report.columns.items()}


def _cell(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, int):
        return format_count(value)
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def extras_text(report: AuditReport, memory: bool = True) -> str:
    """The blocks extras add after the findings: the fvcore cross-check, the effective receptive field
    and (``memory``; Markdown and HTML give it a section of its own) the memory analysis' lines."""
    text = ""
    check = report.extra.get("cross_check")
    if check is not None and not isinstance(check, dict):
        from .crosscheck import render_crosscheck

        text += "\n\n" + render_crosscheck(check)
    erf = erf_line(report.extra.get("effective_receptive_field"))
    if erf:
        text += "\n" + erf
    lines = memory_text(report) if memory else ""
    if lines:
        text += "\n\n" + lines
    return text


def render_summary(report: AuditReport) -> str:
    shapes = ", ".join("[" + ", ".join(map(str, s)) + "]" for s in report.input_shapes)
    lines = [
        f"model: {plain(report.model)}   input: {shapes}   tracer: {report.tracer}   device: {report.device}   mode: {report.mode}",
        f"params: {report.params:,} ({format_count(report.params)})   trainable: {report.trainable_params:,}   "
        f"without bias: {report.params_without_bias:,}   without norm: {report.params_without_norm:,}   "
        f"buffers: {report.buffers:,}",
        f"MACs: {report.macs:,} ({format_count(report.macs)})   FLOPs: {report.flops:,} ({format_count(report.flops)})",
    ]
    if report.backward_flops is not None:
        lines.append(f"backward MACs: {report.backward_macs:,} ({format_count(report.backward_macs)})   "
                     f"backward FLOPs: {report.backward_flops:,} ({format_count(report.backward_flops)})")
    if report.uncounted_ops:
        ops = ", ".join(f"{op} x{n}" for op, n in sorted(report.uncounted_ops.items()))
        lines.append(f"uncounted ops (no formula; not in the totals): {ops}")
    else:
        lines.append("uncounted ops: none")
    rf_line = summary_line(report.receptive_field)
    if rf_line:
        lines.append(rf_line)
    from .symbolic import symbolic_lines

    lines += symbolic_lines(report)
    for note in report.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines)
