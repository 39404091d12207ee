"""softmax-output: the model returns probabilities, module or functional, through reshapes, both tracers."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from model_audit import audit

TRACERS = ["fx", "hooks"]


class Head(nn.Module):
    def __init__(self, out: str):
        super().__init__()
        self.fc = nn.Linear(16, 10)
        self.softmax = nn.Softmax(dim=1)
        self.kind = out

    def forward(self, x):
        z = self.fc(x)
        if self.kind == "module":
            return self.softmax(z)
        if self.kind == "functional":
            return F.softmax(z, dim=-1)
        if self.kind == "method":
            return z.softmax(dim=1).view(-1, 10)
        if self.kind == "log_softmax":
            return F.log_softmax(z, dim=1)
        if self.kind == "logits":
            return z
        if self.kind == "pair":
            return z, torch.softmax(z, dim=1)
        if self.kind == "internal":  # attention-like use inside the model: not an output
            return z * torch.softmax(z, dim=1)
        raise ValueError(self.kind)


def findings(kind, tracer="fx", mode="eval"):
    return audit(Head(kind), input_shape=(4, 16), tracer=tracer, mode=mode, select=["softmax-output"]).findings


@pytest.mark.parametrize("tracer", TRACERS)
@pytest.mark.parametrize("kind", ["module", "functional", "method"])
def test_fires(kind, tracer):
    [finding] = findings(kind, tracer)
    assert str(finding.severity) == "warning" and "logits" in finding.message
    assert finding.data["mode"] == "eval"
    if kind == "module":
        assert finding.layer == "softmax" and finding.data["dim"] == 1


@pytest.mark.parametrize("tracer", TRACERS)
@pytest.mark.parametrize("kind", ["log_softmax", "logits", "internal", "pair"])  # pair: logits come first
def test_controls(kind, tracer):
    assert findings(kind, tracer) == []


class InferenceOnlySoftmax(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        z = self.fc(x)
        return z if self.training else z.softmax(dim=1)


def test_mode_matters():
    model = InferenceOnlySoftmax()
    assert len(audit(model, input_shape=(4, 16), select=["softmax-output"]).findings) == 1
    assert audit(model, input_shape=(4, 16), mode="train", select=["softmax-output"]).findings == []


def test_why_the_bound_in_the_docs_holds():
    """The documented floor: CrossEntropy on softmax outputs over 10 classes cannot go below -log(e/(e+9))."""
    best = torch.tensor([[1.0] + [0.0] * 9])  # the most confident probability vector
    loss = F.cross_entropy(best, torch.tensor([0]))
    assert loss.item() == pytest.approx(-math.log(math.e / (math.e + 9)), rel=1e-6)
    assert loss.item() == pytest.approx(1.46, abs=0.01)
