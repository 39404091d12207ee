"""Subcommands of ``model-audit`` besides auditing one target.

Each module named here defines ``main(argv: list[str]) -> int`` and raises AuditError for bad
input (``cli.main`` turns it into one line on stderr and exit code 2).
"""
from __future__ import annotations

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    # name: (module, one-line help shown in `model-audit --help`)
    "check": ("model_audit.cli.check", "audit every [[tool.model-audit.targets]] against its budgets (CI gate)"),
    "diff": ("model_audit.cli.diff", "params/MACs/FLOPs deltas between two JSON reports, total and per layer"),
    "rules": ("model_audit.cli.rules", "list the risk rules, or print one rule's documentation"),
}
