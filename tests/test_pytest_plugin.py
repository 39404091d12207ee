"""The pytest plugin end to end with pytester: fixture, assert_budget, marker, baseline, report, xdist.

The inner test files build a small MLP whose figures the outer test computes independently:
params from ``sum(p.numel())`` and MACs from the Linear closed form ``in * out`` per sample.
"""
from __future__ import annotations

import json
import textwrap

import pytest
import torch.nn as nn

pytest_plugins = ["pytester"]

WIDTH = 200


def mlp(width: int = WIDTH) -> nn.Module:
    return nn.Sequential(nn.Linear(100, width), nn.ReLU(), nn.Linear(width, 10))


def params_of(width: int = WIDTH) -> int:
    return sum(p.numel() for p in mlp(width).parameters())


def macs_of(width: int = WIDTH) -> int:
    return 100 * width + width * 10  # batch 1: in*out multiply-accumulates per Linear


MODEL_FILE = """
import os
import torch.nn as nn

WIDTH = int(os.environ.get("MLP_WIDTH", "{width}"))


def mlp():
    return nn.Sequential(nn.Linear(100, WIDTH), nn.ReLU(), nn.Linear(WIDTH, 10))
"""


@pytest.fixture(scope="module", autouse=True)
def _import_torch_lazily_loaded_modules() -> None:
    """Audit once out here first. pytester's in-process runs restore ``sys.modules`` afterwards, so a
    torch module first imported inside one (``torch._dynamo`` on the first dispatch-mode audit) would
    be dropped and imported again later, and torch refuses to register its operator libraries twice."""
    from model_audit import audit

    audit(mlp(), input_shape=(1, 100))


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(netdef=MODEL_FILE.format(width=WIDTH))
    return pytester


def write_tests(pytester: pytest.Pytester, body: str) -> None:
    pytester.makepyfile(test_models="import pytest\nfrom netdef import mlp\n" + textwrap.dedent(body))


def test_budgets_that_hold_pass_and_breaches_fail_with_the_figures(project):
    params = params_of()
    write_tests(project, f"""
        def test_holds(model_audit):
            report = model_audit(mlp(), input_shape=(1, 100))
            assert report.params == {params}
            report.assert_budget(params={params}, macs="{macs_of() / 1000}K", flops="1e6")

        def test_breach(model_audit):
            model_audit(mlp(), input_shape=(1, 100)).assert_budget(params="20K")
    """)
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    excess = params - 20_000
    result.stdout.fnmatch_lines([
        f"*BudgetExceeded: params {params:,} (*) exceeds the budget 20,000 (20.00K) by {excess:,}*top layers: 0 (*",
    ])


def test_marker_applies_to_every_audit_of_the_test_and_closest_mark_wins(project):
    params = params_of()
    write_tests(project, f"""
        @pytest.mark.model_budget(params="1M", macs="{macs_of() - 1}")
        class TestBudgets:
            def test_macs_over(self, model_audit):
                model_audit(mlp(), input_shape=(1, 100), name="first")

            @pytest.mark.model_budget(macs="1M")
            def test_override_holds(self, model_audit):
                model_audit(mlp(), input_shape=(1, 100))
                model_audit(mlp(), input_shape=(1, 100))

        @pytest.mark.model_budget(params={params - 1})
        def test_second_audit_over(model_audit):
            model_audit(mlp(), input_shape=(1, 100), name="second")

        @pytest.mark.model_budget(params="2x")
        def test_bad_unit(model_audit):
            model_audit(mlp(), input_shape=(1, 100))
    """)
    result = project.runpytest("-p", "no:cacheprovider", "-rA")
    result.assert_outcomes(passed=1, failed=2, errors=1)
    result.stdout.fnmatch_lines([
        "*model-audit: first is over budget:*",
        f"*MACs {macs_of():,} (*) exceeds the budget {macs_of() - 1:,} (*) by 1*",
    ])
    result.stdout.fnmatch_lines([f"*params {params:,} (*) exceeds the budget {params - 1:,} (*) by 1*"])
    result.stdout.fnmatch_lines(["*model_budget params: cannot parse '2x'*"])


def test_terminal_summary_and_session_report(project):
    write_tests(project, """
        def test_a(model_audit):
            model_audit(mlp(), input_shape=(1, 100), name="mlp")
            model_audit(mlp(), input_shape=(2, 100), name="mlp")
    """)
    report = project.path / "audits.json"
    result = project.runpytest("-p", "no:cacheprovider", f"--model-audit-report={report}")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*- model-audit -*", "test * model * params * MACs * FLOPs*",
                                 "test_models.py::test_a * mlp * 22.21K * 22.00K*"])
    audits = json.loads(report.read_text())["audits"]
    assert [a["key"] for a in audits] == ["test_models.py::test_a::mlp", "test_models.py::test_a::mlp#2"]
    assert [a["macs"] for a in audits] == [macs_of(), 2 * macs_of()]
    assert audits[0]["report"]["summary"]["params"] == params_of()


def test_baseline_regression_fails_and_update_refreshes_it(project, monkeypatch):
    write_tests(project, """
        def test_model(model_audit):
            model_audit(mlp(), input_shape=(1, 100), name="mlp")
    """)
    baseline = project.path / "baseline.json"
    project.runpytest("-p", "no:cacheprovider", f"--model-audit-baseline={baseline}").stderr.fnmatch_lines(
        ["*no such file; create it with --model-audit-update*"])
    project.runpytest("-p", "no:cacheprovider", f"--model-audit-baseline={baseline}", "--model-audit-update") \
        .assert_outcomes(passed=1)
    stored = json.loads(baseline.read_text())["models"]
    assert stored == {"test_models.py::test_model::mlp": {"params": params_of(), "macs": macs_of(),
                                                           "flops": stored["test_models.py::test_model::mlp"]["flops"]}}
    project.runpytest("-p", "no:cacheprovider", f"--model-audit-baseline={baseline}").assert_outcomes(passed=1)

    monkeypatch.setenv("MLP_WIDTH", "210")  # the model grows by 5%
    result = project.runpytest("-p", "no:cacheprovider", f"--model-audit-baseline={baseline}")
    result.assert_outcomes(failed=1)
    growth = 100.0 * (params_of(210) - params_of()) / params_of()
    result.stdout.fnmatch_lines([f"*params grew from {params_of():,} to {params_of(210):,} (+{growth:.2f}%; tolerance 0%)*",
                                 "*REGRESSED params +*"])
    project.runpytest("-p", "no:cacheprovider", f"--model-audit-baseline={baseline}",
                      "--model-audit-tolerance=6%").assert_outcomes(passed=1)
    project.runpytest("-p", "no:cacheprovider", f"--model-audit-baseline={baseline}", "--model-audit-update") \
        .assert_outcomes(passed=1)
    assert json.loads(baseline.read_text())["models"]["test_models.py::test_model::mlp"]["params"] == params_of(210)


def test_same_suite_under_xdist_gathers_every_worker(project):
    write_tests(project, f"""
        @pytest.mark.parametrize("batch", [1, 2, 3, 4])
        def test_batch(model_audit, batch):
            model_audit(mlp(), input_shape=(batch, 100), name=f"b{{batch}}").assert_budget(params={params_of()})

        @pytest.mark.model_budget(macs={macs_of() - 1})
        def test_over(model_audit):
            model_audit(mlp(), input_shape=(1, 100), name="over")
    """)
    report, baseline = project.path / "audits.json", project.path / "baseline.json"
    args = ["-p", "xdist", "-n", "2", "-p", "no:cacheprovider", f"--model-audit-report={report}",
            f"--model-audit-baseline={baseline}", "--model-audit-update"]
    result = project.runpytest_subprocess(*args)
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines([f"*MACs {macs_of():,} (*) exceeds the budget {macs_of() - 1:,}*", "*- model-audit -*"])
    audits = json.loads(report.read_text())["audits"]
    assert sorted(a["name"] for a in audits) == ["b1", "b2", "b3", "b4", "over"]
    assert {a["name"]: a["macs"] for a in audits}["b3"] == 3 * macs_of()
    assert len(json.loads(baseline.read_text())["models"]) == 5
    # what the workers stored compares clean (in-process run: one torch import is enough)
    project.runpytest("-p", "no:cacheprovider", f"--model-audit-baseline={baseline}").assert_outcomes(passed=4, failed=1)


def test_the_fixture_honours_pyproject_budgets_and_fail_on(project):
    """[tool.model-audit] max-* and fail-on apply to every audit the fixture makes (issue 11)."""
    project.makefile(".toml", pyproject=f'[tool.model-audit]\nmax-params = {params_of() - 1}\n')
    write_tests(project, """
        import torch.nn as nn

        def test_over_the_project_budget(model_audit):
            model_audit(mlp(), input_shape=(1, 100))

        @pytest.mark.model_budget(params="1M")  # the marker overrides the project's limit
        def test_marker_overrides(model_audit):
            model_audit(mlp(), input_shape=(1, 100))

        def test_small_model_fits(model_audit):
            model_audit(nn.Linear(10, 2), input_shape=(1, 10))
    """)
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines([f"*params {params_of():,}*exceeds*"])

    project.makefile(".toml", pyproject='[tool.model-audit]\nfail-on = "error"\n')
    write_tests(project, """
        import torch.nn as nn

        def test_error_finding_fails(model_audit):
            model_audit(nn.Sequential(nn.Linear(100, 50), nn.Dropout(0.5), nn.BatchNorm1d(50)),
                        input_shape=(4, 100))

        def test_clean_model_passes(model_audit):
            model_audit(mlp(), input_shape=(1, 100))
    """)
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*dropout-before-batchnorm*fail-on*"])
