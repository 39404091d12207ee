"""User-facing errors: each carries one clear message; the CLI prints it and exits 2."""
from __future__ import annotations

import os
import traceback
from contextlib import contextmanager
from typing import Iterator


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


class UserExitError(AuditError):
    """The model's own code called ``sys.exit()``/``exit()``: an error, never a silent exit 0."""


@contextmanager
def user_code(where: str) -> Iterator[None]:
    """Run user code (a factory, ``forward``, ``example_inputs``): ``SystemExit`` becomes an error naming ``where``.

    ``sys.exit(0)`` inside a model would otherwise end the audit, and a CI gate, with exit 0 and no output.
    """
    try:
        yield
    except SystemExit as exit_:
        frames = traceback.extract_tb(exit_.__traceback__)
        frame = next((f for f in reversed(frames) if not f.filename.startswith("<")), None)  # skip exit()'s own frame
        at = f" ({os.path.basename(frame.filename)}, line {frame.lineno})" if frame else ""
        raise UserExitError(f"{where} called sys.exit({exit_.code!r}){at}; a model must not exit the process") from None
