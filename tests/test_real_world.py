"""Issue 11: exact and harmless on real-world code. One test (or a few) per item, each against an
independent oracle (FlopCounterMode, closed forms, the model's own parameters)."""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import textwrap
from collections import namedtuple
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from model_audit import AuditError, ModelExecutionError, audit
from model_audit.cli.main import main


def fcm_flops(model, *inputs) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(*inputs)
    return counter.get_total_flops()


# ----------------------------------------------------------------------------- 1: inference_mode


def test_inference_mode_counts_what_normal_mode_counts():
    torchvision = pytest.importorskip("torchvision")
    with torch.device("meta"):
        model = torchvision.models.resnet18().eval()
    normal = audit(model, input_shape=(1, 3, 224, 224), rules=False)
    with torch.inference_mode():
        inference = audit(model, input_shape=(1, 3, 224, 224), rules=False)
    oracle = fcm_flops(model, torch.empty(1, 3, 224, 224, device="meta"))
    assert inference.macs == normal.macs == oracle // 2
    assert inference.flops == normal.flops and inference.uncounted_ops == {}


# ----------------------------------------------------------------------------- 3: buffer-only ops


class BufferArithmetic(nn.Module):
    """Buffers and a plain tensor attribute used in forward arithmetic with no input involved."""

    def __init__(self):
        super().__init__()
        self.register_buffer("a", torch.randn(10, 20))
        self.register_buffer("b", torch.randn(20, 30))
        self.plain = torch.randn(30, 30)
        self.lin = nn.Linear(30, 5)

    def forward(self, x):
        w = self.a @ self.b  # buffers only: fx baked this in as a constant, hooks dropped it
        w = w @ self.plain
        return self.lin(x @ w)


@pytest.mark.parametrize("tracer", ["fx", "hooks"])
@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_ops_on_buffers_alone_are_counted(tracer, device):
    model, x = BufferArithmetic(), torch.randn(4, 10)
    report = audit(model, x, tracer=tracer, device=device, rules=False)
    assert 2 * report.macs == fcm_flops(model, x) == 2 * (10 * 20 * 30 + 10 * 30 * 30 + 4 * 10 * 30 + 4 * 30 * 5)
    assert report.tracer == tracer


# ----------------------------------------------------------------------------- 4: inputs

Batch = namedtuple("Batch", "image mask")


class TakesNamedTuple(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, batch):
        return self.conv(batch.image) * batch.mask.sum()


@pytest.mark.parametrize("tracer", ["fx", "hooks"])
def test_namedtuple_inputs_stay_namedtuples(tracer):
    batch = Batch(torch.randn(1, 3, 8, 8), torch.randn(1, 1))
    model = TakesNamedTuple()
    expected = fcm_flops(model, batch) // 2
    assert audit(model, (batch,), tracer=tracer, rules=False).macs == expected
    assert audit(model, batch, tracer=tracer, rules=False).macs == expected  # a namedtuple is one input


class InPlaceFirst(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        x.mul_(2)
        return self.lin(x)


@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_backward_with_an_in_place_op_on_an_input_that_requires_grad(device):
    x = torch.randn(2, 4, requires_grad=True)
    kept = x.detach().clone()
    report = audit(InPlaceFirst(), x, backward=True, device=device, rules=False)
    # grad of the input (2x4 @ 4x4) and of the weight (4x2 @ 2x4): 32 MACs each.
    assert report.backward_macs == 2 * 4 * 4 + 4 * 2 * 4
    assert torch.equal(x.detach(), kept) and x.grad is None


# ----------------------------------------------------------------------------- 5: lazy, script, train(), cuda


def test_lazy_modules_are_materialized_on_a_private_copy():
    model = nn.Sequential(nn.LazyConv2d(8, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(10))
    oracle = copy.deepcopy(model)
    x = torch.randn(1, 3, 16, 16)
    oracle(x)
    report = audit(model, input_shape=(1, 3, 16, 16))
    assert report.params == sum(p.numel() for p in oracle.parameters()) == 3 * 8 * 9 + 8 + 8 * 14 * 14 * 10 + 10
    assert 2 * report.macs == fcm_flops(oracle, x)
    assert model[0].has_uninitialized_params()  # the user's model is still lazy
    assert any("LazyModules" in note for note in report.notes)


def test_torchscript_is_refused_in_one_line(tmp_path, capsys):
    scripted = torch.jit.script(nn.Sequential(nn.Linear(4, 4)))
    with pytest.raises(AuditError, match="TorchScript"):
        audit(scripted, input_shape=(2, 4))
    path = tmp_path / "scripted.py"
    path.write_text("import torch, torch.nn as nn\nmodel = torch.jit.script(nn.Sequential(nn.Linear(4, 4)))\n"
                    "input_shape = (2, 4)\n")
    assert main([str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "TorchScript" in err and len(err.splitlines()) == 1


TRAIN_OVERRIDE = """
import torch.nn as nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)
    def train(self):  # no mode argument: seen in the wild
        return super().train(True)
    def forward(self, x):
        return self.lin(x)
model = Net()
input_shape = (2, 4)
"""


def test_a_train_override_with_another_signature_is_exit_2_not_a_traceback(tmp_path, capsys):
    path = tmp_path / "net.py"
    path.write_text(TRAIN_OVERRIDE)
    assert main([str(path)]) == 2
    err = capsys.readouterr().err
    assert "Net.train(False) raised TypeError" in err and "Traceback" not in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("body", ["return self.lin(x.cuda())",
                                  "return self.lin(x) * torch.ones(4, device=torch.device('cuda'))"])
def test_cuda_only_code_is_named_as_such(body):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 4)

    exec(f"def forward(self, x):\n    {body}", {"torch": torch}, namespace := {})
    Net.forward = namespace["forward"]
    with pytest.raises(ModelExecutionError) as info:
        audit(Net(), input_shape=(2, 4))
    assert "CUDA-only code" in str(info.value) and "rejected its input" not in str(info.value)


# ----------------------------------------------------------------------------- 6: wrappers, formulas


def _inner():
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3))


@pytest.mark.parametrize("wrap", [nn.DataParallel, torch.compile], ids=["DataParallel", "compile"])
def test_wrappers_are_unwrapped_with_their_rows(wrap):
    inner = _inner()
    plain = audit(inner, input_shape=(1, 3, 16, 16), rules=False)
    wrapped = audit(wrap(inner), input_shape=(1, 3, 16, 16), rules=False)
    assert [layer.name for layer in wrapped.layers] == [layer.name for layer in plain.layers] == ["0", "1", "2"]
    assert (wrapped.params, wrapped.macs) == (plain.params, plain.macs)
    assert 2 * wrapped.macs == fcm_flops(inner, torch.randn(1, 3, 16, 16))


def test_ddp_is_unwrapped(tmp_path):
    import torch.distributed as dist

    if not dist.is_available():
        pytest.skip("torch.distributed is not available")
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        inner = _inner()
        report = audit(nn.parallel.DistributedDataParallel(inner), input_shape=(1, 3, 16, 16), rules=False)
        assert [layer.name for layer in report.layers] == ["0", "1", "2"]
        assert 2 * report.macs == fcm_flops(inner, torch.randn(1, 3, 16, 16))
    finally:
        dist.destroy_process_group()


def test_varlen_attention_counts_each_sequence():
    from model_audit.analyses.costs import FORMULAS

    heads, dim, lengths = 2, 8, [3, 5, 8]
    total = sum(lengths)
    cu = torch.tensor([0, 3, 8, 16], dtype=torch.int32)
    oracle = 0
    for n in lengths:  # dense attention of each sequence on its own
        q = torch.empty(1, heads, n, dim, device="meta")  # meta: the math path, whose bmm FlopCounterMode counts
        with FlopCounterMode(display=False) as counter:
            F.scaled_dot_product_attention(q, q, q)
        oracle += counter.get_total_flops()
    flash = FORMULAS[torch.ops.aten._flash_attention_forward]
    q3 = torch.randn(total, heads, dim)  # flash: packed [total, H, E]
    cost = flash((q3, q3, q3, cu, cu, 8, 8, 0.0, False, False), {}, None)
    assert 2 * cost.macs == oracle == 2 * heads * sum(n * n * 2 * dim for n in lengths)
    efficient = FORMULAS[torch.ops.aten._efficient_attention_forward]
    q4 = torch.randn(1, total, heads, dim)  # efficient: [1, total, H, E]
    cost = efficient((q4, q4, q4, None, cu, cu, 8, 8, 0.0, 0), {}, None)
    assert 2 * cost.macs == oracle
    meta = cu.to("meta")  # lengths unknown: uncounted, never the packed batch as one sequence
    assert flash((q3.to("meta"),) * 3 + (meta, meta, 8, 8, 0.0, False, False), {}, None) is None


def test_fp8_and_int8_matmuls_have_formulas():
    class Scaled(nn.Module):
        def forward(self, a, b):
            one = torch.tensor(1.0)
            return torch._scaled_mm(a, b, scale_a=one, scale_b=one, out_dtype=torch.float32)

    a = torch.randn(32, 64).to(torch.float8_e4m3fn)
    b = torch.randn(48, 64).to(torch.float8_e4m3fn).t()
    report = audit(Scaled(), (a, b), rules=False)
    assert 2 * report.macs == fcm_flops(Scaled(), a, b) == 2 * 32 * 64 * 48 and report.uncounted_ops == {}

    class Int(nn.Module):
        def forward(self, a, b):
            return torch._int_mm(a, b)

    a, b = torch.randint(-4, 4, (32, 64), dtype=torch.int8), torch.randint(-4, 4, (64, 48), dtype=torch.int8)
    for device in ("meta", "cpu"):
        report = audit(Int(), (a, b), device=device, rules=False)
        assert report.macs == 32 * 64 * 48 and report.uncounted_ops == {}


def test_custom_ops_keep_their_namespace():
    @torch.library.custom_op("model_audit_test::opaque", mutates_args=())
    def opaque(x: torch.Tensor) -> torch.Tensor:
        return x.clone()

    @opaque.register_fake
    def _(x):
        return torch.empty_like(x)

    class Net(nn.Module):
        def forward(self, x):
            return opaque(x) * 2

    report = audit(Net(), torch.randn(3, 3), rules=False)
    assert report.uncounted_ops == {"model_audit_test.opaque": 1}


class ZeroCost(nn.Module):
    def __init__(self):
        super().__init__()
        self.pool, self.unpool = nn.MaxPool2d(2, return_indices=True), nn.MaxUnpool2d(2)
        self.rnn = nn.GRU(4, 4, batch_first=True)

    def forward(self, x, seq):
        with torch.profiler.record_function("block"):
            y, idx = self.pool(x)
            y = self.unpool(y, idx)
        packed = nn.utils.rnn.pack_padded_sequence(seq, [5, 3], batch_first=True)
        out, _ = self.rnn(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True)
        return y.sum() + out.sum()


@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_zero_cost_ops_are_not_uncounted(device):
    report = audit(ZeroCost(), (torch.randn(1, 2, 8, 8), torch.randn(2, 5, 4)), device=device, rules=False)
    assert report.uncounted_ops == {}


def test_nll_loss_has_a_formula():
    class Loss(nn.Module):
        def forward(self, logp, target):
            return F.nll_loss(logp, target)

    report = audit(Loss(), (torch.randn(8, 10).log_softmax(-1), torch.randint(0, 10, (8,))), rules=False)
    assert report.uncounted_ops == {}
    assert report.flops == 8 + 8 + 1  # a negation per target, the sum, the mean's division


@pytest.mark.parametrize("mask", ["causal", "float", "bool", None])
def test_masked_attention_flops_agree_on_meta_and_cpu(mask):
    class Attention(nn.Module):
        def forward(self, q, k, v, *m):
            if mask == "causal":
                return F.scaled_dot_product_attention(q, k, v, is_causal=True)
            return F.scaled_dot_product_attention(q, k, v, attn_mask=m[0] if m else None)

    x = torch.randn(2, 4, 16, 8)
    extra = {"float": (torch.randn(16, 16),), "bool": (torch.ones(16, 16, dtype=torch.bool),)}.get(mask, ())
    meta = audit(Attention(), (x, x, x, *extra), device="meta", rules=False)
    cpu = audit(Attention(), (x, x, x, *extra), device="cpu", rules=False)
    assert (meta.macs, meta.flops) == (cpu.macs, cpu.flops)
    on_meta = [t.to("meta") for t in (x, x, x, *extra)]  # FlopCounterMode counts the math path only
    assert 2 * cpu.macs == fcm_flops(Attention(), *on_meta)


# ----------------------------------------------------------------------------- uncounted work outside layers


def test_uncounted_work_outside_any_layer_is_reported():
    from model_audit.ir.graph import LayerGraph
    from model_audit.trace.counting import OpCounter
    from model_audit.report.build import build_report

    counter = OpCounter()
    with counter:
        torch.special.i0(torch.empty(3, device="meta"))
    graph = LayerGraph(layers=[], model=nn.Identity(), tracer="hooks", device="meta",
                       unowned_uncounted=dict(counter.unowned_uncounted))
    report = build_report(graph, name="m", mode="eval")
    assert report.uncounted_ops == {"aten.i0 (outside any layer)": 1}


# ----------------------------------------------------------------------------- 7: exit-0 holes


def test_an_extra_input_under_fx_is_an_error_naming_the_count(tmp_path, capsys):
    path = tmp_path / "net.py"
    path.write_text("import torch.nn as nn\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                    "        self.lin = nn.Linear(3, 3)\n    def forward(self, x):\n        return self.lin(x)\n"
                    "model = Net()\n")
    assert main([str(path), "--tracer", "fx", "--input", "2,3", "--input", "2,3"]) == 2
    assert "takes 1 input (x) but 2 were given" in capsys.readouterr().err


def test_a_misspelled_config_key_is_exit_2_with_the_nearest_key(tmp_path, capsys, monkeypatch):
    (tmp_path / "pyproject.toml").write_text('[tool.model-audit]\nmax-parms = "1K"\n')
    (tmp_path / "net.py").write_text("import torch.nn as nn\nmodel = nn.Linear(100, 100)\ninput_shape = (1, 100)\n")
    monkeypatch.chdir(tmp_path)
    assert main(["net.py"]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'max-parms'" in err and "did you mean 'max-params'" in err


@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_an_embedding_index_past_the_table_is_reported_on_meta_too(device):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.lin = nn.Embedding(100, 8), nn.Linear(8, 2)

        def forward(self, ids):
            return self.lin(self.emb(ids.view(-1)))

    with pytest.raises(ModelExecutionError, match="'emb'.*index"):
        audit(Net(), torch.tensor([[5, 150]]), device=device)
    assert audit(Net(), torch.tensor([[5, 99]]), device=device).params == 100 * 8 + 8 * 2 + 2


# ----------------------------------------------------------------------------- 8: stdout, numpy; exit codes

PRINTER = """
import torch.nn as nn
print("=== my model v2 ===")
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)
    def forward(self, x):
        print("forward", tuple(x.shape))
        return self.lin(x)
model = Net()
print(model)
input_shape = (2, 4)
"""


def test_what_the_model_prints_goes_to_stderr(tmp_path, capsys):
    path = tmp_path / "printer.py"
    path.write_text(PRINTER)
    assert main([str(path), "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["summary"]["params"] == 20
    assert "my model v2" in captured.err and "forward" in captured.err


def test_no_numpy_warning_without_numpy(tmp_path):
    (tmp_path / "sitecustomize.py").write_text('import sys\nsys.modules["numpy"] = None  # as if not installed\n')
    (tmp_path / "net.py").write_text("import torch.nn as nn\nmodel = nn.Linear(4, 4)\ninput_shape = (2, 4)\n")
    src = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), src])}
    result = subprocess.run([sys.executable, "-c", "import sys; from model_audit.cli.main import main; "
                             "sys.exit(main(sys.argv[1:]))", str(tmp_path / "net.py"), "--no-rules"],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "NumPy" not in result.stderr


def test_an_internal_error_is_exit_3_in_one_line_and_debug_reraises(tmp_path, capsys, monkeypatch):
    import importlib

    cli = importlib.import_module("model_audit.cli.main")

    def broken(*args, **kwargs):
        raise KeyError("internal")

    monkeypatch.setattr(cli, "audit", broken)
    path = tmp_path / "net.py"
    path.write_text("import torch.nn as nn\nmodel = nn.Linear(4, 4)\ninput_shape = (2, 4)\n")
    assert main([str(path)]) == 3
    err = capsys.readouterr().err.strip()
    assert err.startswith("model-audit: internal error: KeyError") and "--debug" in err and len(err.splitlines()) == 1
    import tomllib  # the line sends the user to the Issues URL the package declares, not a placeholder

    declared = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())["project"]["urls"]["Issues"]
    assert f"please report it at {declared} " in err
    with pytest.raises(KeyError):
        main([str(path), "--debug"])
