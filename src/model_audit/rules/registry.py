"""Load every rule plugin (built-in and third-party) through pluggy entry points, once."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import pluggy

from ..errors import AuditError
from .base import Rule
from ..plugins import new_manager, plugin_name


@dataclass
class Registry:
    rules: dict[str, Rule]  # id -> rule, in registration order
    manager: pluggy.PluginManager

    def get(self, rule_id: str) -> Rule:
        try:
            return self.rules[rule_id]
        except KeyError:
            raise AuditError(f"unknown rule {rule_id!r}; `model-audit rules` lists the installed rules") from None

    def __iter__(self):
        return iter(self.rules.values())


def build_registry(extra_plugins: tuple = ()) -> Registry:
    """A fresh registry: entry points of group ``model_audit`` plus ``extra_plugins`` (tests, API)."""
    manager = new_manager(extra_plugins)
    rules: dict[str, Rule] = {}
    for impl in reversed(manager.hook.model_audit_rules.get_hookimpls()):  # registration order
        name = plugin_name(manager, impl)
        for item in impl.function() or []:
            if not isinstance(item, Rule):
                raise AuditError(f"plugin {name!r} returned {item!r} from model_audit_rules, not a Rule")
            if item.id in rules:
                raise AuditError(f"rule id {item.id!r} is provided by both {rules[item.id].plugin!r} and {name!r}")
            item.plugin = name
            rules[item.id] = item
    return Registry(rules=rules, manager=manager)


@lru_cache(maxsize=1)
def default_registry() -> Registry:
    return build_registry()
