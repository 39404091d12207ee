"""model-audit: exact parameters, MACs/FLOPs, shapes and risks of PyTorch models.

Public API: :func:`audit` returns an :class:`AuditReport`.
"""
from __future__ import annotations

from .auditor.engine import audit
from .auditor.inputs import InputSpec, parse_input_spec
from .auditor.ir import Layer, LayerGraph
from .errors import AuditError, InputSpecError, ModelExecutionError, TargetError
from .report import SCHEMA_VERSION, AuditReport
from .units import format_count, parse_count

__version__ = "0.1.0"

__all__ = [
    "audit", "AuditReport", "Layer", "LayerGraph", "InputSpec", "parse_input_spec", "AuditError",
    "InputSpecError", "ModelExecutionError", "TargetError", "SCHEMA_VERSION", "format_count",
    "parse_count", "__version__",
]
