"""Normalized layer kinds (conv, linear, norm, ...) for modules and functional ops.

Rules and renderers reason about kinds, not class names, so a functional ``F.conv2d`` and an
``nn.Conv2d`` look alike.
"""
from __future__ import annotations

import operator
import re
from typing import Any

import torch.nn as nn

from . import ops

_MODULE_KINDS: list[tuple[tuple[type, ...], str]] = [
    ((nn.modules.conv._ConvNd,), "conv"),
    ((nn.Linear, nn.Bilinear), "linear"),
    ((nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm), "norm"),
    ((nn.modules.dropout._DropoutNd,), "dropout"),
    ((nn.RNNBase, nn.RNNCellBase), "recurrent"),
    ((nn.MultiheadAttention,), "attention"),
    ((nn.Embedding, nn.EmbeddingBag), "embedding"),
    ((nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd, nn.modules.pooling._AdaptiveAvgPoolNd,
      nn.modules.pooling._AdaptiveMaxPoolNd, nn.modules.pooling._LPPoolNd), "pool"),
    ((nn.Upsample,), "upsample"),
    ((nn.Flatten, nn.Unflatten), "reshape"),
    ((nn.Identity,), "identity"),
    ((nn.modules.padding._ConstantPadNd, nn.modules.padding._ReflectionPadNd,
      nn.modules.padding._ReplicationPadNd), "padding"),
    ((nn.Softmax, nn.LogSoftmax, nn.Softmin, nn.Softmax2d), "activation"),
]
if hasattr(nn, "RMSNorm"):
    _MODULE_KINDS.insert(2, ((nn.RMSNorm,), "norm"))
_ACTIVATION_MODULE_PATH = "torch.nn.modules.activation"
_NORM_NAME = re.compile(r"(Norm|Norm\dd|Normalization)$")


def module_kind(module: nn.Module) -> str:
    for types, kind in _MODULE_KINDS:
        if isinstance(module, types):
            return kind
    cls = type(module)
    if cls.__module__ == _ACTIVATION_MODULE_PATH:
        return "activation"
    if _NORM_NAME.search(cls.__name__):
        return "norm"
    return "module"


def is_norm_module(module: nn.Module) -> bool:
    """Normalization layers whose affine parameters the 'without norm' count excludes."""
    return module_kind(module) == "norm"


def function_name(target: Any) -> str:
    """A readable name for an fx call_function/call_method target or an ATen op."""
    if isinstance(target, str):
        return target
    if target in (operator.getitem,):
        return "getitem"
    name = getattr(target, "__name__", None) or str(target)
    return name.split(".")[-1]


def function_kind(name: str, tensor_inputs: int) -> str:
    base = name.rstrip("_") if name not in ops.FUNCTION_KINDS else name
    if base == "matmul":
        return "matmul"
    if base in ops.BINARY_ARITHMETIC:
        return "merge" if tensor_inputs >= 2 else "elementwise"
    return ops.FUNCTION_KINDS.get(name, ops.FUNCTION_KINDS.get(base, "elementwise"))
