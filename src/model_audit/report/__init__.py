"""The plain-data result: AuditReport, Finding/Severity, budgets and diffs."""
from .audit_report import SCHEMA_VERSION, AuditReport
from .finding import Finding, Severity

__all__ = ["SCHEMA_VERSION", "AuditReport", "Finding", "Severity"]
