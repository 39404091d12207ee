"""stdout is the report's: whatever user code prints while it is imported or run goes to stderr.

Model files print banners, ``print(model)`` and shapes inside ``forward``; with ``--format json``
that would corrupt the report on stdout. The CLI runs each command with ``sys.stdout`` pointing
at stderr and writes the report itself to the stream saved here.
"""
from __future__ import annotations

import sys
from contextlib import contextmanager, redirect_stdout
from contextvars import ContextVar
from typing import IO, Iterator

_REPORT: ContextVar[IO[str] | None] = ContextVar("model_audit_report_stream", default=None)


@contextmanager
def user_output_to_stderr() -> Iterator[None]:
    """Send ``print`` to stderr for the duration; :func:`report_stream` still reaches stdout."""
    token = _REPORT.set(sys.stdout)
    try:
        with redirect_stdout(sys.stderr):
            yield
    finally:
        _REPORT.reset(token)


def report_stream() -> IO[str]:
    """Where the report goes: the real stdout, even while user output is redirected."""
    return _REPORT.get() or sys.stdout
