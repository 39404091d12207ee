"""Exact counts against closed forms and independent references (FlopCounterMode, unrolled cells).

No mocks of torch: every oracle is either a formula written out here or a real PyTorch run.
"""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from model_audit import audit
from model_audit.errors import AuditError, ModelExecutionError

DEVICES = ["meta", "cpu"]


def fcm_flops(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def fcm_forward_macs(model: nn.Module, *inputs: torch.Tensor) -> int:
    with torch.no_grad():
        total = fcm_flops(lambda: model(*inputs))
    assert total % 2 == 0
    return total // 2


# --------------------------------------------------------------------------- recurrent layers


def rnn_closed_form(cell: str, T: int, B: int, I: int, H: int, layers: int, bidirectional: bool,
                    proj: int = 0) -> int:
    gates = {"lstm": 4, "gru": 3, "rnn": 1}[cell]
    dirs = 2 if bidirectional else 1
    out = proj or H  # what the hidden state (and the layer output per direction) is
    total = 0
    for layer in range(layers):
        inp = I if layer == 0 else out * dirs
        per_dir = T * B * gates * H * (inp + out)
        if proj:
            per_dir += T * B * H * proj
        total += dirs * per_dir
    return total


RNN_CASES = [
    ("lstm", 7, 3, 10, 16, 1, False, 0),
    ("lstm", 5, 2, 8, 12, 2, True, 0),
    ("lstm", 6, 2, 8, 12, 2, True, 5),
    ("gru", 7, 3, 10, 16, 1, False, 0),
    ("gru", 5, 2, 6, 9, 3, True, 0),
    ("rnn", 5, 4, 6, 9, 2, False, 0),
    ("rnn", 4, 2, 6, 9, 1, True, 0),
]


def build_rnn(cell: str, I: int, H: int, layers: int, bidirectional: bool, proj: int) -> nn.Module:
    cls = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[cell]
    kwargs = {"proj_size": proj} if proj else {}
    return cls(I, H, num_layers=layers, bidirectional=bidirectional, batch_first=False, **kwargs)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("cell,T,B,I,H,layers,bidir,proj", RNN_CASES)
def test_recurrent_macs_closed_form(device, cell, T, B, I, H, layers, bidir, proj):
    torch.manual_seed(0)
    model = build_rnn(cell, I, H, layers, bidir, proj)
    report = audit(model, input_shape=(T, B, I), device=device)
    assert report.macs == rnn_closed_form(cell, T, B, I, H, layers, bidir, proj)
    assert report.params == sum(p.numel() for p in model.parameters())
    assert not report.uncounted_ops


class UnrolledLSTM(nn.Module):
    """The same recurrence as a one-layer unidirectional nn.LSTM, written with nn.LSTMCell."""

    def __init__(self, I: int, H: int) -> None:
        super().__init__()
        self.cell = nn.LSTMCell(I, H)
        self.H = H

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T, B = x.shape[0], x.shape[1]
        h = x.new_zeros(B, self.H)
        c = x.new_zeros(B, self.H)
        outs = []
        for t in range(T):
            h, c = self.cell(x[t], (h, c))
            outs.append(h)
        return torch.stack(outs)


class UnrolledGRU(nn.Module):
    def __init__(self, I: int, H: int) -> None:
        super().__init__()
        self.cell = nn.GRUCell(I, H)
        self.H = H

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.new_zeros(x.shape[1], self.H)
        outs = []
        for t in range(x.shape[0]):
            h = self.cell(x[t], h)
            outs.append(h)
        return torch.stack(outs)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_recurrent_macs_equal_unrolled_cell(device, cell):
    T, B, I, H = 6, 3, 10, 14
    fused = (nn.LSTM if cell == "lstm" else nn.GRU)(I, H)
    unrolled = (UnrolledLSTM if cell == "lstm" else UnrolledGRU)(I, H)
    fused_report = audit(fused, input_shape=(T, B, I), device=device)
    unrolled_report = audit(unrolled, input_shape=(T, B, I), device=device)
    assert fused_report.macs == unrolled_report.macs
    assert fused_report.params == unrolled_report.params
    # the unrolled reference is also checked by PyTorch's own counter (cells lower to plain matmuls)
    x = torch.randn(T, B, I)
    assert unrolled_report.macs == fcm_forward_macs(unrolled, x)


def test_lstm_cpu_fused_kernel_equals_meta():
    model = nn.LSTM(8, 12, num_layers=2, bidirectional=True, batch_first=True)
    meta = audit(model, input_shape=(2, 5, 8), device="meta")
    cpu = audit(model, input_shape=(2, 5, 8), device="cpu")
    assert meta.macs == cpu.macs
    assert meta.flops == cpu.flops
    assert [layer.output_shape for layer in meta.layers] == [layer.output_shape for layer in cpu.layers]


# --------------------------------------------------------------------------- convolutions


def conv_out(n, k, s, p, d):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def tconv_out(n, k, s, p, d, op):
    return (n - 1) * s - 2 * p + d * (k - 1) + op + 1


CONV_CASES = [
    # cin, cout, k, s, p, d, groups, size
    (8, 16, 3, 1, 1, 1, 4, 15),
    (8, 8, 3, 2, 2, 2, 8, 17),  # depthwise, dilated
    (6, 12, 5, 1, 0, 3, 3, 23),
    (4, 6, 1, 2, 0, 1, 2, 9),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("cin,cout,k,s,p,d,g,n", CONV_CASES)
def test_conv2d_macs(device, cin, cout, k, s, p, d, g, n):
    model = nn.Conv2d(cin, cout, k, stride=s, padding=p, dilation=d, groups=g)
    report = audit(model, input_shape=(2, cin, n, n + 1), device=device)
    oh, ow = conv_out(n, k, s, p, d), conv_out(n + 1, k, s, p, d)
    expected = 2 * cout * oh * ow * (cin // g) * k * k
    assert report.macs == expected
    assert report.layers[-1].output_shape == (2, cout, oh, ow)
    assert report.macs == fcm_forward_macs(model, torch.randn(2, cin, n, n + 1))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("s,p,op,d,g", [(2, 1, 1, 1, 4), (2, 0, 0, 2, 4), (3, 1, 2, 1, 1)])
def test_conv_transpose2d_macs(device, s, p, op, d, g):
    cin, cout, k, n = 8, 12, 3, 7
    model = nn.ConvTranspose2d(cin, cout, k, stride=s, padding=p, output_padding=op, dilation=d, groups=g)
    report = audit(model, input_shape=(2, cin, n, n), device=device)
    out = tconv_out(n, k, s, p, d, op)
    assert report.layers[-1].output_shape == (2, cout, out, out)
    # every input pixel scatters a (cout/g) x k x k patch from each of its cin/g... i.e. N*Cin*H*W*(Cout/g)*K*K
    expected = 2 * cin * n * n * (cout // g) * k * k
    assert report.macs == expected
    assert report.macs == fcm_forward_macs(model, torch.randn(2, cin, n, n))


@pytest.mark.parametrize("device", DEVICES)
def test_conv1d_and_conv3d(device):
    c1 = nn.Conv1d(6, 9, 4, stride=2, padding=3, dilation=2, groups=3)
    r1 = audit(c1, input_shape=(3, 6, 31), device=device)
    assert r1.macs == 3 * 9 * conv_out(31, 4, 2, 3, 2) * 2 * 4
    c3 = nn.Conv3d(4, 8, 3, stride=(1, 2, 2), padding=1, groups=2)
    r3 = audit(c3, input_shape=(1, 4, 5, 8, 8), device=device)
    assert r3.macs == 8 * 5 * 4 * 4 * 2 * 27
    assert r3.macs == fcm_forward_macs(c3, torch.randn(1, 4, 5, 8, 8))


# --------------------------------------------------------------------------- attention fast paths


class SDPA(nn.Module):
    def __init__(self, dim: int = 32, heads: int = 4) -> None:
        super().__init__()
        self.qkv = nn.Linear(dim, 3 * dim)
        self.heads = heads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, L, D = x.shape
        q, k, v = self.qkv(x).view(B, L, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        return F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(B, L, D)


def test_sdpa_cpu_fast_path_equals_meta_and_closed_form():
    B, L, D, heads = 2, 9, 32, 4
    model = SDPA(D, heads)
    meta = audit(model, input_shape=(B, L, D), device="meta")
    cpu = audit(model, input_shape=(B, L, D), device="cpu")
    expected = B * L * D * 3 * D + 2 * B * heads * L * L * (D // heads)
    assert meta.macs == expected
    assert cpu.macs == expected
    assert not cpu.uncounted_ops and not meta.uncounted_ops


def mha_closed_form(B, L, S, E, heads):
    return B * L * E * E + 2 * B * S * E * E + B * L * E * E + 2 * B * heads * L * S * (E // heads)


class SelfAttention(nn.Module):
    def __init__(self, E: int, heads: int, need_weights: bool = False) -> None:
        super().__init__()
        self.mha = nn.MultiheadAttention(E, heads, batch_first=True)
        self.need_weights = need_weights

    def forward(self, x):
        return self.mha(x, x, x, need_weights=self.need_weights)[0]


def test_multihead_attention_fast_path_equals_meta():
    B, L, E, heads = 2, 7, 32, 4
    model = SelfAttention(E, heads).eval()
    # the oracle that the CPU fast path is really taken: FlopCounterMode misses it in eval/no_grad
    x = torch.randn(B, L, E)
    with torch.no_grad():
        fcm = fcm_flops(lambda: model(x))
    assert fcm // 2 < mha_closed_form(B, L, L, E, heads)
    meta = audit(model, input_shape=(B, L, E), device="meta")
    cpu = audit(model, input_shape=(B, L, E), device="cpu")
    assert meta.macs == mha_closed_form(B, L, L, E, heads)
    assert cpu.macs == meta.macs
    # train mode takes the decomposed path on cpu too; FlopCounterMode sees all of it there
    train = audit(model, input_shape=(B, L, E), device="cpu", mode="train")
    assert train.macs == meta.macs
    # FlopCounterMode has no formula for the CPU SDPA kernel; with need_weights=True the train path is
    # explicit bmm calls it does count: same MACs, an independent oracle for the closed form.
    explicit = SelfAttention(E, heads, need_weights=True).train()
    explicit.load_state_dict(model.state_dict())
    assert fcm_flops(lambda: explicit(x)) // 2 == meta.macs
    assert audit(explicit, input_shape=(B, L, E), device="cpu").macs == meta.macs


def test_transformer_encoder_layer_fast_path_equals_meta():
    B, L, E, heads, FF = 2, 6, 32, 4, 64
    model = nn.TransformerEncoderLayer(E, heads, dim_feedforward=FF, batch_first=True, dropout=0.0)
    meta = audit(model, input_shape=(B, L, E), device="meta")
    cpu = audit(model, input_shape=(B, L, E), device="cpu")
    expected = mha_closed_form(B, L, L, E, heads) + 2 * B * L * E * FF
    assert meta.macs == expected
    assert cpu.macs == expected


# --------------------------------------------------------------------------- parameters


class Tied(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(50, 16)
        self.body = nn.Linear(16, 16)
        self.head = nn.Linear(16, 50, bias=False)
        self.head.weight = self.embed.weight

    def forward(self, ids):
        return self.head(self.body(self.embed(ids)))


@pytest.mark.parametrize("device", DEVICES)
def test_tied_weights_counted_once(device):
    model = Tied()
    report = audit(model, torch.zeros(2, 5, dtype=torch.long), device=device)
    assert report.params == 50 * 16 + 16 * 16 + 16
    assert report.params == sum(p.numel() for p in model.parameters())  # parameters() dedups too
    assert sum(layer.params for layer in report.layers) == report.params
    assert report.macs == 2 * 5 * 16 * 16 + 2 * 5 * 16 * 50
    assert model.head.weight is model.embed.weight


@pytest.mark.parametrize("device", DEVICES)
def test_conv_bn_param_variants(device):
    C, O, K = 3, 8, 3
    model = nn.Sequential(nn.Conv2d(C, O, K), nn.BatchNorm2d(O), nn.ReLU())
    report = audit(model, input_shape=(1, C, 10, 10), device=device)
    assert report.params == C * K * K * O + O + 2 * O
    # documented convention (docs/flops.md): every tensor named *bias* goes, BatchNorm's shift included
    assert report.params_without_bias == C * K * K * O + O
    assert report.params_without_norm == C * K * K * O + O
    assert report.buffers == 2 * O + 1  # running mean, var, num_batches_tracked
    assert report.trainable_params == report.params


def test_trainable_params_respect_requires_grad():
    model = nn.Sequential(nn.Linear(4, 5), nn.Linear(5, 3))
    model[0].weight.requires_grad_(False)
    report = audit(model, input_shape=(2, 4))
    assert report.trainable_params == report.params - 20


# --------------------------------------------------------------------------- totals and idempotence


class Mixed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, groups=2)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        y = F.relu(self.bn(self.conv(x)))
        y = y + torch.sigmoid(self.conv2(y))
        y = F.adaptive_avg_pool2d(y, 1).flatten(1)
        return torch.softmax(self.fc(y), dim=-1) @ torch.ones(10, 4)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("tracer", ["fx", "hooks"])
def test_layer_rows_sum_to_totals(device, tracer):
    report = audit(Mixed(), input_shape=(2, 3, 12, 12), device=device, tracer=tracer)
    assert report.tracer == tracer
    for attr in ("params", "macs", "flops", "buffers", "trainable_params"):
        assert sum(getattr(layer, attr) for layer in report.layers) == getattr(report, attr), attr
    d = report.to_dict()
    assert sum(layer["params_without_bias"] for layer in d["layers"]) == report.params_without_bias
    assert sum(layer["params_without_norm"] for layer in d["layers"]) == report.params_without_norm
    assert sum(layer["macs"] for layer in d["layers"]) == d["summary"]["macs"]


def test_fx_and_hooks_agree():
    fx = audit(Mixed(), input_shape=(2, 3, 12, 12), tracer="fx")
    hooks = audit(Mixed(), input_shape=(2, 3, 12, 12), tracer="hooks")
    assert (fx.params, fx.macs, fx.flops) == (hooks.params, hooks.macs, hooks.flops)


def snapshot(model: nn.Module) -> dict:
    return {
        "training": [(name, m.training) for name, m in model.named_modules()],
        "params": [(n, p.device, p.dtype, p.requires_grad, p.detach().clone(), p.grad) for n, p in model.named_parameters()],
        "param_ids": [id(p) for p in model.parameters()],
        "buffers": [(n, b.device, b.detach().clone()) for n, b in model.named_buffers()],
        "hooks": [
            (name, len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks),
             len(getattr(m, "_forward_hooks_with_kwargs", {})))
            for name, m in model.named_modules()
        ],
        "global_hooks": (len(nn.modules.module._global_forward_hooks),
                         len(nn.modules.module._global_forward_pre_hooks)),
    }


def assert_same(before: dict, after: dict) -> None:
    assert before["training"] == after["training"]
    assert before["param_ids"] == after["param_ids"]
    assert before["hooks"] == after["hooks"]
    assert before["global_hooks"] == after["global_hooks"]
    for (n0, d0, t0, r0, v0, g0), (n1, d1, t1, r1, v1, g1) in zip(before["params"], after["params"]):
        assert (n0, d0, t0, r0) == (n1, d1, t1, r1)
        assert torch.equal(v0, v1), n0
        assert g0 is None and g1 is None, f"{n0} gained a .grad"
    for (n0, d0, v0), (n1, d1, v1) in zip(before["buffers"], after["buffers"]):
        assert (n0, d0) == (n1, d1)
        assert torch.equal(v0, v1), f"buffer {n0} changed"


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("mode", ["eval", "train"])
@pytest.mark.parametrize("tracer", ["auto", "hooks"])
def test_repeated_and_failed_audits_are_identical_and_harmless(device, mode, tracer):
    torch.manual_seed(0)
    model = Mixed()
    model.train()  # user's own mode: train, audited in `mode`
    model.bn.eval()  # a mixed flag that must survive
    model.fc.weight.requires_grad_(False)
    before = snapshot(model)
    totals = []
    for _ in range(3):
        r = audit(model, input_shape=(2, 3, 12, 12), device=device, mode=mode, tracer=tracer)
        totals.append((r.params, r.trainable_params, r.macs, r.flops, r.buffers,
                       [(l.name, l.output_shape, l.macs, l.flops) for l in r.layers]))
        assert_same(before, snapshot(model))
    assert totals[0] == totals[1] == totals[2]
    with pytest.raises(AuditError):
        audit(model, input_shape=(2, 5, 12, 12), device=device, mode=mode, tracer=tracer)
    assert_same(before, snapshot(model))
    r = audit(model, input_shape=(2, 3, 12, 12), device=device, mode=mode, tracer=tracer)
    assert (r.params, r.trainable_params, r.macs, r.flops, r.buffers,
            [(l.name, l.output_shape, l.macs, l.flops) for l in r.layers]) == totals[0]
    assert_same(before, snapshot(model))


def test_failed_audit_names_layer_and_shapes():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten(), nn.Linear(10, 2))
    for device in DEVICES:
        with pytest.raises(ModelExecutionError) as info:
            audit(model, input_shape=(1, 3, 8, 8), device=device)
        message = str(info.value)
        assert info.value.layer == "2"
        assert "'2'" in message and "Linear" in message
        assert "[1, 288]" in message  # the flattened 8*6*6 features the Linear rejects
        assert "10" in message  # and what it expects


def test_backward_audit_leaves_no_grads():
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    before = snapshot(model)
    for device in DEVICES:
        audit(model, input_shape=(3, 4), device=device, backward=True)
        audit(model, input_shape=(3, 4), device=device, backward=True, mode="train")
        assert_same(before, snapshot(model))


# --------------------------------------------------------------------------- backward pass


class CNN(nn.Module):
    def __init__(self, groups: int = 1) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, 16, 3, stride=2, groups=groups)
        self.fc = nn.Linear(16 * 7 * 7, 10)

    def forward(self, x):
        return self.fc(F.relu(self.c2(F.relu(self.c1(x)))).flatten(1))


def backward_fcm_macs(model: nn.Module, x: torch.Tensor) -> tuple[int, int]:
    out = model(x)
    with FlopCounterMode(display=False) as counter:
        out.sum().backward()
    total = counter.get_total_flops()
    model.zero_grad(set_to_none=True)
    assert total % 2 == 0
    return total // 2


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("factory,shape", [
    (lambda: nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Linear(32, 16), nn.Tanh(), nn.Linear(16, 4)), (5, 12)),
    (CNN, (2, 3, 16, 16)),
])
def test_backward_macs_equal_flop_counter(device, factory, shape):
    torch.manual_seed(0)
    model = factory()
    report = audit(model, input_shape=shape, device=device, backward=True)
    x = torch.randn(*shape)  # input does not require grad: no grad_input for the first layer, as in audit
    assert report.backward_macs == backward_fcm_macs(model, x)
    assert report.macs == fcm_forward_macs(model, x)
    assert report.backward_flops >= 2 * report.backward_macs
    assert sum(layer.backward_macs or 0 for layer in report.layers) <= report.backward_macs


@pytest.mark.parametrize("device", DEVICES)
def test_grouped_conv_backward_closed_form(device):
    # FlopCounterMode ignores groups in the weight gradient of a grouped conv (it overcounts by the
    # group count), so the oracle here is the closed form: grad_input and grad_weight each cost the
    # forward MACs; the first conv's input needs no gradient; Linear likewise.
    model = CNN(groups=2)
    report = audit(model, input_shape=(2, 3, 16, 16), device=device, backward=True)
    c1 = 2 * 16 * 16 * 8 * 3 * 9
    c2 = 2 * 7 * 7 * 16 * 4 * 9
    fc = 2 * 784 * 10
    assert report.macs == c1 + c2 + fc
    assert report.backward_macs == c1 + 2 * c2 + 2 * fc


def test_lstm_backward_on_cpu_fused_kernel_is_counted():
    T, B, I, H = 5, 2, 8, 12
    model = nn.LSTM(I, H, num_layers=2, batch_first=True)
    cpu = audit(model, input_shape=(B, T, I), device="cpu", backward=True)
    assert not cpu.uncounted_ops
    # the fused kernel computes input, hidden and weight gradients: two matmuls per weight matrix
    assert cpu.backward_macs == 2 * rnn_closed_form("lstm", T, B, I, H, 2, False)
    meta = audit(model, input_shape=(B, T, I), device="meta", backward=True)
    assert not meta.uncounted_ops and 0 < meta.backward_macs <= cpu.backward_macs


def test_backward_with_user_input_requiring_grad():
    class Attend(nn.Module):
        def forward(self, q):
            return F.scaled_dot_product_attention(q, q, q)

    x = torch.randn(2, 4, 6, 8, requires_grad=True)
    meta = audit(Attend(), x, device="meta", backward=True)
    cpu = audit(Attend(), x, device="cpu", backward=True)
    assert meta.macs == cpu.macs == 2 * 4 * 6 * 6 * 8 * 2
    assert meta.backward_macs == cpu.backward_macs == 2 * cpu.macs
    assert x.grad is None and x.requires_grad  # the caller's tensor is untouched


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("factory,shape", [
    (lambda: nn.Conv2d(8, 12, 3), (1, 8, 5, 5)),
    (lambda: nn.ConvTranspose2d(8, 12, 3, stride=2, groups=4), (1, 8, 5, 5)),
    (lambda: nn.LSTM(8, 8), (3, 1, 8)),
])
def test_root_leaf_module_is_one_layer(device, factory, shape):
    model = factory()
    report = audit(model, input_shape=shape, device=device)
    assert len(report.layers) == 1
    assert report.layers[0].type == type(model).__name__
    assert report.layers[0].params == report.params == sum(p.numel() for p in model.parameters())
    assert report.layers[0].macs == report.macs > 0


@pytest.mark.parametrize("device", DEVICES)
def test_bilinear_counts_every_term_of_its_triple_sum(device):
    """y[b, o] = sum_ij x1[b, i] A[o, i, j] x2[b, j] + bias[o]: brute-force the terms of the sum."""
    import itertools

    model = nn.Bilinear(5, 6, 7)
    x1, x2 = torch.randn(2, 5), torch.randn(2, 6)
    terms = sum(1 for _ in itertools.product(range(2), range(7), range(5), range(6)))
    report = audit(model, (x1, x2), device=device)
    assert not report.uncounted_ops
    assert report.macs == terms
    assert report.flops == 3 * terms + 2 * 7  # two multiplies and one add per term, plus the bias adds
