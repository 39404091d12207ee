"""Recurrent layers in the memory analysis when the step is planned for the CPU: oneDNN's LSTM kernels,
and ATen's FullLayer (whole-sequence input projection) for GRU, vanilla RNN and a non-oneDNN LSTM.

Oracles: the workspace ``aten.mkldnn_rnn_layer`` really allocates (its ``nbytes``, on CPU), and a
real CPU training step measured by ``torch.profiler``'s allocator records (``memory_oracle``).
"""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from model_audit.analyses.memory import measure_step
from model_audit.analyses.memory.kernels import onednn_lstm_workspace_bytes, onednn_takes_lstm

from memory_models import build
from memory_oracle import measured_step

needs_onednn = pytest.mark.skipif(not onednn_takes_lstm(torch.float32), reason="PyTorch built without oneDNN")


def _relative(predicted: int, measured: int) -> float:
    return (predicted - measured) / measured


def _real_workspace(steps: int, batch: int, input_size: int, hidden: int) -> int:
    x = torch.randn(steps, batch, input_size)
    w_ih, w_hh = torch.randn(4 * hidden, input_size), torch.randn(4 * hidden, hidden)
    b = torch.zeros(4 * hidden)
    h = torch.zeros(batch, hidden)
    with torch.enable_grad():
        out = torch.ops.aten.mkldnn_rnn_layer(x, w_ih, w_hh, b, b, h, h.clone(), False, [], 2, hidden, 1,
                                              True, False, False, True)
    return out[3].nbytes


@needs_onednn
@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (10, 3, 7, 5), (5, 4, 8, 64), (50, 1, 8, 16), (7, 130, 24, 40),
                                   (128, 16, 128, 256), (128, 16, 512, 256), (33, 9, 300, 64)])
def test_workspace_formula_equals_the_kernels_own(shape):
    assert onednn_lstm_workspace_bytes(*shape) == _real_workspace(*shape)


class SeqLSTM(nn.Module):
    """A sequence-first, bidirectional 2-layer LSTM whose final states also reach the loss."""

    def __init__(self, dropout: float = 0.0, bias: bool = True) -> None:
        super().__init__()
        self.rnn = nn.LSTM(64, 192, num_layers=2, bidirectional=True, dropout=dropout, bias=bias)
        self.head = nn.Linear(384, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, (h, c) = self.rnn(x)
        return self.head(out).sum(0) + (h.sum(0) + c.sum(0)).sum(-1, keepdim=True)


class GRUTagger(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(5000, 128)
        self.rnn = nn.GRU(128, 256, num_layers=2, batch_first=True, bidirectional=True)
        self.head = nn.Linear(512, 20)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.head(self.rnn(self.embed(tokens))[0]), -1)


def test_the_cpu_route_saves_the_workspace_and_leaves_everything_as_it_was():
    torch.manual_seed(0)
    model = SeqLSTM().train()
    x = torch.randn(12, 3, 64)
    before = {n: (p, p.data_ptr()) for n, p in model.named_parameters()}
    vf_lstm = torch._VF.lstm
    cpu = measure_step(model, (x,), {}, optimizer="sgd", amp_device="cpu")
    cuda = measure_step(model, (x,), {}, optimizer="sgd", amp_device="cuda")
    assert torch._VF.lstm is vf_lstm and "lstm" not in torch._VF.__dict__
    assert all(p is before[n][0] and p.data_ptr() == before[n][1] and p.grad is None for n, p in model.named_parameters())
    # Saved by the four mkldnn_rnn_layer calls: their workspaces (closed form) on top of what the
    # decomposed path does not save; the CUDA-planned step keeps the decomposed path.
    workspaces = 2 * onednn_lstm_workspace_bytes(12, 3, 64, 192) + 2 * onednn_lstm_workspace_bytes(12, 3, 384, 192)
    assert cpu.activations_bytes >= workspaces > 0
    assert cuda.activations_bytes < workspaces
    assert cpu.flops["forward"] == cuda.flops["forward"]  # one FLOP convention whichever kernel runs


@needs_onednn
def test_forward_flops_match_the_audit_whichever_kernel_runs():
    import model_audit

    model, (tokens,), _ = build("lstm_tagger")
    tokens = tokens[:4, :32]
    report = model_audit.audit(model, tokens)
    step = measure_step(model, (tokens,), {}, optimizer="sgd", amp_device="cpu")
    loss_sum = 4 * 32 * 20  # the default loss: one add per output element
    assert step.flops["forward"] == report.flops + loss_sum


@needs_onednn
@pytest.mark.slow
@pytest.mark.parametrize("name,model_args,x_shape", [
    ("bidirectional-2-layer", {}, (96, 24, 64)),
    ("dropout-no-bias", {"dropout": 0.2, "bias": False}, (96, 24, 64)),
])
def test_seq_first_lstm_training_peak(name, model_args, x_shape):
    torch.manual_seed(0)
    model = SeqLSTM(**model_args).train()
    x = torch.randn(*x_shape)
    predicted = measure_step(model, (x,), {}, optimizer="adamw", amp_device="cpu")
    measured = measured_step(model, (x,), {}, optimizer="adamw")
    err = _relative(predicted.peak_bytes, measured["peak"])
    assert -0.05 <= err <= 0.05, f"{name}: predicted {predicted.peak_bytes} measured {measured['peak']} ({err:+.2%})"


@pytest.mark.slow
def test_gru_tagger_training_peak():
    """ATen's FullLayer projects a CPU input's whole sequence at once (T·N·3H, 6 MiB per layer and
    direction here) where meta projects step by step: the CPU plan runs full_layer.py's rebuild."""
    torch.manual_seed(0)
    model = GRUTagger().train()
    tokens = torch.randint(0, 5000, (16, 128), generator=torch.Generator().manual_seed(0))
    predicted = measure_step(model, (tokens,), {}, optimizer="adamw", amp_device="cpu")
    measured = measured_step(model, (tokens,), {}, optimizer="adamw")
    err = _relative(predicted.peak_bytes, measured["peak"])
    assert -0.05 <= err <= 0.05, f"predicted {predicted.peak_bytes} measured {measured['peak']} ({err:+.2%})"


@pytest.mark.slow
@pytest.mark.skipif(not (onednn_takes_lstm(torch.float32) and torch.ops.mkldnn._is_mkldnn_bf16_supported()),
                    reason="this CPU has no oneDNN bf16 RNN (AVX-512 BF16 / AMX): CPU autocast's LSTM fails on it")
def test_lstm_tagger_bf16_autocast_training_peak():
    model, args, kwargs = build("lstm_tagger")
    predicted = measure_step(model, args, kwargs, optimizer="adamw", amp="bf16", amp_device="cpu")
    measured = measured_step(model, args, kwargs, optimizer="adamw", amp="bf16")
    err = _relative(predicted.peak_bytes, measured["peak"])
    assert -0.05 <= err <= 0.05, f"predicted {predicted.peak_bytes} measured {measured['peak']} ({err:+.2%})"


@needs_onednn
def test_cli_memory_device_plans_the_step_for_the_cpu(tmp_path, capsys):
    """``--memory-device cpu`` is the CLI spelling of the planned device: the JSON's activation bytes
    are the CPU-planned step's (with oneDNN's workspaces), not the default CUDA plan's."""
    import json

    from model_audit.cli.main import main

    path = tmp_path / "net.py"
    path.write_text("import torch.nn as nn\n"
                    "class Net(nn.Module):\n"
                    "    def __init__(self):\n"
                    "        super().__init__()\n"
                    "        self.rnn = nn.LSTM(64, 192, num_layers=2, bidirectional=True)\n"
                    "    def forward(self, x):\n"
                    "        return self.rnn(x)[0]\n"
                    "model = Net()\ninput_shape = (12, 3, 64)\n")
    memory = {}
    for device in ("cpu", "cuda"):
        assert main([str(path), "--memory", "--optimizer", "sgd", "--memory-device", device, "--format", "json",
                     "--no-rules"]) == 0
        memory[device] = json.loads(capsys.readouterr().out)["summary"]["memory"]
    workspaces = 2 * onednn_lstm_workspace_bytes(12, 3, 64, 192) + 2 * onednn_lstm_workspace_bytes(12, 3, 384, 192)
    assert memory["cpu"]["activations_bytes"] >= workspaces > memory["cuda"]["activations_bytes"]
    with pytest.raises(SystemExit) as bad:
        main([str(path), "--memory", "--memory-device", "tpu"])
    assert bad.value.code == 2 and "--memory-device: invalid choice: 'tpu'" in capsys.readouterr().err


# -- the CPU FullLayer (whole-sequence input projection) for GRU, vanilla RNN and non-oneDNN LSTM ----------

FULL_LAYER_CASES = [
    # (name, module, input shape)
    ("gru-bidir-batch-first", lambda: nn.GRU(6, 5, num_layers=2, batch_first=True, bidirectional=True), (3, 7, 6)),
    ("gru-no-bias-seq-first", lambda: nn.GRU(6, 5, num_layers=2, bias=False, dropout=0.0), (7, 3, 6)),
    ("rnn-tanh", lambda: nn.RNN(6, 5, num_layers=2, bidirectional=True), (7, 3, 6)),
    ("rnn-relu", lambda: nn.RNN(6, 5, nonlinearity="relu", batch_first=True), (3, 7, 6)),
    ("lstm", lambda: nn.LSTM(6, 5, num_layers=2, bidirectional=True, batch_first=True), (3, 7, 6)),
    ("lstm-proj-no-bias", lambda: nn.LSTM(6, 5, num_layers=2, proj_size=3, bias=False), (7, 3, 6)),
]


@pytest.mark.parametrize("name,build_rnn,shape", FULL_LAYER_CASES, ids=[c[0] for c in FULL_LAYER_CASES])
def test_full_layer_rebuild_computes_what_aten_computes(name, build_rnn, shape):
    """Oracle: ATen's own ``_VF`` function on real CPU tensors: same outputs, states and gradients."""
    from model_audit.analyses.memory import full_layer

    torch.manual_seed(0)
    rnn = build_rnn()
    x = torch.randn(*shape, requires_grad=True)
    fn = rnn.mode.lower()  # GRU, LSTM, RNN_TANH, RNN_RELU: the _VF function's name
    layers = rnn.num_layers * (2 if rnn.bidirectional else 1)
    batch = shape[0] if rnn.batch_first else shape[1]
    h0 = torch.randn(layers, batch, rnn.proj_size or rnn.hidden_size)
    hx = (h0, torch.randn(layers, batch, rnn.hidden_size)) if fn == "lstm" else h0
    args = (x, hx, rnn._flat_weights, rnn.bias, rnn.num_layers, 0.0, True, rnn.bidirectional, rnn.batch_first)
    with torch.backends.mkldnn.flags(enabled=False):
        expected = getattr(torch._VF, fn)(*args)
    got = getattr(full_layer, fn)(*args)
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        assert a.shape == b.shape and torch.allclose(a, b, atol=1e-6)
    grads = [torch.autograd.grad(sum(t.sum() for t in out), [x, *rnn._flat_weights]) for out in (got, expected)]
    for a, b in zip(*grads):
        assert torch.allclose(a, b, atol=1e-5)


def _rnn_model(kind: str) -> nn.Module:
    class Tagger(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = {"gru": nn.GRU, "rnn": nn.RNN, "lstm": nn.LSTM}[kind](32, 48, num_layers=2, batch_first=True)
            self.head = nn.Linear(48, 5)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.rnn(x)[0])
    torch.manual_seed(0)
    return Tagger().train()


@pytest.mark.parametrize("kind", ["gru", "rnn", "lstm"])
def test_cpu_plan_holds_the_whole_sequence_projection_with_the_same_flops(kind):
    """Planned for the CPU (oneDNN off for the LSTM), an inference forward holds one layer's whole
    T·N·gates·H projection where the CUDA plan holds one step's; training counts the same FLOPs
    in forward; ``_VF`` is left as it was."""
    model, x = _rnn_model(kind), torch.randn(4, 40, 32)
    gates = {"gru": 3, "rnn": 1, "lstm": 4}[kind]
    before = {name: torch._VF.__dict__.get(name, None) for name in ("gru", "rnn_tanh", "rnn_relu", "lstm")}
    with torch.backends.mkldnn.flags(enabled=False):
        plans = {device: measure_step(model, (x,), {}, kind="inference", amp_device=device)
                 for device in ("cpu", "cuda")}
        train = {device: measure_step(model, (x,), {}, optimizer="sgd", optimizer_impl="forloop",
                                      amp_device=device) for device in ("cpu", "cuda")}
    assert {name: torch._VF.__dict__.get(name, None) for name in before} == before
    projection, one_step = 40 * 4 * gates * 48 * 4, 4 * gates * 48 * 4
    cuda_tensors = plans["cuda"].peak_bytes - plans["cuda"].at_peak.get("workspaces", 0)  # cuBLAS's, CUDA only
    assert plans["cpu"].peak_bytes - cuda_tensors >= projection - one_step
    assert train["cpu"].flops["forward"] == train["cuda"].flops["forward"]
    assert train["cpu"].flops["optimizer"] == train["cuda"].flops["optimizer"]
    # backward: the step-by-step projection accumulates W_ih's and b_ih's gradient once per step
    # after the first; the whole-sequence one gets them from one matmul and one sum
    w_ih = [p for n, p in model.rnn.named_parameters() if n.startswith(("weight_ih", "bias_ih"))]
    assert train["cuda"].flops["backward"] - train["cpu"].flops["backward"] == 39 * sum(p.numel() for p in w_ih)
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_rnn_and_non_onednn_lstm_training_peak(kind):
    torch.manual_seed(0)
    model = _rnn_model(kind)
    x = torch.randn(16, 128, 32, generator=torch.Generator().manual_seed(0))
    with torch.backends.mkldnn.flags(enabled=False):
        predicted = measure_step(model, (x,), {}, optimizer="adamw", amp_device="cpu")
        measured = measured_step(model, (x,), {}, optimizer="adamw")
    err = _relative(predicted.peak_bytes, measured["peak"])
    assert -0.05 <= err <= 0.05, f"{kind}: predicted {predicted.peak_bytes} measured {measured['peak']} ({err:+.2%})"
