"""unclipped-rnn: recurrent layers and no evidence of gradient clipping (files, train_step, hooks)."""
from __future__ import annotations

import json
import textwrap

import pytest
import torch
import torch.nn as nn

from model_audit import AuditError, audit
from model_audit.cli.main import main

FIX = "torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)"


class Tagger(nn.Module):
    def __init__(self, cell: type = nn.LSTM):
        super().__init__()
        self.rnn = cell(16, 32, batch_first=True)
        self.head = nn.Linear(32, 5)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out)


class CellLoop(nn.Module):
    def __init__(self):
        super().__init__()
        self.cell = nn.GRUCell(16, 32)

    def forward(self, x):
        h = torch.zeros(x.shape[1], 32, device=x.device)
        for t in range(x.shape[0]):
            h = self.cell(x[t], h)
        return h


def findings(model, shape=(2, 7, 16), **kwargs):
    report = audit(model, input_shape=shape, select=["unclipped-rnn"], **kwargs)
    return report.findings


@pytest.mark.parametrize("tracer", ["fx", "hooks"])
@pytest.mark.parametrize("cell", [nn.LSTM, nn.GRU, nn.RNN])
def test_fires_without_evidence(cell, tracer):
    [finding] = findings(Tagger(cell), tracer=tracer)
    assert finding.layer == "rnn" and str(finding.severity) == "warning"
    assert FIX in finding.fix and FIX in finding.message
    assert finding.data["recurrent_layers"] == ["rnn"] and finding.data["searched"] == ["gradient hooks"]
    assert cell.__name__ in finding.message


def test_cells_unrolled_in_python_count_once():
    [finding] = findings(CellLoop(), shape=(5, 2, 16), tracer="hooks")
    assert finding.layer == "cell" and finding.data["recurrent_layers"] == ["cell"]
    assert finding.data["recurrent_calls"] == 5  # one module stepped 5 times (the sequence length)
    assert "1 recurrent module(s) 'cell' (GRUCell, called 5 times)" in finding.message


def test_no_recurrent_layer_no_finding():
    assert findings(nn.Sequential(nn.Linear(16, 32), nn.Tanh())) == []


def write(tmp_path, name, body):
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


CLIPS = {
    "norm": "torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)",
    "value": "from torch.nn.utils import clip_grad_value_\nclip_grad_value_(model.parameters(), 0.5)",
    "accelerate": "accelerator.clip_grad_norm_(model.parameters(), 1.0)",
    "lightning": "trainer = pl.Trainer(max_epochs=3, gradient_clip_val=0.5)",
    "hook": "for p in model.parameters():\n    p.register_hook(lambda g: g.clamp(-1, 1))",
    "named hook": "def bound(g):\n    return torch.clamp(g, -5, 5)\nfor p in model.parameters():\n    p.register_hook(bound)",
}
NOT_CLIPS = {
    "comment": "# TODO: torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)",
    "string": "print('remember clip_grad_norm_')",
    "lightning off": "trainer = pl.Trainer(gradient_clip_val=None)",
    "hook that scales": "for p in model.parameters():\n    p.register_hook(lambda g: g * 0.5)",
}


@pytest.mark.parametrize("kind", sorted(CLIPS))
def test_clipping_in_train_script_silences(tmp_path, kind):
    script = write(tmp_path, "train.py", "loss.backward()\n" + CLIPS[kind] + "\noptimizer.step()\n")
    assert findings(Tagger(), train_script=script) == []


@pytest.mark.parametrize("kind", sorted(NOT_CLIPS))
def test_non_clipping_code_is_not_evidence(tmp_path, kind):
    script = write(tmp_path, "train.py", "loss.backward()\n" + NOT_CLIPS[kind] + "\noptimizer.step()\n")
    [finding] = findings(Tagger(), train_script=script)
    assert finding.data["searched"] == ["train.py", "gradient hooks"]


def test_clipping_in_the_model_file_silences(tmp_path):
    model_file = write(tmp_path, "model.py", "def train(model):\n    " + CLIPS["norm"] + "\n")
    assert findings(Tagger(), source_path=model_file) == []


def test_train_step_callable():
    def clipped(model, batch, optimizer):
        loss = model(batch).sum()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        optimizer.step()

    def unclipped(model, batch, optimizer):
        model(batch).sum().backward()
        optimizer.step()

    assert findings(Tagger(), train_step=clipped) == []
    [finding] = findings(Tagger(), train_step=unclipped)
    assert "train_step" in finding.data["searched"]
    # No source available (built by exec): the bytecode's names are read instead.
    namespace: dict = {}
    exec("import torch\ndef step(m):\n    torch.nn.utils.clip_grad_value_(m.parameters(), 1.0)\n", namespace)
    assert findings(Tagger(), train_step=namespace["step"]) == []


def test_clamping_hooks_on_parameters_silence_and_are_left_in_place():
    model = Tagger()
    handles = [p.register_hook(lambda g: g.clamp(-1.0, 1.0)) for p in model.rnn.parameters()]
    assert findings(model) == []
    for handle in handles:
        handle.remove()
    scaling = [p.register_hook(lambda g: g * 2) for p in model.rnn.parameters()]
    assert len(findings(model)) == 1
    assert all(len(p._backward_hooks) == 1 for p in model.rnn.parameters())  # the audit did not touch them
    for handle in scaling:
        handle.remove()


def test_clamping_hook_really_bounds_the_gradient():
    """The evidence means what it says: with the hook, PyTorch's gradients stay within the clamp."""
    model = Tagger()
    for p in model.parameters():
        p.register_hook(lambda g: g.clamp(-0.5, 0.5))
    (model(torch.randn(2, 7, 16)) * 1e6).sum().backward()
    assert max(p.grad.abs().max().item() for p in model.parameters()) == 0.5
    assert findings(model) == []


MODEL_FILE = """
import torch.nn as nn

class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(16, 32, num_layers=2)
        self.head = nn.Linear(32, 5)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out)

model = Tagger()
input_shape = (7, 2, 16)
"""


def test_cli_train_script(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "tagger.py", MODEL_FILE)
    write(tmp_path, "train.py", "loss.backward()\n" + CLIPS["norm"] + "\n")
    write(tmp_path, "broken.py", "def train(:\n")
    code = main(["tagger.py", "--select", "unclipped-rnn", "--format", "json", "--fail-on", "warning"])
    [finding] = json.loads(capsys.readouterr().out)["findings"]
    assert code == 1 and finding["layer"] == "lstm" and finding["data"]["searched"] == ["tagger.py", "gradient hooks"]
    assert FIX in finding["fix"]
    code = main(["tagger.py", "--select", "unclipped-rnn", "--train-script", "train.py", "--fail-on", "warning"])
    assert code == 0 and "findings: none" in capsys.readouterr().out
    assert main(["tagger.py", "--train-script", "broken.py"]) == 2
    assert "syntax error in train script broken.py, line 1" in capsys.readouterr().err


def test_api_missing_train_script_is_an_audit_error(tmp_path):
    with pytest.raises(AuditError, match="cannot read train script"):
        findings(Tagger(), train_script=tmp_path / "nope.py")
