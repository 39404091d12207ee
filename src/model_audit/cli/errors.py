"""Exit code 3: an error in model-audit itself, reported in one line that says where to send it."""
from __future__ import annotations

import traceback

INTERNAL_ERROR = 3
ISSUES_URL = "https://github.com/model-audit/model-audit/issues"


def internal_error_line(error: BaseException) -> str:
    """'model-audit: internal error: KeyError: 'x' (at costs.py:120); please report ...'."""
    frames = traceback.extract_tb(error.__traceback__)
    where = f" (at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno})" if frames else ""
    text = (str(error).strip().splitlines() or [""])[0]
    return (f"model-audit: internal error: {type(error).__name__}: {text}{where}; this is a bug in model-audit, "
            f"please report it at {ISSUES_URL} with the output of the same command with --debug")
