"""One pluggy plugin manager for every extension point: entry points of group ``model_audit``, loaded once."""
from __future__ import annotations

from functools import lru_cache

import pluggy

from .hookspec import PROJECT, ModelAuditSpecs


def new_manager(extra_plugins: tuple = ()) -> pluggy.PluginManager:
    """A manager with the hookspecs, every installed plugin, the built-in rules and ``extra_plugins``."""
    manager = pluggy.PluginManager(PROJECT)
    manager.add_hookspecs(ModelAuditSpecs)
    manager.load_setuptools_entrypoints(PROJECT)
    if manager.get_plugin("builtin") is None:  # running from a source tree without entry-point metadata
        from .rules import builtin

        if not manager.is_registered(builtin):
            manager.register(builtin, name="builtin")
    for plugin in extra_plugins:
        if not manager.is_registered(plugin):
            manager.register(plugin)
    return manager


@lru_cache(maxsize=1)
def default_manager() -> pluggy.PluginManager:
    return new_manager()


def plugin_name(manager: pluggy.PluginManager, impl: pluggy.HookImpl) -> str:
    return manager.get_name(impl.plugin) or getattr(impl.plugin, "__name__", "?")


_COSTS_LOADED = False


def load_plugin_costs() -> None:
    """Register the installed plugins' cost formulas (once per process)."""
    global _COSTS_LOADED
    if _COSTS_LOADED:
        return
    _COSTS_LOADED = True
    from .analyses.costs import register_cost

    manager = default_manager()
    for impl in reversed(manager.hook.model_audit_costs.get_hookimpls()):
        for op, formula in (impl.function() or {}).items():
            register_cost(op, formula, origin=plugin_name(manager, impl))


def plugin_analyses() -> list:
    """The installed plugins' analyses, in registration order."""
    manager = default_manager()
    found = []
    for impl in reversed(manager.hook.model_audit_analyses.get_hookimpls()):
        found.extend(impl.function() or [])
    return found
