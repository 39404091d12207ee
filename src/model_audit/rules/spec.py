"""The rule extension point; the hook specifications of every extension point live in ``model_audit.hookspec``."""
from __future__ import annotations

from ..hookspec import PROJECT, ModelAuditSpecs, hookimpl, hookspec

RuleHookSpecs = ModelAuditSpecs  # the name earlier releases exported

__all__ = ["PROJECT", "ModelAuditSpecs", "RuleHookSpecs", "hookimpl", "hookspec"]
