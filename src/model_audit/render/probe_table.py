"""Probe columns for the terminal table and a sparkline of gradient norm by depth."""
from __future__ import annotations

import math
from typing import Any, Callable

from .rollup import Row

_BARS = "▁▂▃▄▅▆▇█"


def _sci(value: float | None) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return f"{value:.2g}" if 1e-2 <= abs(value) < 1e3 or value == 0 else f"{value:.1e}"


def _pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.0f}%"


def probe_columns(probe: Any) -> dict[str, Callable[[Row], str]]:
    """Column name -> per-row value; rolled-up rows combine their layers' gradients (√Σg²), the worst dead/sat."""
    by_name = {layer.name: layer for layer in probe.layers}

    def members(row: Row) -> list[Any]:
        return [by_name[l.name] for l in row.layers if l.name in by_name]

    def grad(row: Row) -> str:
        norms = [m.grad_norm for m in members(row) if m.grad_norm is not None]
        return _sci(math.sqrt(sum(g * g for g in norms))) if norms else ""

    def ratio(row: Row) -> str:
        found = members(row)
        pairs = [(m.grad_norm, m.weight_norm) for m in found if m.grad_norm is not None and m.weight_norm]
        if not pairs:
            return ""
        g = math.sqrt(sum(a * a for a, _ in pairs))
        w = math.sqrt(sum(b * b for _, b in pairs))
        return _sci(g / w) if w else ""

    def worst(attr: str) -> Callable[[Row], str]:
        def value(row: Row) -> str:
            found = [getattr(m, attr) for m in members(row) if getattr(m, attr) is not None]
            return _pct(max(found)) if found else ""
        return value

    columns = {"grad": grad, "grad/w": ratio, "dead": worst("dead_fraction"), "sat": worst("saturation")}
    if any(layer.times for layer in probe.layers):  # timing pass ran (CUDA by default)
        def summed(key: str) -> Callable[[Row], str]:
            def value(row: Row) -> str:
                found = [m.times[key] for m in members(row) if m.times and m.times.get(key) is not None]
                return f"{sum(found):.3g}" if found else ""
            return value

        def achieved(row: Row) -> str:
            found = [m.times["flops_per_s"] for m in members(row) if m.times and m.times.get("flops_per_s")]
            return f"{max(found) / 1e12:.3g}" if found else ""

        columns.update({"fwd ms": summed("forward_ms"), "bwd ms": summed("backward_ms"), "TFLOP/s": achieved})
    return columns


def sparkline(values: list[float]) -> str:
    """One bar per value on a log10 scale between the smallest and largest positive value; 0 → '·'."""
    positive = [v for v in values if v > 0 and math.isfinite(v)]
    if not positive:
        return "·" * len(values)
    low, high = math.log10(min(positive)), math.log10(max(positive))
    span = high - low or 1.0
    out = []
    for v in values:
        if not math.isfinite(v):
            out.append("!")
        elif v <= 0:
            out.append("·")
        else:
            out.append(_BARS[min(len(_BARS) - 1, int((math.log10(v) - low) / span * len(_BARS)))])
    return "".join(out)


def render_probe_summary(probe: Any) -> str:
    """Device, loss, total gradient norm, first/last ratio, the sparkline and the side probes' figures."""
    lines = [f"probe: device {probe.device}   mode {probe.mode}   loss {probe.loss}   seed {probe.seed}   "
             f"batches {probe.batches} × {probe.batch_size}" + (f"   autocast {probe.autocast}" if probe.autocast else "")]
    ratio = probe.first_last_ratio
    lines.append(f"total gradient norm: {_sci(probe.total_grad_norm) or 'n/a'}   first/last layer ratio "
                 f"({probe.first_layer} / {probe.last_layer}): {_sci(ratio) or 'n/a'}")
    weighted = [l for l in probe.layers if l.grad_norm is not None and l.kind != "norm"]
    if weighted:
        norms = [l.grad_norm for l in weighted]
        positive = [v for v in norms if v > 0 and math.isfinite(v)]
        scale = f"   (log scale {_sci(min(positive))} … {_sci(max(positive))})" if positive else ""
        lines.append(f"gradient norm by depth: {weighted[0].name} {sparkline(norms)} {weighted[-1].name}{scale}")
    if probe.first_nonfinite:
        lines.append(f"first non-finite output: {probe.first_nonfinite}")
    bn = [l for l in probe.layers if l.bn_variance_ratio is not None]
    if bn:
        lines.append("BatchNorm Var(input, eval)/running_var: "
                     + ", ".join(f"{l.name} {l.bn_variance_ratio:.2f}" for l in bn))
    if probe.sequence and probe.sequence.get("grad_norms"):
        seq = probe.sequence
        pairs = ", ".join(f"T={t}: {_sci(n)}" for t, n in zip(seq["lengths"], seq["grad_norms"]))
        lines.append(f"gradient norm by sequence length: {pairs}   suggested max_norm {seq['suggested_max_norm']}")
    for note in probe.notes:
        lines.append(f"probe note: {note}")
    return "\n".join(lines)
