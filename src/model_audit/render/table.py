"""The terminal table: one row per layer (or per module at ``--depth``), human units, totals."""
from __future__ import annotations

from tabulate import tabulate

from ..report.audit_report import AuditReport
from ..units import format_count
from .findings import render_findings
from .receptive_field import row_field, summary_line
from .rollup import rows


def _shape(shape: object) -> str:
    if shape is None:
        return "-"
    if isinstance(shape, tuple):
        return "[" + ", ".join(map(str, shape)) + "]"
    return " ".join(_shape(s) for s in shape)  # several outputs


def _pct(part: int, total: int) -> str:
    return f"{100.0 * part / total:.1f}%" if total else "-"


def render_table(report: AuditReport, depth: int | None = None, columns: dict | None = None) -> str:
    """Render the per-layer table plus a summary block; ``columns`` adds name -> per-row value callables."""
    columns = columns or {}
    if report.probe is not None:
        from .probe_table import probe_columns

        columns = {**columns, **probe_columns(report.probe)}
    headers = ["layer", "type", "output shape", "params", "MACs", "FLOPs", "% MACs", "RF", *columns.keys()]
    body = []
    for row in rows(report, depth):
        body.append([
            row.name + ("" if all(l.executed for l in row.layers) else " (not run)"),
            row.type,
            _shape(row.output_shape),
            format_count(row.params) if row.params else "",
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
                               *["right"] * len(columns)))
    summary = render_summary(report)
    if report.probe is not None:
        from .probe_table import render_probe_summary

        summary += "\n" + render_probe_summary(report.probe)
    return table + "\n\n" + summary + "\n\n" + render_findings(report.findings)


def render_summary(report: AuditReport) -> str:
    shapes = ", ".join("[" + ", ".join(map(str, s)) + "]" for s in report.input_shapes)
    lines = [
        f"model: {report.model}   input: {shapes}   tracer: {report.tracer}   device: {report.device}   mode: {report.mode}",
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
