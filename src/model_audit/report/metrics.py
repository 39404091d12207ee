"""The METRICS registry: every whole-model figure that budgets, diffs, baselines and renderers compare.

One entry per metric — its report attribute, its label, its pyproject/CLI budget key and its unit —
so adding a figure (peak memory, say) is one line here and every gate, diff and summary knows it.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    key: str  # AuditReport attribute and JSON ``summary`` key
    label: str  # how reports name it
    unit: str = "count"  # "count" (K/M/G) or "bytes" (KiB/MiB/GiB)

    @property
    def budget_key(self) -> str:
        """``max-<key>`` in ``[tool.model-audit]`` and ``--max-<key>`` on the command line."""
        return "max-" + self.key.replace("_", "-")


METRICS: dict[str, Metric] = {m.key: m for m in (
    Metric("params", "params"),
    Metric("macs", "MACs"),
    Metric("flops", "FLOPs"),
)}


def register_metric(metric: Metric) -> None:
    """Add a whole-model figure (an analysis that produces one calls this once at import)."""
    if metric.key in METRICS and METRICS[metric.key] != metric:
        raise ValueError(f"a metric named {metric.key!r} is already registered")
    METRICS[metric.key] = metric


def label(key: str) -> str:
    metric = METRICS.get(key)
    return metric.label if metric is not None else key.replace("_", " ")
