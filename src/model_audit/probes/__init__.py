"""Probes: real forward/backward passes that measure what the static rules predict.

``probe_model`` (runner.py) → ``ProbeReport`` (report.py) with per-layer gradient norms, dead and
saturated units and non-finite values; ``probe_findings``/``confirm_findings`` (findings.py) turn
the measurements into findings. See docs/probes.md.
"""
from .findings import PROBE_RULES, THRESHOLDS, confirm_findings, probe_findings
from .report import LayerProbe, ProbeReport
from .runner import probe_model, resolve_device

RULE_IDS = PROBE_RULES  # the ids rules/builtin/measured.py registers (docs, options, selection)

__all__ = ["PROBE_RULES", "RULE_IDS", "THRESHOLDS", "LayerProbe", "ProbeReport", "confirm_findings", "probe_findings",
           "probe_model", "resolve_device"]
