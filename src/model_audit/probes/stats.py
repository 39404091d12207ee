"""Forward hooks and gradient read-outs: the raw per-layer measurements of a probe.

Everything is accumulated as device tensors and read back once at the end (``finish``), so the
hooks never force a CUDA synchronization in the middle of a pass.

Definitions (docs/probes.md):
- activation mean/std: over every element of a layer's first floating-point output, all batches
  (population std from Σy and Σy², accumulated in float32 per batch and combined in float64);
- dead fraction (``nn.ReLU``/``nn.ReLU6`` outputs): the share of units never > 0 on any probe
  sample — a unit is a channel for conv-like ``[N, C, *S]`` outputs, the last axis otherwise;
- saturation: the share of output elements where the activation's derivative is (nearly) zero:
  sigmoid < 0.01 or > 0.99 (σ' < 0.0099), |tanh| > 0.99 (1 − tanh² < 0.02), |softsign| > 0.99,
  hardsigmoid ∈ {0, 1} and hardtanh at ±max (derivative exactly 0);
- non-finite: whether the output holds a NaN or ±Inf.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn

from ..ir import ops
from ..ir.graph import Layer, LayerGraph
from ..trace.shapes import iter_tensors

SATURATION_THRESHOLD = 0.99  # |tanh|, |softsign| above, sigmoid above it or below 1 - it
_CHANNEL_PRODUCERS = ("conv", "pool", "upsample", "padding")
_PASS_THROUGH = ("norm", "dropout", "identity", "activation")


def activation_family(module: nn.Module | None) -> str | None:
    """'relu' for units that can die, a saturating activation's name, else None."""
    if isinstance(module, (nn.ReLU, nn.ReLU6)):
        return "relu"
    for cls, name in ((nn.Sigmoid, "sigmoid"), (nn.Tanh, "tanh"), (nn.Softsign, "softsign"),
                      (nn.Hardsigmoid, "hardsigmoid"), (nn.Hardtanh, "hardtanh")):
        if isinstance(module, cls):
            return name
    return None



def function_family(name: str) -> str | None:
    """The family of a functional op by name (``relu``, ``sigmoid``...); hardtanh's bounds are not known here."""
    return ops.SATURATION_FAMILY.get(name)


def saturated(y: torch.Tensor, family: str, module: nn.Module | None) -> torch.Tensor:
    """Boolean mask of saturated elements of an activation's output ``y``."""
    t = SATURATION_THRESHOLD
    if family == "sigmoid":
        return (y < 1 - t) | (y > t)
    if family in ("tanh", "softsign"):
        return y.abs() > t
    if family == "hardsigmoid":
        return (y <= 0) | (y >= 1)
    return (y <= module.min_val) | (y >= module.max_val)  # hardtanh


def unit_axis(layer: Layer, layers: dict[str, Layer], rank: int) -> int:
    """Channel axis 1 when the activation follows a conv/pool (through norm/dropout), else the last axis."""
    if rank <= 2:
        return rank - 1 if rank else 0
    name = layer.inputs[0] if layer.inputs else None
    for _ in range(16):
        producer = layers.get(name) if name else None
        if producer is None:
            break
        if producer.kind in _CHANNEL_PRODUCERS:
            return 1
        if producer.kind not in _PASS_THROUGH or not producer.inputs:
            break
        name = producer.inputs[0]
    return rank - 1


@dataclass
class _Acc:
    """Per-layer running sums (device tensors until ``finish``)."""

    layer: Layer
    family: str | None
    moments: list[tuple[torch.Tensor, torch.Tensor, int]] = field(default_factory=list)  # (Σy, Σy², n) per batch
    active: torch.Tensor | None = None
    saturated: list[torch.Tensor] = field(default_factory=list)
    elements: int = 0
    nonfinite: list[torch.Tensor] = field(default_factory=list)


class ActivationRecorder:
    """Forward hooks on the IR's module layers; maps the k-th call of a module to its ``name@k`` layer."""

    def __init__(self, graph: LayerGraph) -> None:
        self.layers = graph.by_name()
        self.calls: dict[int, list[str]] = {}
        self.accs: dict[str, _Acc] = {}
        self.functional: list[str] = []  # fx function/method nodes, fed by functional.py's interpreter
        for layer in graph.layers:
            if layer.kind in ("parameter", "reshape"):
                continue
            if layer.module is None:
                self.functional.append(layer.name)
                self.accs[layer.name] = _Acc(layer, function_family(layer.type))
                continue
            self.calls.setdefault(id(layer.module), []).append(layer.name)
            self.accs[layer.name] = _Acc(layer, activation_family(layer.module))
        # Only modules with a recorded call get a hook (Flatten/Unflatten are skipped above).
        self.modules = {id(l.module): l.module for l in graph.layers
                        if l.module is not None and id(l.module) in self.calls}
        self.seen: dict[int, int] = {}
        self.handles: list[Any] = []

    def __enter__(self) -> "ActivationRecorder":
        for key, module in self.modules.items():
            self.handles.append(module.register_forward_hook(self._hook(key)))
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles.clear()

    def new_batch(self) -> None:
        self.seen.clear()

    def record_function(self, name: str, output: Any) -> None:
        self._record(self.accs[name], None, output)

    def _hook(self, key: int):
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            index = self.seen.get(key, 0)
            self.seen[key] = index + 1
            names = self.calls[key]
            if index < len(names):
                self._record(self.accs[names[index]], module, output)
        return hook

    @torch.no_grad()
    def _record(self, acc: _Acc, module: nn.Module | None, output: Any) -> None:
        y = next((t for t in iter_tensors(output) if t.is_floating_point()), None)
        if y is None or y.numel() == 0:
            return
        y = y.detach()
        yf = y.float()
        # Σy and Σy² (two fast reductions; torch.var_mean is ~25x slower on CPU). A NaN or ±Inf anywhere
        # makes Σy non-finite (inf - inf is NaN too), so no extra pass over the output is needed.
        total = yf.sum()
        acc.nonfinite.append(~torch.isfinite(total))
        acc.moments.append((total, torch.linalg.vector_norm(yf).square(), y.numel()))
        if acc.family == "relu":
            axis = unit_axis(acc.layer, self.layers, y.dim())
            dims = [d for d in range(y.dim()) if d != axis]
            active = (y.amax(dim=dims) if dims else y) > 0  # a unit is alive if its largest output is > 0
            acc.active = active if acc.active is None or acc.active.shape != active.shape else acc.active | active
        elif acc.family is not None:
            acc.saturated.append(saturated(yf, acc.family, module).sum())
            acc.elements += y.numel()

    def finish(self) -> dict[str, dict[str, Any]]:
        """Host-side figures per layer name: act_mean, act_std, dead_fraction, saturation, nonfinite."""
        out: dict[str, dict[str, Any]] = {}
        for name, acc in self.accs.items():
            if not acc.moments:
                continue
            n = sum(m[2] for m in acc.moments)
            mean = sum(float(m[0]) for m in acc.moments) / n
            var = sum(float(m[1]) for m in acc.moments) / n - mean * mean
            var = max(0.0, var) if math.isfinite(var) else var
            figures: dict[str, Any] = {
                "act_mean": mean,
                "act_std": math.sqrt(var) if var >= 0 else float("nan"),
                "nonfinite": bool(torch.stack(acc.nonfinite).any()),
                "dead_fraction": None,
                "saturation": None,
                "family": acc.family,
            }
            if acc.active is not None:
                figures["dead_fraction"] = 1.0 - float(acc.active.float().mean())
                figures["units"] = int(acc.active.numel())
            if acc.saturated:
                figures["saturation"] = float(torch.stack(acc.saturated).sum()) / max(1, acc.elements)
            out[name] = figures
        return out


def parameter_groups(graph: LayerGraph, model: nn.Module) -> list[tuple[Layer, list[nn.Parameter]]]:
    """(layer, parameters) for layers that own parameters, in graph order; a shared tensor counts at its first layer.

    Module layers own their module's parameters (the first call only; ``name@k`` repeats own none);
    fx ``get_attr`` reads of a parameter (``kind == "parameter"``) own that parameter. Call inside
    ``placed_on`` so the parameters are the probe's stand-ins.
    """
    seen: set[int] = set()
    groups: list[tuple[Layer, list[nn.Parameter]]] = []
    for layer in graph.layers:
        params: list[nn.Parameter] = []
        if layer.kind == "parameter" and isinstance(layer.target, str):
            try:
                params = [model.get_parameter(layer.target)]
            except AttributeError:
                params = []
        elif layer.module is not None and "@" not in layer.name:
            params = list(layer.module.parameters())
        params = [p for p in params if id(p) not in seen]
        seen.update(id(p) for p in params)
        if params:
            groups.append((layer, params))
    return groups


def tensor_norms(tensors: list[torch.Tensor]) -> torch.Tensor:
    """Per-tensor 2-norms as one float64 vector (on the first tensor's device).

    Computed like ``clip_grad_norm_`` (``torch._foreach_norm``, one fused kernel per dtype/device, in
    the tensors' dtype); any tensor whose norm overflows there is recomputed in float64, so an
    exploding gradient of 1e25 reads as 1e25, not as inf.
    """
    detached = [t.detach() for t in tensors]
    foreach = getattr(torch, "_foreach_norm", None)
    norms = list(foreach(detached)) if foreach is not None else [torch.linalg.vector_norm(t) for t in detached]
    device = detached[0].device
    stacked = torch.stack([n.to(device=device, dtype=torch.float64) for n in norms])
    overflow = ~torch.isfinite(stacked)
    if bool(overflow.any()):  # rare: one sync, then float64 for the overflowed tensors only
        for i in overflow.nonzero().flatten().tolist():
            stacked[i] = torch.linalg.vector_norm(detached[i], dtype=torch.float64).to(device)
    return stacked


def norm_of(tensors: list[torch.Tensor]) -> torch.Tensor:
    """The 2-norm of the concatenation (the norm of the per-tensor norms, as ``clip_grad_norm_``), float64."""
    return torch.linalg.vector_norm(tensor_norms(tensors))


class GradientReader:
    """Per-layer gradient norms and the total norm after a backward pass, from one set of per-tensor norms."""

    def __init__(self, groups: list[tuple[Layer, list[nn.Parameter]]], model: nn.Module) -> None:
        self.groups = groups
        self.model = model
        self.owner = {id(p): i for i, (_, params) in enumerate(groups) for p in params}
        self.weight_norms = {layer.name: float(norm_of(list(params))) for layer, params in groups}

    def read(self) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
        """(layer name -> gradient-norm device tensor, total norm device tensor or None)."""
        params = [p for p in self.model.parameters() if p.grad is not None]
        if not params:
            return {}, None
        squares = tensor_norms([p.grad for p in params]).pow(2)
        owned = [(k, self.owner[id(p)]) for k, p in enumerate(params) if id(p) in self.owner]
        per_layer: dict[str, torch.Tensor] = {}
        if owned:
            rows = torch.tensor([k for k, _ in owned], device=squares.device)
            groups = torch.tensor([g for _, g in owned], device=squares.device)
            sums = torch.zeros(len(self.groups), dtype=torch.float64, device=squares.device)
            sums.index_add_(0, groups, squares[rows])
            norms = sums.sqrt()
            for g in sorted(set(g for _, g in owned)):
                per_layer[self.groups[g][0].name] = norms[g]
        return per_layer, squares.sum().sqrt()
