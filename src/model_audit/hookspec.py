"""model-audit's extension points (pluggy hook specifications); these docstrings are the plugin docs.

A plugin is any module or object implementing one or more of these hooks, registered under the
``model_audit`` entry-point group::

    # pyproject.toml of a third-party package
    [project.entry-points.model_audit]
    my_plugin = "my_package.audit_plugin"

model-audit's own rules are registered exactly this way (``model_audit.rules.builtin``);
``tests/plugins/`` holds complete installable examples. Without a package, call
:func:`model_audit.register_cost` / :func:`model_audit.register_analysis` directly.
"""
from __future__ import annotations

import pluggy

PROJECT = "model_audit"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class ModelAuditSpecs:
    @hookspec
    def model_audit_rules(self) -> list:
        """Return the :class:`~model_audit.rules.base.Rule` objects this plugin provides.

        Called once per registry load. Rule ids must be unique across all installed plugins and
        kebab-case (``dropout-before-batchnorm``); they are the public contract users select,
        ignore and suppress by::

            from model_audit import hookimpl, rule

            @rule(id="no-huge-linear", severity="warning", summary="Linear layers above 10M parameters", ...)
            def no_huge_linear(graph, ctx):
                for layer in graph:
                    if layer.kind == "linear" and layer.params > ctx.options["max_params"]:
                        yield ctx.finding(layer, f"{layer.params:,} parameters > {ctx.options['max_params']:,}")

            @hookimpl
            def model_audit_rules():
                return [no_huge_linear]

        Installed rules show up in ``model-audit rules`` and obey ``--select``/``--ignore`` and
        ``[tool.model-audit]`` (options included: ``[tool.model-audit.options.no-huge-linear]``).
        """

    @hookspec
    def model_audit_costs(self) -> dict:
        """Return ``{op: formula}``: cost formulas for ops model-audit does not know (custom ops included).

        ``op`` is an op overload packet (``torch.ops.mylib.fused_gelu``), an overload, or its
        qualified name as a string (``"mylib::fused_gelu"``). ``formula(args, kwargs, out)``
        receives the op's arguments and output as the dispatcher sees them (meta tensors on the
        meta device) and returns a :class:`model_audit.Cost` ``(macs, flops)``::

            from model_audit import Cost, hookimpl

            @hookimpl
            def model_audit_costs():
                return {"mylib::fused_gelu": lambda args, kwargs, out: Cost(0, 8 * out.numel())}

        Registering an op that already has a formula (built in or from another plugin) raises: two
        formulas for one op would make the count depend on load order. Without a formula an op is
        listed as *uncounted* in the report, never counted as zero silently.
        """

    @hookspec
    def model_audit_analyses(self) -> list:
        """Return :class:`~model_audit.analyses.Analysis` objects: analyses run after the built-in ones.

        An analysis annotates the traced :class:`~model_audit.LayerGraph`: ``annotate(graph)`` writes
        its per-layer figures into ``layer.attrs[field]`` and may return a summary value. The fields
        reach the JSON report (``layers[].<field>``, ``summary.<name>``) and, for each field named in
        ``columns`` (field -> header), a column of the table, Markdown and HTML — without touching
        the core::

            from model_audit import Analysis, hookimpl

            def annotate(graph):
                for layer in graph:
                    layer.attrs["weight_bytes"] = 4 * layer.params
                return {"weight_bytes": 4 * sum(layer.params for layer in graph)}

            @hookimpl
            def model_audit_analyses():
                return [Analysis("weight_bytes", annotate, columns={"weight_bytes": "weight bytes"})]

        Names must be unique. An analysis that raises is skipped with a note in the report.
        """
