"""Findings and severities: the plain data rules and probes produce and every surface reads."""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Severity(enum.IntEnum):
    """Ordered so that ``finding.severity >= Severity.WARNING`` reads naturally."""

    INFO = 1
    WARNING = 2
    ERROR = 3

    @classmethod
    def parse(cls, value: "str | Severity") -> "Severity":
        if isinstance(value, Severity):
            return value
        try:
            return cls[str(value).strip().upper()]
        except KeyError:
            raise ValueError(f"unknown severity {value!r}; use info, warning or error") from None

    def __str__(self) -> str:
        return self.name.lower()


@dataclass
class Finding:
    """One risk found in one place: what, where, how bad (measured figure and threshold), how to fix."""

    rule: str  # stable kebab-case id, e.g. "dropout-before-batchnorm"
    severity: Severity
    layer: str | None  # qualified layer name, None for whole-model findings
    message: str  # includes the measured value and the threshold
    fix: str = ""
    source: str | None = None  # "path/to/file.py:LINE" of the module, when known
    data: dict[str, Any] = field(default_factory=dict)  # machine-readable figures (depth, ratio, ...)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": str(self.severity),
            "layer": self.layer,
            "message": self.message,
            "fix": self.fix,
            "source": self.source,
            "data": dict(self.data),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Finding":
        return cls(rule=data["rule"], severity=Severity.parse(data["severity"]), layer=data.get("layer"),
                   message=data["message"], fix=data.get("fix", ""), source=data.get("source"),
                   data=dict(data.get("data") or {}))
