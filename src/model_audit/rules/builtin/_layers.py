"""What a layer is, read off the IR the same way for modules, fx functional calls and hooks-tracer ATen ops.

The path rules (saturating chains, padding, Dropout→BatchNorm, affine compositions, bias before
BatchNorm) reason about a layer's role, not its spelling: ``nn.Conv2d``, ``F.conv2d`` and the
hooks tracer's ``convolution`` must all yield the same kernel, stride and padding.
"""
from __future__ import annotations

from math import prod

import torch.nn as nn

from ...ir import ops
from ...ir.graph import Layer, LayerGraph, TensorArg
from ...ir.facts import ConvGeometry, PoolGeometry, conv_geometry, op_name, pool_geometry
from ...ir.facts import dropout_p as _dropout_p

__all__ = ["ConvGeometry", "conv_geometry", "pool_geometry"]

SATURATING_MAX_DERIVATIVE = ops.SATURATING_MAX_DERIVATIVE  # the bound the sigmoid rule multiplies
_SATURATING_MODULES = {nn.Sigmoid: "sigmoid", nn.Hardsigmoid: "hardsigmoid", nn.Tanh: "tanh", nn.Softsign: "softsign"}


def data_inputs(layer: Layer, layers: dict[str, Layer]) -> list[str]:
    """Producers of activations (graph inputs and layers), leaving out parameter and buffer reads."""
    return [name for name in layer.inputs if name not in layers or layers[name].kind != "parameter"]


def saturating(layer: Layer) -> str | None:
    """'sigmoid' / 'hardsigmoid' / 'tanh' / 'softsign' when the layer is that activation, else None."""
    if layer.module is not None:
        for cls, name in _SATURATING_MODULES.items():
            if isinstance(layer.module, cls):
                return name
        return None
    name = op_name(layer)
    return name if name in SATURATING_MAX_DERIVATIVE else None


def is_batchnorm(layer: Layer, *, instance: bool = False) -> bool:
    """BatchNorm (and, with ``instance=True``, InstanceNorm) as a module or a functional/ATen call."""
    if layer.module is not None:
        if isinstance(layer.module, nn.modules.batchnorm._BatchNorm):
            return True
        return instance and isinstance(layer.module, nn.modules.instancenorm._InstanceNorm)
    name = op_name(layer)
    return "batch_norm" in name or (instance and "instance_norm" in name)


def uses_running_stats(layer: Layer) -> bool:
    """Whether a BatchNorm normalizes with running statistics at inference (the variance-shift risk)."""
    if layer.module is not None:
        return bool(getattr(layer.module, "track_running_stats", True))
    return isinstance(layer.arguments.get("running_var"), TensorArg) or "running_var" not in layer.arguments


def drop_probability(layer: Layer) -> float | None:
    """The drop probability of a dropout layer (module, ``F.dropout``, ATen ``native_dropout``), else None.

    The hooks tracer sees training-mode ``F.dropout`` as ATen ``bernoulli_(keep)``: p is 1 - keep.
    (In eval mode ``F.dropout`` is the identity and the hooks tracer does not see it at all.)
    """
    p = _dropout_p(layer)
    if p is None and op_name(layer) == "bernoulli" and isinstance(layer.arguments.get("p"), float):
        return 1.0 - float(layer.arguments["p"])
    return p


def has_bias(layer: Layer) -> bool:
    """Whether a conv/linear layer adds a bias (module attribute, or a tensor ``bias`` argument)."""
    if layer.module is not None:
        return getattr(layer.module, "bias", None) is not None
    features = linear_features(layer)
    return features[2] if features is not None else isinstance(layer.arguments.get("bias"), TensorArg)


def conv_weights(geometry: ConvGeometry) -> int:
    """Weights of a convolution: C_in · C_out · ∏k / groups."""
    return geometry.in_channels * geometry.out_channels * prod(geometry.kernel) // geometry.groups


def effective_kernel(geometry: ConvGeometry) -> tuple[int, ...]:
    """d(k - 1) + 1 per axis: the span one window covers."""
    return tuple(geometry.effective_kernel(axis) for axis in range(len(geometry.kernel)))


def padding_on(geometry: ConvGeometry, axis: int) -> int | None:
    """Padding on one side of ``axis``; None for ``padding='same'`` (padded), 0 for ``'valid'``."""
    if isinstance(geometry.padding, str):
        return 0 if geometry.padding == "valid" else None
    return geometry.padding[axis]


def linear_features(layer: Layer) -> tuple[int, int, bool] | None:
    """(in_features, out_features, has_bias) of ``nn.Linear`` / ``F.linear``, else None."""
    if isinstance(layer.module, nn.Linear):
        return layer.module.in_features, layer.module.out_features, layer.module.bias is not None
    if layer.module is not None:
        return None
    name = op_name(layer)
    if name in ops.LINEAR_FUNCTIONS:
        weight = layer.arguments.get("weight")
        if isinstance(weight, TensorArg) and len(weight.shape) == 2:
            return weight.shape[1], weight.shape[0], isinstance(layer.arguments.get("bias"), TensorArg)
    elif name in ("addmm", "mm") and len(layer.inputs) == 1:
        # The hooks tracer sees F.linear on 2-D input as addmm(bias, x, Wᵀ) / mm(x, Wᵀ); parameters are
        # not graph inputs there, so one input means the other operand is a weight, not an activation.
        weight = layer.arguments.get("mat2")
        if isinstance(weight, TensorArg) and len(weight.shape) == 2:
            bias = name == "addmm" and isinstance(layer.arguments.get("self"), TensorArg)
            return weight.shape[0], weight.shape[1], bias
    return None


def is_padding(layer: Layer) -> bool:
    """Explicit padding: nn.ZeroPad2d / ReflectionPad / ReplicationPad / F.pad and their ATen ops."""
    return layer.kind == "padding" or (layer.module is None and "pad" in op_name(layer)
                                       and op_name(layer).endswith(("pad1d", "pad2d", "pad3d", "pad_nd")))


def output_layers(graph: LayerGraph) -> set[str]:
    """Layers whose output the model returns, directly or through shape-only ops (view, getitem, ...)."""
    layers = graph.by_name()
    found: set[str] = set()
    stack = list(graph.output_names)
    while stack:
        name = stack.pop()
        if name in found or name not in layers:
            continue
        found.add(name)
        layer = layers[name]
        if layer.kind in ("reshape", "identity"):
            stack.extend(data_inputs(layer, layers))
    return found


def spatial(shape: tuple[int, ...] | None, axes: int) -> tuple[int, ...] | None:
    """The last ``axes`` sizes of a shape (the spatial axes of an [N, C, *S] or [C, *S] tensor)."""
    if shape is None or len(shape) < axes + 1:
        return None
    return tuple(shape[-axes:])


def pool_window(pool: PoolGeometry) -> tuple[int, ...]:
    """d(k - 1) + 1 per axis of a (non-adaptive) pooling window: the span one window covers."""
    return tuple((d or 1) * (k - 1) + 1 for k, d in zip(pool.kernel, pool.dilation or (1,) * len(pool.kernel)))


def size_text(shape) -> str:
    """'32×32' for messages."""
    return "×".join(str(v) for v in shape)


def describe(layer: Layer) -> str:
    """'`name` (Type)' for messages."""
    return f"`{layer.name}` ({layer.type})"
