"""AuditReport: the plain-data result every surface (CLI, pytest, CI gates, renderers) reads."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ..ir.graph import Layer

SCHEMA_VERSION = 2  # 2: functional layers named by scope (h.0.attn.sdpa), "shares"; see CHANGELOG.md


@dataclass(frozen=True)
class AuditReport:
    """The audit's result as plain data, built once by ``model_audit.audit`` and never changed after.

    It holds no live model or graph: renderers, budgets, diffs and the pytest plugin read figures.
    ``layers`` are the IR's layer records; ``module_types`` maps every named submodule to its class
    name (for rolled-up rows); ``analyses`` holds each analysis' summary (JSON ``summary.<name>``)
    and ``columns`` the per-layer fields analyses put in the table.
    """

    model: str
    tracer: str
    device: str
    mode: str
    input_shapes: list[tuple[int, ...]]
    layers: list[Layer]
    params: int
    trainable_params: int
    params_without_bias: int
    params_without_norm: int
    buffers: int
    macs: int
    flops: int
    uncounted_ops: dict[str, int]
    backward_macs: int | None = None
    backward_flops: int | None = None
    notes: list[str] = field(default_factory=list)
    findings: list[Any] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # JSON sections of extras (cross_check, ERF, budget)
    probe: Any = None  # ProbeReport when probes ran (serialized as the "probe" section)
    analyses: dict[str, Any] = field(default_factory=dict)  # analysis name -> summary value
    columns: dict[str, str] = field(default_factory=dict)  # per-layer analysis field -> table header
    module_types: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def memory(self) -> dict | None:
        """The memory analysis (``audit(memory=...)``; JSON summary.memory), or None."""
        return self.analyses.get("memory")

    @property
    def symbolic(self) -> Any:
        """The cost formulas (``audit(symbolic=...)``; JSON summary.symbolic), or None."""
        return self.analyses.get("symbolic")

    @property
    def receptive_field(self) -> dict | None:
        """The final field against the input (analyses/receptive_field.final_field)."""
        return self.analyses.get("receptive_field")

    def with_sections(self, **sections: Any) -> "AuditReport":
        """A copy with extra JSON sections (``budget=...``) added: the report itself never changes."""
        return replace(self, extra={**self.extra, **sections})

    @property
    def uncounted_calls(self) -> int:
        return sum(self.uncounted_ops.values())

    def assert_budget(self, params: Any = None, macs: Any = None, flops: Any = None,
                      uncounted_fraction: Any = None, findings: Any = None, peak_memory: Any = None) -> None:
        """Raise ``BudgetExceeded`` (an AssertionError) naming every breached limit; ints or "25M"/"4.1G"."""
        __tracebackhide__ = True  # pytest: the failure points at the test's line, not here
        from .budget import Budget, BudgetExceeded, check_budget

        budget = Budget.parse(where="assert_budget", params=params, macs=macs, flops=flops,
                              uncounted_fraction=uncounted_fraction, findings=findings, peak_memory=peak_memory)
        breaches = check_budget(self, budget)
        if breaches:
            raise BudgetExceeded(breaches)

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    def summary(self) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "params": self.params,
            "trainable_params": self.trainable_params,
            "params_without_bias": self.params_without_bias,
            "params_without_norm": self.params_without_norm,
            "buffers": self.buffers,
            "macs": self.macs,
            "flops": self.flops,
            "tracer": self.tracer,
            "device": self.device,
            "mode": self.mode,
            "input_shapes": [list(s) for s in self.input_shapes],
            "uncounted_ops": dict(self.uncounted_ops),
            "notes": list(self.notes),
        }
        summary.update({name: value.to_dict() if hasattr(value, "to_dict") else value
                        for name, value in self.analyses.items()})
        if self.backward_flops is not None:
            summary["backward_macs"] = self.backward_macs
            summary["backward_flops"] = self.backward_flops
        return summary

    def to_dict(self) -> dict[str, Any]:
        """Exactly what ``model-audit --format json`` prints; field names are a stable contract."""
        return {
            "schema_version": SCHEMA_VERSION,
            "model": self.model,
            "summary": self.summary(),
            "layers": [layer_to_dict(layer) for layer in self.layers],
            "findings": [f.to_dict() if hasattr(f, "to_dict") else f for f in self.findings],
            **({"probe": self.probe.to_dict()} if self.probe is not None else {}),
            **{k: v.to_dict() if hasattr(v, "to_dict") else v for k, v in self.extra.items()},
        }


def layer_to_dict(layer: Layer) -> dict[str, Any]:
    shape = layer.output_shape
    data: dict[str, Any] = {
        "name": layer.name,
        "type": layer.type,
        "kind": layer.kind,
        "scope": layer.scope,
        "inputs": list(layer.inputs),
        "output_shape": (list(shape) if isinstance(shape, tuple) else [list(s) for s in shape]) if shape is not None else None,
        "dtype": layer.output_dtype,
        "params": layer.params,
        "trainable_params": layer.trainable_params,
        "params_without_bias": layer.params - layer.bias_params,
        "params_without_norm": layer.params - layer.norm_params,
        "shared_params": layer.shared_params,
        "buffers": layer.buffers,
        "macs": layer.macs,
        "flops": layer.flops,
        "uncounted_ops": dict(layer.uncounted_ops),
        "executed": layer.executed,
        "source": layer.source,
    }
    if layer.backward_flops is not None:
        data["backward_macs"] = layer.backward_macs
        data["backward_flops"] = layer.backward_flops
    for key, value in layer.attrs.items():
        data[key] = value
    return data
