"""The optimizer step's implementation (for-loop, foreach, fused) in the memory analysis.

Oracle: a real CPU training step with ``torch.optim`` built with ``foreach=True`` / ``fused=True``,
its peak from ``torch.profiler``'s allocator records (``memory_oracle.measured_step``). The model
is a stack of equal wide linear layers at batch 2: activations are tiny, so the optimizer step
holds the peak, and foreach's list of parameter-sized temporaries (Adam's ``exp_avg_sq.sqrt()`` for
every parameter at once) is several times the for-loop's (one parameter's at a time).
"""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn as nn
import torch.optim.optimizer as torch_optimizer

import model_audit
from model_audit.analyses.memory import measure_step
from model_audit.analyses.memory.analysis import MemoryOptions
from model_audit.analyses.memory.optimizers import torch_default
from model_audit.cli.main import main
from model_audit.errors import AuditError

from memory_oracle import measured_step

WIDTH, DEPTH = 768, 6


def wide_mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(*[nn.Linear(WIDTH, WIDTH) for _ in range(DEPTH)])


def _inputs() -> tuple:
    return (torch.randn(2, WIDTH),)


def _relative(predicted: int, measured: int) -> float:
    return (predicted - measured) / measured


# (name, implementation, the same optimizer built for the real CPU step)
CASES = [
    ("adamw", "foreach", lambda ps: torch.optim.AdamW(ps, lr=1e-3, foreach=True)),
    ("adamw", "fused", lambda ps: torch.optim.AdamW(ps, lr=1e-3, fused=True)),
    ("sgd-momentum", "foreach", lambda ps: torch.optim.SGD(ps, lr=0.01, momentum=0.9, foreach=True)),
    ("sgd-momentum", "fused", lambda ps: torch.optim.SGD(ps, lr=0.01, momentum=0.9, fused=True)),
    ("adagrad", "fused", lambda ps: torch.optim.Adagrad(ps, lr=1e-2, fused=True)),
]


@pytest.mark.parametrize("name,impl,factory", CASES, ids=[f"{n}-{i}" for n, i, _ in CASES])
def test_peak_within_5_percent_of_a_real_cpu_step(name, impl, factory):
    model, args = wide_mlp(), _inputs()
    predicted = measure_step(model, args, {}, optimizer=name, optimizer_impl=impl, amp_device="cpu")
    measured = measured_step(model, args, optimizer=factory)
    assert predicted.optimizer_impl == impl
    assert predicted.optimizer_bytes == measured["optimizer"]  # fused keeps its step counters on the device
    err = _relative(predicted.peak_bytes, measured["peak"])
    assert -0.05 <= err <= 0.05, f"{name} {impl}: predicted {predicted.peak_bytes} measured {measured['peak']} ({err:+.2%})"


def test_adamw_foreach_holds_a_copy_of_every_parameter_at_the_step():
    """The for-loop's peak and foreach's differ by what the real steps differ by (within 2% of the params)."""
    model, args = wide_mlp(), _inputs()
    params = sum(p.nbytes for p in model.parameters())
    forloop = measure_step(model, args, {}, optimizer="adamw", optimizer_impl="forloop")
    foreach = measure_step(model, args, {}, optimizer="adamw", optimizer_impl="foreach")
    assert forloop.peak_phase == foreach.peak_phase == "optimizer"
    real_forloop = measured_step(model, args, optimizer=lambda ps: torch.optim.AdamW(ps, lr=1e-3, foreach=False))
    real_foreach = measured_step(model, args, optimizer=lambda ps: torch.optim.AdamW(ps, lr=1e-3, foreach=True))
    predicted_gap = foreach.peak_bytes - forloop.peak_bytes
    measured_gap = real_foreach["peak"] - real_forloop["peak"]
    assert predicted_gap > params // 2  # all parameters' sqrt at once, less two of one layer's
    assert abs(predicted_gap - measured_gap) <= 0.02 * params, (predicted_gap, measured_gap)
    # the fused step makes no parameter-sized temporary: its peak is below the for-loop's
    fused = measure_step(model, args, {}, optimizer="adamw", optimizer_impl="fused")
    assert fused.peak_bytes < forloop.peak_bytes


def test_sgd_momentum_foreach_and_forloop_allocate_alike():
    """SGD with momentum updates in place in both implementations: the real steps agree, so does the prediction."""
    model, args = wide_mlp(), _inputs()
    real_forloop = measured_step(model, args, optimizer="sgd-momentum")
    real_foreach = measured_step(model, args, optimizer=lambda ps: torch.optim.SGD(ps, lr=0.01, momentum=0.9,
                                                                                   foreach=True))
    forloop = measure_step(model, args, {}, optimizer="sgd-momentum", optimizer_impl="forloop")
    foreach = measure_step(model, args, {}, optimizer="sgd-momentum", optimizer_impl="foreach")
    assert abs(real_foreach["peak"] - real_forloop["peak"]) <= 0.01 * real_forloop["peak"]
    assert foreach.peak_bytes == forloop.peak_bytes


def test_auto_is_torch_default_on_the_planned_device():
    """auto follows torch's own choice (``_default_to_fused_or_foreach``): the for-loop for CPU parameters,
    foreach for CUDA (the default planned device); the summary says which ran."""
    cpu_param = [torch.zeros(2, requires_grad=True)]
    fused, foreach = torch_optimizer._default_to_fused_or_foreach(cpu_param, differentiable=False, use_fused=False)
    assert (fused, foreach) == (False, False) and torch_default("cpu") == "forloop"
    assert torch_default("cuda") == ("foreach" if "cuda" in torch_optimizer._get_foreach_kernels_supported_devices()
                                     else "forloop")
    model, args = wide_mlp(), _inputs()
    on_cpu = measure_step(model, args, {}, optimizer="adamw", amp_device="cpu")
    on_cuda = measure_step(model, args, {}, optimizer="adamw")
    assert on_cpu.optimizer_impl == "forloop" and on_cuda.optimizer_impl == "foreach"
    assert on_cpu.peak_bytes == measure_step(model, args, {}, optimizer="adamw", optimizer_impl="forloop",
                                             amp_device="cpu").peak_bytes
    assert on_cuda.peak_bytes == measure_step(model, args, {}, optimizer="adamw", optimizer_impl="foreach").peak_bytes
    report = model_audit.audit(model, args, mode="train", memory="train", optimizer="adamw", rules=False)
    assert report.memory["optimizer_impl"] == "foreach"
    fused = model_audit.audit(model, args, mode="train", memory="train", optimizer_impl="fused", rules=False)
    assert fused.memory["optimizer_impl"] == "fused" and fused.memory["peak_bytes"] < report.memory["peak_bytes"]
    inference = model_audit.audit(model, args, memory="inference", rules=False)
    assert inference.memory["optimizer_impl"] is None


def test_a_factory_keeps_its_own_choice_and_gets_torch_default_where_it_left_none():
    model, args = wide_mlp(), _inputs()
    unset = measure_step(model, args, {}, optimizer=lambda ps: torch.optim.AdamW(ps, lr=1e-3))
    chosen = measure_step(model, args, {}, optimizer=lambda ps: torch.optim.AdamW(ps, lr=1e-3, foreach=False))
    fused = measure_step(model, args, {}, optimizer=lambda ps: torch.optim.AdamW(ps, lr=1e-3, fused=True))
    assert (unset.optimizer_impl, chosen.optimizer_impl, fused.optimizer_impl) == ("foreach", "forloop", "fused")
    assert unset.peak_bytes > chosen.peak_bytes > fused.peak_bytes
    with pytest.raises(AuditError, match="factory sets foreach= or fused= itself"):
        measure_step(model, args, {}, optimizer=lambda ps: torch.optim.AdamW(ps), optimizer_impl="fused")


def test_the_model_is_untouched_and_torch_fused_devices_restored():
    model, args = wide_mlp(), _inputs()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    devices = torch_optimizer._get_fused_kernels_supported_devices()
    measure_step(model, args, {}, optimizer="sgd-momentum", optimizer_impl="fused")
    assert torch_optimizer._get_fused_kernels_supported_devices() == devices and "meta" not in devices
    assert all(p.grad is None and p.device.type == "cpu" for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_unknown_or_missing_implementation_is_one_clear_error():
    with pytest.raises(AuditError, match="unknown optimizer implementation 'multi'; use one of auto, foreach"):
        MemoryOptions.build("train", optimizer_impl="multi")
    # torch.optim.RMSprop takes no fused= argument (torch: "unexpected keyword argument 'fused'")
    with pytest.raises(TypeError, match="fused"):
        torch.optim.RMSprop([torch.zeros(1, requires_grad=True)], fused=True)
    with pytest.raises(AuditError, match=r"torch.optim.RMSprop has no fused implementation"):
        MemoryOptions.build("train", optimizer="rmsprop", optimizer_impl="fused")
    MemoryOptions.build("inference", optimizer_impl="fused")  # no optimizer step: nothing to check


def test_cli_flag_reaches_the_summary_and_bad_values_exit_2(tmp_path, capsys):
    model_file = tmp_path / "mlp.py"
    model_file.write_text("import torch.nn as nn\nmodel = nn.Sequential(nn.Linear(64, 64), nn.Linear(64, 64))\n")
    out = tmp_path / "report.json"
    code = main([str(model_file), "--input", "2,64", "--mode", "train", "--memory", "--optimizer-impl", "fused",
                 "--format", "json", "--output", str(out), "--no-rules"])
    assert code == 0
    assert json.loads(out.read_text())["summary"]["memory"]["optimizer_impl"] == "fused"
    capsys.readouterr()
    code = main([str(model_file), "--input", "2,64", "--memory", "--optimizer", "rmsprop", "--optimizer-impl", "fused"])
    err = capsys.readouterr().err
    assert code == 2 and "RMSprop has no fused implementation" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    with pytest.raises(SystemExit) as exit_info:  # argparse's choices, as for --optimizer
        main([str(model_file), "--input", "2,64", "--memory", "--optimizer-impl", "multi"])
    assert exit_info.value.code == 2 and "invalid choice: 'multi'" in capsys.readouterr().err


def test_optimizer_flops_are_counted_for_foreach_and_named_for_fused():
    """foreach runs the for-loop's pointwise arithmetic over lists: AdamW's count is the same (it was 0);
    a fused step has no formula and says so instead of a silent zero."""
    model, args = wide_mlp(), _inputs()
    forloop = measure_step(model, args, {}, optimizer="adamw", optimizer_impl="forloop").flops["optimizer"]
    foreach = measure_step(model, args, {}, optimizer="adamw", optimizer_impl="foreach").flops["optimizer"]
    numel = sum(p.numel() for p in model.parameters())
    assert foreach == forloop and foreach >= 8 * numel  # decay, 2 moments (5), sqrt, div, add eps, addcdiv
    report = model_audit.audit(model, args, mode="train", memory="train", optimizer_impl="fused", rules=False)
    assert report.memory["flops_uncounted"] == {"optimizer": ["aten._fused_adamw_"]}
    plain = model_audit.audit(model, args, mode="train", memory="train", optimizer_impl="foreach", rules=False)
    assert "flops_uncounted" not in plain.memory
