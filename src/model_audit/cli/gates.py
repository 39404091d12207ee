"""CI gates: ``--max-params/--max-macs/--max-flops`` over ``[tool.model-audit]`` defaults, enforced.

Shared by ``model-audit TARGET`` and ``model-audit check``: budgets are parsed before the audit
(a bad unit is exit 2 before any work), checked after it, recorded in the report's ``budget``
section (so every format shows them) and announced on stderr, one line per breach.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from ..config import ProjectConfig
from ..report.budget import Breach, Budget, budget_section, check_budget
from ..report.metrics import gated


def add_budget_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("budgets (exit 1 when exceeded; defaults from [tool.model-audit] max-params, ...)")
    group.add_argument("--max-params", metavar="N", help="parameter budget, e.g. 25M or 25557032")
    group.add_argument("--max-macs", metavar="N", help="MAC budget, e.g. 4.1G")
    group.add_argument("--max-flops", metavar="N", help="FLOP budget, e.g. 8.2G or 1.5e9")
    group.add_argument("--max-peak-memory", metavar="BYTES",
                       help="peak memory of the --memory step, e.g. 4GiB (implies --memory train)")


def budget_from(args: argparse.Namespace, project: ProjectConfig | None) -> Budget:
    """pyproject's ``max-*`` keys, overridden by the command line; BudgetError (exit 2) on a bad unit."""
    base = Budget.from_table(project.data, project.where) if project is not None and project.data else Budget()
    cli = Budget()
    for metric in gated():
        value = getattr(args, "max_" + metric.key, None)
        if value is not None:
            cli = cli.override(Budget.parse(where="--" + metric.budget_key, **{metric.key: value}))
    return base.override(cli)


def enforce(report: Any, budget: Budget, stream: TextIO | None = None) -> tuple[Any, list[Breach]]:
    """Check ``report`` against ``budget``; return the report with its ``budget`` section and the breaches
    (one stderr line each)."""
    if budget.empty:
        return report, []
    breaches = check_budget(report, budget)
    out = stream if stream is not None else sys.stderr
    for breach in breaches:
        print(f"model-audit: budget exceeded: {report.model}: {breach.message()}", file=out)
    return report.with_sections(budget=budget_section(budget, breaches)), breaches
