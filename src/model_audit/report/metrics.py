"""The METRICS registry: every whole-model figure that budgets, diffs, baselines and renderers compare.

One entry per metric — its label, its unit, where the figure sits in the JSON report (summary and
per layer), its budget key — so adding a figure (peak memory, say) is one line here and every
gate, diff and summary knows it. A figure an analysis produces (``summary.memory.peak_bytes``) is
*optional*: it exists only when that analysis ran, and every consumer compares it only where
both sides have it (a budget on it without the analysis is an error, never a silent pass).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..units import format_bytes, format_count, parse_bytes, parse_count

Holders = Callable[[dict[str, Any]], list[tuple[str, int]]]


@dataclass(frozen=True)
class Metric:
    key: str  # AuditReport attribute / JSON ``summary`` key, or the name of an analysis' figure
    label: str  # how reports name it
    unit: str = "count"  # "count" (K/M/G) or "bytes" (KiB/MiB/GiB)
    where: tuple[str, ...] = ()  # path in the JSON summary when not ``summary[key]``: ("memory", "peak_bytes")
    per_layer: tuple[str, ...] | None = ()  # path in a JSON layer; () = (key,), None = no per-layer figure
    layer_label: str = ""  # the per-layer column's name when it is not ``label``
    gate: bool = True  # budgets (max-<key>), pytest baselines and ``diff --max-increase`` compare it
    holders: Holders | None = None  # (name, figure) of what holds most of it, from the JSON summary;
    holders_label: str = "top layers"  # None: the layers ranked by their per-layer figure
    needs: str = ""  # how to make an optional figure exist (said when a budget asks for it and it is absent)

    @property
    def budget_key(self) -> str:
        """``max-<key>`` in ``[tool.model-audit]`` and ``--max-<key>`` on the command line."""
        return "max-" + self.key.replace("_", "-")

    @property
    def summary_path(self) -> tuple[str, ...]:
        return self.where or (self.key,)

    @property
    def layer_path(self) -> tuple[str, ...] | None:
        return (self.key,) if self.per_layer == () else self.per_layer

    @property
    def optional(self) -> bool:
        """Whether the figure exists only when an analysis ran (it lives in that analysis' section)."""
        return len(self.summary_path) > 1

    def of_summary(self, summary: Any) -> int | None:
        """The figure in a JSON ``summary`` (or None when the analysis that makes it did not run)."""
        return _walk(summary, self.summary_path)

    def of_layer(self, layer: Any) -> int | None:
        """The per-layer figure of a JSON layer dict or an IR ``Layer`` (None: none for this layer)."""
        path = self.layer_path
        if path is None:
            return None
        if isinstance(layer, dict):
            return _walk(layer, path)
        head = getattr(layer, path[0], None)
        if head is None:
            head = getattr(layer, "attrs", {}).get(path[0])
        return head if len(path) == 1 else _walk(head, path[1:])

    def of_report(self, report: Any) -> int | None:
        """The figure of an ``AuditReport`` (attribute, else the analysis' summary), or None."""
        head = getattr(report, self.summary_path[0], None)
        if head is None:
            head = getattr(report, "analyses", {}).get(self.summary_path[0])
        return head if len(self.summary_path) == 1 else _walk(head, self.summary_path[1:])

    def format(self, value: float | None) -> str:
        return format_bytes(value) if self.unit == "bytes" else format_count(value)

    def parse(self, text: Any) -> int:
        """A limit in this metric's unit ("25M", "4GiB"); ValueError with the reason."""
        return parse_bytes(text) if self.unit == "bytes" else parse_count(text)


def _walk(data: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def held_at_peak(summary: dict[str, Any]) -> list[tuple[str, int]]:
    """The layers whose saved activations hold most at the memory peak; when none does (a peak in
    the optimizer step), the categories the peak holds most of, as ``(category)``."""
    memory = summary.get("memory") if isinstance(summary, dict) else None
    if not isinstance(memory, dict):
        return []
    top = [(str(t["name"]), int(t["bytes"])) for t in memory.get("top_layers") or [] if isinstance(t, dict)]
    if top:
        return top
    held = sorted((memory.get("at_peak") or {}).items(), key=lambda kv: -kv[1])[:3]
    return [(f"({category})", int(value)) for category, value in held]


MEMORY_NEEDS = "the memory analysis: audit(..., memory='train') or --memory train"

METRICS: dict[str, Metric] = {m.key: m for m in (
    Metric("params", "params"),
    Metric("macs", "MACs"),
    Metric("flops", "FLOPs"),
    Metric("peak_memory", "peak memory", "bytes", ("memory", "peak_bytes"), ("memory", "live_bytes"), "live",
           holders=held_at_peak, holders_label="held most at the peak", needs=MEMORY_NEEDS),
    Metric("activation_memory", "saved activations", "bytes", ("memory", "activations_bytes"),
           ("memory", "saved_bytes"), "saved", gate=False, needs=MEMORY_NEEDS),
    Metric("params_memory", "params memory", "bytes", ("memory", "params_bytes"), None, gate=False, needs=MEMORY_NEEDS),
    Metric("gradients_memory", "gradients memory", "bytes", ("memory", "gradients_bytes"), None, gate=False,
           needs=MEMORY_NEEDS),
    Metric("optimizer_memory", "optimizer state", "bytes", ("memory", "optimizer_bytes"), None, gate=False,
           needs=MEMORY_NEEDS),
)}


def register_metric(metric: Metric) -> None:
    """Add a whole-model figure (an analysis that produces one calls this once at import)."""
    if metric.key in METRICS and METRICS[metric.key] != metric:
        raise ValueError(f"a metric named {metric.key!r} is already registered")
    METRICS[metric.key] = metric


def gated() -> list[Metric]:
    """The metrics budgets, baselines and ``diff --max-increase`` compare."""
    return [m for m in METRICS.values() if m.gate]


def label(key: str) -> str:
    metric = METRICS.get(key)
    return metric.label if metric is not None else key.replace("_", " ")
