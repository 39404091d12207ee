"""Every number and file a user gives is validated once: one line on stderr, exit 2, no traceback."""
from __future__ import annotations

import json
import time

import pytest

from model_audit.cli.main import main
from model_audit.numbers import check_shape, parse_count, parse_fraction, parse_percent

MODEL = "import torch.nn as nn\nmodel = nn.Linear(400, 400)\ninput_shape = (1, 400)\n"


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "net.py").write_text(MODEL)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("text", ["1e999", "inf", "nan", "-5M", "1e30", "9" * 20_000, "1" * 41, float("inf"),
                                  float("nan"), -1])
def test_bad_counts_are_refused(text) -> None:
    with pytest.raises(ValueError):
        parse_count(text)


def test_a_20000_digit_budget_is_refused_fast() -> None:
    start = time.perf_counter()
    with pytest.raises(ValueError, match="too long"):
        parse_count("1" * 20_000 + "x")
    assert time.perf_counter() - start < 0.05


@pytest.mark.parametrize("text,expected", [("25M", 25_000_000), ("4.1G", 4_100_000_000), ("1.5e9", 1_500_000_000),
                                           ("300k", 300_000), (" 7 ", 7), ("2_000", 2000), (12, 12), (2.6, 3)])
def test_good_counts(text, expected) -> None:
    assert parse_count(text) == expected


@pytest.mark.parametrize("parse", [parse_fraction, parse_percent])
@pytest.mark.parametrize("text", ["nan", "inf", "-1%", "1e999", "x%"])
def test_bad_fractions_are_refused(parse, text) -> None:
    with pytest.raises(ValueError):
        parse(text)


@pytest.mark.parametrize("shape", [(-1, 4), (2**31, 1), (2**20, 2**20, 2**20)])
def test_bad_shapes_are_refused(shape) -> None:
    with pytest.raises(ValueError):
        check_shape(shape)


@pytest.mark.parametrize("argv", [["--max-params", "1e999"], ["--max-params", "9" * 20_000], ["--max-flops", "nan"],
                                  ["--seed", "-1"], ["--seed", "1" * 30], ["--input=-1,4"],
                                  ["--input", "99999999999,99999999999"], ["--input", "4000000,4000000,400000"],
                                  ["--select", ""], ["--select", ","], ["--probe-batches", "9" * 50]])
def test_bad_numbers_on_the_command_line(project, capsys, argv) -> None:
    code = _argparse(["net.py", *argv])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("model-audit: error:")


def _argparse(argv):
    try:
        return main(argv)
    except SystemExit as exit_:  # argparse's own usage error
        return exit_.code


@pytest.mark.parametrize("toml", ['max-params = inf', 'max-params = nan', 'max-params = 1e999',
                                  'max-uncounted-fraction = nan', 'max-findings = "' + "9" * 5000 + '"',
                                  'select = []'])
def test_bad_numbers_in_pyproject(project, capsys, toml) -> None:
    (project / "pyproject.toml").write_text("[tool.model-audit]\n" + toml + "\n")
    assert _argparse(["net.py"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "pyproject.toml" in err


def test_non_utf8_pyproject_is_one_line(project, capsys) -> None:
    (project / "pyproject.toml").write_bytes(b'[tool.model-audit]\nmax-params = "1\xff"\n')
    assert main(["net.py"]) == 2
    _, err = capsys.readouterr()
    assert "not UTF-8" in err and err.count("\n") == 1


def _report(project, capsys) -> dict:
    assert main(["net.py", "-f", "json", "-o", "base.json"]) == 0
    capsys.readouterr()
    return json.loads((project / "base.json").read_text())


BAD_REPORTS = {
    "summary list": lambda r: {**r, "summary": []},
    "summary missing params": lambda r: {**r, "summary": {}},
    "params text": lambda r: {**r, "summary": {**r["summary"], "params": "x"}},
    "params nan": lambda r: {**r, "summary": {**r["summary"], "params": float("nan")}},
    "params bool": lambda r: {**r, "summary": {**r["summary"], "params": True}},
    "layers text": lambda r: {**r, "layers": "abc"},
    "layer numbers": lambda r: {**r, "layers": [1, 2]},
    "layer without name": lambda r: {**r, "layers": [{}]},
    "layer name list": lambda r: {**r, "layers": [{"name": ["a"]}]},
    "layer params text": lambda r: {**r, "layers": [{"name": "a", "params": "x"}]},
    "model list": lambda r: {**r, "model": [1]},
    "top-level list": lambda r: [r],
}


@pytest.mark.parametrize("case", sorted(BAD_REPORTS))
def test_diff_validates_its_inputs(project, capsys, case) -> None:
    report = _report(project, capsys)
    (project / "head.json").write_text(json.dumps(BAD_REPORTS[case](report)))
    assert main(["diff", "base.json", "head.json"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "head.json" in err


def test_diff_of_non_utf8_file(project, capsys) -> None:
    _report(project, capsys)
    (project / "head.json").write_bytes(b'{"a": "\xff"}')
    assert main(["diff", "base.json", "head.json"]) == 2
    assert "not UTF-8" in capsys.readouterr().err


@pytest.mark.parametrize("limit", ["nan", "inf", "-1", "1e999%"])
def test_max_increase_must_be_a_finite_percentage(project, capsys, limit) -> None:
    _report(project, capsys)
    assert main(["diff", "base.json", "base.json", "--max-increase", limit]) == 2
    assert "--max-increase" in capsys.readouterr().err
