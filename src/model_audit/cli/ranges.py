"""Budgets over a range of sizes: ``max-flops = "10G"`` over ``L <= 4096`` answers the largest passing L.

Every admissible size up to the bound (the dimension's class: base mod step) is evaluated exactly
from the formula, the other dimensions at their base sizes; the answer is the largest size below
which every size fits, so a cost that is not monotone cannot hide a breach.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence

from ..errors import AuditError
from ..report.budget import Breach, Budget, LABELS
from ..units import format_count
from ..analyses.symbolic.fit import SymbolicCosts
from ..analyses.symbolic.spec import Dim, parse_dims

_RANGE = re.compile(r"^\s*([A-Za-z_][A-Za-z_0-9]*)\s*<=\s*(\d+)\s*$")
MAX_SCAN = 1_000_000


@dataclass(frozen=True)
class RangeAnswer:
    metric: str
    name: str
    upper: int
    limit: int
    largest: int | None  # the largest passing size (None: even the smallest breaches)
    worst: int  # the metric's largest value over the range
    worst_at: int

    @property
    def ok(self) -> bool:
        return self.worst <= self.limit

    def line(self) -> str:
        label = LABELS[self.metric]
        if self.ok:
            return (f"{label} fits {format_count(self.limit)} for every {self.name} <= {self.upper} "
                    f"(at most {format_count(self.worst)})")
        answer = (f"largest passing {self.name} is {self.largest}" if self.largest is not None
                  else f"no {self.name} passes")
        return (f"{label} over {self.name} <= {self.upper}: {answer} "
                f"({format_count(self.worst)} at {self.name}={self.worst_at} exceeds {format_count(self.limit)})")

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "dim": self.name, "upper": self.upper, "limit": self.limit, "ok": self.ok,
                "largest_passing": self.largest, "worst": self.worst, "worst_at": self.worst_at,
                "message": self.line()}


def parse_over(text: str, dims: Sequence[Dim]) -> tuple[str, int]:
    """'L <= 4096' -> ('L', 4096); the name must be one of the symbolic dimensions (or an alias)."""
    match = _RANGE.match(str(text))
    if not match:
        raise AuditError(f"cannot parse the range {text!r}: expected NAME <= N, e.g. \"L <= 4096\"")
    name, upper = match.group(1), int(match.group(2))
    alias = {a: d.name for d in dims for a in d.names}
    if name not in alias:
        raise AuditError(f"the range {text!r} names {name!r}, which is not a symbolic dimension "
                         f"({', '.join(d.name for d in dims)})")
    return alias[name], upper


def answer(costs: SymbolicCosts, metric: str, limit: int, name: str, upper: int) -> RangeAnswer:
    """Scan the admissible sizes of ``name`` up to ``upper``, exactly."""
    dim = next(d for d in costs.dims if d.name == name)
    first = costs.base[name] % dim.step or dim.step
    if (upper - first) // dim.step > MAX_SCAN:
        raise AuditError(f"the range {name} <= {upper} has more than {MAX_SCAN:,} sizes; give a smaller bound")
    poly = getattr(costs, metric)
    largest, worst, worst_at, passing = None, None, first, True
    for value in range(first, upper + 1, dim.step):
        figure = int(poly({**costs.base, name: value}))
        if worst is None or figure > worst:
            worst, worst_at = figure, value
        if figure > limit:
            passing = False
        elif passing:
            largest = value
    return RangeAnswer(metric, name, upper, limit, largest, worst if worst is not None else 0, worst_at)


def range_breaches(costs: SymbolicCosts, budget: Budget, over: str) -> tuple[list[Breach], list[RangeAnswer]]:
    """The count budgets (params, MACs, FLOPs) checked over the whole range."""
    name, upper = parse_over(over, costs.dims)
    answers, breaches = [], []
    for metric in ("params", "macs", "flops"):
        limit = getattr(budget, metric)
        if limit is None:
            continue
        result = answer(costs, metric, limit, name, upper)
        answers.append(result)
        if not result.ok:
            breaches.append(Breach(metric, result.worst, limit, [(f"{name}={result.worst_at}", result.worst)]))
    return breaches, answers


def enforce_range(report: Any, budget: Budget, over: str) -> tuple[list[Breach], list[RangeAnswer]]:
    """Check a symbolic report's count budgets over ``over``; recorded as ``report.extra['budget_range']``."""
    if report.symbolic is None:
        raise AuditError(f"a budget over a range ({over!r}) needs a symbolic audit: add --symbolic (or symbolic = ...)")
    breaches, answers = range_breaches(report.symbolic, budget, over)
    report.extra["budget_range"] = [a.to_dict() for a in answers]
    return breaches, answers


def check_spelling(symbolic: str, over: str) -> None:
    """Fail before the audit when ``over`` cannot apply to ``symbolic`` (exit 2 at once)."""
    parse_over(over, parse_dims(symbolic))
