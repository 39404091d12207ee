"""Probes: real forward/backward passes that measure what the static rules predict.

``probe_model`` (runner.py) → ``ProbeReport`` (report.py) with per-layer gradient norms, dead and
saturated units, non-finite values, BatchNorm variance shifts and RNN gradient growth. Probes only
measure: the measured rules (``rules/builtin/measured.py``) judge the figures with their thresholds.
See docs/probes.md.
"""
from .report import LayerProbe, ProbeReport
from .runner import probe_model, resolve_device

__all__ = ["LayerProbe", "ProbeReport", "probe_model", "resolve_device"]
