"""Memory analysis: will a training step or an inference pass fit, measured on meta tensors."""
from __future__ import annotations

from .step import StepMemory, measure_step

__all__ = ["StepMemory", "measure_step"]
