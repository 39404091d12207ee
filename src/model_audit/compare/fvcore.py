"""``--cross-check fvcore``: run fvcore's FlopCountAnalysis beside model-audit and explain every difference.

fvcore traces the model with ``torch.jit`` on real tensors, so it runs on a CPU *copy* of the model
(a model built on the meta device is materialized as a deep copy with ``to_empty`` + the modules' own
initializers; the user's model is never touched). Its counts are then split into

- ``fvcore`` — the matmul-like ops (conv, linear, addmm, bmm, matmul, mm, einsum): fvcore's "flops"
  there are multiply-accumulates, the same convention as model-audit's MACs, so they must agree;
- ``fvcore_other`` — the ops fvcore also puts in its total that are not MACs (batch/layer/group/instance
  norm, adaptive average pooling, upsampling, grid sampling): model-audit counts those in FLOPs only;
- ``skipped`` — ops fvcore has no handle for (its ``unsupported_ops()``) that do matmul-like work:
  scaled-dot-product attention (Q·Kᵀ and attn·V), the ``nn.MultiheadAttention`` fast path, recurrent
  layers, ``baddbmm``/``mv``/... — fvcore counts them as zero. Attention is sized here (its MACs are
  computed from the traced shapes), so a difference can be accounted for exactly.

Per module the check compares model-audit's MACs with fvcore's, and marks each module ``match``,
``explained`` (the difference is what fvcore skipped, or the module sits inside one model-audit
layer — a leaf module or a fused eval fast path — so its work is counted at that parent: ``counted_at``)
or ``unexplained`` (with the residual).
"""
from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass, field
from math import prod
from typing import Any

import torch
import torch.nn as nn

from ..errors import AuditError
from ..ir import ops
from ..report.audit_report import AuditReport
from ..target.inputs import as_specs, move_inputs, normalize_inputs

# fvcore op names (its by_operator keys: the aten name without namespace; "_convolution" -> "conv").
MAC_OPS = ops.FVCORE_MAC_KEYS
NON_MAC_OPS = ops.FVCORE_NON_MAC_KEYS

# Ops fvcore has no handle for but that do matmul-like work model-audit counts as MACs.
_SDPA = "aten::scaled_dot_product_attention"
SKIPPED_MAC_OPS: dict[str, str] = {f"aten::{op}": what for op, what in ops.MATMUL_LIKE_DESCRIPTIONS.items()}
_SKIP = "model_audit.skipped"  # key prefix of the counts our extra handles record (kept out of fvcore's own)


def _sdpa_macs(inputs: list) -> int:
    from fvcore.nn.jit_handles import get_shape

    from ..analyses.costs import attention_cost

    q, k, v = (get_shape(inputs[i]) for i in range(3))
    if not q or not k or not v:
        return 0
    *batch, length, e = q
    return attention_cost(prod(batch), length, k[-2], e, v[-1]).macs


def _native_mha_macs(inputs: list) -> int:
    from fvcore.nn.jit_handles import get_shape

    from ..analyses.costs import _mha_cost

    q, k = get_shape(inputs[0]), get_shape(inputs[1])
    embed, heads = int(inputs[3].toIValue()), int(inputs[4].toIValue())
    batch = q[0] if len(q) == 3 else 1
    return _mha_cost(batch, q[-2], k[-2], embed, heads, False, False).macs


_SIZERS = {_SDPA: _sdpa_macs, "aten::_native_multi_head_attention": _native_mha_macs}


def _skip_handle(op: str) -> Any:
    """A handle that records a call of an op fvcore skips (and its MACs where they can be sized)."""

    def handle(inputs: list, outputs: list) -> Counter:
        counts = Counter({f"{_SKIP}|{op}|calls": 1})
        if op in _SIZERS:
            try:
                counts[f"{_SKIP}|{op}|macs"] = int(_SIZERS[op](inputs))
            except Exception:  # unexpected signature: the op stays listed, unsized
                pass
        return counts

    return handle


def _split(ops: Counter) -> tuple[dict[str, int], dict[str, int], int]:
    """fvcore's own per-operator counts, skipped op -> calls, and the skipped MACs sized."""
    own, calls, macs = {}, {}, 0
    for key, value in ops.items():
        if key.startswith(_SKIP + "|"):
            _, op, what = key.split("|")
            if what == "calls":
                calls[op] = calls.get(op, 0) + int(value)
            else:
                macs += int(value)
        else:
            own[key] = int(value)
    return own, calls, macs


@dataclass
class ModuleCheck:
    """One module: model-audit's MACs beside fvcore's, and why they differ."""

    name: str
    type: str
    ours: int
    fvcore: int  # fvcore's matmul-like ops (its "flops" there are MACs)
    fvcore_other: int = 0  # non-MAC ops fvcore adds to its total (norms, pooling, upsampling)
    skipped: dict[str, int] = field(default_factory=dict)  # MAC-relevant ops fvcore skipped -> calls
    skipped_macs: int = 0  # MACs of the skipped ops that could be sized from the trace (attention)
    elementwise_skipped: dict[str, int] = field(default_factory=dict)  # other unsupported ops -> calls
    counted_at: str | None = None  # model-audit has no layer inside this module: its work is counted here

    @property
    def diff(self) -> int:
        return self.ours - self.fvcore

    @property
    def residual(self) -> int:
        """The part of the difference the skipped ops do not account for."""
        return self.diff - self.skipped_macs

    @property
    def status(self) -> str:
        if self.diff == 0:
            return "match"
        if self.counted_at is not None:
            return "explained"
        if self.residual == 0 or (self.skipped and set(self.skipped) - set(_SIZERS)):
            return "explained"
        return "unexplained"

    @property
    def reasons(self) -> list[str]:
        out = []
        if self.counted_at is not None:
            out.append(f"model-audit counts this work in {self.counted_at or '(model)'} as one op "
                       "(a leaf module or a fused eval fast path), not per submodule")
        for op, calls in sorted(self.skipped.items()):
            out.append(f"fvcore skips {op} x{calls}: {SKIPPED_MAC_OPS.get(op, 'matmul-like op')}")
        if self.status == "unexplained":
            out.append(f"unexplained: {self.residual:+,} MACs not accounted for by ops fvcore skips")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "type": self.type, "model_audit_macs": self.ours, "fvcore_macs": self.fvcore,
            "fvcore_non_mac_flops": self.fvcore_other, "difference": self.diff, "status": self.status,
            "fvcore_skipped_ops": dict(self.skipped), "fvcore_skipped_macs": self.skipped_macs,
            "residual": self.residual, "reasons": self.reasons,
        }


@dataclass
class CrossCheck:
    """model-audit vs fvcore for one model: totals, per-operator and per-module comparisons."""

    model: str
    mode: str
    ours: int  # model-audit's total MACs
    fvcore_total: int  # fvcore's total() as fvcore users see it
    fvcore_macs: int  # of which matmul-like ops (comparable to MACs)
    fvcore_other: int  # of which norms, pooling, upsampling (FLOPs in model-audit, not MACs)
    by_operator: dict[str, int]
    unsupported_ops: dict[str, int]
    skipped_macs: int
    modules: list[ModuleCheck]
    uncalled_modules: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        """model-audit MACs / fvcore total."""
        return self.ours / self.fvcore_total if self.fvcore_total else None

    @property
    def diff(self) -> int:
        return self.ours - self.fvcore_macs

    @property
    def residual(self) -> int:
        return self.diff - self.skipped_macs

    @property
    def skipped(self) -> dict[str, int]:
        return {op: n for op, n in self.unsupported_ops.items() if op in SKIPPED_MAC_OPS}

    @property
    def status(self) -> str:
        root = self.module("")
        return root.status if root is not None else ("match" if self.diff == 0 else "unexplained")

    def module(self, name: str) -> ModuleCheck | None:
        return self._index.get(name)

    @property
    def _index(self) -> dict[str, ModuleCheck]:
        return {m.name: m for m in self.modules}

    def to_dict(self) -> dict[str, Any]:
        return {
            "tool": "fvcore",
            "model": self.model,
            "mode": self.mode,
            "model_audit_macs": self.ours,
            "fvcore_total": self.fvcore_total,
            "fvcore_macs": self.fvcore_macs,
            "fvcore_non_mac_flops": self.fvcore_other,
            "fvcore_skipped_macs": self.skipped_macs,
            "difference": self.diff,
            "residual": self.residual,
            "ratio": self.ratio,
            "status": self.status,
            "fvcore_by_operator": dict(self.by_operator),
            "fvcore_unsupported_ops": dict(self.unsupported_ops),
            "uncalled_modules": list(self.uncalled_modules),
            "notes": list(self.notes),
            "modules": [m.to_dict() for m in self.modules],
        }


class _KwargsCall(nn.Module):
    """fvcore passes positional inputs only: call the model with keyword inputs through this wrapper."""

    def __init__(self, model: nn.Module, keys: list[str]) -> None:
        super().__init__()
        self.inner = model
        self.keys = keys

    def forward(self, *values: Any) -> Any:
        return self.inner(**dict(zip(self.keys, values)))


def _is_meta(model: nn.Module) -> bool:
    return any(t.device.type == "meta" for t in list(model.parameters()) + list(model.buffers()))


def cpu_copy(model: nn.Module) -> tuple[nn.Module, list[str]]:
    """A CPU deep copy of ``model`` with real tensors; a meta model is materialized and initialized."""
    notes: list[str] = []
    if _is_meta(model):
        clone = copy.deepcopy(model).to_empty(device="cpu")
        with torch.no_grad():
            for tensor in list(clone.parameters()) + list(clone.buffers()):
                if tensor.is_floating_point() or tensor.is_complex():
                    tensor.normal_(0.0, 0.02)
                else:
                    tensor.zero_()
            for module in clone.modules():
                for init in ("reset_parameters", "reset_running_stats"):
                    fn = getattr(module, init, None)
                    if callable(fn):
                        try:
                            fn()
                        except Exception:  # an initializer that needs more than the module: keep the random fill
                            pass
        notes.append("the model is on the meta device; fvcore ran on a CPU copy with freshly initialized weights")
        return clone, notes
    return copy.deepcopy(model).to("cpu"), notes


def _cpu_inputs(inputs: Any, input_shape: Any, report: AuditReport) -> tuple[tuple, dict]:
    cpu = torch.device("cpu")
    if inputs is not None:
        args, kwargs = normalize_inputs(inputs)
        return move_inputs(args, cpu), move_inputs(kwargs, cpu)
    shape = input_shape if input_shape is not None else report.input_shapes
    if not shape:
        raise AuditError("the fvcore cross-check needs example inputs or an input shape")
    return tuple(spec.build(cpu) for spec in as_specs(shape)), {}


def _prefix_sums(report: AuditReport, covered: set[str]) -> dict[str, int]:
    sums: dict[str, int] = {}
    for layer in report.layers:
        path = layer.module_path
        for i in range(0, len(path) + 1):
            covered.add(".".join(path[:i]))
        if not layer.macs:
            continue
        sums[""] = sums.get("", 0) + layer.macs
        for i in range(1, len(path) + 1):
            key = ".".join(path[:i])
            sums[key] = sums.get(key, 0) + layer.macs
    return sums


def fvcore_crosscheck(model: nn.Module, inputs: Any = None, input_shape: Any = None,
                      report: AuditReport | None = None) -> CrossCheck:
    """Count ``model`` with fvcore on a CPU copy and compare per module with ``report`` (model-audit's)."""
    try:
        from fvcore.nn import FlopCountAnalysis
    except ImportError:
        raise AuditError(
            "--cross-check fvcore needs fvcore: pip install 'model-audit[fvcore]' (or pip install fvcore)"
        ) from None
    if report is None:
        from ..analyses import run_analyses
        from ..report.build import build_report
        from ..trace.engine import trace_model

        graph = trace_model(model, inputs, input_shape=input_shape)  # the caller gave no report: count first
        run_analyses(graph)
        report = build_report(graph, name=type(model).__name__, mode="eval")
    clone, notes = cpu_copy(model)
    clone.train(report.mode == "train")
    args, kwargs = _cpu_inputs(inputs, input_shape, report)
    prefix = ""
    target: nn.Module = clone
    if kwargs:
        if args:
            raise AuditError("the fvcore cross-check cannot mix positional and keyword inputs")
        target, prefix, args = _KwargsCall(clone, list(kwargs)), "inner", tuple(kwargs.values())
    analysis = FlopCountAnalysis(target, args)
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
    analysis.set_op_handle(**{op: _skip_handle(op) for op in SKIPPED_MAC_OPS})
    try:
        # No torch.no_grad(): fvcore users call it as is, and parameters that require grad keep
        # nn.MultiheadAttention off its fused fast path, which fvcore would skip entirely.
        per_module = analysis.by_module_and_operator()
    except Exception as error:  # fvcore's jit trace rejects the model (dict outputs, control flow, ...)
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise AuditError(f"fvcore could not trace {report.model}: {first}") from None

    def canon(name: str) -> str | None:
        if not prefix:
            return name
        if name == prefix:
            return ""
        return name[len(prefix) + 1:] if name.startswith(prefix + ".") else None

    covered: set[str] = set()
    ours = _prefix_sums(report, covered)

    def counted_at(name: str) -> str | None:
        if name in covered:
            return None
        parts = name.split(".")
        for i in range(len(parts) - 1, -1, -1):
            if ".".join(parts[:i]) in covered:
                return ".".join(parts[:i])
        return None
    types = {name: type(m).__name__ for name, m in clone.named_modules()}
    modules: list[ModuleCheck] = []
    root: tuple | None = None
    for raw_name, op_counts in per_module.items():
        name = canon(raw_name)
        if name is None:
            continue
        own, skipped, skipped_macs = _split(op_counts)
        unsupported = dict(analysis.unsupported_ops(raw_name))
        fv = sum(v for op, v in own.items() if op in MAC_OPS)
        modules.append(ModuleCheck(
            name=name, type=types.get(name, "?"), ours=ours.get(name, 0), fvcore=fv,
            fvcore_other=sum(own.values()) - fv, skipped=skipped, skipped_macs=skipped_macs,
            elementwise_skipped=unsupported, counted_at=counted_at(name),
        ))
        if name == "":
            root = (own, skipped, skipped_macs, unsupported)
    if root is None:
        raise AuditError(f"fvcore returned no counts for {report.model}")
    own, skipped, skipped_macs, unsupported = root
    fv_macs = sum(v for op, v in own.items() if op in MAC_OPS)
    if report.uncounted_ops:
        notes.append("model-audit has uncounted ops (" + ", ".join(sorted(report.uncounted_ops)) + "): "
                     "its own total may be low there")
    return CrossCheck(
        model=report.model,
        mode=report.mode,
        ours=report.macs,
        fvcore_total=sum(own.values()),
        fvcore_macs=fv_macs,
        fvcore_other=sum(own.values()) - fv_macs,
        by_operator=own,
        unsupported_ops={**skipped, **unsupported},
        skipped_macs=skipped_macs,
        modules=modules,
        uncalled_modules=sorted(n for n in (canon(u) for u in analysis.uncalled_modules()) if n),
        notes=notes,
    )
