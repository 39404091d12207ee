"""The HTML report's memory section: the summary lines and live memory over the step as inline SVG.

The chart reads ``summary.memory.timeline`` (analyses/memory/timeline.py): bytes alive after each
op, phases shaded and labelled, the peak marked with its value and the layers holding most at
the peak listed under it. Plain SVG, no script; every user string goes through ``html.escape``.
"""
from __future__ import annotations

import math
from html import escape
from typing import Any

from ..units import format_bytes
from .memory import describe

PHASE_COLORS = {"baseline": "#eaeef2", "forward": "#ddf4ff", "backward": "#fff8c5", "optimizer": "#fbefff"}
LEFT, WIDTH, TOP, HEIGHT = 90, 800, 22, 220


def memory_section(report: Any) -> str:
    """``<h2>Memory</h2>``, the summary lines, the chart and the top layers ('' without the analysis)."""
    data = report.memory
    if data is None:
        return ""
    lines = describe(data)
    summary = f"<p>{escape(lines[0])}</p><ul class=\"note\">" + "".join(
        f"<li>{escape(line.strip())}</li>" for line in lines[1:]) + "</ul>"
    top = data.get("top_layers") or []
    listing = ("<p>Layers holding most saved activations at the peak:</p><ol class=\"top-layers\">" + "".join(
        f"<li><code>{escape(str(t['name']))}</code> {escape(format_bytes(t['bytes']))}</li>" for t in top) + "</ol>"
               if top else "")
    return "<h2>Memory</h2>" + summary + timeline_svg(data) + listing


def timeline_svg(data: dict[str, Any]) -> str:
    """Live bytes over the step (x: the op counter), phases shaded, the peak marked with its value."""
    points = data.get("timeline") or []
    if len(points) < 2:
        return "<p class=\"note\">No timeline was recorded for this step.</p>"
    first, last = points[0]["op"], points[-1]["op"]
    peak = data["peak_bytes"]
    top_bytes = max(peak, max(p["bytes"] for p in points), 1) * 1.12

    def x(op: float) -> float:
        return LEFT + WIDTH * (op - first) / max(1, last - first)

    def y(value: float) -> float:
        return TOP + HEIGHT * (1 - value / top_bytes)

    parts = [f"<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" class=\"memory-timeline\" "
             f"width=\"{LEFT + WIDTH + 20}\" height=\"{TOP + HEIGHT + 44}\" aria-label=\"live memory over the step\">"]
    for phase, start, end in _runs(points):
        x0, x1 = x(start), x(end)
        color = PHASE_COLORS.get(phase, "#f6f8fa")
        parts.append(f"<rect class=\"phase\" data-phase=\"{escape(phase)}\" x=\"{x0:.1f}\" y=\"{TOP}\" "
                     f"width=\"{max(0.0, x1 - x0):.1f}\" height=\"{HEIGHT}\" fill=\"{color}\"/>")
        if x1 - x0 >= 48:
            parts.append(f"<text class=\"phase-label\" x=\"{(x0 + x1) / 2:.1f}\" y=\"{TOP - 6}\" "
                         f"text-anchor=\"middle\">{escape(phase)}</text>")
    for value in _ticks(top_bytes):
        parts.append(f"<line x1=\"{LEFT}\" x2=\"{LEFT + WIDTH}\" y1=\"{y(value):.1f}\" y2=\"{y(value):.1f}\" "
                     f"stroke=\"#d0d7de\" stroke-width=\"0.5\"/><text x=\"{LEFT - 6}\" y=\"{y(value) + 4:.1f}\" "
                     f"text-anchor=\"end\">{escape(format_bytes(value))}</text>")
    coords = " ".join(f"{x(p['op']):.1f},{y(p['bytes']):.1f}" for p in points)
    parts.append(f"<polygon fill=\"#0969da\" fill-opacity=\"0.18\" points=\"{x(first):.1f},{y(0):.1f} {coords} "
                 f"{x(last):.1f},{y(0):.1f}\"/>")
    parts.append(f"<polyline class=\"live\" fill=\"none\" stroke=\"#0969da\" stroke-width=\"1.5\" points=\"{coords}\">"
                 "<title>bytes alive after each op</title></polyline>")
    at = next((p for p in points if p["bytes"] == peak), max(points, key=lambda p: p["bytes"]))
    px, py = x(at["op"]), y(at["bytes"])
    anchor = "end" if px > LEFT + WIDTH * 0.8 else "start"
    dx = -8 if anchor == "end" else 8
    parts.append(f"<circle class=\"peak\" cx=\"{px:.1f}\" cy=\"{py:.1f}\" r=\"4\" fill=\"#cf222e\">"
                 f"<title>peak {escape(format_bytes(peak))} ({peak:,} bytes) in {escape(str(data['peak_phase']))}, "
                 f"op {at['op']}</title></circle>"
                 f"<text class=\"peak-label\" x=\"{px + dx:.1f}\" y=\"{max(TOP + 10, py - 6):.1f}\" "
                 f"text-anchor=\"{anchor}\" style=\"font-weight:bold\">{escape(format_bytes(peak))}</text>")
    parts.append(f"<text x=\"{LEFT}\" y=\"{TOP + HEIGHT + 16}\">op {first}</text>"
                 f"<text x=\"{LEFT + WIDTH}\" y=\"{TOP + HEIGHT + 16}\" text-anchor=\"end\">op {last}</text>"
                 f"<text x=\"{LEFT + WIDTH / 2}\" y=\"{TOP + HEIGHT + 34}\" text-anchor=\"middle\">bytes alive over the "
                 f"step, by ATen op ({len(points)} of {last} points drawn; the peak and phase boundaries are exact)"
                 "</text></svg>")
    return "".join(parts)


def _ticks(top: float) -> list[float]:
    """Round gridline values (1, 2, 2.5 or 5 x 10^n of the largest binary unit below ``top``) up to ``top``."""
    scale = next((s for s in (2**40, 2**30, 2**20, 2**10) if top >= s), 1)
    raw = top / scale / 4
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    step = next(n * magnitude for n in (1, 2, 2.5, 5, 10) if n * magnitude >= raw) * scale
    return [i * step for i in range(int(top // step) + 1)]


def _runs(points: list[dict[str, Any]]) -> list[tuple[str, int, int]]:
    """(phase, first op, first op of the next run or the last op) for each run of one phase."""
    runs: list[tuple[str, int, int]] = []
    start = 0
    for i in range(1, len(points) + 1):
        if i == len(points) or points[i]["phase"] != points[start]["phase"]:
            end = points[i]["op"] if i < len(points) else points[-1]["op"]
            runs.append((str(points[start]["phase"]), points[start]["op"], end))
            start = i
    return runs
