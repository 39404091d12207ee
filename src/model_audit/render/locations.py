"""Where a finding points: ``Finding.source`` ("path/to/file.py:LINE") as (path, line) for annotations."""
from __future__ import annotations

import os
from pathlib import Path


def split_source(source: str | None) -> tuple[str | None, int | None]:
    """'a/b.py:12' -> ('a/b.py', 12); 'a/b.py' -> ('a/b.py', None); None -> (None, None)."""
    if not source:
        return None, None
    path, sep, line = source.rpartition(":")
    if sep and line.isdigit() and path:
        return path, int(line)
    return source, None


def repository_root(start: str | Path | None = None) -> Path:
    """The root annotations are relative to: GitHub and SARIF consumers resolve paths against the
    repository's root, not the directory the command ran in. ``$GITHUB_WORKSPACE`` when it contains
    ``start``, else the nearest ancestor holding ``.git``, else ``start`` (the working directory)."""
    here = Path(start or Path.cwd()).resolve()
    workspace = os.environ.get("GITHUB_WORKSPACE")
    if workspace:
        root = Path(workspace).resolve()
        if here == root or root in here.parents:
            return root
    for candidate in (here, *here.parents):
        if (candidate / ".git").exists():
            return candidate
    return here


def relative_path(path: str, root: str | Path | None = None) -> str:
    """``path`` relative to ``root`` (default: :func:`repository_root`) in POSIX form when it lies
    below it; otherwise unchanged."""
    base = Path(root).resolve() if root else repository_root()
    try:
        return Path(os.path.abspath(path)).resolve().relative_to(base).as_posix()
    except ValueError:
        return path


def project_file(path: str | None, root: str | Path | None = None) -> str | None:
    """``path`` relative to ``root`` when it is the project's own code; None for installed packages
    (``torch/nn/modules/conv.py``) or files outside the checkout, which an annotation cannot point at."""
    if not path:
        return None
    parts = Path(path).parts
    if "site-packages" in parts or "dist-packages" in parts:
        return None
    rel = relative_path(path, root)
    return None if Path(rel).is_absolute() else rel
