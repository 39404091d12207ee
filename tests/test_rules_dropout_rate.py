"""high-dropout: modules and functional dropout, both tracers and modes, the threshold option."""
from __future__ import annotations

import inspect

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from model_audit import audit


class FunctionalDropout(nn.Module):
    def __init__(self, p: float):
        super().__init__()
        self.fc = nn.Linear(16, 16)
        self.p = p

    def forward(self, x):
        return F.dropout(self.fc(x), p=self.p, training=self.training)


def findings(model, shape=(4, 16), **kwargs):
    return audit(model, input_shape=shape, select=["high-dropout"], **kwargs).findings


@pytest.mark.parametrize("cls", [nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.AlphaDropout])
def test_modules_fire(cls):
    shape = (4, 8, 6) if cls is nn.Dropout1d else (4, 8, 6, 6)
    [finding] = findings(nn.Sequential(nn.Identity(), cls(0.8)), shape=shape)
    assert finding.layer == "1" and finding.data == {"p": 0.8, "threshold": 0.5}
    assert "p/(1-p) = 4" in finding.message


@pytest.mark.parametrize("tracer, mode", [("fx", "eval"), ("fx", "train"), ("hooks", "train")])
def test_functional_fires(tracer, mode):
    [finding] = findings(FunctionalDropout(0.7), tracer=tracer, mode=mode)
    assert finding.data["p"] == pytest.approx(0.7)
    # A functional call's source is the line in the user's forward that calls it (the hooks tracer sees
    # it as ATen bernoulli_, mapped back to F.dropout).
    lines, first = inspect.getsourcelines(FunctionalDropout.forward)
    call = first + next(i for i, line in enumerate(lines) if "F.dropout(" in line)
    assert finding.source == f"{inspect.getsourcefile(FunctionalDropout)}:{call}"


def test_the_variance_in_the_message_is_what_dropout_does():
    """Oracle: PyTorch's dropout on a constant input has variance p/(1-p) (times the squared value)."""
    torch.manual_seed(0)
    p = 0.8
    sample = F.dropout(torch.ones(200_000), p=p, training=True)
    assert sample.var().item() == pytest.approx(p / (1 - p), rel=0.03)
    [finding] = findings(nn.Sequential(nn.Identity(), nn.Dropout(p)))
    assert f"= {p / (1 - p):.2g} times" in finding.message


@pytest.mark.parametrize("p", [0.0, 0.1, 0.5])
def test_controls(p):
    assert findings(nn.Sequential(nn.Linear(16, 16), nn.Dropout(p))) == []
    assert findings(FunctionalDropout(p), mode="train") == []


def test_threshold_option():
    model = nn.Sequential(nn.Linear(16, 16), nn.Dropout(0.4))
    assert findings(model) == []
    [finding] = findings(model, options={"high-dropout": {"threshold": 0.3}})
    assert finding.data == {"p": 0.4, "threshold": 0.3}


class Internal(nn.Module):
    def __init__(self, attn_p: float, rnn_p: float):
        super().__init__()
        self.attn = nn.MultiheadAttention(16, 2, dropout=attn_p, batch_first=True)
        self.lstm = nn.LSTM(16, 16, num_layers=2, dropout=rnn_p, batch_first=True)

    def forward(self, x):
        y, _ = self.attn(x, x, x)
        return self.lstm(y)[0]


def test_dropout_inside_attention_and_stacked_rnn():
    found = findings(Internal(0.6, 0.9), shape=(2, 5, 16), tracer="hooks")
    assert {(f.layer, f.data["p"]) for f in found} == {("attn", 0.6), ("lstm", 0.9)}
    assert findings(Internal(0.1, 0.3), shape=(2, 5, 16), tracer="hooks") == []
