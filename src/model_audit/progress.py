"""A one-line progress bar on stderr, drawn only when stderr is a terminal (never in CI logs or pipes)."""
from __future__ import annotations

import sys
from typing import TextIO


class Progress:
    """``with Progress(total, "auditing") as bar: bar.step("resnet50")`` -> ``[2/5] ████░░ auditing resnet50``."""

    def __init__(self, total: int, label: str = "", stream: TextIO | None = None, width: int = 24) -> None:
        self.total = max(1, total)
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.done = 0
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())

    def step(self, item: str = "") -> None:
        """Show that ``item`` is being worked on (the bar counts the items finished before it)."""
        if not self.enabled:
            return
        filled = self.width * self.done // self.total
        bar = "█" * filled + "░" * (self.width - filled)
        text = f"[{self.done + 1}/{self.total}] {bar} {self.label} {item}"[:200]
        self.stream.write("\r\033[K" + text)
        self.stream.flush()
        self.done += 1

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\r\033[K")
            self.stream.flush()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
