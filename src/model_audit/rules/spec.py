"""The pluggy extension point for rules: the docstrings here are the plugin author's documentation.

A plugin is any module or object with a ``model_audit_rules`` hook implementation, registered
under the ``model_audit`` entry-point group::

    # pyproject.toml of a third-party package
    [project.entry-points.model_audit]
    my_rules = "my_package.rules"

    # my_package/rules.py
    from model_audit import hookimpl, rule

    @rule(id="no-huge-linear", severity="warning", summary="Linear layers above 10M parameters", ...)
    def no_huge_linear(graph, ctx):
        for layer in graph:
            if layer.kind == "linear" and layer.params > ctx.options["max_params"]:
                yield ctx.finding(layer, f"{layer.params:,} parameters > {ctx.options['max_params']:,}")

    @hookimpl
    def model_audit_rules():
        return [no_huge_linear]

model-audit's own rules are registered exactly this way (``model_audit.rules.builtin``);
``tests/plugins/model_audit_example_plugin`` is a complete installable example. Once installed,
the rules show up in ``model-audit rules`` and obey ``--select``/``--ignore``/``[tool.model-audit]``
(options included: ``[tool.model-audit.options.no-huge-linear] max-params = 5_000_000``).
"""
from __future__ import annotations

import pluggy

PROJECT = "model_audit"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class RuleHookSpecs:
    @hookspec
    def model_audit_rules(self) -> list:
        """Return the :class:`~model_audit.rules.base.Rule` objects this plugin provides.

        Called once per registry load. Rule ids must be unique across all installed plugins
        and kebab-case (``dropout-before-batchnorm``); they are the public contract users select,
        ignore and suppress by.
        """
