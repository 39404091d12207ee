"""Fuzzing the command line: any arguments, budgets, pyproject contents and diff inputs end in
exit 0, 1, 2 or 3, never a traceback, and stdout is empty or a valid report."""
from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model_audit.cli.main import main

MODEL = "import torch.nn as nn\nmodel = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))\ninput_shape = (1, 4)\n"
FUZZ = settings(max_examples=int(os.environ.get("MODEL_AUDIT_FUZZ_EXAMPLES", "40")), deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

numbers = st.one_of(st.sampled_from(["25M", "1e999", "inf", "nan", "-1", "0", "1.5e9", "4.1G", "1K", "", "1e-3",
                                     "9" * 300, "0x10", "1_000", "12%", " 3 M"]),
                    st.integers(-10**30, 10**30).map(str), st.floats(allow_nan=True).map(str),
                    st.text(max_size=12))
flags = st.one_of(
    st.tuples(st.sampled_from(["--max-params", "--max-macs", "--max-flops"]), numbers),
    st.tuples(st.just("--input"), st.one_of(st.sampled_from(["1,4", "-1,4", "1,4:int64", "1,4:bogus", "0,4", "1x4",
                                                             "99999999999,4", "1,,4", ""]), st.text(max_size=10))),
    st.tuples(st.just("--seed"), numbers),
    st.tuples(st.just("--depth"), numbers),
    st.tuples(st.sampled_from(["--select", "--ignore"]), st.sampled_from(["", ",", "ALL", "nope", "dropout-", "ALL,x"])),
    st.tuples(st.just("--fail-on"), st.sampled_from(["info", "error", "never", "bogus"])),
    st.tuples(st.just("--format"), st.sampled_from(["table", "json", "markdown", "html", "sarif", "github", "xml"])),
    st.tuples(st.just("--device"), st.sampled_from(["meta", "cpu", "gpu"])),
    st.tuples(st.just("--tracer"), st.sampled_from(["auto", "fx", "hooks", "x"])),
    st.tuples(st.just("--mode"), st.sampled_from(["eval", "train", "test"])),
)
toml_values = st.one_of(st.sampled_from(['"25M"', "inf", "nan", "-inf", "1e999", '"1e999"', "[]", "{}", "true", '""',
                                         '"nan"', "1", "-5", '"' + "9" * 400 + '"']),
                        st.integers(-10**20, 10**20).map(str))
toml_keys = st.sampled_from(["max-params", "max-macs", "max-flops", "max-uncounted-fraction", "max-findings",
                             "fail-on", "select", "ignore", "max-parms"])


def _check(code: int, out: str, err: str, fmt: str | None) -> None:
    assert code in (0, 1, 2, 3), (code, err)
    assert "Traceback" not in err, err
    if not out.strip():
        return
    if fmt in ("json", "sarif"):
        json.loads(out)
    elif fmt == "github":
        assert all(line.startswith("::") for line in out.splitlines() if line), out
    elif fmt == "html":
        assert out.lstrip().lower().startswith("<!doctype html")


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's usage errors (exit 2) and --help (exit 0)
        code = exit_.code if isinstance(exit_.code, int) else 2
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "net.py").write_text(MODEL)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.slow
@FUZZ
@given(args=st.lists(flags, max_size=4))
def test_fuzz_command_line(project, capsys, args) -> None:
    argv = ["net.py", *[part for pair in args for part in pair]]
    fmt = next((value for flag, value in reversed(args) if flag == "--format"), "table")
    code, out, err = _run(argv, capsys)
    _check(code, out, err, fmt)


@pytest.mark.slow
@FUZZ
@given(entries=st.lists(st.tuples(toml_keys, toml_values), max_size=3, unique_by=lambda e: e[0]),
       raw=st.one_of(st.none(), st.binary(max_size=40)))
def test_fuzz_pyproject(project, capsys, entries, raw) -> None:
    path = project / "pyproject.toml"
    if raw is not None:
        path.write_bytes(b"[tool.model-audit]\n" + raw)
    else:
        path.write_text("[tool.model-audit]\n" + "".join(f"{k} = {v}\n" for k, v in entries))
    code, out, err = _run(["net.py", "--format", "json"], capsys)
    _check(code, out, err, "json")


json_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                                     st.text(max_size=5)),
                           lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                   st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                           max_leaves=8)


@pytest.mark.slow
@FUZZ
@given(mutation=st.sampled_from(["summary", "layers", "model", "schema_version", "top", "layer", "bytes"]),
       value=json_values, raw=st.binary(max_size=30), limit=st.one_of(st.none(), numbers))
def test_fuzz_diff(project, capsys, mutation, value, raw, limit) -> None:
    base = project / "base.json"
    if not base.exists():
        assert main(["net.py", "--format", "json", "--output", str(base)]) == 0
        capsys.readouterr()
    report = json.loads(base.read_text())
    head = project / "head.json"
    if mutation == "bytes":
        head.write_bytes(raw)
    else:
        if mutation == "top":
            report = value
        elif mutation == "layer" and report["layers"]:
            report["layers"][0] = {"name": "0", **(value if isinstance(value, dict) else {"params": value})}
        else:
            report[mutation] = value
        head.write_text(json.dumps(report))
    argv = ["diff", "base.json", "head.json", "--format", "json"] + (["--max-increase", limit] if limit is not None else [])
    code, out, err = _run(argv, capsys)
    _check(code, out, err, "json")


@pytest.mark.slow
@FUZZ
@given(text=numbers)
def test_fuzz_budget_strings(text) -> None:
    from model_audit.report.budget import Budget, BudgetError

    for metric in ("params", "macs", "flops", "uncounted_fraction", "findings"):
        try:
            budget = Budget.parse(**{metric: text})
        except BudgetError:
            continue
        value = getattr(budget, metric)
        assert value is not None
        if isinstance(value, (int, float)):
            assert value >= 0 and value == value and value != float("inf")
