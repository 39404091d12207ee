"""User-facing errors: each carries one clear message; the CLI prints it and exits 2."""
from __future__ import annotations


class AuditError(Exception):
    """Bad input from the user (target, inputs, budgets). Never shown as a traceback."""

    exit_code = 2


class TargetError(AuditError):
    """The target file/module cannot be loaded or holds no (unique) model."""


class InputSpecError(AuditError):
    """An ``--input`` spec or ``input_shape`` cannot be parsed or built."""


class ModelExecutionError(AuditError):
    """The model rejected the example inputs; names the layer and the shapes involved."""

    def __init__(self, message: str, layer: str | None = None) -> None:
        super().__init__(message)
        self.layer = layer
