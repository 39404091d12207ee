"""Extras composed by ``audit()`` (ERF, fvcore cross-check) reach every text format, not only the table.

Before the redesign the CLI bolted the ERF line onto the table itself, so ``--format markdown --erf``
silently dropped it.
"""
from __future__ import annotations

import json

import pytest

from model_audit.cli.main import main

MODEL = """
import torch.nn as nn
model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1))
input_shape = (1, 1, 17, 17)
"""


@pytest.mark.parametrize("fmt", ["table", "markdown", "html"])
def test_erf_reaches_every_text_format(fmt, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.py").write_text(MODEL)
    assert main(["net.py", "--erf", "--format", fmt, "--no-rules"]) == 0
    out = capsys.readouterr().out
    assert "effective receptive field" in out


def test_erf_in_json(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.py").write_text(MODEL)
    assert main(["net.py", "--erf", "--format", "json", "--no-rules"]) == 0
    erf = json.loads(capsys.readouterr().out)["effective_receptive_field"]
    # two stacked 3x3 convolutions: theoretical field 5x5, so every measured radius lies within 2 px
    assert erf["theoretical"]["size"] == [5, 5]
    assert 0 <= erf["radius_50"] <= erf["radius_95"] <= 2
