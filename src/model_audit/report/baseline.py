"""The pytest plugin's baseline file: validated on read, merged under a file lock on update.

Two pytest sessions (two CI jobs on one checkout, or a developer's two terminals) updating one
baseline used to each write their own view, losing the other's entries. An update now takes an
exclusive lock on ``FILE.lock`` (``fcntl.flock``; ``msvcrt.locking`` on Windows), re-reads the
file, merges its entries in and replaces the file atomically (write a temporary file, then
``os.replace``), so readers never see half a file and no session's entries are lost.
"""
from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from ..numbers import MAX_COUNT
from .metrics import gated

SCHEMA = 1  # entries hold every gated metric the audit had (peak_memory only when the memory analysis ran)


class BaselineError(ValueError):
    """A baseline file that is unreadable or not shaped like one; the message is one line."""


def entries_of(document: Any, path: Path) -> dict[str, dict[str, int]]:
    """The ``models`` table of a parsed baseline, every entry checked (key -> {metric: count})."""
    models = document.get("models") if isinstance(document, dict) else None
    if not isinstance(models, dict):
        raise BaselineError(f"{path}: not a model-audit baseline (no 'models' table)")
    for key, entry in models.items():
        if not isinstance(entry, dict):
            raise BaselineError(f"{path}: models[{key!r}] is {type(entry).__name__}, not a table of counts")
        known = {m.key for m in gated()}
        for metric, value in entry.items():
            if metric in known and (isinstance(value, bool) or not isinstance(value, int)
                                      or not 0 <= value <= MAX_COUNT):
                raise BaselineError(f"{path}: models[{key!r}].{metric} is {value!r}, not a non-negative integer")
    return models


def read_baseline(path: Path) -> dict[str, dict[str, int]]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as error:
        raise BaselineError(f"{path}: cannot read it ({error})") from None
    return entries_of(document, path)


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path``'s sibling ``.lock`` file (blocks until it is free)."""
    lock_path = path.with_name(path.name + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+b") as handle:
        try:
            import fcntl
        except ImportError:  # Windows
            import msvcrt

            handle.seek(0)
            while True:
                try:
                    msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)
                    break
                except OSError:  # LK_LOCK gives up after ten tries of one second
                    continue
            try:
                yield
            finally:
                handle.seek(0)
                msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
        else:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def merge_baseline(path: Path, entries: dict[str, dict[str, int]]) -> int:
    """Add ``entries`` to the baseline at ``path`` under the lock; returns how many the file holds."""
    with locked(path):
        models = read_baseline(path) if path.exists() else {}
        models = {**models, **entries}
        document = {"schema_version": SCHEMA, "tool": "model-audit", "models": dict(sorted(models.items()))}
        handle = tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, prefix=path.name + ".",
                                             suffix=".tmp", delete=False)
        try:
            with handle:
                handle.write(json.dumps(document, indent=2) + "\n")
            os.replace(handle.name, path)
        except BaseException:
            Path(handle.name).unlink(missing_ok=True)
            raise
    return len(models)
