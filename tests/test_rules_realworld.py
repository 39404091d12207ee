"""Issue 12 beyond the corpus: rules that run without a trace, the probe's variance band, clipping
evidence edge cases, and findings located at the user's line in SARIF and GitHub annotations."""
from __future__ import annotations

import json
import textwrap

import pytest
import torch
import torch.nn as nn

from model_audit import audit
from model_audit.cli.main import main
from model_audit.errors import InputSpecError, ModelExecutionError
from model_audit.rules.clipping import evidence_in_file


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(8, 16)
        self.fc = nn.Linear(16, 2)

    def forward(self, x):
        return self.fc(self.lstm(x)[0])


def test_trace_free_rules_run_when_the_model_rejects_its_input():
    """Before: one trace failure silenced every rule; unclipped-rnn needs only the module tree."""
    with pytest.raises(ModelExecutionError) as caught:
        audit(Tagger(), input_shape=(3, 2, 5))  # LSTM(8, ...) fed 5 features
    error = caught.value
    assert [(f.rule, f.layer) for f in error.findings] == [("unclipped-rnn", "lstm")]
    assert "rules run on the module tree alone found: warning unclipped-rnn at 'lstm'" in str(error)
    [note] = error.notes
    assert note.startswith("rules that need a trace could not run (tracing failed: layer 'lstm'")
    assert "missing-padding" in note and "unclipped-rnn" not in note.split("):")[-1]


def test_trace_free_rules_run_without_example_inputs_in_the_cli(tmp_path, monkeypatch, capsys):
    (tmp_path / "m.py").write_text(textwrap.dedent("""
        import torch.nn as nn
        model = nn.Sequential(nn.Linear(4, 4))
        class T(nn.Module):
            def __init__(self):
                super().__init__()
                self.gru = nn.GRU(4, 4)
        model = T()
    """))
    monkeypatch.chdir(tmp_path)
    assert main(["m.py"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no example input" in err[0] and "warning unclipped-rnn at 'gru'" in err[0]
    with pytest.raises(InputSpecError) as caught:
        audit(Tagger(), select=["missing-padding"])  # unclipped-rnn not selected: nothing to add
    assert caught.value.findings == [] and "unclipped-rnn" not in str(caught.value)


def test_measured_variance_ratio_near_one_downgrades_dropout_before_batchnorm():
    """p = 0.02 reaches a BatchNorm: statically a finding (info, p < 0.1); the probe measures
    Var(eval)/running_var ≈ 1 − p = 0.98 (zero-mean input, docs/probes.md), inside 0.9..1.1: info with the figure.
    With p = 0.5 the measured ratio ≈ 0.5 is outside the band: confirmed."""
    torch.manual_seed(0)
    small = nn.Sequential(nn.Dropout(0.02), nn.Linear(64, 64), nn.BatchNorm1d(64))
    [finding] = [f for f in audit(small, input_shape=(256, 64), probe=True).findings
                 if f.rule == "dropout-before-batchnorm"]
    assert str(finding.severity) == "info" and 0.9 <= finding.data["variance_ratio"] <= 1.1
    assert "no variance shift measured" in finding.message and f"{finding.data['variance_ratio']:.3g}" in finding.message
    torch.manual_seed(0)
    large = nn.Sequential(nn.Dropout(0.5), nn.Linear(64, 64), nn.BatchNorm1d(64))
    report = audit(large, input_shape=(256, 64), probe=True,
                   options={"dropout-before-batchnorm": {"variance_band": [0.4, 1.1]}})
    [finding] = [f for f in report.findings if f.rule == "dropout-before-batchnorm"]
    assert finding.data["variance_ratio"] == pytest.approx(0.5, abs=0.06)
    assert "no variance shift measured" in finding.message  # the band is the rule's option


def test_min_p_is_an_option():
    model = nn.Sequential(nn.Dropout(0.005), nn.Linear(8, 8), nn.BatchNorm1d(8))
    assert not [f for f in audit(model, input_shape=(4, 8)).findings if f.rule == "dropout-before-batchnorm"]
    report = audit(model, input_shape=(4, 8), options={"dropout-before-batchnorm": {"min_p": 0.001}})
    assert [f.layer for f in report.findings if f.rule == "dropout-before-batchnorm"] == ["0"]


@pytest.mark.parametrize("script,clips", [
    ("from utils import clip_gradient\n", False),  # imported, never called: no evidence
    ("from utils import clip_gradient\nclip_gradient(opt, 1.0)\n", True),
    ("import utils as U\nU.clip_gradient(opt, 1.0)\n", True),
    ("from utils import loop\nloop()\n", True),  # loop -> clip_gradient, recursion-safe
    ("from utils import noop\nnoop()\n", False),
    ("import torch\nclip = torch.nn.utils.clip_grad_value_\nclip(ps, 1.0)\n", True),
    ("from transformers import Seq2SeqTrainer\nSeq2SeqTrainer(model=m)\n", True),
    ("from transformers import Trainer, TrainingArguments\n"
     "Trainer(model=m, args=TrainingArguments('o', max_grad_norm=None))\n", False),
    ("from pytorch_lightning import Trainer\nTrainer(max_epochs=3)\n", False),  # Lightning does not clip by default
    ("from transformers import Trainer\nclass MyTrainer(Trainer):\n    pass\nMyTrainer(model=m)\n", True),
    ("for p in ps:\n    p.grad.data.mul_(0.5)\n", False),  # scaling without a norm is not clipping
])
def test_clipping_flow(tmp_path, script, clips):
    (tmp_path / "utils.py").write_text(textwrap.dedent("""
        def clip_gradient(optimizer, grad_clip):
            for group in optimizer.param_groups:
                for p in group["params"]:
                    p.grad.data.clamp_(-grad_clip, grad_clip)

        def loop():
            again()
            clip_gradient(None, 1.0)

        def again():
            loop()

        def noop():
            return again
    """))
    (tmp_path / "train.py").write_text(script)
    assert bool(evidence_in_file(tmp_path / "train.py", "train script")) is clips


def test_sarif_and_github_point_at_the_users_line_with_repo_relative_paths(tmp_path, monkeypatch, capsys):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "net.py").write_text(textwrap.dedent("""
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv1 = nn.Conv2d(3, 8, 3)
                self.conv2 = nn.Conv2d(8, 8, 3)

            def forward(self, x):
                return self.conv2(self.conv1(x))

        model = Net()
        input_shape = (1, 3, 8, 8)
    """))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_WORKSPACE", raising=False)
    assert main(["models/net.py", "--format", "sarif", "--select", "missing-padding", "--fail-on", "never"]) == 0
    results = json.loads(capsys.readouterr().out)["runs"][0]["results"]
    located = sorted((r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
                      r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in results)
    assert located == [("models/net.py", 7), ("models/net.py", 8)]  # the self.convN = nn.Conv2d(...) lines
    assert all(r["locations"][0]["physicalLocation"]["artifactLocation"]["uriBaseId"] == "SRCROOT" for r in results)
    assert main(["models/net.py", "--format", "github", "--select", "missing-padding", "--max-params", "10",
                 "--fail-on", "never"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("::notice file=models/net.py,line=7,") for line in lines)
    budget = [line for line in lines if "model-audit budget" in line]
    assert budget and all("file=models/net.py,line=4," in line for line in budget)  # class Net


def test_no_finding_points_into_torch(tmp_path):
    """Torch layers in a Sequential built in a function: no user line, so no location rather than torch's."""
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(8, 8, 3), nn.Dropout(0.3), nn.Conv2d(8, 8, 3),
                          nn.BatchNorm2d(8))
    report = audit(model, input_shape=(1, 3, 16, 16))
    assert report.findings and all(f.source is None or "site-packages" not in f.source for f in report.findings)
    assert all(f.source is None or "/torch/" not in f.source for f in report.findings)


@pytest.mark.slow
def test_repeated_blocks_collapse_into_one_finding_with_every_occurrence():
    """DenseNet-121 with drop_rate=0.2: every dense layer's dropout feeds the next layers' BatchNorm
    through the concatenation — one pattern, one finding, one occurrence per _DenseLayer (brute force)."""
    from torchvision.models import densenet121
    from torchvision.models.densenet import _DenseLayer

    model = densenet121(drop_rate=0.2)
    dense_layers = sum(isinstance(m, _DenseLayer) for m in model.modules())
    report = audit(model, input_shape=(1, 3, 64, 64), select=["dropout-before-batchnorm"])
    # Two patterns: a dense layer's dropout reaches the next dense layer's BatchNorm (54), and the last one
    # of each of the four blocks reaches the transition's (or the final) BatchNorm (4).
    assert len(report.findings) == 2
    occurrences = [o for finding in report.findings for o in finding.data["occurrences"]]
    assert sorted(len(f.data["occurrences"]) for f in report.findings) == [4, 54]
    assert len(occurrences) == dense_layers == 58
    assert len({o["layer"] for o in occurrences}) == dense_layers
    ungrouped = audit(model, input_shape=(1, 3, 64, 64), select=["dropout-before-batchnorm"], group=False).findings
    assert sorted(o["layer"] for o in occurrences) == sorted(f.layer for f in ungrouped)


@pytest.mark.parametrize("conv,shape", [
    (nn.Conv1d(4, 6, 5), (1, 4, 40)),
    (nn.Conv1d(4, 6, 3, dilation=2), (1, 4, 40)),
    (nn.Conv2d(3, 6, (3, 5)), (1, 3, 20, 20)),
    (nn.Conv3d(2, 4, 5), (1, 2, 12, 12, 12)),
    (nn.Conv2d(3, 6, 4), (1, 3, 20, 20)),  # even: padding='same'
])
def test_padding_fix_is_the_layers_own_constructor_and_keeps_the_size(conv, shape):
    """Oracle: build the module the fix text names, run it, and compare the output size with the input's."""
    model = nn.Sequential(conv, nn.ReLU(), type(conv)(conv.out_channels, 4, 1))
    [finding] = audit(model, input_shape=shape, select=["missing-padding"], group=False).findings
    constructor = finding.fix.split(" (or")[0].split(": ")[0]
    assert constructor.startswith(f"nn.{type(conv).__name__}({conv.in_channels}, {conv.out_channels}, ")
    fixed = eval(constructor, {"nn": nn})
    assert fixed.kernel_size == conv.kernel_size and fixed.dilation == conv.dilation
    x = torch.randn(shape)
    assert fixed(x).shape[2:] == x.shape[2:]


def test_bias_fix_is_the_layers_own_constructor():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8))
    [finding] = audit(model, input_shape=(2, 3, 8, 8), select=["bias-before-batchnorm"]).findings
    fixed = eval(finding.fix.split(":")[0], {"nn": nn})
    assert fixed.bias is None and fixed.padding == (1, 1) and fixed.kernel_size == (3, 3)


@pytest.mark.parametrize("marker", ["git", "workspace"])
def test_annotations_are_relative_to_the_repository_root_not_the_working_directory(tmp_path, monkeypatch, capsys,
                                                                                   marker):
    """Run from a subdirectory of the checkout: GitHub resolves SARIF and annotation paths against the
    repository root, so the path must include the subdirectory."""
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "net.py").write_text(
        "import torch.nn as nn\nmodel = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(8, 8, 3))\ninput_shape = (1, 3, 8, 8)\n")
    monkeypatch.delenv("GITHUB_WORKSPACE", raising=False)
    if marker == "git":
        (tmp_path / ".git").mkdir()
    else:
        monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    monkeypatch.chdir(tmp_path / "models")
    assert main(["net.py", "--format", "sarif", "--select", "missing-padding", "--fail-on", "never"]) == 0
    run = json.loads(capsys.readouterr().out)["runs"][0]
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]}
    assert uris == {"models/net.py"}
    assert run["originalUriBaseIds"]["SRCROOT"]["uri"] == tmp_path.resolve().as_uri() + "/"
    assert main(["net.py", "--format", "github", "--select", "missing-padding", "--fail-on", "never"]) == 0
    assert any(line.startswith("::notice file=models/net.py,line=2,") for line in capsys.readouterr().out.splitlines())
