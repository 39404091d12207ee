"""CI gates: budgets (API, CLI flags, pyproject defaults), `model-audit check`, `model-audit diff`.

Figures are checked against PyTorch itself (``sum(p.numel())``) and the convolution closed form
``C_out * H_out * W_out * C_in * k * k``; exit codes 0 (ok), 1 (breach), 2 (bad input).
"""
from __future__ import annotations

from dataclasses import replace

import json

import pytest
import torch.nn as nn

from model_audit import Budget, BudgetExceeded, Finding, Severity, audit
from model_audit.cli.main import main
from model_audit.report.budget import BudgetError, check_budget, uncounted_fraction

NET = """
import torch.nn as nn

WIDTH = {width}

model = nn.Sequential(
    nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
    nn.Conv2d(8, WIDTH, 3, stride=2, padding=1), nn.ReLU(),
    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(WIDTH, 10),
)
input_shape = (1, 3, 16, 16)
"""


def net(width: int = 16) -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, width, 3, stride=2, padding=1),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 10))


def params_of(width: int = 16) -> int:
    return sum(p.numel() for p in net(width).parameters())


def macs_of(width: int = 16) -> int:
    return 8 * 16 * 16 * 3 * 9 + width * 8 * 8 * 8 * 9 + width * 10  # conv, strided conv, linear


def write_net(tmp_path, width: int = 16, name: str = "net.py") -> str:
    path = tmp_path / name
    path.write_text(NET.format(width=width))
    return str(path)


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- Budget and check_budget


def test_budget_parses_units_and_rejects_bad_ones():
    budget = Budget.parse(params="25M", macs="4.1G", flops=1.5e9, uncounted_fraction="5%", findings="warning")
    assert (budget.params, budget.macs, budget.flops) == (25_000_000, 4_100_000_000, 1_500_000_000)
    assert budget.uncounted_fraction == pytest.approx(0.05) and budget.findings is Severity.WARNING
    assert Budget.parse(findings=3).findings == 3
    for bad in ({"params": "25Q"}, {"macs": -1}, {"findings": "loud"}, {"uncounted_fraction": 1.5}, {"watts": 3}):
        with pytest.raises(BudgetError):
            Budget.parse(**bad)


def test_check_budget_reports_measured_limit_excess_and_top_layers():
    report = audit(net(), input_shape=(1, 3, 16, 16))
    assert (report.params, report.macs) == (params_of(), macs_of())
    assert check_budget(report, Budget(params=params_of(), macs=macs_of())) == []  # limits are inclusive
    (breach,) = check_budget(report, Budget(macs=macs_of() - 100))
    assert (breach.measured, breach.limit, breach.excess) == (macs_of(), macs_of() - 100, 100)
    # the strided conv (73,728) and the first conv (55,296) cost the most, then the linear layer
    assert breach.top == [("2", 16 * 8 * 8 * 8 * 9), ("0", 8 * 16 * 16 * 27), ("6", 160)]
    message = breach.message()
    assert f"MACs {macs_of():,}" in message and f"budget {macs_of() - 100:,}" in message and "by 100" in message
    with pytest.raises(AssertionError) as caught:
        report.assert_budget(params=params_of() - 1, flops="1G")
    assert isinstance(caught.value, BudgetExceeded) and [b.metric for b in caught.value.breaches] == ["params"]


def test_findings_and_uncounted_budgets():
    report = audit(net(), input_shape=(1, 3, 16, 16), rules=False)
    report = replace(report, findings=[Finding("rule-a", Severity.INFO, "0", "a"),
                                       Finding("rule-b", Severity.WARNING, "2", "b")])
    assert check_budget(report, Budget(findings=Severity.ERROR)) == []
    (breach,) = check_budget(report, Budget(findings=Severity.WARNING))
    assert breach.measured == 1 and "warning rule-b at 2" in breach.message()
    assert check_budget(report, Budget(findings=2)) == []
    assert check_budget(report, Budget(findings=1))[0].measured == 2
    report.layers[1].uncounted_ops = {"aten.mystery": 2}
    assert uncounted_fraction(report) == pytest.approx(1 / len(report.layers))
    (breach,) = check_budget(report, Budget(uncounted_fraction=0.0))
    assert breach.top == [(report.layers[1].name, 2)]


# -- CLI gates


def test_cli_exit_codes_for_pass_breach_and_bad_unit(tmp_path, capsys):
    path = write_net(tmp_path)
    code, out, err = run_cli(capsys, path, "--max-params", str(params_of()), "--max-macs", "1M")
    assert (code, err) == (0, "")
    code, out, err = run_cli(capsys, path, "--max-params", str(params_of() - 1), "--max-macs", "100K")
    assert code == 1
    assert f"params {params_of():,}" in err and f"budget {params_of() - 1:,}" in err
    assert f"MACs {macs_of():,} ({macs_of() / 1e3:.2f}K) exceeds the budget 100,000" in err
    assert "total" in out  # the report is still printed
    code, out, err = run_cli(capsys, path, "--max-flops", "12 parsecs")
    assert code == 2 and "--max-flops" in err and "cannot parse" in err and "Traceback" not in err


def test_cli_budget_lands_in_the_json_report(tmp_path, capsys):
    code, out, err = run_cli(capsys, write_net(tmp_path), "--max-macs", "100K", "-f", "json")
    assert code == 1
    section = json.loads(out)["budget"]
    assert section["ok"] is False and section["limits"] == {"macs": 100_000}
    assert section["breaches"][0]["measured"] == macs_of() and section["breaches"][0]["excess"] == macs_of() - 100_000


def test_pyproject_budgets_are_defaults_and_the_cli_overrides_them(tmp_path, capsys, monkeypatch):
    path = write_net(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[tool.model-audit]\nmax-params = "1K"\n')
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, path)
    assert code == 1 and "budget 1,000 (1.00K)" in err
    code, _, err = run_cli(capsys, path, "--max-params", "2K")
    assert code == 0, err
    (tmp_path / "pyproject.toml").write_text('[tool.model-audit]\nmax-macs = "lots"\n')
    code, _, err = run_cli(capsys, path)
    assert code == 2 and "[tool.model-audit] max-macs: cannot parse 'lots'" in err


# -- model-audit check

CHECK_PYPROJECT = """
[tool.model-audit]
max-params = "{default_params}"

[[tool.model-audit.targets]]
target = "models/net.py"
name = "small"
max-macs = "{macs}"

[[tool.model-audit.targets]]
target = "models/wide.py:model"
inputs = ["1,3,32,32"]
"""


def make_project(tmp_path, default_params: int, macs: int) -> None:
    (tmp_path / "models").mkdir()
    write_net(tmp_path / "models", 16, "net.py")
    write_net(tmp_path / "models", 32, "wide.py")
    (tmp_path / "pyproject.toml").write_text(CHECK_PYPROJECT.format(default_params=default_params, macs=macs))


def test_check_passes_when_every_target_fits(tmp_path, capsys, monkeypatch):
    make_project(tmp_path, default_params=params_of(32), macs=macs_of(16))
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")  # found from the current directory upward
    code, out, err = run_cli(capsys, "check", "--format", "json")
    assert code == 0, out + err
    data = json.loads(out)
    assert data["summary"] == {"ok": 2, "fail": 0, "error": 0}
    small, wide = data["targets"]
    assert (small["params"], small["macs"]) == (params_of(16), macs_of(16))
    assert wide["macs"] == 4 * (macs_of(32) - 320) + 320  # 32x32 input: convs do 4x the work, the linear layer not


def test_check_fails_on_a_breach_with_one_line_per_target(tmp_path, capsys, monkeypatch):
    make_project(tmp_path, default_params=params_of(16), macs=macs_of(16) - 1)
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, "check")
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith("FAIL  small: ") and f"MACs {macs_of(16) - 1:,}" not in lines[0]
    assert f"MACs {macs_of(16):,} (" in lines[1] and "exceeds the budget" in lines[1]
    assert any(line.startswith("FAIL  models/wide.py:model: ") for line in lines)  # over the default params budget
    assert lines[-1] == "2 targets: 0 ok, 2 failed, 0 errors"
    assert err == ""  # no progress bar when stderr is not a terminal


def test_check_exit_2_on_a_broken_target_or_config(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, "check")
    assert code == 2 and "no pyproject.toml found" in err
    (tmp_path / "pyproject.toml").write_text('[tool.model-audit]\nmax-params = "1M"\n')
    code, _, err = run_cli(capsys, "check")
    assert code == 2 and "no [[tool.model-audit.targets]] to check" in err
    (tmp_path / "pyproject.toml").write_text('[[tool.model-audit.targets]]\ntarget = "gone.py"\n')
    code, out, _ = run_cli(capsys, "check")
    assert code == 2 and "ERROR gone.py: no such file" in out
    (tmp_path / "pyproject.toml").write_text('[[tool.model-audit.targets]]\ntarget = "gone.py"\nbudget = 3\n')
    code, _, err = run_cli(capsys, "check")
    assert code == 2 and "unknown key(s) budget" in err


# -- model-audit diff


def test_diff_totals_and_layers(tmp_path, capsys):
    base, head = tmp_path / "base.json", tmp_path / "head.json"
    assert run_cli(capsys, write_net(tmp_path, 16, "a.py"), "-f", "json", "-o", str(base))[0] == 0
    assert run_cli(capsys, write_net(tmp_path, 24, "b.py"), "-f", "json", "-o", str(head))[0] == 0
    code, out, err = run_cli(capsys, "diff", str(base), str(head), "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["totals"]["params"] == {"base": params_of(16), "head": params_of(24), "delta": params_of(24) - params_of(16),
                                        "growth": (params_of(24) - params_of(16)) / params_of(16)}
    assert data["totals"]["macs"]["delta"] == macs_of(24) - macs_of(16)
    changed = {layer["name"]: layer for layer in data["layers"]}
    assert set(changed) == {"2", "3", "4", "6"}  # conv, its ReLU, the pool and the linear layer grew; layer 0 did not
    assert changed["2"]["delta"]["params"] == (8 * 9 + 1) * 8 and changed["2"]["status"] == "changed"
    assert data["unchanged_layers"] == 3

    code, out, err = run_cli(capsys, "diff", str(base), str(head), "--max-increase", "5%")
    assert code == 1 and "params grew from" in err and "base" in out and "Δ MACs" in out
    code, out, _ = run_cli(capsys, "diff", str(base), str(head), "-f", "markdown")
    assert "| params |" in out and "`2` | changed" in out


def test_diff_added_removed_layers_and_bad_input(tmp_path, capsys):
    base, head = tmp_path / "base.json", tmp_path / "head.json"
    base.write_text(json.dumps(audit(nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2)), input_shape=(1, 4)).to_dict()))
    head.write_text(json.dumps(audit(nn.Sequential(nn.Linear(4, 4)), input_shape=(1, 4)).to_dict()))
    code, out, _ = run_cli(capsys, "diff", str(base), str(head), "-f", "json")
    layers = json.loads(out)["layers"]
    assert layers == [{"name": "1", "status": "removed", "type": "Linear", "base": {"params": 10, "macs": 8, "flops": 18},
                       "head": {}, "delta": {"params": -10, "macs": -8, "flops": -18}}]
    code, out, _ = run_cli(capsys, "diff", str(head), str(base), "-f", "json")
    assert json.loads(out)["layers"][0]["status"] == "added"
    (tmp_path / "junk.json").write_text("{not json")
    code, _, err = run_cli(capsys, "diff", str(tmp_path / "junk.json"), str(head))
    assert code == 2 and "is not JSON" in err
    code, _, err = run_cli(capsys, "diff", str(tmp_path / "none.json"), str(head))
    assert code == 2 and "cannot read" in err
