"""Transfer functions: the receptive-field state of a layer's output from its inputs' states.

One function per family of ops — sliding windows (conv, pooling, upsampling, padding), merges,
reshapes, and mixing ops (linear, matmul, attention, softmax, reductions) — for modules, fx
functional nodes (arguments by name or ``argN``) and the ATen ops the hooks tracer records.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Any, Sequence

import torch.nn as nn

from ..ir.graph import Layer, TensorArg
from ..ir import ops
from ..ir.geometry import Axis, Unsure, Window, _tuple, adaptive_window, conv_windows, resample_window, \
    transposed_windows
from .rf_state import (GLOBAL, Field, Group, Mixed, State, _is_spatial, _rank_field, axes_of, merge_fields, mix,
                       view_roles)


# ---------------------------------------------------------------------------------------------
# the transfer functions


_POINTWISE_KINDS = {"activation", "dropout", "norm", "identity", "elementwise"}
_MIXING_MODULES = (nn.Softmax, nn.LogSoftmax, nn.Softmin)
# Ops that keep every position's field (F.normalize and glu mix or halve an axis: not here).
_POINTWISE_FUNCS = (ops.ELEMENTWISE_MATH | (ops.ELEMENTWISE_ACTIVATIONS - {"glu"}) | (ops.NORM - {"normalize"})
                    | ops.COMPARISON | ops.DROPOUT)


def _arg(layer: Layer, *names: str, default: Any = None) -> Any:
    for name in names:
        if name in layer.arguments:
            return layer.arguments[name]
    return default


def _positional(layer: Layer) -> list:
    """call_method arguments after self (arg1, arg2, ...), as a flat list."""
    values = []
    i = 1
    while f"arg{i}" in layer.arguments:
        values.append(layer.arguments[f"arg{i}"])
        i += 1
    if len(values) == 1 and isinstance(values[0], (list, tuple)):
        return list(values[0])
    return values


def _out_shape(layer: Layer) -> tuple[int, ...] | None:
    return tuple(layer.output_shapes[0]) if layer.output_shapes else None


def _main(layer: Layer, states: list[State], shapes: list) -> tuple[State, tuple[int, ...] | None]:
    """The first input with spatial content (or the first input), and the shape it is read at."""
    for state, shape in zip(states, shapes):
        if _is_spatial(state):
            return state, shape
    return (states[0] if states else None), (shapes[0] if shapes else None)


def _slide(field: Field, windows: list[Window], in_shape: Sequence[int], out_shape: Sequence[int],
           source: str) -> Field:
    """Apply per-axis windows to the last ``len(windows)`` dims; the dim before them is mixed (channels)."""
    n = len(windows)
    rank = len(in_shape)
    roles = list(field.roles)
    if len(roles) != rank or len(out_shape) != rank:
        raise Unsure("rank changes across a sliding-window layer")
    if rank > n and roles[rank - n - 1] is not None:
        raise Unsure("channels hold spatial positions")
    slide = roles[rank - n:]
    if all(r is None for r in slide) and not field.spatial:
        # A convolution meets axes no input carried (a reshape made them): count in that tensor's pixels.
        slide = [Group((Axis((source, rank - n + i), Fraction(1), Fraction(1), Fraction(0)),), (in_shape[rank - n + i],))
                 for i in range(n)]
    for i, (role, window) in enumerate(zip(slide, windows)):
        if not isinstance(role, Group) or len(role.axes) != 1:
            raise Unsure("sliding over a dimension that is not one spatial axis")
        dim = rank - n + i
        roles[dim] = Group((window.apply(role.axes[0]),), (out_shape[dim],))
    return Field(tuple(roles), field.fixed)


def _module_windows(m: nn.Module, in_shape: Sequence[int], out_shape: Sequence[int]) -> list[Window] | str | None:
    """Windows of a sliding-window module, "adaptive" handled via shapes, None when not one."""
    if isinstance(m, nn.modules.conv._ConvTransposeNd):
        return transposed_windows(m.kernel_size, m.stride, m.padding, m.dilation)
    if isinstance(m, nn.modules.conv._ConvNd):
        return conv_windows(m.kernel_size, m.stride, m.padding, m.dilation)
    if isinstance(m, nn.modules.pooling._MaxPoolNd):
        n = _pool_dims(m)
        k = _tuple(m.kernel_size, n)
        return conv_windows(k, m.stride, m.padding, m.dilation)
    if isinstance(m, nn.modules.pooling._AvgPoolNd):
        n = _pool_dims(m)
        k = _tuple(m.kernel_size, n)
        return conv_windows(k, m.stride, m.padding, 1)
    if isinstance(m, nn.modules.pooling._LPPoolNd):
        n = 1 if isinstance(m, nn.LPPool1d) else (3 if type(m).__name__ == "LPPool3d" else 2)
        return conv_windows(_tuple(m.kernel_size, n), m.stride, 0, 1)
    return None


def _pool_dims(m: nn.Module) -> int:
    name = type(m).__name__
    return 1 if name.endswith("1d") else 3 if name.endswith("3d") else 2


def _conv_like(layer: Layer, field: Field, in_shape, out_shape, windows: list[Window]) -> Field:
    return _slide(field, windows, in_shape, out_shape, layer.inputs[0] if layer.inputs else layer.name)


def _functional_windows(layer: Layer, in_shape: Sequence[int]) -> list[Window] | None:
    name = layer.type
    if name in ops.CONV:
        weight = _arg(layer, "weight")
        if not isinstance(weight, TensorArg):
            raise Unsure("conv weight unknown")
        kernel = weight.shape[2:]
        transposed = bool(_arg(layer, "transposed", default=False)) or name.startswith("conv_transpose")
        stride, padding, dilation = _arg(layer, "stride", default=1), _arg(layer, "padding", default=0), _arg(layer, "dilation", default=1)
        if transposed:
            return transposed_windows(kernel, stride, padding, dilation)
        return conv_windows(kernel, stride, padding, dilation)
    if "pool" in name and "adaptive" not in name and not name.startswith("lp_pool"):
        n = int(name[-1]) if name[-1] in "123" else int(name.split("pool")[1][0])
        kernel = _tuple(_arg(layer, "kernel_size"), n)
        dilation = _arg(layer, "dilation", default=1) if "max" in name else 1
        return conv_windows(kernel, _arg(layer, "stride"), _arg(layer, "padding", default=0), dilation)
    if name.startswith("lp_pool"):
        n = int(name[-2]) if name.endswith("d") else 2
        return conv_windows(_tuple(_arg(layer, "kernel_size"), n), _arg(layer, "stride"), 0, 1)
    return None


def _sliding_dims(layer: Layer) -> int:
    """How many trailing dims a pooling/upsample layer slides over (1, 2 or 3)."""
    text = layer.type
    for n in "123":
        if f"{n}d" in text:
            return int(n)
    return 2


def _upsample(layer: Layer, field: Field, in_shape, out_shape) -> State:
    m = layer.module
    if m is not None:
        mode, align = getattr(m, "mode", "nearest"), getattr(m, "align_corners", None)
        scale = getattr(m, "scale_factor", None)
        if isinstance(m, nn.UpsamplingBilinear2d):
            align = True
    else:
        mode = _arg(layer, "mode", default=None)
        if mode is None:
            for candidate in ("nearest_exact", "nearest", "bilinear", "bicubic", "trilinear", "linear"):
                if candidate in layer.type:
                    mode = candidate
                    break
            else:
                mode = "nearest"
        align = _arg(layer, "align_corners", default=None)
        scale = _arg(layer, "scale_factor", default=None)
    n = len(in_shape) - 2
    if n < 1:
        raise Unsure("upsampling without spatial dims")
    scales = _tuple(scale, n) if scale is not None and not isinstance(scale, str) else (None,) * n
    windows = [resample_window(mode, in_shape[2 + i], out_shape[2 + i], align, scales[i]) for i in range(n)]
    return _slide(field, windows, in_shape, out_shape, layer.name)


def _dims_arg(layer: Layer) -> Any:
    value = _arg(layer, "dim", "dims", default=None)
    if value is None and "arg1" in layer.arguments and isinstance(layer.arguments["arg1"], (int, list, tuple)):
        value = _positional(layer)
    return value


def _reduce(layer: Layer, field: Field, in_shape, out_shape) -> State:
    dims = _dims_arg(layer)
    rank = len(field.roles)
    if dims is None or dims == []:
        dims = list(range(rank))
    dims = [dims] if isinstance(dims, int) else list(dims)
    result = mix(field, dims)
    if result == GLOBAL:
        return GLOBAL
    if out_shape is not None and len(out_shape) < rank:  # keepdim=False: drop the reduced dims
        drop = {d % rank for d in dims}
        return Field(tuple(r for d, r in enumerate(field.roles) if d not in drop), field.fixed)
    return field


def _permute(layer: Layer, field: Field) -> Field:
    rank = len(field.roles)
    if layer.type in ("permute",):
        dims = _arg(layer, "dims", default=None)
        if dims is None:
            dims = _positional(layer)
        return Field(tuple(field.roles[d % rank] for d in dims), field.fixed)
    if layer.type == "t":
        return Field(tuple(reversed(field.roles)), field.fixed)
    a = _arg(layer, "dim0", "axis0", default=None)
    b = _arg(layer, "dim1", "axis1", default=None)
    if a is None:
        dims = _positional(layer)
        if len(dims) < 2:
            raise Unsure("transpose dims")
        a, b = dims[:2]
    roles = list(field.roles)
    roles[a % rank], roles[b % rank] = roles[b % rank], roles[a % rank]
    return Field(tuple(roles), field.fixed)


def _matmul(layer: Layer, states: list[State]) -> State:
    shapes = layer.input_shapes
    fields = [s for s in states if isinstance(s, Field) and s.spatial]
    if not fields:
        return None
    if len(states) != 2 or len(shapes) < 2 or len(shapes[0]) < 2 or len(shapes[1]) < 2:
        raise Unsure("matmul operands")
    a, b = states
    for state, contracted in ((a, -1), (b, -2)):
        if isinstance(state, Field) and state.spatial:
            role = state.roles[contracted]
            if role is not None and (isinstance(role, Group) or role.complete) and role.keys >= state.keys:
                return GLOBAL
            if role is not None:
                raise Unsure("matmul contracts part of the spatial positions")
    rank = len(_out_shape(layer) or ())
    ra = _rank_field(a, rank).roles if isinstance(a, Field) else (None,) * rank
    rb = _rank_field(b, rank).roles if isinstance(b, Field) else (None,) * rank
    roles = []
    for d in range(rank - 2):
        if ra[d] is not None and rb[d] is not None:
            raise Unsure("matmul batches over spatial dims of both operands")
        roles.append(ra[d] if ra[d] is not None else rb[d])
    roles += [ra[-2], rb[-1]]
    return Field(tuple(roles))


def _attention(layer: Layer, states: list[State]) -> State:
    m = layer.module
    if isinstance(m, nn.MultiheadAttention):
        seq = 1 if m.batch_first else 0
    else:
        seq = -2
    shapes = layer.input_shapes
    keys = states[1] if len(states) > 1 else states[0]
    key_shape = shapes[1] if len(shapes) > 1 else (shapes[0] if shapes else None)
    if isinstance(keys, Field) and keys.spatial:
        if key_shape is not None and len(keys.roles) != len(key_shape):
            raise Unsure("attention input rank")
        if isinstance(m, nn.MultiheadAttention) and len(keys.roles) == 2:
            seq = 0
        return mix(keys, [seq])
    raise Unsure("attention over a non-spatial key sequence")


def transfer(layer: Layer, states: list[State], shapes: list | None = None) -> tuple[State, dict]:
    """The state of ``layer``'s output from its inputs' states and shapes; raises Unsure when unsure.

    ``shapes[i]`` is the shape input ``i`` is read at (default: ``layer.input_shapes`` in order).
    """
    misaligned: dict = {}
    if shapes is None:
        shapes = [tuple(s) for s in layer.input_shapes[: len(states)]]
    shapes = list(shapes) + [None] * (len(states) - len(shapes))
    gated = _gate(layer, states, shapes)
    if gated is not None:
        return gated
    if any(s == GLOBAL for s in states):
        return GLOBAL, misaligned
    kind, name, m = layer.kind, layer.type, layer.module
    out_shape = _out_shape(layer)
    if not any(_is_spatial(s) for s in states):
        if kind not in ("conv", "pool", "upsample") or out_shape is None or len(out_shape) < 3 or \
                not layer.input_shapes or len(layer.input_shapes[0]) != len(out_shape):
            return None, misaligned
        # a convolution meets axes no input carried (a reshape made them): count in that tensor's pixels
        states = [Field((None,) * len(out_shape))] + list(states[1:])
        shapes[0] = tuple(layer.input_shapes[0])
    if out_shape is None:
        raise Unsure("no tensor output")
    state, in_shape = _main(layer, states, shapes)
    if in_shape is not None and isinstance(state, Field) and len(state.roles) != len(in_shape):
        raise Unsure("input rank differs from its producer's")

    if name in ops.CONCAT_ALONG_DIM:
        return _concat(layer, states, out_shape)
    binary = name in ("max", "min") and len(layer.input_shapes) > 1  # torch.max(a, b) is elementwise
    if len(states) > 1 and m is None and (binary or name in _POINTWISE_FUNCS or name.rstrip("_") in _POINTWISE_FUNCS):
        return merge_fields(states, out_shape, shapes)
    if m is not None:
        if kind in ("conv", "pool"):
            windows = _module_windows(m, in_shape, out_shape)
            if windows is not None:
                return _conv_like(layer, state, in_shape, out_shape, windows), misaligned
            if isinstance(m, (nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd)):
                return _adaptive(layer, state, in_shape, out_shape), misaligned
            raise Unsure(f"pooling module {name}")
        if kind == "upsample":
            return _upsample(layer, state, in_shape, out_shape), misaligned
        if kind == "linear":
            return _linear(state, in_shape, out_shape), misaligned
        if kind == "attention":
            return _attention(layer, states), misaligned
        if kind == "reshape":
            return view_roles(state, in_shape, out_shape), misaligned
        if kind == "padding":
            return _pad(state, _module_pad(m), in_shape, out_shape), misaligned
        if kind == "activation" and isinstance(m, _MIXING_MODULES):
            dim = -3 if isinstance(m, nn.Softmax2d) else getattr(m, "dim", None)
            return mix(state, [-1 if dim is None else dim]), misaligned
        if kind in _POINTWISE_KINDS and tuple(in_shape or ()) == out_shape:
            return state, misaligned
        raise Unsure(f"module {name}")
    # functional ops (fx nodes and ATen ops seen by the hooks tracer)
    if kind == "conv" or (kind == "pool" and "adaptive" not in name):
        windows = _functional_windows(layer, in_shape)
        if windows is None:
            raise Unsure(f"op {name}")
        return _conv_like(layer, state, in_shape, out_shape, windows), misaligned
    if kind == "pool":
        return _adaptive(layer, state, in_shape, out_shape), misaligned
    if kind == "upsample" or name.startswith("upsample"):
        return _upsample(layer, state, in_shape, out_shape), misaligned
    if name in ops.MIXING_ACTIVATIONS:
        dim = _arg(layer, "dim", default=None)
        if dim is None:
            dim = (_positional(layer) or [-1])[0]
        return mix(state, [dim]), misaligned
    if binary:
        return state, misaligned  # max(x, constant tensor): pointwise
    if name in ops.ALL_REDUCTIONS or kind == "reduction":
        return _reduce(layer, state, in_shape, out_shape), misaligned
    if name in ("linear", "addmm"):
        return _linear(state, in_shape, out_shape), misaligned
    if kind == "matmul":
        return _matmul(layer, states), misaligned
    if kind == "attention":
        return _attention(layer, states), misaligned
    if name in ops.EXPLICIT_PADS:
        return _pad(state, tuple(_arg(layer, "pad", default=())), in_shape, out_shape), misaligned
    if name in ops.PERMUTES:
        return _permute(layer, state), misaligned
    if name in ops.VIEWS:
        return view_roles(state, in_shape, out_shape), misaligned
    if name in ops.SPLITS:
        return _split(layer, state, in_shape, out_shape), misaligned
    pointwise = name in _POINTWISE_FUNCS or name.rstrip("_") in _POINTWISE_FUNCS or (
        kind in ("activation", "dropout", "norm", "identity") and name not in ("glu",))
    if name in ops.CONVERSIONS or (pointwise and tuple(in_shape or ()) == out_shape):
        if tuple(in_shape or ()) != out_shape:
            return view_roles(state, in_shape, out_shape), misaligned
        return state, misaligned
    if name in ops.EXPANDS and isinstance(state, Field):
        return _rank_field(state, len(out_shape)), misaligned
    if name == "getitem":
        return _getitem(layer, state, in_shape, out_shape), misaligned
    raise Unsure(f"op {name}")


def _gate(layer: Layer, states: list[State], shapes: list) -> tuple[State, dict] | None:
    """x * g (or x + g) where g is global and broadcast over x's spatial axes: a channel gate
    (squeeze-excitation, global context). By convention it modulates x without widening x's
    field; the layer is marked ``receptive_field_global_context``."""
    if layer.module is not None or layer.type.rstrip("_") not in ops.GATING_ARITHMETIC:
        return None
    if GLOBAL not in states or len(states) != 2:
        return None
    other = [(s, sh) for s, sh in zip(states, shapes) if s != GLOBAL]
    gate_shape = [sh for s, sh in zip(states, shapes) if s == GLOBAL][0]
    if len(other) != 1 or not isinstance(other[0][0], Field) or axes_of(other[0][0]) is None:
        return None
    field, shape = other[0]
    if gate_shape is None or shape is None or len(gate_shape) > len(shape):
        return None
    gate = (1,) * (len(shape) - len(gate_shape)) + tuple(gate_shape)
    if any(role is not None and gate[d] != 1 for d, role in enumerate(field.roles)):
        return None
    layer.attrs["receptive_field_global_context"] = True
    return field, {}


def _concat(layer: Layer, states: list[State], out_shape) -> tuple[State, dict]:
    dim = _arg(layer, "dim", "axis", default=None)
    if dim is None:
        pos = _positional(layer)
        dim = pos[0] if pos else 0
    rank = len(out_shape)
    if layer.type == "stack":
        inner = []
        for s in states:
            if isinstance(s, Field):
                roles = list(s.roles)
                roles.insert(dim % rank, None)
                inner.append(Field(tuple(roles), s.fixed))
            else:
                inner.append(s)
        return merge_fields(inner, out_shape, [None] * len(inner))
    return merge_fields(states, out_shape, [None] * len(states), skip_dim=dim % rank)


def _split(layer: Layer, field: Field, in_shape, out_shape) -> State:
    dim = _arg(layer, "dim", default=None)
    if dim is None:
        pos = _positional(layer)
        dim = (pos[0] if pos else 0) if layer.type == "unbind" else (pos[1] if len(pos) > 1 else 0)
    rank = len(field.roles)
    if field.roles[dim % rank] is not None:
        raise Unsure("splitting a spatial dimension")
    if layer.type == "unbind":
        return Field(tuple(r for d, r in enumerate(field.roles) if d != dim % rank), field.fixed)
    return field


def _adaptive(layer: Layer, field: Field, in_shape, out_shape) -> State:
    n = _sliding_dims(layer) if layer.module is None else _pool_dims(layer.module)
    if len(in_shape) < n or len(out_shape) != len(in_shape):
        raise Unsure("adaptive pooling shapes")
    tail_in, tail_out = in_shape[-n:], out_shape[-n:]
    if all(o == 1 for o in tail_out):
        return mix(field, range(len(in_shape) - n, len(in_shape)))
    windows = [adaptive_window(i, o) for i, o in zip(tail_in, tail_out)]
    return _slide(field, windows, in_shape, out_shape, layer.name)


def _linear(field: Field, in_shape, out_shape) -> State:
    return mix(field, [-1]) if field.roles[-1] is not None else field


def _module_pad(m: nn.Module) -> tuple:
    pad = m.padding
    return tuple(pad) if isinstance(pad, (tuple, list)) else (pad,) * 2


def _pad(field: Field, pad: tuple, in_shape, out_shape) -> Field:
    """F.pad order: (left, right) of the last dim, then of the one before, ..."""
    roles = list(field.roles)
    rank = len(roles)
    for i in range(len(pad) // 2):
        dim = rank - 1 - i
        left = int(pad[2 * i])
        role = roles[dim]
        if role is None:
            continue
        if not isinstance(role, Group) or len(role.axes) != 1:
            raise Unsure("padding a mixed dimension")
        a = role.axes[0]
        roles[dim] = Group((Axis(a.key, a.size, a.stride, a.start - left * a.stride),), (out_shape[dim],))
    return Field(tuple(roles), field.fixed)


def _getitem(layer: Layer, state: Field, in_shape, out_shape) -> State:
    if in_shape is not None and tuple(in_shape) == tuple(out_shape):
        return state
    if len(state.roles) == len(out_shape) and in_shape is not None and len(in_shape) == len(out_shape):
        roles = []
        for role, a, b in zip(state.roles, in_shape, out_shape):
            roles.append(role if a == b or role is None else Mixed(role.keys, False))
        return Field(tuple(roles), state.fixed)
    raise Unsure("indexing")
