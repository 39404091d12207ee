"""Budgets: limits on params/MACs/FLOPs/uncounted ops/findings and the comparison with a report.

One comparison serves every surface — ``AuditReport.assert_budget`` and the pytest marker, the
CLI's ``--max-*`` gates and ``model-audit check`` — so a breach reads the same everywhere: the
measured figure, the budget, the excess, and the three layers that contribute most.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any, Callable, Mapping

from ..errors import AuditError
from .finding import Severity
from .metrics import METRICS, Metric
from ..numbers import parse_fraction, parse_int
from ..units import format_bytes, format_count

LABELS = {**{key: metric.label for key, metric in METRICS.items()}, "uncounted_fraction": "uncounted fraction",
          "findings": "findings"}


class BudgetError(AuditError):
    """A budget that cannot be parsed ("25Q", a negative count, an unknown severity): exit code 2."""


class BudgetExceeded(AssertionError):
    """Raised by ``AuditReport.assert_budget``; pytest shows its message as the failure."""

    def __init__(self, breaches: list["Breach"]) -> None:
        self.breaches = breaches
        super().__init__("\n".join(b.message() for b in breaches))


@dataclass(frozen=True)
class Budget:
    """Upper limits; ``None`` means unlimited.

    ``findings`` is either a severity ("warning": no finding at or above it) or a count (at most N
    findings of any severity). ``uncounted_fraction`` limits the share of layers that ran an op
    with no FLOP formula (0.0: every op counted).
    """

    params: int | None = None
    macs: int | None = None
    flops: int | None = None
    uncounted_fraction: float | None = None
    findings: Severity | int | None = None
    peak_memory: int | None = None  # bytes at the peak of the memory analysis' step ("4GiB")

    @classmethod
    def parse(cls, *, where: str = "budget", **values: Any) -> "Budget":
        """Build from ints or human units ("25M", "4.1G", "1.5e9"); BudgetError names ``where``."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise BudgetError(f"{where}: unknown budget {', '.join(unknown)}; use {', '.join(sorted(known))}")
        parsed: dict[str, Any] = {}
        for metric in _budgeted():
            if values.get(metric.key) is not None:
                try:
                    parsed[metric.key] = metric.parse(values[metric.key])
                except ValueError as error:
                    raise BudgetError(f"{where} {metric.label}: {error}") from None
        if values.get("uncounted_fraction") is not None:
            parsed["uncounted_fraction"] = _fraction(values["uncounted_fraction"], where)
        if values.get("findings") is not None:
            parsed["findings"] = _findings_limit(values["findings"], where)
        return cls(**parsed)

    @classmethod
    def from_table(cls, table: Mapping[str, Any], where: Callable[[str], str]) -> "Budget":
        """Budgets from a ``[tool.model-audit]`` table: ``max-params``, ``max-macs``, ``max-flops``,
        ``max-uncounted-fraction``, ``max-findings``; other keys are someone else's.
        ``where(key)`` names the key in errors (``ProjectConfig.where``)."""
        values = {}
        for f in fields(cls):
            key = "max-" + f.name.replace("_", "-")
            if key in table:
                try:
                    values.update(cls.parse(**{f.name: table[key]}).to_dict())
                except BudgetError as error:
                    raise BudgetError(f"{where(key)}: {str(error).split(': ', 1)[1]}") from None
        return cls.parse(**values)

    def override(self, other: "Budget") -> "Budget":
        """This budget with every limit ``other`` sets replaced (CLI over pyproject, target over defaults)."""
        return replace(self, **{f.name: getattr(other, f.name) for f in fields(other) if getattr(other, f.name) is not None})

    @property
    def empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}
        if isinstance(self.findings, Severity):
            data["findings"] = str(self.findings)
        return data


@dataclass(frozen=True)
class Breach:
    """One limit a report exceeds, with what it takes to explain it."""

    metric: str  # params | macs | flops | uncounted_fraction | findings
    measured: float
    limit: float | str
    top: list[tuple[str, float]] = field(default_factory=list)  # (layer or finding, its figure)

    @property
    def excess(self) -> float | None:
        return None if isinstance(self.limit, str) else self.measured - self.limit

    def message(self) -> str:
        label = LABELS[self.metric]
        metric = METRICS.get(self.metric)
        if metric is not None:
            pct = f" (+{100.0 * self.excess / self.limit:.2f}%)" if self.limit else ""
            return (f"{label} {figure(metric, self.measured)} exceeds the budget {figure(metric, self.limit, exact=False)} "
                    f"by {figure(metric, self.excess, exact=False)}{pct}" + holders_text(metric, self.top, self.measured))
        if self.metric == "uncounted_fraction":
            top = ", ".join(f"{name} ({int(n)} calls)" for name, n in self.top)
            return (f"{label} {self.measured:.3f} exceeds the budget {self.limit:.3f} by {self.excess:.3f}"
                    + (f"; layers with uncounted ops: {top}" if top else ""))
        shown = "; ".join(name for name, _ in self.top)
        if isinstance(self.limit, str):
            return (f"{int(self.measured)} finding(s) at or above {self.limit}, budget allows none"
                    + (f": {shown}" if shown else ""))
        return (f"{int(self.measured)} findings exceed the budget of {int(self.limit)} by {int(self.excess)}"
                + (f": {shown}" if shown else ""))

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "measured": self.measured, "limit": self.limit, "excess": self.excess,
                "top": [{"name": name, "value": value} for name, value in self.top], "message": self.message()}


def uncounted_fraction(report: Any) -> float:
    """Share of layers that ran at least one op without a FLOP formula (0.0 when there are no layers)."""
    layers = report.layers
    return sum(1 for layer in layers if layer.uncounted_ops) / len(layers) if layers else 0.0


def check_budget(report: Any, budget: Budget) -> list[Breach]:
    """Every limit of ``budget`` that ``report`` (an AuditReport) exceeds; empty when it fits."""
    breaches: list[Breach] = []
    for metric in _budgeted():
        limit = getattr(budget, metric.key)
        if limit is None:
            continue
        measured = metric.of_report(report)
        if measured is None:  # never a silent pass: the figure needs an analysis that did not run
            raise BudgetError(f"a {metric.label} budget needs {metric.needs or 'a figure this audit lacks'}")
        if measured > limit:
            breaches.append(Breach(metric.key, measured, limit, holders(report, metric)))
    if budget.uncounted_fraction is not None:
        measured = uncounted_fraction(report)
        if measured > budget.uncounted_fraction:
            worst = sorted(((l.name, sum(l.uncounted_ops.values())) for l in report.layers if l.uncounted_ops),
                           key=lambda item: -item[1])[:3]
            breaches.append(Breach("uncounted_fraction", measured, budget.uncounted_fraction, worst))
    if budget.findings is not None:
        findings = list(report.findings)
        if isinstance(budget.findings, Severity):
            over = [f for f in findings if f.severity >= budget.findings]
            if over:
                breaches.append(Breach("findings", len(over), str(budget.findings), _finding_rows(over)))
        elif len(findings) > budget.findings:
            breaches.append(Breach("findings", len(findings), budget.findings, _finding_rows(findings)))
    return breaches


def _budgeted() -> list[Metric]:
    """The gated metrics a ``Budget`` has a limit for (its fields name them)."""
    names = {f.name for f in fields(Budget)}
    return [m for m in METRICS.values() if m.gate and m.key in names]


def top_layers(report: Any, metric: str, n: int = 3) -> list[tuple[str, int]]:
    """The ``n`` layers with the largest ``metric``, largest first (ties in model order)."""
    return ranked_layers(report.layers, METRICS[metric], n)


def ranked_layers(layers: Any, metric: Metric, n: int = 3) -> list[tuple[str, int]]:
    """The ``n`` layers (IR layers or JSON layer dicts) with the largest per-layer figure."""
    figures = []
    for layer in layers:
        value = metric.of_layer(layer)
        if value:
            figures.append((layer["name"] if isinstance(layer, dict) else layer.name, value))
    return sorted(figures, key=lambda item: -item[1])[:n]


def holders(report: Any, metric: Metric, n: int = 3) -> list[tuple[str, int]]:
    """What holds most of ``metric`` in an AuditReport: the metric's own ``holders`` (the layers at
    the memory peak), else the layers ranked by their per-layer figure."""
    if metric.holders is not None:
        return metric.holders(report.summary())[:n]
    return ranked_layers(report.layers, metric, n)


def holders_in(document: dict[str, Any], metric: Metric, n: int = 3) -> list[tuple[str, int]]:
    """``holders`` for a JSON report document (diffs and baselines read files, not reports)."""
    if metric.holders is not None:
        return metric.holders(document.get("summary") or {})[:n]
    return ranked_layers(document.get("layers") or [], metric, n)


def holders_text(metric: Metric, top: list[tuple[str, float]], whole: float | None = None) -> str:
    """'; top layers: a (1.2M, 40.0%), ...' — the tail every breach and regression message shares."""
    if not top:
        return ""
    if metric.unit == "bytes":
        parts = [f"{name} ({metric.format(value)})" for name, value in top]
    else:
        parts = [f"{name} ({metric.format(value)}, {_share(value, whole or 0)})" for name, value in top]
    return f"; {metric.holders_label}: " + ", ".join(parts)


def amount(metric: Metric, value: float) -> str:
    """A figure in a growth message: '25,557,032' for counts, '1.50 MiB (1,572,864 bytes)' for bytes."""
    return figure(metric, value) if metric.unit == "bytes" else f"{int(value):,}"


def figure(metric: Metric, value: float, exact: bool = True) -> str:
    """A figure in its unit: '25,557,032 (25.56M)' for counts, '1.50 MiB (1,572,864 bytes)' for bytes
    (``exact=False``: '1.50 MiB'; counts always keep their exact form)."""
    if metric.unit == "bytes":
        return format_bytes(value) + (f" ({int(value):,} bytes)" if exact else "")
    return _figure(value)


def budget_section(budget: Budget, breaches: list[Breach]) -> dict[str, Any]:
    """What the CLI stores in ``report.extra["budget"]`` (the JSON ``budget`` section renderers read)."""
    return {"limits": budget.to_dict(), "ok": not breaches, "breaches": [b.to_dict() for b in breaches]}


def _finding_rows(findings: list[Any]) -> list[tuple[str, float]]:
    ordered = sorted(findings, key=lambda f: -f.severity)[:3]
    return [(f"{f.severity} {f.rule}" + (f" at {f.layer}" if f.layer else ""), int(f.severity)) for f in ordered]


def _figure(value: float) -> str:
    """'25,557,032 (25.56M)', or just '325' when the human form adds nothing."""
    human = format_count(value)
    exact = f"{int(value):,}"
    return exact if human.replace(",", "") == exact.replace(",", "") else f"{exact} ({human})"


def _share(part: float, whole: float) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "-"


def _fraction(value: Any, where: str) -> float:
    try:
        return parse_fraction(value, upper=1.0)
    except ValueError as error:
        raise BudgetError(f"{where} uncounted fraction: {error}") from None


def _findings_limit(value: Any, where: str) -> Severity | int:
    if isinstance(value, Severity):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise BudgetError(f"{where} findings: a count cannot be negative: {value}")
        return value
    text = str(value).strip()
    if text.isdigit():
        try:
            return parse_int(text, low=0, high=10**9, what="a findings count")
        except ValueError as error:
            raise BudgetError(f"{where} findings: {error}") from None
    try:
        return Severity.parse(text)
    except ValueError:
        raise BudgetError(f"{where} findings: {value!r} is neither a count nor a severity (info, warning, error)") from None
