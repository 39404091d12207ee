"""Normalized layer kinds (conv, linear, norm, ...) for modules and functional ops.

Rules and renderers reason about kinds, not class names, so a functional ``F.conv2d`` and an
``nn.Conv2d`` look alike.
"""
from __future__ import annotations

import operator
import re
from typing import Any

import torch.nn as nn

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

# Functional/ATen dropout ops (the "dropout" kind); rules and the receptive-field analysis reuse the set.
DROPOUT_OPS = frozenset("dropout dropout1d dropout2d dropout3d alpha_dropout feature_alpha_dropout native_dropout".split())

_FUNCTION_KINDS: dict[str, str] = {}
for _names, _kind in [
    ("conv1d conv2d conv3d conv_transpose1d conv_transpose2d conv_transpose3d convolution", "conv"),
    ("linear addmm bilinear", "linear"),
    ("matmul mm bmm baddbmm einsum", "matmul"),
    ("batch_norm layer_norm group_norm instance_norm rms_norm native_batch_norm native_layer_norm "
     "native_group_norm local_response_norm normalize", "norm"),
    (" ".join(sorted(DROPOUT_OPS)), "dropout"),
    ("relu relu_ relu6 sigmoid tanh gelu silu mish elu selu celu leaky_relu hardtanh hardswish "
     "hardsigmoid softplus softsign softmax log_softmax _softmax _safe_softmax _log_softmax logsigmoid "
     "glu prelu threshold tanhshrink hardshrink softshrink", "activation"),
    ("max_pool1d max_pool2d max_pool3d avg_pool1d avg_pool2d avg_pool3d adaptive_avg_pool1d "
     "adaptive_avg_pool2d adaptive_avg_pool3d adaptive_max_pool1d adaptive_max_pool2d adaptive_max_pool3d "
     "lp_pool1d lp_pool2d max_pool2d_with_indices _adaptive_avg_pool2d", "pool"),
    ("interpolate upsample upsample_nearest upsample_bilinear upsample_nearest2d upsample_bilinear2d", "upsample"),
    ("pad constant_pad_nd", "padding"),
    ("scaled_dot_product_attention multi_head_attention_forward _native_multi_head_attention "
     "_scaled_dot_product_flash_attention_for_cpu _scaled_dot_product_efficient_attention "
     "_scaled_dot_product_flash_attention", "attention"),
    ("cat concat stack hstack vstack", "merge"),
    ("view reshape flatten unflatten permute transpose t squeeze unsqueeze contiguous getitem size "
     "chunk split unbind expand expand_as repeat narrow select slice _unsafe_view getattr type_as "
     "to float half double long int bool clone detach dim numel", "reshape"),
    ("embedding", "embedding"),
    ("lstm gru rnn_tanh rnn_relu mkldnn_rnn_layer _cudnn_rnn", "recurrent"),
    ("mean sum amax amin max min var std", "reduction"),
]:
    for _n in _names.split():
        _FUNCTION_KINDS[_n] = _kind

_BINARY_MERGE = {"add", "sub", "mul", "iadd", "imul", "isub", "truediv", "div", "matmul"}


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
    base = name.rstrip("_") if name not in _FUNCTION_KINDS else name
    if base in _BINARY_MERGE or base in {"add", "sub", "mul"}:
        if base == "matmul":
            return "matmul"
        return "merge" if tensor_inputs >= 2 else "elementwise"
    return _FUNCTION_KINDS.get(name, _FUNCTION_KINDS.get(base, "elementwise"))
