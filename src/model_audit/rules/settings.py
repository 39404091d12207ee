"""Which rules run, at what severity, with which options: CLI over pyproject over defaults.

pyproject.toml::

    [tool.model-audit]
    select = ["ALL"]                 # ids or id prefixes ("dropout-"); default ALL
    ignore = ["large-kernel"]
    fail-on = "warning"              # info | warning | error | never (default error)

    [tool.model-audit.severity]      # re-grade a rule
    high-dropout = "error"

    [tool.model-audit.per-layer-ignores]   # fnmatch patterns on qualified layer names
    "classifier.*" = ["high-dropout"]
    "head" = ["ALL"]

    [tool.model-audit.options.large-kernel]  # rule options (thresholds)
    min-kernel = 7
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field, replace
from typing import Any, Iterable

from ..config import ConfigError, ProjectConfig
from ..report.finding import Finding, Severity

FAIL_ON = ("info", "warning", "error", "never")


@dataclass
class RuleSettings:
    select: list[str] = field(default_factory=lambda: ["ALL"])
    ignore: list[str] = field(default_factory=list)
    severity: dict[str, Severity] = field(default_factory=dict)
    per_layer_ignores: dict[str, list[str]] = field(default_factory=dict)
    options: dict[str, dict[str, Any]] = field(default_factory=dict)  # rule id -> option -> value
    fail_on: str = "error"
    # where each setting came from ("--select", "pyproject.toml [tool.model-audit] select"), for errors
    origins: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def resolve(cls, project: ProjectConfig | None = None, *, select: Iterable[str] | None = None,
                ignore: Iterable[str] | None = None, extend_ignore: Iterable[str] | None = None,
                severity: dict[str, str] | None = None, fail_on: str | None = None,
                options: dict[str, dict[str, Any]] | None = None) -> "RuleSettings":
        """Defaults, then ``[tool.model-audit]``, then explicit (CLI/API) values on top."""
        settings = cls()
        if project is not None and project.data:
            settings = settings._merge_project(project)
        if select is not None:
            settings.select = _str_list(list(select) if not isinstance(select, str) else select, "select")
            settings.origins["select"] = "select"
        if ignore is not None:
            settings.ignore = _str_list(list(ignore) if not isinstance(ignore, str) else ignore, "ignore")
            settings.origins["ignore"] = "ignore"
        if extend_ignore:
            settings.ignore = settings.ignore + list(extend_ignore)
        for rule_id, value in (severity or {}).items():
            settings.severity[rule_id] = _severity(value, "severity")
            settings.origins["severity"] = "severity"
        for rule_id, values in (options or {}).items():
            settings.options.setdefault(rule_id, {}).update({k.replace("-", "_"): v for k, v in values.items()})
            settings.origins["options"] = "options"
        if fail_on is not None:
            settings.fail_on = _fail_on(fail_on, "--fail-on")
        return settings

    def _merge_project(self, project: ProjectConfig) -> "RuleSettings":
        data = project.data
        merged = replace(self, origins={key: project.where(key) for key in
                                        ("select", "ignore", "severity", "per-layer-ignores", "options") if key in data})
        if "select" in data:
            merged.select = _str_list(data["select"], project.where("select"))
        if "ignore" in data:
            merged.ignore = _str_list(data["ignore"], project.where("ignore"))
        for rule_id, value in _table(data.get("severity", {}), project.where("severity")).items():
            merged.severity[rule_id] = _severity(value, project.where(f"severity.{rule_id}"))
        for pattern, ids in _table(data.get("per-layer-ignores", {}), project.where("per-layer-ignores")).items():
            merged.per_layer_ignores[pattern] = _str_list(ids, project.where(f"per-layer-ignores.{pattern}"))
        for rule_id, values in _table(data.get("options", {}), project.where("options")).items():
            opts = _table(values, project.where(f"options.{rule_id}"))
            merged.options[rule_id] = {k.replace("-", "_"): v for k, v in opts.items()}
        if "fail-on" in data:
            merged.fail_on = _fail_on(data["fail-on"], project.where("fail-on"))
        return merged

    def validate(self, rules: dict[str, Any]) -> None:
        """Reject unknown rule ids (typos select nothing silently otherwise) and bad rule options.

        ``rules`` maps every known id to its :class:`~model_audit.rules.base.Rule` (or to None for
        ids that only probes emit). Raises :class:`ConfigError` (exit code 2) naming the setting.
        """
        known = set(rules)

        def check(ids: Iterable[str], key: str) -> None:
            for rule_id in ids:
                if rule_id == "ALL" or rule_id in known:
                    continue
                if rule_id.endswith("-") and any(k.startswith(rule_id) for k in known):
                    continue
                raise ConfigError(f"{self.origins.get(key, key)}: unknown rule {rule_id!r}; "
                                  "`model-audit rules` lists the installed rules")

        if not self.select:  # an empty selection runs no rule: a gate that passes silently
            raise ConfigError(f"{self.origins.get('select', 'select')}: selects no rule; use ALL, rule ids, "
                              "or --no-rules to skip the rules on purpose")
        check(self.select, "select")
        check(self.ignore, "ignore")
        check(self.severity, "severity")
        for ids in self.per_layer_ignores.values():
            check(ids, "per-layer-ignores")
        check(self.options, "options")
        for rule_id, values in self.options.items():
            rule = rules[rule_id]
            defaults = getattr(rule, "options", {}) or {}
            for key, value in values.items():
                where = f"{self.origins.get('options', 'options')}.{rule_id}.{key.replace('_', '-')}"
                if key not in defaults:
                    names = ", ".join(k.replace("_", "-") for k in defaults) or "none"
                    raise ConfigError(f"{where}: rule {rule_id!r} has no such option (options: {names})")
                _check_option_type(value, defaults[key], where)

    # -- queries
    def selects(self, rule_id: str) -> bool:
        return _matches(rule_id, self.select) and not _matches(rule_id, self.ignore)

    def suppressed(self, finding: Finding) -> bool:
        if finding.layer is None:
            return False
        for pattern, ids in self.per_layer_ignores.items():
            if fnmatch.fnmatchcase(finding.layer, pattern) and _matches(finding.rule, ids):
                return True
        return False

    def apply(self, findings: Iterable[Finding]) -> list[Finding]:
        """Drop unselected and suppressed findings and re-grade severities (rules and probes alike)."""
        kept = []
        for finding in findings:
            if not self.selects(finding.rule) or self.suppressed(finding):
                continue
            if finding.rule in self.severity:
                finding = replace(finding, severity=self.severity[finding.rule])
            kept.append(finding)
        return kept

    def fails(self, findings: Iterable[Finding]) -> bool:
        """Whether findings reach ``fail_on`` (exit code 1)."""
        if self.fail_on == "never":
            return False
        threshold = Severity.parse(self.fail_on)
        return any(f.severity >= threshold for f in findings)


def _matches(rule_id: str, patterns: Iterable[str]) -> bool:
    for pattern in patterns:
        if pattern == "ALL" or rule_id == pattern or (pattern.endswith("-") and rule_id.startswith(pattern)):
            return True
    return False


def _check_option_type(value: Any, default: Any, where: str) -> None:
    """An option takes the type of its default (an int is accepted where a float is expected)."""
    if isinstance(default, bool):
        ok, expected = isinstance(value, bool), "true or false"
    elif isinstance(default, int):
        ok, expected = isinstance(value, int) and not isinstance(value, bool), "an integer"
    elif isinstance(default, float):
        ok, expected = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
    elif isinstance(default, str):
        ok, expected = isinstance(value, str), "a string"
    elif isinstance(default, (list, tuple)):
        ok, expected = isinstance(value, (list, tuple)), "a list"
    else:
        return
    if not ok:
        raise ConfigError(f"{where}: expected {expected}, got {value!r}")


def _severity(value: Any, where: str) -> Severity:
    try:
        return Severity.parse(value)
    except ValueError as error:
        raise ConfigError(f"{where}: {error}") from None


def _fail_on(value: Any, where: str) -> str:
    text = str(value).lower()
    if text not in FAIL_ON:
        raise ConfigError(f"{where}: {value!r} is not one of {', '.join(FAIL_ON)}")
    return text


def _str_list(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ConfigError(f"{where}: expected a list of strings, got {value!r}")


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a table, got {value!r}")
    return value
