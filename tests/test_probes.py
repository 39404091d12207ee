"""Probes: real forward/backward passes at initialization, checked against PyTorch computed by hand.

Acceptance models from the issue: a sigmoid MLP vanishes, a He-initialized ReLU MLP is healthy,
biases at -10 kill ReLUs, weights of std 4/sqrt(fan_in) explode, Dropout before BatchNorm shifts the
eval variance (derivation in docs/probes.md). Verdicts must not depend on the seed.
"""
from __future__ import annotations

import json
import math
import textwrap

import pytest
import torch
import torch.nn as nn

from model_audit import audit
from model_audit.api import AuditOptions, trace_and_analyse
from model_audit.probes import probe_model
from model_audit.cli.main import main
from model_audit.errors import AuditError

GRADIENT_RULES = {"vanishing-gradient", "exploding-gradient", "dead-relu", "saturated-activations", "nonfinite-values"}
SEEDS = (0, 1, 2)


def mlp(depth: int, act: type[nn.Module], width: int = 64, std: float | None = None, bias: float | None = None,
        he: bool = False, seed: int = 0) -> nn.Sequential:
    """``depth`` hidden Linear+activation layers and a Linear(width, 10) head."""
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for _ in range(depth):
        linear = nn.Linear(width, width)
        if he:
            nn.init.kaiming_normal_(linear.weight, nonlinearity="relu")
            nn.init.zeros_(linear.bias)
        if std is not None:
            nn.init.normal_(linear.weight, 0.0, std / math.sqrt(linear.in_features))
            nn.init.zeros_(linear.bias)
        if bias is not None:
            nn.init.constant_(linear.bias, bias)
        layers += [linear, act()]
    layers.append(nn.Linear(width, 10))
    return nn.Sequential(*layers)


MODELS = {  # name -> build(seed): the seed draws the initial weights
    "sigmoid8": lambda seed=0: mlp(8, nn.Sigmoid, seed=seed),
    "he_relu20": lambda seed=0: mlp(20, nn.ReLU, he=True, seed=seed),
    "dead_relu": lambda seed=0: mlp(4, nn.ReLU, bias=-10.0, seed=seed),
    "exploding30": lambda seed=0: mlp(30, nn.Tanh, std=4.0, seed=seed),
}
EXPECTED = {
    "sigmoid8": {"vanishing-gradient"},
    "he_relu20": set(),
    "dead_relu": {"dead-relu", "vanishing-gradient"},  # no gradient reaches the dead layers: vanishing too
    "exploding30": {"exploding-gradient", "saturated-activations"},
}
_CACHE: dict = {}


def probed(name: str, seed: int = 0, **options):
    key = (name, seed, tuple(sorted(options.items())))
    if key not in _CACHE:
        _CACHE[key] = audit(MODELS[name](seed), input_shape=(64, 64), probe=True, seed=seed,
                            probe_options=options or None)
    return _CACHE[key]


def verdicts(report) -> set[str]:
    return {f.rule for f in report.findings if f.rule in GRADIENT_RULES}


@pytest.mark.parametrize("name", list(MODELS))
def test_acceptance_verdicts_identical_across_seeds(name):
    """Seed s draws both the initial weights and the probe's batches."""
    found = [verdicts(probed(name, seed)) for seed in SEEDS]
    assert found == [EXPECTED[name]] * len(SEEDS)


def test_sigmoid_mlp_first_last_ratio_is_about_1e_8():
    probe = probed("sigmoid8").probe
    assert (probe.first_layer, probe.last_layer) == ("0", "16")
    assert 1e-9 < probe.first_last_ratio < 1e-6  # measured 4.8e-08 (seed 0)
    finding = next(f for f in probed("sigmoid8").findings if f.rule == "vanishing-gradient")
    assert finding.layer == "0" and "threshold < 0.001" in finding.message
    assert finding.data["ratio"] == pytest.approx(probe.first_last_ratio)


def test_static_sigmoid_finding_confirmed_with_measured_ratio():
    report = probed("sigmoid8")
    static = next(f for f in report.findings if f.rule == "sigmoid-vanishing-gradient")
    probe = report.probe
    expected = probe.layer(static.layer).grad_norm / probe.layer(probe.last_layer).grad_norm
    assert static.data["measured_ratio"] == pytest.approx(expected)
    assert str(static.severity) == "error" and "confirmed" in static.message


def test_per_layer_gradient_norms_match_pytorch():
    """With given inputs, each layer's grad norm is the 2-norm of its weight and bias gradients."""
    model = mlp(8, nn.Sigmoid)
    x = torch.randn(16, 64, generator=torch.Generator().manual_seed(3))
    report = audit(model, x, probe=True, probe_options={"batches": 1})
    model(x).pow(2).mean().backward()  # the documented default loss
    for index in (0, 8, 16):
        layer = model[index]
        oracle = torch.cat([layer.weight.grad.flatten(), layer.bias.grad.flatten()]).norm().item()
        weights = torch.cat([layer.weight.flatten(), layer.bias.flatten()]).norm().item()
        assert report.probe.layer(str(index)).grad_norm == pytest.approx(oracle, rel=1e-5)
        assert report.probe.layer(str(index)).ratio == pytest.approx(oracle / weights, rel=1e-5)


def test_activation_mean_and_std_match_pytorch():
    model = mlp(3, nn.Sigmoid)
    x = torch.randn(32, 64, generator=torch.Generator().manual_seed(5))
    report = audit(model, x, probe=True)
    with torch.no_grad():
        h = x
        for index, module in enumerate(model):
            h = module(h)
            layer = report.probe.layer(str(index))
            assert layer.act_mean == pytest.approx(h.mean().item(), rel=1e-4, abs=1e-6)
            assert layer.act_std == pytest.approx(h.std(unbiased=False).item(), rel=1e-4)


def test_total_grad_norm_equals_clip_grad_norm_for_a_given_loss():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 5))
    x = torch.randn(24, 20)
    y = torch.randint(0, 5, (24,))
    loss_fn = nn.CrossEntropyLoss()
    report = audit(model, x, probe=True, loss_fn=loss_fn, targets=y)
    loss_fn(model(x), y).backward()
    clipped = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=float("inf"))
    assert report.probe.total_grad_norm == pytest.approx(clipped.item(), rel=1e-6)
    assert report.probe.total_grad_norms == pytest.approx([clipped.item()] * 2, rel=1e-6)


def test_dead_relu_fraction_matches_relu_outputs():
    report = probed("dead_relu")
    model = MODELS["dead_relu"]()
    x = torch.randn(128, 64)
    h = x
    for index, module in enumerate(model):
        h = module(h)
        if isinstance(module, nn.ReLU):
            oracle = 1.0 - (h > 0).any(0).float().mean().item()  # 1.0: biases of -10 swamp N(0, 1/3) inputs
            assert report.probe.layer(str(index)).dead_fraction == pytest.approx(oracle)
    dead = [f for f in report.findings if f.rule == "dead-relu"]
    # One pattern (100% dead) in four ReLUs: one finding with every occurrence (issue 12 grouping).
    assert [o["layer"] for f in dead for o in f.data.get("occurrences") or [vars(f)]] == ["1", "3", "5", "7"]
    assert all(str(f.severity) == "error" and "100%" in f.message for f in dead)


def test_he_relu_mlp_has_live_units_and_balanced_gradients():
    probe = probed("he_relu20").probe
    assert max(l.dead_fraction for l in probe.layers if l.dead_fraction is not None) < 0.5
    assert 1e-3 < probe.first_last_ratio < 70


def test_exploding_gradient_ratio_above_70():
    probe = probed("exploding30").probe
    assert probe.first_last_ratio > 70  # measured ~3e4: tanh chaos, sigma_w^2 E[tanh'^2] ≈ 2.3 per layer
    finding = next(f for f in probed("exploding30").findings if f.rule == "exploding-gradient")
    assert str(finding.severity) == "error" and "threshold > 70" in finding.message


def test_relu_net_with_std_4_explodes_without_overflowing():
    """ReLU with std 4/sqrt(fan_in) grows activations ×√8 per layer: norms near 1e27, read in float64."""
    report = audit(mlp(30, nn.ReLU, std=4.0), input_shape=(64, 64), probe=True)
    assert "exploding-gradient" in verdicts(report) and "nonfinite-values" not in verdicts(report)
    assert 1e20 < report.probe.total_grad_norm < 1e35


def test_saturated_tanh_fraction_matches_outputs():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 4))
    with torch.no_grad():
        model[0].weight.mul_(20)
    x = torch.randn(64, 32)
    report = audit(model, x, probe=True)
    oracle = (model[1](model[0](x)).abs() > 0.99).float().mean().item()
    assert report.probe.layer("1").saturation == pytest.approx(oracle)
    assert "saturated-activations" in verdicts(report)


class _Log(nn.Module):
    def forward(self, x):
        return torch.log(x)


def test_first_nonfinite_layer_is_named():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 8), _Log(), nn.Linear(8, 2))  # log of negative pre-activations: NaN
    report = audit(model, input_shape=(16, 8), probe=True)
    assert report.probe.first_nonfinite == "1.log"  # the functional op inside _Log (module "1"), as the IR names it
    assert [l.nonfinite for l in report.probe.layers] == [False, True, True]
    finding = next(f for f in report.findings if f.rule == "nonfinite-values")
    assert finding.layer == "1.log" and str(finding.severity) == "error"


class _FunctionalReLU(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 32)
        self.head = nn.Linear(32, 2)

    def forward(self, x):
        return self.head(torch.relu(self.fc(x) - 10.0) + torch.sigmoid(20 * self.fc(x)))


def test_functional_activations_are_measured():
    """torch.relu / torch.sigmoid are fx nodes, not modules: the probe runs the graph to see them."""
    torch.manual_seed(0)
    model = _FunctionalReLU()
    x = torch.randn(32, 16)
    report = audit(model, x, probe=True)
    names = {l.name for l in report.layers}
    relu = next(l for l in report.probe.layers if l.name in names and l.dead_fraction is not None)
    oracle_dead = 1.0 - (torch.relu(model.fc(x) - 10.0) > 0).any(0).float().mean().item()
    assert relu.dead_fraction == pytest.approx(oracle_dead)
    sig = next(l for l in report.probe.layers if l.saturation is not None)
    y = torch.sigmoid(20 * model.fc(x))
    assert sig.saturation == pytest.approx(((y < 0.01) | (y > 0.99)).float().mean().item())
    assert {"dead-relu", "saturated-activations"} <= verdicts(report)


@pytest.mark.parametrize("build,expected", [
    (lambda: nn.Sequential(nn.Dropout(0.5), nn.Linear(64, 64), nn.BatchNorm1d(64)), 0.5),
    (lambda: nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Dropout(0.5), nn.Linear(64, 64), nn.BatchNorm1d(64)),
     0.405),
    (lambda: nn.Sequential(nn.Linear(64, 64), nn.BatchNorm1d(64), nn.Dropout(0.5), nn.Linear(64, 10)), 1.0),
])
def test_batchnorm_eval_variance_ratio(build, expected):
    """Zero-mean inputs: 1 - p; after a ReLU: Var[r] / (E[r^2]/(1-p) - E[r]^2) = 0.405; BN before dropout: 1."""
    for seed in SEEDS:
        torch.manual_seed(seed)
        model = build()
        report = audit(model, input_shape=(256, 64), probe=True, seed=seed)
        bn = next(l for l in report.probe.layers if l.bn_variance_ratio is not None)
        assert bn.bn_variance_ratio == pytest.approx(expected, abs=0.06)
        static = [f for f in report.findings if f.rule == "dropout-before-batchnorm"]
        if expected < 0.9:
            assert static and str(static[0].severity) == "error"
            assert static[0].data["variance_ratio"] == pytest.approx(bn.bn_variance_ratio)
        else:
            assert not static


def _snapshot(model: nn.Module) -> dict:
    return {
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "grads": {n: None if p.grad is None else p.grad.clone() for n, p in model.named_parameters()},
        "requires_grad": {n: p.requires_grad for n, p in model.named_parameters()},
        "training": [m.training for m in model.modules()],
        "momentum": [getattr(m, "momentum", None) for m in model.modules()],
        "rng": torch.get_rng_state(),
    }


def _assert_same(model: nn.Module, before: dict) -> None:
    after = _snapshot(model)
    assert after["state"].keys() == before["state"].keys()
    for key, value in before["state"].items():
        assert torch.equal(after["state"][key], value), key
    for name, grad in before["grads"].items():
        now = after["grads"][name]
        assert (grad is None and now is None) or torch.equal(grad, now), name
    for key in ("requires_grad", "training", "momentum"):
        assert after[key] == before[key]
    assert torch.equal(after["rng"], before["rng"])


def _restorable() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 32), nn.BatchNorm1d(32),
                          nn.Linear(32, 4))
    model.eval()
    model[0].bias.requires_grad_(False)
    model[5].weight.grad = torch.full_like(model[5].weight, 7.0)
    return model


def test_model_restored_after_probe():
    model = _restorable()
    before = _snapshot(model)
    report = audit(model, input_shape=(32, 16), probe=True, seed=4)
    assert report.probe.layer("4").bn_variance_ratio is not None  # BN ran in train mode on copies
    _assert_same(model, before)


def test_model_restored_after_failing_probe():
    model = _restorable()
    before = _snapshot(model)

    def broken_loss(output):
        raise ValueError("loss exploded on purpose")

    with pytest.raises(AuditError, match="loss exploded on purpose"):
        audit(model, input_shape=(32, 16), probe=True, loss_fn=broken_loss)
    _assert_same(model, before)


def test_autocast_bf16_gives_the_same_verdicts_on_cpu():
    for name in ("sigmoid8", "exploding30", "he_relu20"):
        assert verdicts(probed(name, autocast="bf16")) == EXPECTED[name]
    assert probed("sigmoid8", autocast="bf16").probe.autocast == "bf16"


def test_timing_pass_reports_times_for_module_layers():
    report = audit(mlp(3, nn.ReLU, he=True), input_shape=(8, 64), probe=True, probe_options={"timing": True})
    times = report.probe.layer("2").times
    assert times["forward_ms"] >= 0 and times["backward_ms"] >= 0
    assert times["flops_per_s"] > 0  # counted FLOPs / measured forward time


class _ShrinksOnOOM(nn.Module):
    """Raises the real out-of-memory error for batches above 4, like a GPU that is too small."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        if x.shape[0] > 4:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.fc(x)


def test_out_of_memory_retries_with_half_the_batch():
    model = _ShrinksOnOOM()
    report = audit(model, input_shape=(4, 8), probe=True, probe_options={"batch_size": 16})
    assert report.probe.batch_size == 4
    assert any("retried with 8" in note for note in report.probe.notes)
    assert any("retried with 4" in note for note in report.probe.notes)


def test_out_of_memory_with_given_inputs_is_a_clear_error():
    model = _ShrinksOnOOM()
    graph = trace_and_analyse(model, None, AuditOptions(input_shape=(4, 8)))  # counting fits; the probe's batch of 8 does not
    x = torch.randn(8, 8)
    before = _snapshot(model)
    with pytest.raises(AuditError, match="out of CUDA memory with the given inputs"):
        probe_model(model, graph, inputs=x, device="cpu")
    _assert_same(model, before)


class _Tagger(nn.Module):
    def __init__(self, recurrent: nn.Module, hidden: int):
        super().__init__()
        self.rnn = recurrent
        self.head = nn.Linear(hidden, 3)

    def forward(self, x):
        return self.head(self.rnn(x)[0])


def test_lstm_gradient_norm_by_sequence_length():
    torch.manual_seed(0)
    report = audit(_Tagger(nn.LSTM(8, 16, batch_first=True), 16), input_shape=(2, 12, 8), probe=True)
    seq = report.probe.sequence
    assert seq["axis"] == 1 and seq["lengths"] == [10, 100, 500]
    assert all(0 < n < 10 for n in seq["grad_norms"])
    assert seq["growth"] == pytest.approx(seq["grad_norms"][-1] / seq["grad_norms"][0])
    assert seq["suggested_max_norm"] == float(f"{sum(seq['grad_norms']) / 3:.1g}")
    finding = next(f for f in report.findings if f.rule == "unclipped-rnn")
    # No growth measured at initialization (x{growth} < x10): a risk, not a measured explosion, and no
    # max_norm taken from a measurement that showed nothing to clip (issue 12).
    assert seq["growth"] < 10 and "T=500" in finding.message and "no growth measured" in finding.message
    assert "explod" not in finding.message and str(finding.severity) == "warning"
    assert f"max_norm={seq['suggested_max_norm']:g}" not in finding.fix and finding.data["suggested_max_norm"] is None


def test_exploding_rnn_is_regraded_to_error():
    """A ReLU RNN with W_hh = 1.02·I: the gradient grows like 1.02^T through time."""
    torch.manual_seed(0)
    rnn = nn.RNN(8, 16, nonlinearity="relu")
    with torch.no_grad():
        rnn.weight_hh_l0.copy_(1.02 * torch.eye(16))
    report = audit(_Tagger(rnn, 16), input_shape=(12, 2, 8), probe=True)
    assert report.probe.sequence["axis"] == 0
    assert report.probe.sequence["growth"] > 10
    finding = next(f for f in report.findings if f.rule == "unclipped-rnn")
    assert str(finding.severity) == "error" and finding.data["growth"] > 10
    max_norm = report.probe.sequence["suggested_max_norm"]
    assert f"max_norm={max_norm:g}" in finding.fix and "exploding at initialization" in finding.message


NET = """
import torch.nn as nn

model = nn.Sequential(*[m for _ in range(6) for m in (nn.Linear(32, 32), nn.Sigmoid())], nn.Linear(32, 4))
input_shape = (16, 32)
"""


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_probe_table_and_json(tmp_path, capsys):
    path = tmp_path / "net.py"
    path.write_text(textwrap.dedent(NET))
    code, out, err = _run(capsys, str(path), "--probe", "--fail-on", "never")
    assert code == 0 and err == ""
    header = next(line for line in out.splitlines() if line.startswith("layer"))
    assert all(col in header for col in ("grad", "grad/w", "dead", "sat"))
    assert "gradient norm by depth: 0 " in out and "vanishing-gradient" in out
    code, out, _ = _run(capsys, str(path), "--probe", "--format", "json", "--seed", "3", "--probe-batches", "3",
                        "--loss", "ce", "--fail-on", "never")
    data = json.loads(out)
    probe = data["probe"]
    assert (probe["device"], probe["seed"], probe["batches"], probe["loss"]) == ("cpu", 3, 3, "ce")
    layer_names = {layer["name"] for layer in data["layers"]}
    assert {layer["name"] for layer in probe["layers"]} <= layer_names
    first = next(layer for layer in probe["layers"] if layer["name"] == "0")
    assert {"grad_norm", "weight_norm", "ratio", "dead_fraction", "saturation", "act_mean", "act_std", "times"} <= first.keys()
    assert any(f["rule"] == "vanishing-gradient" for f in data["findings"])
    code, out, _ = _run(capsys, str(path), "--probe", "--format", "json", "--ignore", "vanishing-gradient")
    assert code == 1  # the confirmed sigmoid-vanishing-gradient is an error now
    assert not any(f["rule"] == "vanishing-gradient" for f in json.loads(out)["findings"])


def test_cli_rejects_zero_probe_batches(tmp_path, capsys):
    path = tmp_path / "net.py"
    path.write_text(textwrap.dedent(NET))
    with pytest.raises(SystemExit) as exit_info:
        main([str(path), "--probe", "--probe-batches", "0"])
    assert exit_info.value.code == 2
    assert "positive integer" in capsys.readouterr().err


def test_probe_on_a_meta_model_is_a_clear_error():
    with torch.device("meta"):
        model = nn.Linear(4, 4)
    with pytest.raises(AuditError, match="meta device"):
        audit(model, input_shape=(2, 4), probe=True)


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("autocast", [None, "bf16"])
def test_cuda_verdicts_match_cpu(autocast):
    for name in MODELS:
        report = audit(MODELS[name](), input_shape=(64, 64), probe=True, device="cuda",
                       probe_options={"autocast": autocast} if autocast else None)
        assert report.probe.device.startswith("cuda")
        assert verdicts(report) == EXPECTED[name], name


@pytest.mark.gpu
@needs_cuda
def test_cuda_timing_and_achieved_flops():
    report = audit(mlp(4, nn.ReLU, width=1024, he=True), input_shape=(256, 1024), probe=True, device="cuda")
    times = report.probe.layer("0").times
    assert times is not None and times["forward_ms"] > 0 and times["flops_per_s"] > 0


def test_models_with_flatten_modules_are_probed():
    """Flatten owns no statistics; its hook must not look up a call it never recorded."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(144, 5))
    report = audit(model, input_shape=(2, 3, 8, 8), probe=True)
    grads = {layer["name"]: layer["grad_norm"] for layer in report.probe.to_dict()["layers"]}
    assert set(grads) >= {"0", "3"} and all(grads[name] > 0 for name in ("0", "3"))


def test_probe_rules_are_registered_with_their_thresholds_as_options():
    from model_audit.rules.registry import default_registry

    rules = default_registry().rules
    assert GRADIENT_RULES <= set(rules) and all(rules[r].measured for r in GRADIENT_RULES)
    for rule_id in GRADIENT_RULES:  # the thresholds live in the rules' options, nowhere else
        assert rules[rule_id].options or rule_id == "nonfinite-values"


def test_rule_options_set_probe_thresholds():
    """He-ReLU MLP: 27-41 % never-active units; below the default 70 %, above a 10 % option."""
    model = MODELS["he_relu20"](0)
    default = audit(model, input_shape=(64, 64), probe=True)
    strict = audit(model, input_shape=(64, 64), probe=True, options={"dead-relu": {"dead_fraction": 0.1}})
    worst = max(layer["dead_fraction"] or 0 for layer in strict.probe.to_dict()["layers"])
    assert 0.1 <= worst < 0.7
    assert "dead-relu" not in verdicts(default) and "dead-relu" in verdicts(strict)
