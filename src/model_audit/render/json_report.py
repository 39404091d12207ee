"""``--format json``: exactly ``AuditReport.to_dict()``."""
from __future__ import annotations

import json
from typing import Any

from ..report.audit_report import AuditReport


def render_json(report: AuditReport, **_: Any) -> str:
    return json.dumps(report.to_dict(), indent=2, default=str)
