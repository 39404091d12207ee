"""Per-ATen-op cost formulas: MACs (matmul-like work) and FLOPs (every floating-point operation).

One small formula per op, registered by decorator, in the style of ``torch/utils/flop_counter.py``.
The table is the documentation: ``docs/flops.md`` describes the same rules. An op that is neither
costed here nor listed in ``ZERO_COST`` is reported as *uncounted* by the counter, never dropped.

Conventions (see DESIGN.md):
- MACs: conv, mm/addmm/bmm/baddbmm (einsum and matmul lower to these), attention and recurrent
  kernels. FLOPs = 2 * MACs + bias adds + everything elementwise.
- Pointwise ops cost 1 FLOP per output element when the output is floating point or complex
  (integer and boolean index arithmetic is not floating-point work and costs 0).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch

from ..ir import ops

aten = torch.ops.aten


@dataclass(frozen=True)
class Cost:
    macs: int = 0
    flops: int = 0

    def __add__(self, other: "Cost") -> "Cost":
        return Cost(self.macs + other.macs, self.flops + other.flops)


Formula = Callable[[Sequence[Any], dict, Any], Cost]
FORMULAS: dict[Any, Formula] = {}


ORIGINS: dict[Any, str] = {}  # op packet -> who registered its formula (BUILTIN, a plugin, register_cost())
BUILTIN = "model-audit"


# has_cost runs for every op a counter sees, and an OpOverload's hash is Python code: the answers are
# kept by the op's id (with the op, so that the id stays its own); a new formula clears them.
_KNOWN: dict[int, tuple[Any, bool, bool]] = {}  # id(op) -> (op, has a formula, has a cost)


def formulas_changed() -> None:
    """Forget the cached ``has_cost``/``has_formula`` answers (after FORMULAS or ZERO_COST changed)."""
    _KNOWN.clear()


def _known(func: Any) -> tuple[Any, bool, bool]:
    known = _KNOWN.get(id(func))
    if known is None:
        packet = getattr(func, "overloadpacket", func)
        formula = packet in FORMULAS
        known = _KNOWN[id(func)] = (func, formula, formula or packet in ZERO_COST)
    return known


def register(*packets: Any) -> Callable[[Formula], Formula]:
    """Register ``fn`` as the cost formula of the given ATen op packets (all overloads)."""

    def deco(fn: Formula) -> Formula:
        for packet in packets:
            if packet is not None:
                register_cost(packet, fn, origin=BUILTIN)
        return fn

    return deco


def _resolve_packet(op: Any) -> Any:
    """An op overload packet from a packet, an overload or a qualified name ``"ns::name"``."""
    if isinstance(op, str):
        namespace, sep, name = op.partition("::")
        if not sep or not namespace or not name:
            raise ValueError(f"op name {op!r} is not qualified: use 'namespace::name' (e.g. 'mylib::fused_gelu')")
        try:
            return getattr(getattr(torch.ops, namespace), name.split(".")[0])
        except (AttributeError, RuntimeError):
            raise ValueError(f"no op {op!r} is registered with torch (define it with torch.library first)") from None
    return getattr(op, "overloadpacket", op)


def register_cost(op: Any, formula: Formula, *, origin: str = "register_cost()") -> None:
    """Register ``formula(args, kwargs, out) -> Cost`` for ``op`` (a packet, an overload or ``"ns::name"``).

    Raises ``ValueError`` when the op already has a formula: two formulas for one op would make the
    count depend on import order.
    """
    packet = _resolve_packet(op)
    if packet in FORMULAS and FORMULAS[packet] is not formula:
        raise ValueError(f"op {op_name(packet)} already has a cost formula (from {ORIGINS.get(packet, '?')}); "
                         f"{origin} cannot register a second one")
    FORMULAS[packet] = formula
    ORIGINS[packet] = origin
    formulas_changed()


def _op(name: str) -> Any:
    """Look an ATen op packet up by name; None when this torch build lacks it (older/newer torch)."""
    try:
        return getattr(aten, name)
    except (AttributeError, RuntimeError):
        return None


def _ops(*names: str) -> list[Any]:
    return [_op(n) for n in names]


def numel(shape: Sequence[int]) -> int:
    return math.prod(int(s) for s in shape)


def _first_tensor(obj: Any) -> torch.Tensor | None:
    if isinstance(obj, torch.Tensor):
        return obj
    if isinstance(obj, (list, tuple)):
        for item in obj:
            found = _first_tensor(item)
            if found is not None:
                return found
    return None


def _is_float(t: torch.Tensor | None) -> bool:
    return t is not None and (t.is_floating_point() or t.is_complex())


# --------------------------------------------------------------------------- matmul-like


def _matmul_macs(a: torch.Tensor, b: torch.Tensor) -> int:
    """[..., n, k] @ [..., k, m]: every element of A meets one column of B."""
    return numel(a.shape) * b.shape[-1]


@register(_op("mm"), _op("bmm"))
def _mm(args, kwargs, out) -> Cost:
    macs = _matmul_macs(args[0], args[1])
    return Cost(macs, 2 * macs)


@register(_op("addmm"), _op("baddbmm"))
def _addmm(args, kwargs, out) -> Cost:
    """bias + A @ B: the matmul plus one add per output element."""
    macs = _matmul_macs(args[1], args[2])
    return Cost(macs, 2 * macs + numel(out.shape))


@register(_op("_trilinear"))
def _trilinear(args, kwargs, out) -> Cost:
    """nn.Bilinear / F.bilinear: sum over ``sumdim`` of i1*w*i2 broadcast over the ``expand`` dims.

    One MAC per term of the broadcast product (batch x out x in1 x in2 for nn.Bilinear); each term
    takes two multiplies and one add, so FLOPs = 3 x MACs.
    """
    i1, w, i2, expand1, expand2, expand3 = args[:6]
    rank = i1.dim() + len(expand1)
    sizes = [1] * rank
    for tensor, expand in ((i1, expand1), (w, expand2), (i2, expand3)):
        dims = [d for d in range(rank) if d not in set(expand)]
        for d, size in zip(dims, tensor.shape):
            sizes[d] = max(sizes[d], int(size))
    macs = numel(sizes)
    return Cost(macs, 3 * macs)


@register(_op("mv"), _op("dot"), _op("vdot"))
def _mv(args, kwargs, out) -> Cost:
    macs = numel(args[0].shape)
    return Cost(macs, 2 * macs)


@register(_op("addmv"))
def _addmv(args, kwargs, out) -> Cost:
    macs = numel(args[1].shape)
    return Cost(macs, 2 * macs + numel(out.shape))


def conv_macs(x_shape, w_shape, out_shape, transposed: bool) -> int:
    """MACs of a (transposed) convolution: every output (input, if transposed) position times the
    kernel volume times input channels per group times output channels."""
    batch = x_shape[0]
    positions = numel((x_shape if transposed else out_shape)[2:])
    return batch * positions * numel(w_shape)


@register(_op("convolution"), _op("_convolution"))
def _convolution(args, kwargs, out) -> Cost:
    x, w, bias = args[0], args[1], args[2]
    transposed = bool(args[6]) if len(args) > 6 else bool(kwargs.get("transposed", False))
    macs = conv_macs(x.shape, w.shape, out.shape, transposed)
    return Cost(macs, 2 * macs + (numel(out.shape) if bias is not None else 0))


@register(_op("convolution_backward"))
def _convolution_backward(args, kwargs, out) -> Cost:
    # convolution_backward(grad_output, input, weight, bias_sizes, stride, padding, dilation,
    #                      transposed, output_padding, groups, output_mask)
    grad_out, x, w = args[0], args[1], args[2]
    transposed = bool(args[7])
    mask = args[10]
    macs_one = conv_macs(x.shape, w.shape, grad_out.shape, transposed)
    macs = macs_one * (int(bool(mask[0])) + int(bool(mask[1])))
    return Cost(macs, 2 * macs + (numel(grad_out.shape) if mask[2] else 0))


# --------------------------------------------------------------------------- attention

SOFTMAX_FLOPS_PER_ELEMENT = 5  # max, subtract, exp, sum, divide


def attention_cost(batch_heads: int, q_len: int, kv_len: int, qk_dim: int, v_dim: int) -> Cost:
    """softmax(Q K^T * scale) V for ``batch_heads`` independent heads."""
    scores = batch_heads * q_len * kv_len
    macs = scores * qk_dim + scores * v_dim
    return Cost(macs, 2 * macs + scores + SOFTMAX_FLOPS_PER_ELEMENT * scores)


def _bhle(q, k, v, layout: str = "bhle") -> tuple[int, int, int, int, int]:
    """(batch*heads, L, S, E, Ev) of query/key/value in [B, H, L, E] or [B, L, H, E] layout."""
    if layout == "blhe":
        b, l, h, e = q.shape
        s, ev = k.shape[1], v.shape[-1]
    else:
        *bh, l, e = q.shape
        b, h = numel(bh), 1
        s, ev = k.shape[-2], v.shape[-1]
    return b * h, l, s, e, ev


_SDPA_CAUSAL_AT = ops.SDPA_CAUSAL_ARGUMENT


def _sdpa_formula(causal_at: int) -> Formula:
    def formula(args, kwargs, out) -> Cost:
        bh, l, s, e, ev = _bhle(args[0], args[1], args[2])
        causal = args[causal_at] if len(args) > causal_at else kwargs.get("is_causal", False)
        mask = kwargs.get("attn_mask", kwargs.get("attn_bias"))
        if mask is None and len(args) > 3 and isinstance(args[3], torch.Tensor):
            mask = args[3]
        # One FLOP per score for a causal or explicit mask: on meta, SDPA runs its math path,
        # which adds the mask as a bias; counting it here makes meta and cpu agree.
        masked = bool(causal) or mask is not None
        return attention_cost(bh, l, s, e, ev) + Cost(0, bh * l * s if masked else 0)

    return formula


for _name, _at in _SDPA_CAUSAL_AT.items():
    register(_op(_name))(_sdpa_formula(_at))


@register(*_ops("_flash_attention_forward", "_efficient_attention_forward"))
def _sdpa_blhe(args, kwargs, out) -> Cost | None:
    from .costs_extra import varlen_attention_cost

    varlen = varlen_attention_cost(args)  # nested/jagged batches: per-sequence lengths
    if varlen is not NotImplemented:
        return varlen
    return attention_cost(*_bhle(args[0], args[1], args[2], layout="blhe"))


@register(*_ops(
    "_scaled_dot_product_flash_attention_for_cpu_backward",
    "_scaled_dot_product_flash_attention_backward",
    "_scaled_dot_product_efficient_attention_backward",
    "_scaled_dot_product_cudnn_attention_backward",
))
def _sdpa_backward(args, kwargs, out) -> Cost:
    # grad_out, query, key, value, ...: four matmuls (dV, dP, dQ, dK), twice the forward MACs.
    bh, l, s, e, ev = _bhle(args[1], args[2], args[3])
    fwd = attention_cost(bh, l, s, e, ev)
    macs = 2 * fwd.macs
    return Cost(macs, 2 * macs + SOFTMAX_FLOPS_PER_ELEMENT * bh * l * s)


def _mha_cost(batch: int, q_len: int, kv_len: int, embed: int, heads: int,
              has_in_bias: bool, has_out_bias: bool) -> Cost:
    proj_macs = batch * q_len * embed * embed + 2 * batch * kv_len * embed * embed
    out_macs = batch * q_len * embed * embed
    attn = attention_cost(batch * heads, q_len, kv_len, embed // heads, embed // heads)
    bias = (batch * q_len * embed + 2 * batch * kv_len * embed if has_in_bias else 0) + (
        batch * q_len * embed if has_out_bias else 0
    )
    macs = proj_macs + out_macs + attn.macs
    return Cost(macs, 2 * (proj_macs + out_macs) + attn.flops + bias)


@register(_op("_native_multi_head_attention"))
def _native_mha(args, kwargs, out) -> Cost:
    """nn.MultiheadAttention's eval fast path: in-projection, attention, out-projection in one op."""
    q, k = args[0], args[1]
    embed, heads = int(args[3]), int(args[4])
    batched = q.dim() == 3
    batch = q.shape[0] if batched else 1
    q_len, kv_len = q.shape[-2], k.shape[-2]
    return _mha_cost(batch, q_len, kv_len, embed, heads, args[6] is not None, args[8] is not None)


LAYER_NORM_FLOPS = 7  # mean 1, centre-square-accumulate 3, normalise 1, affine 2
LAYER_NORM_FLOPS_NO_AFFINE = 5


@register(_op("_transformer_encoder_layer_fwd"))
def _encoder_layer(args, kwargs, out) -> Cost:
    """nn.TransformerEncoderLayer's eval fast path: self-attention + 2 layer norms + FFN."""
    src = args[0]
    embed, heads = int(args[1]), int(args[2])
    batch = src.shape[0] if src.dim() == 3 else 1
    length = src.shape[-2]
    ffn_w1 = args[14]
    hidden = ffn_w1.shape[0]
    attn = _mha_cost(batch, length, length, embed, heads, args[4] is not None, args[6] is not None)
    tokens = batch * length
    ffn_macs = 2 * tokens * embed * hidden
    ffn_flops = 2 * ffn_macs + tokens * hidden + tokens * embed + tokens * hidden  # biases + activation
    norms = 2 * LAYER_NORM_FLOPS * tokens * embed
    residuals = 2 * tokens * embed
    return Cost(attn.macs + ffn_macs, attn.flops + ffn_flops + norms + residuals)


# --------------------------------------------------------------------------- recurrent kernels

# Elementwise work per hidden unit and time step, matching the decomposed cell the meta device runs:
# LSTM: gate add 4, three sigmoids, two tanhs, three products, one cell add = 13;
# GRU: four adds, two sigmoids, one tanh, two products, one subtraction = 10; RNN: add + activation = 2.
RNN_GATES = {"lstm": 4, "gru": 3, "rnn": 1}
RNN_ELEMENTWISE = {"lstm": 13, "gru": 10, "rnn": 2}
_CUDNN_MODES = {0: "rnn", 1: "rnn", 2: "lstm", 3: "gru"}


def recurrent_cost(steps_times_batch: int, weights: Sequence[torch.Tensor], cell: str,
                   hidden: int, directions_layers: int) -> Cost:
    """Every 2-D weight matrix multiplies one vector per step and batch element; 1-D weights are biases."""
    matrices = sum(numel(w.shape) for w in weights if w is not None and w.dim() == 2)
    biases = sum(numel(w.shape) for w in weights if w is not None and w.dim() == 1)
    macs = steps_times_batch * matrices
    elementwise = steps_times_batch * RNN_ELEMENTWISE[cell] * hidden * directions_layers
    return Cost(macs, 2 * macs + steps_times_batch * biases + elementwise)


def _mkldnn_layer_cost(args: Sequence[Any], mode_at: int) -> Cost:
    """One layer and direction of the CPU fused RNN kernel; (mode, hidden_size, num_layers, has_biases)
    start at ``mode_at`` in its signature (9 in the forward, 14 in the backward)."""
    x, w_ih, w_hh, b_ih, b_hh = args[0], args[1], args[2], args[3], args[4]
    mode, hidden, has_biases = int(args[mode_at]), int(args[mode_at + 1]), bool(args[mode_at + 3])
    weights = [w_ih, w_hh] + ([b_ih, b_hh] if has_biases else [])
    return recurrent_cost(numel(x.shape[:-1]), weights, _CUDNN_MODES.get(mode, "lstm"), hidden, 1)


@register(_op("mkldnn_rnn_layer"))
def _mkldnn_rnn_layer(args, kwargs, out) -> Cost:
    return _mkldnn_layer_cost(args, 9)


@register(_op("mkldnn_rnn_layer_backward"))
def _mkldnn_rnn_layer_backward(args, kwargs, out) -> Cost:
    """The kernel computes the input, hidden-state and weight gradients — two matmuls per weight
    matrix, i.e. twice the forward MACs."""
    fwd = _mkldnn_layer_cost(args, 14)
    return Cost(2 * fwd.macs, 2 * fwd.flops)


@register(_op("_cudnn_rnn"))
def _cudnn_rnn(args, kwargs, out) -> Cost:
    x, weights = args[0], args[1]
    mode, hidden, num_layers, bidirectional = int(args[6]), int(args[7]), int(args[9]), bool(args[13])
    batch_sizes = args[14] if len(args) > 14 else None
    steps_batch = int(sum(batch_sizes)) if batch_sizes else numel(x.shape[:-1])
    return recurrent_cost(steps_batch, weights, _CUDNN_MODES.get(mode, "lstm"), hidden,
                          num_layers * (2 if bidirectional else 1))


# --------------------------------------------------------------------------- normalization

BATCH_NORM_EVAL_FLOPS = 4  # subtract mean, multiply by 1/std, affine multiply and add
BATCH_NORM_EVAL_FLOPS_NO_AFFINE = 2


def _norm_cost(x, weight, training: bool, bias: Any = None) -> Cost:
    """Normalization, plus 1 per element for the weight multiply and 1 for the bias add, each only
    when present (``LayerNorm(bias=False)`` scales without adding)."""
    n = numel(x.shape)
    per = LAYER_NORM_FLOPS_NO_AFFINE if training else BATCH_NORM_EVAL_FLOPS_NO_AFFINE
    per += (weight is not None) + (bias is not None)
    return Cost(0, per * n)


@register(*_ops("native_batch_norm", "_native_batch_norm_legit", "_native_batch_norm_legit_functional",
                "cudnn_batch_norm", "miopen_batch_norm"))
def _batch_norm(args, kwargs, out) -> Cost:
    # (input, weight, bias, running_mean, running_var, training, ...); _legit's no-stats overload
    # has (input, weight, bias, training, ...).
    training = args[5] if len(args) > 5 and isinstance(args[5], bool) else args[3] if isinstance(args[3], bool) else True
    return _norm_cost(args[0], args[1], bool(training), args[2])


@register(_op("_native_batch_norm_legit_no_training"))
def _batch_norm_eval(args, kwargs, out) -> Cost:
    return _norm_cost(args[0], args[1], False, args[2])


@register(_op("native_layer_norm"))
def _layer_norm(args, kwargs, out) -> Cost:
    return _norm_cost(args[0], args[2], True, args[3])


@register(_op("native_group_norm"))
def _group_norm(args, kwargs, out) -> Cost:
    return _norm_cost(args[0], args[1], True, args[2])


RMS_NORM_FLOPS = 4  # square, accumulate, scale by 1/rms, weight multiply


@register(_op("_fused_rms_norm"))
def _rms_norm(args, kwargs, out) -> Cost:
    return Cost(0, RMS_NORM_FLOPS * numel(args[0].shape))


@register(*_ops("native_batch_norm_backward", "native_layer_norm_backward", "native_group_norm_backward",
                "cudnn_batch_norm_backward", "_fused_rms_norm_backward"))
def _norm_backward(args, kwargs, out) -> Cost:
    return Cost(0, 2 * LAYER_NORM_FLOPS * numel(args[0].shape))


# --------------------------------------------------------------------------- softmax, reductions


@register(*_ops("_softmax", "_log_softmax", "_safe_softmax"))
def _softmax(args, kwargs, out) -> Cost:
    return Cost(0, SOFTMAX_FLOPS_PER_ELEMENT * numel(out.shape))


@register(*_ops("_softmax_backward_data", "_log_softmax_backward_data"))
def _softmax_backward(args, kwargs, out) -> Cost:
    return Cost(0, 3 * numel(out.shape))


@register(*_ops("sum", "mean", "amax", "amin", "max", "min", "prod", "argmax", "argmin", "cumsum",
                "cumprod", "nansum", "nanmean", "logcumsumexp", "all", "any", "count_nonzero"))
def _reduction(args, kwargs, out) -> Cost:
    x = _first_tensor(args)
    if x is None or not _is_float(x):
        return Cost()
    # max/min with two tensors are elementwise; as reductions they read every input element once.
    return Cost(0, max(numel(x.shape), numel(_first_tensor(out).shape) if _first_tensor(out) is not None else 0))


@register(*_ops("var", "std", "var_mean", "std_mean", "logsumexp"))
def _moment(args, kwargs, out) -> Cost:
    x = args[0]
    return Cost(0, 3 * numel(x.shape) if _is_float(x) else 0)


@register(*_ops("linalg_vector_norm", "norm", "frobenius_norm"))
def _vector_norm(args, kwargs, out) -> Cost:
    return Cost(0, 2 * numel(args[0].shape))


# --------------------------------------------------------------------------- pooling, interpolation


def _kernel_volume(kernel, dims: int) -> int:
    if isinstance(kernel, int):
        return kernel**dims
    kernel = list(kernel)
    if len(kernel) == 1:
        return kernel[0] ** dims
    return numel(kernel)


def _pool(dims: int) -> Formula:
    def formula(args, kwargs, out) -> Cost:
        result = out[0] if isinstance(out, (tuple, list)) else out
        return Cost(0, numel(result.shape) * _kernel_volume(args[1], dims))

    formula.__qualname__ = f"_pool{dims}d"
    formula.__doc__ = "numel(out) x kernel volume"

    return formula


for _dims in (1, 2, 3):
    register(*_ops(f"max_pool{_dims}d", f"max_pool{_dims}d_with_indices", f"avg_pool{_dims}d",
                   f"mkldnn_max_pool{_dims}d", f"quantized_max_pool{_dims}d"))(_pool(_dims))


@register(*_ops("_adaptive_avg_pool2d", "_adaptive_avg_pool3d", "adaptive_avg_pool1d",
                "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d"))
def _adaptive_pool(args, kwargs, out) -> Cost:
    """Window i of an axis is [floor(i·n/o), ceil((i+1)·n/o)): the windows overlap unless o divides n,
    so the work is the sum of their sizes (numel(in) when every o divides its n)."""
    x, sizes = args[0], [int(s) for s in args[1]]
    total = numel(x.shape[:x.dim() - len(sizes)])
    for n, o in zip(x.shape[x.dim() - len(sizes):], sizes):
        total *= sum(-(-(i + 1) * n // o) - (i * n // o) for i in range(o))
    return Cost(0, total)


@register(*_ops("max_pool2d_with_indices_backward", "max_pool3d_with_indices_backward",
                "avg_pool2d_backward", "avg_pool3d_backward", "_adaptive_avg_pool2d_backward",
                "_adaptive_avg_pool3d_backward", "adaptive_max_pool2d_backward"))
def _pool_backward(args, kwargs, out) -> Cost:
    return Cost(0, numel(out.shape))


_INTERP_NEIGHBOURS = {"linear": 2, "bilinear": 4, "trilinear": 8, "bicubic": 16}


def _interp(points: int) -> Formula:
    def formula(args, kwargs, out) -> Cost:
        return Cost(0, points * numel(out.shape))

    formula.__qualname__ = f"_interpolate_{points}"
    formula.__doc__ = f"{points} per output element (neighbours read)"

    return formula


register(_op("upsample_linear1d"))(_interp(2))
register(_op("upsample_bilinear2d"), _op("_upsample_bilinear2d_aa"))(_interp(4))
register(_op("upsample_trilinear3d"))(_interp(8))
register(_op("upsample_bicubic2d"), _op("_upsample_bicubic2d_aa"))(_interp(16))


# --------------------------------------------------------------------------- pointwise

def _pointwise(args, kwargs, out) -> Cost:
    """1 per floating-point output element (integer/boolean results cost 0)"""
    result = _first_tensor(out)
    if not _is_float(result):
        return Cost()
    return Cost(0, numel(result.shape))


for _name in sorted(ops.POINTWISE_COST):
    register(_op(_name), _op(_name + "_"))(_pointwise)


def _foreach_elementwise(args, kwargs, out) -> Cost:
    """1 per floating-point element of every tensor in the list (the pointwise op, once per tensor)"""
    results = out if isinstance(out, (list, tuple)) and out else (args[0] if args else ())
    return Cost(0, sum(numel(t.shape) for t in results if isinstance(t, torch.Tensor) and _is_float(t)))


# the foreach optimizer steps (torch's default on CUDA) call these over lists of parameter-sized tensors
for _name in sorted(ops.POINTWISE_COST):
    register(_op("_foreach_" + _name), _op("_foreach_" + _name + "_"))(_foreach_elementwise)


# --------------------------------------------------------------------------- zero-cost ops

ZERO_COST: set[Any] = set()
for _name in sorted(ops.ZERO_COST):
    for _packet in (_op(_name), _op(_name + "_"), _op("_foreach_" + _name), _op("_foreach_" + _name + "_")):
        if _packet is not None and _packet not in FORMULAS:
            ZERO_COST.add(_packet)


def op_cost(func: Any, args: Sequence[Any], kwargs: dict, out: Any) -> Cost | None:
    """Cost of one ATen call, ``Cost()`` for known zero-cost ops, None for an op with no formula."""
    packet = getattr(func, "overloadpacket", func)
    formula = FORMULAS.get(packet)
    if formula is not None:
        return formula(args, kwargs, out)
    if packet in ZERO_COST:
        return Cost()
    return None


def has_cost(func: Any) -> bool:
    """True when ``func`` has a formula or is known to cost nothing (so it need not be decomposed)."""
    known = _KNOWN.get(id(func))
    return (known or _known(func))[2]


def has_formula(func: Any) -> bool:
    """True when ``func`` has a cost formula (it may cost something)."""
    known = _KNOWN.get(id(func))
    return (known or _known(func))[1]


def op_name(func: Any) -> str:
    """``aten.conv2d``, ``mylib.fancy_op``: the op's real namespace, never assumed to be aten."""
    packet = getattr(func, "overloadpacket", func)
    qualified = getattr(packet, "_qualified_op_name", None)  # "mylib::fancy_op"
    if isinstance(qualified, str) and "::" in qualified:
        namespace, _, name = qualified.partition("::")
        return f"{namespace}.{name}"
    return f"aten.{getattr(packet, '__name__', str(packet))}"


from . import costs_extra  # noqa: E402,F401  (registers formulas and zero-cost ops; -> ir/ops.py)


# --------------------------------------------------------------------------- the table, for docs/flops.md

DOC_BEGIN = "<!-- BEGIN GENERATED: python -m model_audit.analyses.costs -->"
DOC_END = "<!-- END GENERATED -->"


def formulas_markdown() -> str:
    """The registry as Markdown: each built-in formula with the ATen ops it costs, then the zero-cost ops.

    ``docs/flops.md`` embeds exactly this block (a test checks it), so the page cannot drift from the
    code: regenerate it with ``python -m model_audit.analyses.costs``.
    """
    by_formula: dict[Any, list[str]] = {}
    for packet, formula in FORMULAS.items():
        if ORIGINS.get(packet) == BUILTIN:
            by_formula.setdefault(formula, []).append(op_name(packet))
    lines = [DOC_BEGIN, "", "| formula | what it counts | ATen ops |", "|---|---|---|"]
    rows = []
    for formula, names in by_formula.items():
        doc = (formula.__doc__ or "").strip().splitlines()
        what = doc[0].rstrip(".") if doc else ""
        label = getattr(formula, "__qualname__", "?").replace("<locals>.", "").replace("_pointwise", "pointwise")
        rows.append((label, what, ", ".join(f"`{n}`" for n in sorted(names))))
    for label, what, names in sorted(rows):
        lines.append(f"| `{label}` | {what.replace('|', '/')} | {names} |")
    zero = sorted(op_name(p) for p in ZERO_COST)
    lines += ["", f"Zero-cost ops ({len(zero)}: data movement, metadata, creation, comparison, selection): "
              + ", ".join(f"`{n}`" for n in zero), "", DOC_END]
    return "\n".join(lines)


if __name__ == "__main__":  # run as a script this file is __main__: read the registry the package filled
    from model_audit.analyses import costs as _registry

    print(_registry.formulas_markdown())
