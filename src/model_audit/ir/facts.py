"""Questions rules ask of one Layer, answered alike for modules, fx functional calls and ATen ops.

A rule must treat ``nn.Conv2d(8, 8, 3)``, ``F.conv2d(x, w)`` (fx: arguments by name) and the
hooks tracer's ``convolution`` ATen op (stride/padding as lists) the same way, so the geometry of
convolutions and pools, the drop rate of dropouts and the batch-statistics flag of batch norms are
read here, once.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch.nn as nn

from .graph import Layer, TensorArg
from . import ops


def _tuple(value: Any, n: int, default: int = 1) -> tuple[int, ...]:
    if value is None or (isinstance(value, (list, tuple)) and len(value) == 0):
        return (default,) * n
    if isinstance(value, (list, tuple)):
        values = tuple(int(v) for v in value)
        return values * n if len(values) == 1 else values
    return (int(value),) * n


def op_name(layer: Layer) -> str:
    """The function/ATen op a functional layer calls (``layer.type``), without a trailing ``_``."""
    return layer.type.rstrip("_") if layer.module is None else ""


@dataclass(frozen=True)
class ConvGeometry:
    kernel: tuple[int, ...]  # per spatial axis
    stride: tuple[int, ...]
    padding: tuple[int, ...] | str  # per axis, or "same"/"valid"
    dilation: tuple[int, ...]
    groups: int
    in_channels: int
    out_channels: int
    transposed: bool

    @property
    def depthwise(self) -> bool:
        """One input channel per group: the k×k cost is per channel, not per channel pair."""
        return self.groups > 1 and self.groups == self.in_channels

    def effective_kernel(self, axis: int) -> int:
        return self.dilation[axis] * (self.kernel[axis] - 1) + 1

    def pad(self, axis: int) -> int:
        """Total padding along ``axis`` (both sides)."""
        if self.padding == "valid":
            return 0
        if self.padding == "same":
            return self.effective_kernel(axis) - 1
        return 2 * self.padding[axis]  # type: ignore[index]


def conv_geometry(layer: Layer) -> ConvGeometry | None:
    """Kernel, stride, padding, dilation and groups of a convolution layer; None for other layers."""
    module = layer.module
    if isinstance(module, nn.modules.conv._ConvNd):
        n = len(module.kernel_size)
        padding = module.padding if isinstance(module.padding, str) else _tuple(module.padding, n, 0)
        return ConvGeometry(tuple(module.kernel_size), _tuple(module.stride, n), padding, _tuple(module.dilation, n),
                            module.groups, module.in_channels, module.out_channels, bool(module.transposed))
    if module is not None or layer.kind != "conv":
        return None
    args = layer.arguments
    weight = args.get("weight")
    if not isinstance(weight, TensorArg) or len(weight.shape) < 3:
        return None
    kernel = tuple(weight.shape[2:])
    n = len(kernel)
    groups = int(args.get("groups") or 1)
    transposed = bool(args.get("transposed")) or "transpose" in layer.type
    padding = args.get("padding", 0)
    padding = padding if isinstance(padding, str) else _tuple(padding, n, 0)
    if transposed:  # weight is [C_in, C_out/groups, *k]
        in_channels, out_channels = weight.shape[0], weight.shape[1] * groups
    else:  # weight is [C_out, C_in/groups, *k]
        in_channels, out_channels = weight.shape[1] * groups, weight.shape[0]
    return ConvGeometry(kernel, _tuple(args.get("stride"), n), padding, _tuple(args.get("dilation"), n), groups,
                        in_channels, out_channels, transposed)


@dataclass(frozen=True)
class PoolGeometry:
    kernel: tuple[int, ...] | None  # None for adaptive pools
    stride: tuple[int, ...] | None
    padding: tuple[int, ...] | None
    dilation: tuple[int, ...] | None
    output_size: tuple[int | None, ...] | None  # adaptive pools only

    @property
    def adaptive(self) -> bool:
        return self.kernel is None


def _spatial_rank(layer: Layer, declared: int | None) -> int:
    if declared:
        return declared
    shape = layer.input_shapes[0] if layer.input_shapes else ()
    return max(len(shape) - 2, 1)


def pool_geometry(layer: Layer) -> PoolGeometry | None:
    """Geometry of a (max/avg/lp/adaptive) pooling layer, module or functional; None otherwise."""
    module = layer.module
    if isinstance(module, (nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd)):
        n = _rank_from_class(module)
        size = module.output_size
        size = tuple(size) if isinstance(size, (list, tuple)) else (size,) * n
        return PoolGeometry(None, None, None, None, size)
    if isinstance(module, (nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd, nn.modules.pooling._LPPoolNd)):
        n = _rank_from_class(module)
        kernel = _tuple(module.kernel_size, n)
        stride = _tuple(module.stride, n) if module.stride else kernel
        padding = _tuple(getattr(module, "padding", 0), n, 0)
        dilation = _tuple(getattr(module, "dilation", 1), n)
        return PoolGeometry(kernel, stride, padding, dilation, None)
    if module is not None:
        return None
    name = op_name(layer)
    args = layer.arguments
    if name in ops.ADAPTIVE_POOL:
        n = int(name[-2]) if name[-2].isdigit() else _spatial_rank(layer, None)
        size = args.get("output_size")
        size = tuple(size) if isinstance(size, (list, tuple)) else (size,) * n
        return PoolGeometry(None, None, None, None, size)
    if name in ops.POOL:
        digits = [c for c in name if c.isdigit()]
        n = int(digits[0]) if digits else _spatial_rank(layer, None)
        kernel = _tuple(args.get("kernel_size"), n)
        stride = _tuple(args.get("stride"), n) if args.get("stride") not in (None, [], ()) else kernel
        return PoolGeometry(kernel, stride, _tuple(args.get("padding"), n, 0), _tuple(args.get("dilation"), n), None)
    return None


def _rank_from_class(module: nn.Module) -> int:
    name = type(module).__name__
    return int(name[-2]) if len(name) > 2 and name[-2].isdigit() else 2


def dropout_p(layer: Layer) -> float | None:
    """The drop probability of a dropout layer (module, ``F.dropout`` or ATen ``native_dropout``)."""
    if layer.module is not None:
        if isinstance(layer.module, nn.modules.dropout._DropoutNd):
            return float(layer.module.p)
        return None
    if op_name(layer) in ops.DROPOUT:
        p = layer.arguments.get("p")
        return float(p) if isinstance(p, (int, float)) else None
    return None


def is_softmax(layer: Layer) -> bool:
    """``nn.Softmax``/``Softmax2d``, ``F.softmax``/``torch.softmax``/``x.softmax()`` — never log-softmax."""
    if layer.module is not None:
        return isinstance(layer.module, (nn.Softmax, nn.Softmax2d))
    return op_name(layer) in ops.SOFTMAX


@dataclass(frozen=True)
class BatchNormCall:
    batch_statistics: bool  # whether this call normalizes with the batch's own mean/variance
    input_shape: tuple[int, ...]


def batchnorm_call(layer: Layer, training: bool) -> BatchNormCall | None:
    """A BatchNorm call (not InstanceNorm/LayerNorm/GroupNorm) and whether it uses batch statistics.

    A module uses batch statistics in training mode, and also in eval mode when it does not track
    running statistics (``track_running_stats=False``), exactly as ``_BatchNorm.forward`` decides.
    """
    if not layer.input_shapes:
        return None
    shape = layer.input_shapes[0]
    module = layer.module
    if module is not None:
        if not isinstance(module, nn.modules.batchnorm._BatchNorm):
            return None
        uses_batch = training or module.running_mean is None
        return BatchNormCall(uses_batch, shape)
    name = op_name(layer)
    if name not in ops.BATCH_NORM:
        return None
    if name == "_native_batch_norm_legit_no_training":
        return BatchNormCall(False, shape)
    flag = layer.arguments.get("training")
    return BatchNormCall(bool(flag) if flag is not None else training, shape)


def spatial_shape(layer: Layer) -> tuple[int, ...] | None:
    """The spatial sizes of a conv/pool layer's first input ([N, C, *spatial] or unbatched [C, *spatial])."""
    if not layer.input_shapes:
        return None
    shape = layer.input_shapes[0]
    geometry = conv_geometry(layer)
    rank = len(geometry.kernel) if geometry else None
    if rank is None:
        pool = pool_geometry(layer)
        if pool is None:
            return None
        rank = len(pool.kernel) if pool.kernel else len(pool.output_size or ())
    if rank == 0 or len(shape) < rank + 1:
        return None
    return tuple(shape[-rank:])
