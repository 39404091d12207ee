"""model-audit: exact parameters, MACs/FLOPs, shapes and risks of PyTorch models.

Public API: :func:`audit` returns an :class:`AuditReport`.
"""
from __future__ import annotations

from .api import audit
from .auditor.erf import effective_receptive_field
from .auditor.inputs import InputSpec, parse_input_spec
from .auditor.ir import Layer, LayerGraph
from .config import ProjectConfig, load_config
from .errors import AuditError, InputSpecError, ModelExecutionError, TargetError
from .findings import Finding, Severity
from .report import SCHEMA_VERSION, AuditReport
from .reports.budget import Breach, Budget, BudgetExceeded
from .rules.base import Rule, RuleContext, RuleDoc, rule
from .rules.spec import hookimpl
from .units import format_count, parse_count

__version__ = "0.1.0"

__all__ = [
    "audit", "AuditReport", "Layer", "LayerGraph", "InputSpec", "parse_input_spec", "AuditError",
    "InputSpecError", "ModelExecutionError", "TargetError", "SCHEMA_VERSION", "format_count",
    "parse_count", "__version__", "Finding", "Severity", "Rule", "RuleContext", "RuleDoc", "rule", "hookimpl",
    "ProjectConfig", "load_config",
    "Budget", "Breach", "BudgetExceeded",
    "effective_receptive_field",
]
