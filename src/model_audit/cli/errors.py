"""Exit code 3: an error in model-audit itself, reported in one line that says where to send it."""
from __future__ import annotations

import traceback
from importlib import metadata

INTERNAL_ERROR = 3


def issues_url() -> str:
    """Where to report a bug: the package's ``Issues`` URL (pyproject's [project.urls], one place)."""
    try:
        urls = metadata.metadata("model-audit").get_all("Project-URL") or []
    except metadata.PackageNotFoundError:  # run from a source tree without installing
        urls = []
    for entry in urls:
        label, _, url = entry.partition(",")
        if label.strip().lower() == "issues":
            return url.strip()
    return "the project's issue tracker"


def internal_error_line(error: BaseException) -> str:
    """'model-audit: internal error: KeyError: 'x' (at costs.py:120); please report ...'."""
    frames = traceback.extract_tb(error.__traceback__)
    where = f" (at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno})" if frames else ""
    text = (str(error).strip().splitlines() or [""])[0]
    return (f"model-audit: internal error: {type(error).__name__}: {text}{where}; this is a bug in model-audit, "
            f"please report it at {issues_url()} with the output of the same command with --debug")
