"""model-audit: exact parameters, MACs/FLOPs, shapes and risks of PyTorch models.

Public API: :func:`audit` returns an :class:`AuditReport`.
"""
from __future__ import annotations

import warnings

# Without numpy installed, torch warns "Failed to initialize NumPy" on import: model-audit never
# needs numpy, so that warning must not open every command's output.
warnings.filterwarnings("ignore", message="Failed to initialize NumPy", category=UserWarning)

from .analyses import Analysis, register_analysis  # noqa: E402
from .analyses.costs import Cost, register_cost  # noqa: E402
from .api import AuditOptions, audit  # noqa: E402
from .probes.erf import effective_receptive_field
from .target.inputs import InputSpec, parse_input_spec
from .ir.graph import Layer, LayerGraph
from .config import ProjectConfig, load_config
from .errors import AuditError, InputSpecError, ModelExecutionError, TargetError
from .report.finding import Finding, Severity
from .report.audit_report import SCHEMA_VERSION, AuditReport
from .report.budget import Breach, Budget, BudgetExceeded
from .rules.base import Rule, RuleContext, RuleDoc, rule
from .hookspec import hookimpl
from .units import format_count, parse_count

__version__ = "0.1.0"

__all__ = [
    "audit", "AuditReport", "Layer", "LayerGraph", "InputSpec", "parse_input_spec", "AuditError",
    "InputSpecError", "ModelExecutionError", "TargetError", "SCHEMA_VERSION", "format_count",
    "parse_count", "__version__", "Finding", "Severity", "Rule", "RuleContext", "RuleDoc", "rule", "hookimpl",
    "ProjectConfig", "load_config",
    "Budget", "Breach", "BudgetExceeded",
    "effective_receptive_field", "AuditOptions", "Analysis", "register_analysis", "Cost", "register_cost",
]
