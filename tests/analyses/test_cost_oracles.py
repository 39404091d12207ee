"""Closed-form FLOP oracles for the non-matmul families: norms, softmax, pooling, activations,
interpolation, reductions, recurrent gates, dropout and embedding.

Each expected figure is written here from the op's own definition (the ATen or torch.nn.functional
code it runs) under the per-op conventions of ``docs/flops.md`` — 1 FLOP per element of every
floating-point pointwise op, 5 per softmax element, ``numel(out) · kernel volume`` for a pooling
window, ``numel(in)`` for a reduction — and compared with ``model_audit.audit``'s per-layer FLOPs
under both tracers, on the meta device and on cpu. Nothing here is copied from the tool's output.
"""
from __future__ import annotations

import math
import warnings

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model_audit import audit

WHERE = [("fx", "meta"), ("fx", "cpu"), ("hooks", "meta"), ("hooks", "cpu")]
where_ids = [f"{t}-{d}" for t, d in WHERE]
few = settings(max_examples=12, deadline=None, derandomize=True,
               suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


class Call(nn.Module):
    """One functional call as a model (fx records it as one call_function/call_method node)."""

    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


def costed_layers(model: nn.Module, inputs, where, mode: str = "eval") -> dict[str, tuple[int, int]]:
    """{layer name: (MACs, FLOPs)} of every layer that did work; asserts nothing went uncounted."""
    tracer, device = where
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = audit(model, inputs, tracer=tracer, device=device, mode=mode, rules=False)
    assert report.tracer == tracer
    assert report.uncounted_ops == {}, report.uncounted_ops
    layers = {layer.name: (layer.macs, layer.flops) for layer in report.layers if layer.macs or layer.flops}
    assert report.flops == sum(f for _, f in layers.values())
    return layers


def module_flops(module: nn.Module, x, where, mode: str = "eval") -> int:
    """FLOPs of ``module`` as the only layer of a Sequential (no MACs: these families are not matmuls)."""
    layers = costed_layers(nn.Sequential(module), (x,), where, mode)
    assert set(layers) <= {"0"}, layers
    macs, flops = layers.get("0", (0, 0))
    assert macs == 0
    return flops


def call_flops(fn, x, where, mode: str = "eval") -> int:
    """FLOPs of one functional call: one layer (fx node, or the ATen op under hooks) carries all of it."""
    layers = costed_layers(Call(fn), (x,), where, mode)
    assert all(macs == 0 for macs, _ in layers.values())
    if where[0] == "fx":
        assert len(layers) <= 1, layers
    return sum(flops for _, flops in layers.values())


# --------------------------------------------------------------------------- normalization
# Per element, from the op's arithmetic (docs/flops.md):
#   with statistics: mean 1 (accumulate) + variance 3 (centre, square, accumulate) + normalise 1
#   with running stats (eval batch norm): subtract mean 1 + multiply by 1/std 1
#   affine: weight multiply 1 + bias add 1
STATS = 1 + 3 + 1
RUNNING = 1 + 1
AFFINE = 1 + 1


@pytest.mark.parametrize("where", WHERE, ids=where_ids)
@pytest.mark.parametrize("mode", ["eval", "train"])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("track", [True, False])
@pytest.mark.parametrize("cls,shape", [(nn.BatchNorm1d, (3, 4)), (nn.BatchNorm1d, (3, 4, 5)),
                                       (nn.BatchNorm2d, (2, 4, 5, 3)), (nn.BatchNorm3d, (2, 4, 3, 2, 3))])
def test_batch_norm(cls, shape, track, affine, mode, where):
    n = math.prod(shape)
    uses_batch_stats = mode == "train" or not track
    per = (STATS if uses_batch_stats else RUNNING) + (AFFINE if affine else 0)
    module = cls(shape[1], affine=affine, track_running_stats=track)
    assert module_flops(module, torch.randn(shape), where, mode) == per * n


@pytest.mark.parametrize("where", WHERE, ids=where_ids)
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("normalized", [(6,), (5, 6), (4, 5, 6)])
def test_layer_norm(normalized, affine, where):
    shape = (2, 4, 5, 6)
    module = nn.LayerNorm(normalized, elementwise_affine=affine)
    for mode in ("eval", "train"):  # layer norm always normalizes with its own statistics
        assert module_flops(module, torch.randn(shape), where, mode) == (STATS + (AFFINE if affine else 0)) * 240


@pytest.mark.parametrize("where", WHERE, ids=where_ids)
def test_layer_norm_weight_without_bias(where):
    """``LayerNorm(bias=False)`` scales but adds nothing: 1 affine FLOP per element, not 2."""
    x = torch.randn(2, 4, 6)
    assert module_flops(nn.LayerNorm(6, bias=False), x, where) == (STATS + 1) * 48
    weight = torch.randn(6)
    assert call_flops(lambda t: F.layer_norm(t, (6,), weight=weight), x, where) == (STATS + 1) * 48
    bias = torch.randn(6)
    assert call_flops(lambda t: F.layer_norm(t, (6,), bias=bias), x, where) == (STATS + 1) * 48


@pytest.mark.parametrize("where", WHERE, ids=where_ids)
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("groups", [1, 2, 4])
def test_group_norm(groups, affine, where):
    x = torch.randn(2, 4, 5, 3)
    for mode in ("eval", "train"):
        assert module_flops(nn.GroupNorm(groups, 4, affine=affine), x, where, mode) == (
            (STATS + (AFFINE if affine else 0)) * 120)


@pytest.mark.parametrize("where", WHERE, ids=where_ids)
@pytest.mark.parametrize("mode", ["eval", "train"])
@pytest.mark.parametrize("affine,track", [(False, False), (True, False), (True, True), (False, True)])
@pytest.mark.parametrize("cls,shape", [(nn.InstanceNorm1d, (2, 4, 7)), (nn.InstanceNorm2d, (2, 4, 5, 3)),
                                       (nn.InstanceNorm3d, (2, 4, 3, 2, 3))])
def test_instance_norm(cls, shape, affine, track, mode, where):
    """F.instance_norm is batch norm over the (1, N·C, ...) view; with running stats in train mode it
    also averages the N per-sample statistics into the running mean and variance (``mean(0)`` of an
    N x C tensor, twice)."""
    n, (batch, channels) = math.prod(shape), shape[:2]
    uses_batch_stats = mode == "train" or not track
    per = (STATS if uses_batch_stats else RUNNING) + (AFFINE if affine else 0)
    running_update = 2 * batch * channels if (track and mode == "train") else 0
    module = cls(channels, affine=affine, track_running_stats=track)
    assert module_flops(module, torch.randn(shape), where, mode) == per * n + running_update


@pytest.mark.parametrize("where", WHERE, ids=where_ids)
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("normalized", [(6,), (5, 6)])
def test_rms_norm(normalized, affine, where):
    """nn.RMSNorm's composite: x · rsqrt(mean(x²) + eps) [· weight]: square n, mean n, add eps and
    rsqrt once per normalized row, scale n, weight n."""
    shape = (2, 4, 5, 6)
    n = math.prod(shape)
    rows = n // math.prod(normalized)
    expected = n + n + 2 * rows + n + (n if affine else 0)
    assert module_flops(nn.RMSNorm(normalized, elementwise_affine=affine), torch.randn(shape), where) == expected


@pytest.mark.parametrize("where", WHERE, ids=where_ids)
@pytest.mark.parametrize("size", [2, 3])
def test_local_response_norm(size, where):
    """F.local_response_norm: x² (n), zero-pad, average over ``size`` channels (n windows of ``size``),
    ·alpha, +k, ^beta (3n), then x / that (n)."""
    n = 2 * 5 * 4 * 3
    assert module_flops(nn.LocalResponseNorm(size), torch.randn(2, 5, 4, 3), where) == n + size * n + 3 * n + n


# --------------------------------------------------------------------------- softmax

SOFTMAX = 5  # max, subtract, exp, sum, divide


@pytest.mark.parametrize("where", WHERE, ids=where_ids)
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=4), data=st.data())
@few
def test_softmax_family_any_dim(where, shape, data):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    n = math.prod(shape)
    x = torch.randn(shape)
    assert call_flops(lambda t: F.softmax(t, dim), x, where) == SOFTMAX * n
    assert call_flops(lambda t: torch.log_softmax(t, dim), x, where) == SOFTMAX * n
    assert module_flops(nn.Softmin(dim), x, where) == n + SOFTMAX * n  # softmax(-x)


# --------------------------------------------------------------------------- pooling


def pool_out(n: int, k: int, s: int, p: int, d: int, ceil: bool) -> int:
    """PyTorch's pooling output size; with ceil_mode the last window must start inside the input or
    its left padding."""
    span = n + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil else span // s) + 1
    if ceil and (out - 1) * s >= n + p:
        out -= 1
    return out


def adaptive_windows(n: int, out: int) -> int:
    """Σ window sizes of adaptive pooling along one axis: window i is [floor(i·n/out), ceil((i+1)·n/out))."""
    return sum(-(-(i + 1) * n // out) - (i * n // out) for i in range(out))


pool_case = st.fixed_dictionaries({
    "dims": st.integers(1, 3), "k": st.integers(1, 3), "s": st.integers(1, 3), "d": st.integers(1, 2),
    "ceil": st.booleans(), "size": st.integers(5, 8), "kind": st.sampled_from(["max", "avg"]),
    "include_pad": st.booleans(), "where": st.sampled_from(WHERE),
})


@given(case=pool_case, pad_frac=st.floats(0, 1))
@few
def test_max_avg_pool_windows(case, pad_frac):
    dims, k, s, ceil, size = case["dims"], case["k"], case["s"], case["ceil"], case["size"]
    p = int(pad_frac * (k // 2))  # padding may be at most half the kernel
    shape = (2, 3) + (size,) * dims
    if case["kind"] == "max":
        d = case["d"]
        module = [nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d][dims - 1](k, s, p, dilation=d, ceil_mode=ceil)
    else:
        d = 1
        module = [nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d][dims - 1](
            k, s, p, ceil_mode=ceil, count_include_pad=case["include_pad"])
    out = 6 * pool_out(size, k, s, p, d, ceil) ** dims
    assert module_flops(module, torch.randn(shape), case["where"]) == out * k**dims  # one op per window element


@pytest.mark.parametrize("where", WHERE, ids=where_ids)
def test_pool_rectangular_kernels_and_return_indices(where):
    x = torch.randn(2, 3, 9, 7)
    oh, ow = pool_out(9, 3, 2, 1, 1, False), pool_out(7, 2, 1, 0, 1, False)
    assert module_flops(nn.MaxPool2d((3, 2), (2, 1), (1, 0)), x, where) == 6 * oh * ow * 6
    assert module_flops(nn.MaxPool2d((3, 2), (2, 1), (1, 0), return_indices=True), x, where) == 6 * oh * ow * 6
    assert module_flops(nn.AvgPool2d((3, 2), (2, 1), (1, 0), divisor_override=5), x, where) == 6 * oh * ow * 6


@given(dims=st.integers(1, 3), size=st.integers(1, 7), out=st.integers(1, 9), kind=st.sampled_from(["avg", "max"]),
       where=st.sampled_from(WHERE))
@few
def test_adaptive_pool_sums_its_windows(dims, size, out, kind, where):
    """Adaptive windows overlap when ``size`` is not a multiple of ``out`` (and repeat elements when
    ``out > size``): the work is the sum of the window sizes, brute-forced here per axis."""
    if kind == "avg":
        module = [nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d][dims - 1](out)
    else:
        module = [nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d][dims - 1](out)
    x = torch.randn((2, 3) + (size,) * dims)
    assert module_flops(module, x, where) == 6 * adaptive_windows(size, out) ** dims


@pytest.mark.parametrize("where", WHERE, ids=where_ids)
def test_global_adaptive_pool_reads_every_element_once(where):
    x = torch.randn(2, 3, 7, 5)
    assert module_flops(nn.AdaptiveAvgPool2d(1), x, where) == x.numel()
    assert module_flops(nn.AdaptiveAvgPool2d((7, 1)), x, where) == x.numel()


@pytest.mark.parametrize("where", WHERE, ids=where_ids)
@pytest.mark.parametrize("norm_type", [1, 2, 3])
def test_lp_pool(norm_type, where):
    """F.lp_pool2d: avg_pool(x^p) then sign(o)·relu(|o|)·(kw·kh), ^(1/p): x^p on every input element,
    the window, then 6 ops per output element."""
    x = torch.randn(2, 3, 7, 8)
    oh, ow = pool_out(7, 3, 2, 0, 1, False), pool_out(8, 2, 2, 0, 1, False)
    out = 6 * oh * ow
    assert module_flops(nn.LPPool2d(norm_type, (3, 2), 2), x, where) == x.numel() + out * 6 + 6 * out
    y = torch.randn(2, 3, 9)
    out1 = 6 * pool_out(9, 3, 3, 0, 1, True)
    assert module_flops(nn.LPPool1d(norm_type, 3, ceil_mode=True), y, where) == y.numel() + out1 * 3 + 6 * out1


# --------------------------------------------------------------------------- activations

# torch.nn.modules.activation, each as its definition's pointwise ATen ops (1 FLOP per output element
# each). (module, FLOPs per input element). The single-kernel activations (relu ... gelu, prelu)
# are one op; the composites spell out their definition.
ACTIVATIONS = [
    (nn.Threshold(0.1, 20.0), 1), (nn.ReLU(), 1), (nn.RReLU(), 1), (nn.Hardtanh(), 1), (nn.ReLU6(), 1),
    (nn.Sigmoid(), 1), (nn.Hardsigmoid(), 1), (nn.Tanh(), 1), (nn.SiLU(), 1), (nn.Mish(), 1),
    (nn.Hardswish(), 1), (nn.ELU(), 1), (nn.CELU(), 1), (nn.SELU(), 1), (nn.GELU(), 1),
    (nn.GELU(approximate="tanh"), 1), (nn.Hardshrink(), 1), (nn.LeakyReLU(), 1), (nn.LogSigmoid(), 1),
    (nn.Softplus(), 1), (nn.Softshrink(), 1), (nn.PReLU(), 1), (nn.PReLU(4), 1),
    (nn.Softsign(), 3),     # x / (1 + |x|): abs, add, div
    (nn.Tanhshrink(), 2),   # x - tanh(x)
    (nn.Softmax(1), SOFTMAX), (nn.Softmax2d(), SOFTMAX), (nn.LogSoftmax(-1), SOFTMAX),
    (nn.Softmin(2), 1 + SOFTMAX),  # softmax(-x)
]


def test_every_counted_activation_has_an_oracle():
    import torch.nn.modules.activation as activation

    covered = {type(module).__name__ for module, _ in ACTIVATIONS}
    matmul_like = {"MultiheadAttention"}  # MACs, checked against FlopCounterMode in test_counts.py
    assert set(activation.__all__) - matmul_like - {"GLU"} == covered


@pytest.mark.parametrize("where", WHERE, ids=where_ids)
@pytest.mark.parametrize("mode", ["eval", "train"])
@pytest.mark.parametrize("module,per", ACTIVATIONS, ids=[repr(m) for m, _ in ACTIVATIONS])
def test_activation(module, per, mode, where):
    x = torch.randn(2, 4, 5, 3)
    assert module_flops(module, x, where, mode) == per * x.numel()


@pytest.mark.parametrize("where", WHERE, ids=where_ids)
@pytest.mark.parametrize("dim", [1, -1])
def test_glu_counts_its_output(dim, where):
    """F.glu(a‖b) = a · sigmoid(b) is one ATen kernel: 1 FLOP per *output* element (half the input)."""
    x = torch.randn(2, 4, 6)
    assert module_flops(nn.GLU(dim), x, where) == x.numel() // 2


# --------------------------------------------------------------------------- interpolation

INTERP = {"linear": 2, "bilinear": 4, "bicubic": 16, "trilinear": 8, "nearest": 0, "nearest-exact": 0}


@pytest.mark.parametrize("where", WHERE, ids=where_ids)
@pytest.mark.parametrize("align", [False, True])
@pytest.mark.parametrize("mode,dims", [("linear", 1), ("bilinear", 2), ("bicubic", 2), ("trilinear", 3),
                                       ("nearest", 1), ("nearest", 2), ("nearest", 3), ("nearest-exact", 2)])
def test_interpolate(mode, dims, align, where):
    """Per output element: one weight per neighbour (2 per interpolated axis; bicubic 4 per axis);
    nearest copies."""
    if align and mode.startswith("nearest"):
        pytest.skip("align_corners applies to the linear modes only")
    kw = {"align_corners": True} if align else {}
    x = torch.randn((2, 3) + (4,) * dims)
    up = call_flops(lambda t: F.interpolate(t, scale_factor=2, mode=mode, **kw), x, where)
    assert up == INTERP[mode] * 6 * 8**dims
    size = (3,) * dims
    down = call_flops(lambda t: F.interpolate(t, size=size, mode=mode, **kw), x, where)
    assert down == INTERP[mode] * 6 * 3**dims
    assert module_flops(nn.Upsample(scale_factor=3, mode=mode, **kw), x, where) == INTERP[mode] * 6 * 12**dims


@pytest.mark.parametrize("where", WHERE, ids=where_ids)
@pytest.mark.parametrize("size", [(2, 2), (3, 5), (8, 8)])
def test_interpolate_area_is_adaptive_average(size, where):
    x = torch.randn(2, 3, 4, 6)
    expected = 6 * adaptive_windows(4, size[0]) * adaptive_windows(6, size[1])
    assert call_flops(lambda t: F.interpolate(t, size=size, mode="area"), x, where) == expected


# --------------------------------------------------------------------------- reductions

REDUCTIONS = [  # (call, FLOPs per input element)
    (lambda t: t.sum(), 1), (lambda t: t.sum(1), 1), (lambda t: t.mean((1, 2), keepdim=True), 1),
    (lambda t: t.amax(-1), 1), (lambda t: t.amin(0), 1), (lambda t: t.max(2).values, 1),
    (lambda t: t.min(), 1), (lambda t: t.prod(1), 1), (lambda t: t.argmax(1), 1),
    (lambda t: t.cumsum(2), 1), (lambda t: t.logsumexp(1), 3),
    (lambda t: t.var(1), 3), (lambda t: t.std(), 3),      # mean, centre, square (+ accumulate folded)
    (lambda t: t.norm(dim=1), 2), (lambda t: torch.linalg.vector_norm(t), 2),  # square, accumulate
]


@pytest.mark.parametrize("where", WHERE, ids=where_ids)
@pytest.mark.parametrize("index", range(len(REDUCTIONS)))
def test_reduction_reads_every_element(index, where):
    fn, per = REDUCTIONS[index]
    x = torch.randn(3, 4, 5)
    assert call_flops(fn, x, where) == per * x.numel()


@pytest.mark.parametrize("where", WHERE, ids=where_ids)
def test_integer_reductions_are_not_floating_point_work(where):
    x = torch.arange(60).reshape(3, 4, 5)
    layers = costed_layers(Call(lambda t: t.sum(1) + t.amax(0).sum()), (x,), where)
    assert layers == {}


# --------------------------------------------------------------------------- recurrent gates


def lstm_step(inp: int, hidden: int, proj: int, bias: bool) -> tuple[int, int]:
    """(MACs, FLOPs) of one LSTM step for one batch element and one direction.

    gates = W_ih x (+b_ih) + W_hh h (+b_hh)     4H·in + 4H·h MACs; 2 bias adds, 1 add per gate unit
    i, f, o = sigmoid(.); g = tanh(.)           3H + H
    c' = f·c + i·g                              3H
    h' = o · tanh(c')                           2H
    h' = W_hr h'  (proj_size)                   proj·H MACs
    """
    h_in = proj or hidden
    macs = 4 * hidden * inp + 4 * hidden * h_in + (proj * hidden if proj else 0)
    flops = 2 * macs + (2 * 4 * hidden if bias else 0) + 4 * hidden + 4 * hidden + 3 * hidden + 2 * hidden
    return macs, flops


def gru_step(inp: int, hidden: int, bias: bool) -> tuple[int, int]:
    """r, z = sigmoid(W_i x (+b_i) + W_h h (+b_h))   3H·in + 3H·H MACs (r, z, n rows); 2 adds, 2 sigmoids
    n = tanh(W_in x (+b_in) + r·(W_hn h (+b_hn)))   1 product, 1 add, 1 tanh
    h' = n + z·(h - n)                              1 subtraction, 1 product, 1 add"""
    macs = 3 * hidden * inp + 3 * hidden * hidden
    flops = 2 * macs + (2 * 3 * hidden if bias else 0) + (2 + 2) * hidden + 3 * hidden + 3 * hidden
    return macs, flops


def rnn_step(inp: int, hidden: int, bias: bool) -> tuple[int, int]:
    """h' = act(W_ih x (+b_ih) + W_hh h (+b_hh)): one add and one activation per unit."""
    macs = hidden * inp + hidden * hidden
    return macs, 2 * macs + (2 * hidden if bias else 0) + 2 * hidden


def stacked(step, inp: int, out_width: int, layers: int, directions: int, steps_batch: int, **kw) -> tuple[int, int]:
    macs = flops = 0
    for layer in range(layers):
        m, f = step(inp if layer == 0 else out_width * directions, **kw)
        macs += directions * steps_batch * m
        flops += directions * steps_batch * f
    return macs, flops


rnn_case = st.fixed_dictionaries({
    "cell": st.sampled_from(["lstm", "gru", "rnn_tanh", "rnn_relu"]), "inp": st.integers(1, 5),
    "hidden": st.integers(2, 6), "layers": st.integers(1, 2), "bidirectional": st.booleans(),
    "bias": st.booleans(), "batch_first": st.booleans(), "proj": st.integers(0, 1),
    "steps": st.integers(1, 4), "batch": st.integers(1, 3), "where": st.sampled_from(WHERE),
})


@given(case=rnn_case)
@few
def test_recurrent_gates(case):
    cell, inp, hidden, layers = case["cell"], case["inp"], case["hidden"], case["layers"]
    dirs, bias, steps, batch = 2 if case["bidirectional"] else 1, case["bias"], case["steps"], case["batch"]
    common = dict(num_layers=layers, bidirectional=dirs == 2, bias=bias, batch_first=case["batch_first"])
    if cell == "lstm":
        proj = case["proj"] * (hidden - 1)  # proj_size must be smaller than hidden_size
        module = nn.LSTM(inp, hidden, proj_size=proj, **common)
        expected = stacked(lstm_step, inp, proj or hidden, layers, dirs, steps * batch, hidden=hidden, proj=proj,
                           bias=bias)
    elif cell == "gru":
        module = nn.GRU(inp, hidden, **common)
        expected = stacked(gru_step, inp, hidden, layers, dirs, steps * batch, hidden=hidden, bias=bias)
    else:
        module = nn.RNN(inp, hidden, nonlinearity=cell[4:], **common)
        expected = stacked(rnn_step, inp, hidden, layers, dirs, steps * batch, hidden=hidden, bias=bias)
    x = torch.randn((batch, steps, inp) if case["batch_first"] else (steps, batch, inp))
    layers_cost = costed_layers(nn.Sequential(module), (x,), case["where"])
    assert layers_cost == {"0": expected}


@pytest.mark.parametrize("where", WHERE, ids=where_ids)
@pytest.mark.parametrize("bias", [True, False])
def test_recurrent_cells(bias, where):
    x = torch.randn(3, 4)
    for module, step in ((nn.LSTMCell(4, 5, bias=bias), lstm_step(4, 5, 0, bias)),
                         (nn.GRUCell(4, 5, bias=bias), gru_step(4, 5, bias)),
                         (nn.RNNCell(4, 5, bias=bias), rnn_step(4, 5, bias))):
        assert costed_layers(nn.Sequential(module), (x,), where) == {"0": (3 * step[0], 3 * step[1])}


# --------------------------------------------------------------------------- dropout, embedding


@pytest.mark.parametrize("where", WHERE, ids=where_ids)
@pytest.mark.parametrize("cls,shape,feature,alpha", [
    (nn.Dropout, (2, 4, 5, 3), False, False), (nn.Dropout1d, (2, 4, 5), True, False),
    (nn.Dropout2d, (2, 4, 5, 3), True, False), (nn.Dropout3d, (2, 4, 3, 2, 3), True, False),
    (nn.AlphaDropout, (2, 4, 5, 3), False, True), (nn.FeatureAlphaDropout, (2, 4, 5, 3), True, True),
])
def test_dropout(cls, shape, feature, alpha, where):
    """ATen's _dropout_impl: a Bernoulli mask (one per element, or per (N, C) for feature dropout),
    scaled by 1/(1-p) (1 per mask element) and multiplied in (1 per element). Alpha dropout prepares
    two tensors from the mask (add, mul, add, mul: 4 per mask element), multiplies and adds (2 per
    element). Eval mode is the identity."""
    n = math.prod(shape)
    mask = shape[0] * shape[1] if feature else n
    expected = 4 * mask + 2 * n if alpha else mask + n
    x = torch.randn(shape)
    assert module_flops(cls(0.3), x, where, "train") == expected
    assert module_flops(cls(0.3), x, where, "eval") == 0


@pytest.mark.parametrize("where", WHERE, ids=where_ids)
def test_functional_dropout_in_train_mode(where):
    x = torch.randn(4, 6)
    assert call_flops(lambda t: F.dropout(t, 0.5, training=True), x, where) == 2 * x.numel()
    assert call_flops(lambda t: F.dropout(t, 0.5, training=False), x, where) == 0


@pytest.mark.parametrize("where", WHERE, ids=where_ids)
@pytest.mark.parametrize("mode", ["eval", "train"])
def test_embedding_is_a_lookup(mode, where):
    ids = torch.randint(0, 10, (2, 5))
    assert module_flops(nn.Embedding(10, 3), ids, where, mode) == 0
    assert module_flops(nn.Embedding(10, 3, padding_idx=0), ids, where, mode) == 0


@pytest.mark.parametrize("where", WHERE, ids=where_ids)
@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("ids_shape", [(2, 5), (7,)])
def test_embedding_bag_reduces_every_gathered_row(mode, ids_shape, where):
    """A bag reads each looked-up row (D elements) into its reduction: numel(ids) * D, as a reduction
    over the gathered rows counts (docs/flops.md: numel(in) for a reduction)."""
    ids = torch.randint(0, 10, ids_shape)
    kwargs = {"offsets": torch.tensor([0, 3])} if len(ids_shape) == 1 else {}

    class Bag(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bag = nn.EmbeddingBag(10, 3, mode=mode)

        def forward(self, x):
            return self.bag(x, **kwargs)

    layers = costed_layers(Bag(), (ids,), where)
    assert layers == {"bag": (0, math.prod(ids_shape) * 3)}


@pytest.mark.parametrize("where", WHERE, ids=where_ids)
def test_embedding_bag_with_per_sample_weights_is_a_weighted_sum(where):
    ids, weights = torch.randint(0, 10, (2, 5)), torch.rand(2, 5)

    class Weighted(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bag = nn.EmbeddingBag(10, 3, mode="sum")

        def forward(self, x):
            return self.bag(x, per_sample_weights=weights)

    assert costed_layers(Weighted(), (ids,), where) == {"bag": (2 * 5 * 3, 2 * 2 * 5 * 3)}


@pytest.mark.parametrize("where", WHERE, ids=where_ids)
def test_lstm_bidirectional_stacked_with_projection(where):
    """The hardest LSTM case spelled out: 2 layers, both directions, proj_size 3 (layer 2 reads 2·3)."""
    module = nn.LSTM(4, 5, num_layers=2, bidirectional=True, proj_size=3)
    steps_batch = 7 * 2
    layer1, layer2 = lstm_step(4, 5, 3, True), lstm_step(2 * 3, 5, 3, True)
    expected = (2 * steps_batch * (layer1[0] + layer2[0]), 2 * steps_batch * (layer1[1] + layer2[1]))
    assert costed_layers(nn.Sequential(module), (torch.randn(7, 2, 4),), where) == {"0": expected}


@pytest.mark.parametrize("where", WHERE, ids=where_ids)
def test_functional_norms(where):
    x = torch.randn(2, 4, 5, 3)
    n, w, stats = x.numel(), torch.randn(4), torch.ones(4)
    assert call_flops(lambda t: F.batch_norm(t, None, None, training=True), x, where) == STATS * n
    assert call_flops(lambda t: F.batch_norm(t, stats, stats, training=False), x, where) == RUNNING * n
    assert call_flops(lambda t: F.batch_norm(t, stats, stats, weight=w, training=False), x, where) == (RUNNING + 1) * n
    assert call_flops(lambda t: F.group_norm(t, 2, weight=w), x, where) == (STATS + 1) * n
    assert call_flops(lambda t: F.group_norm(t, 2, weight=w, bias=w), x, where) == (STATS + AFFINE) * n
    assert call_flops(lambda t: F.instance_norm(t), x, where) == STATS * n
