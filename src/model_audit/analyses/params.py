"""Parameter analysis: per-layer own parameters, shared tensors counted once in the whole graph.

Also the reviewer variants: trainable, without bias (``*bias*`` tensors), without normalization
affine parameters (weights and biases of norm layers) — the seeds' conv block ``C·K·K·O + O + 2·O``
split into its weight, bias and BatchNorm-affine parts. Buffers (running stats) are reported apart.
Parameters of modules that never ran (e.g. auxiliary heads in eval mode) get rows of their own, so
per-layer rows always sum to the model's totals.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..ir.graph import Layer, LayerGraph
from ..ir.kinds import is_norm_module
from ..trace.tracing import module_layer


def _count(layer: Layer, name: str, tensor: torch.Tensor, owner: nn.Module | None) -> None:
    n = tensor.numel()
    layer.params += n
    if tensor.requires_grad:
        layer.trainable_params += n
    if "bias" in name.rsplit(".", 1)[-1]:
        layer.bias_params += n
    if owner is not None and is_norm_module(owner):
        layer.norm_params += n


def annotate_params(graph: LayerGraph) -> None:
    model = graph.model
    seen: set[int] = set()
    seen_buffers: set[int] = set()
    qualified = {id(p): name for name, p in model.named_parameters(remove_duplicate=False)}
    canonical = {id(p): name for name, p in model.named_parameters()}  # a tied tensor's first name
    owners = {}
    for mod_name, module in model.named_modules(remove_duplicate=False):
        for pname, p in module.named_parameters(recurse=False):
            owners.setdefault(id(p), module)
    for layer in graph.layers:
        if layer.module is not None:
            for pname, p in layer.module.named_parameters():
                if id(p) in seen:
                    layer.shared_params += p.numel()
                    _mark_shared(layer, canonical.get(id(p)))
                    continue
                seen.add(id(p))
                _count(layer, pname, p, owners.get(id(p)))
            for b in layer.module.buffers():
                if id(b) not in seen_buffers:
                    seen_buffers.add(id(b))
                    layer.buffers += b.numel()
        elif layer.kind == "parameter" and isinstance(layer.target, str):
            tensor = _lookup(model, layer.target)
            if isinstance(tensor, nn.Parameter):
                if id(tensor) in seen:
                    layer.shared_params += tensor.numel()
                    _mark_shared(layer, canonical.get(id(tensor)))
                else:
                    seen.add(id(tensor))
                    _count(layer, layer.target, tensor, owners.get(id(tensor)))
            elif isinstance(tensor, torch.Tensor) and id(tensor) not in seen_buffers:
                seen_buffers.add(id(tensor))
                layer.buffers += tensor.numel()
    _add_unexecuted(graph, seen, seen_buffers, qualified)


def _mark_shared(layer: Layer, name: str | None) -> None:
    """Name the tensors a layer reuses (``attrs["shares"]``, in the JSON): a tied ``lm_head`` has 0 own params."""
    if name is not None and name not in layer.attrs.setdefault("shares", []):
        layer.attrs["shares"].append(name)


def _lookup(model: nn.Module, target: str):
    obj = model
    for part in target.split("."):
        obj = getattr(obj, part, None)
    return obj


def _add_unexecuted(graph: LayerGraph, seen: set[int], seen_buffers: set[int], qualified: dict) -> None:
    """Rows for parameters no executed layer owns: modules skipped in this mode, or read functionally."""
    existing = {layer.name for layer in graph.layers}
    for name, module in graph.model.named_modules():
        direct = [(pn, p) for pn, p in module.named_parameters(recurse=False) if id(p) not in seen]
        bufs = [b for b in module.buffers(recurse=False) if id(b) not in seen_buffers]
        if not direct and not bufs:
            continue
        row_name = name or type(module).__name__
        if row_name in existing:
            row_name += "@params"
        layer = module_layer(row_name, module)
        layer.executed = False
        for pn, p in direct:
            seen.add(id(p))
            _count(layer, pn, p, module)
        for b in bufs:
            seen_buffers.add(id(b))
            layer.buffers += b.numel()
        graph.layers.append(layer)
