"""Model files in other people's style (tests/realworld/) through the CLI, as a new user would run them:
no traceback, no exit 0 for a broken model or a dropped budget, JSON on stdout always parseable."""
from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest
import torch

from model_audit.cli.main import main

CORPUS = Path(__file__).parent / "realworld"
RUNS = {  # file: expected exit code, a phrase the one-line error must contain
    "printer.py": (0, None),
    "namedtuple_batch.py": (0, None),
    "lazy_mlp.py": (0, None),
    "data_parallel.py": (0, None),
    "buffers_arith.py": (0, None),
    "frozen_bn.py": (0, None),
    "train_no_mode.py": (2, "train(False) raised TypeError"),
    "hardcoded_cuda.py": (0, None) if torch.cuda.is_available() else (2, "CUDA-only code"),
    "scripted.py": (2, "TorchScript"),
    "wrong_shapes.py": (2, "layer '2' (Linear)"),
    "token_ids.py": (2, "'embed' (Embedding)"),
}


def test_the_corpus_is_covered():
    assert sorted(RUNS) == sorted(p.name for p in CORPUS.glob("*.py"))


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("name", sorted(RUNS))
def test_corpus_file_through_the_cli(name, capsys):
    expected, phrase = RUNS[name]
    code, out, err = _run(capsys, str(CORPUS / name), "--format", "json")
    assert code == expected, err
    assert "Traceback" not in err
    if expected == 2:
        assert out == ""
        lines = [line for line in err.splitlines() if line.startswith("model-audit: error:")]
        assert len(lines) == 1 and phrase in lines[0], err
        return
    report = json.loads(out)  # whatever the model printed went to stderr
    params = report["summary"]["params"]
    if name != "lazy_mlp.py":  # independent count: the file's own model, its distinct parameters
        model = runpy.run_path(str(CORPUS / name))["model"]
        capsys.readouterr()
        assert params == sum({id(p): p.numel() for p in model.parameters()}.values())
    # a budget below the model is never dropped
    code, out, err = _run(capsys, str(CORPUS / name), "--format", "json", "--max-params", str(params - 1))
    assert code == 1 and json.loads(out)["summary"]["params"] == params
