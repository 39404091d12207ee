"""The pytest plugin checks its options at session start, and concurrent baseline updates lose nothing."""
from __future__ import annotations

import json
import multiprocessing
import sys
import textwrap

import pytest
import torch.nn as nn

from model_audit.report.baseline import merge_baseline, read_baseline

pytest_plugins = ["pytester"]

TESTS = """
import pytest
import torch.nn as nn

def test_small(model_audit):
    model_audit(nn.Linear(4, 4), input_shape=(1, 4))
"""


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    """See tests/test_pytest_plugin.py: torch modules first imported inside pytester runs are dropped."""
    from model_audit import audit

    audit(nn.Linear(4, 4), input_shape=(1, 4))


def _run(pytester: pytest.Pytester, *args: str):
    pytester.makepyfile(test_models=textwrap.dedent(TESTS))
    return pytester.runpytest("-p", "no:cacheprovider", *args)


def test_bad_report_path_fails_at_session_start(pytester) -> None:
    (pytester.path / "adir").mkdir()
    result = _run(pytester, "--model-audit-report=adir")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--model-audit-report adir: is a directory*"])
    assert "passed" not in result.stdout.str()  # refused before any test ran


def test_report_path_under_a_file_fails_at_session_start(pytester) -> None:
    (pytester.path / "afile").write_text("x")
    result = _run(pytester, "--model-audit-report=afile/out.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--model-audit-report afile/out.json: cannot create a file under afile*"])


@pytest.mark.parametrize("entry", ['"many"', '{"params": "12"}', '{"params": -1}', '{"params": 1.5}',
                                   '{"params": true}'])
def test_wrongly_typed_baseline_entries_are_one_line(pytester, entry) -> None:
    (pytester.path / "base.json").write_text('{"schema_version": 1, "models": {"k": ' + entry + "}}")
    result = _run(pytester, "--model-audit-baseline=base.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--model-audit-baseline base.json: models['k']" in result.stderr.str()
    assert "Traceback" not in result.stderr.str()


@pytest.mark.parametrize("tolerance", ["nan", "inf", "-1%"])
def test_tolerance_must_be_finite(pytester, tolerance) -> None:
    result = _run(pytester, f"--model-audit-tolerance={tolerance}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--model-audit-tolerance*"])


def test_marker_budgets_must_be_finite(pytester) -> None:
    values = ['float("inf")', 'float("nan")', '"1e999"', "-3"]
    pytester.makepyfile(test_models="import pytest\nimport torch.nn as nn\n" + "".join(textwrap.dedent(f"""
        @pytest.mark.model_budget(params={value})
        def test_{i}(model_audit):
            model_audit(nn.Linear(4, 4), input_shape=(1, 4))
    """) for i, value in enumerate(values)))
    result = pytester.runpytest("-p", "no:cacheprovider")
    output = result.stdout.str() + result.stderr.str()
    assert "OverflowError" not in output and "Traceback" not in output
    assert output.count("model_budget params") >= len(values)
    assert result.ret != pytest.ExitCode.OK and "passed" not in result.stdout.lines[-1]


def _store(path: str, worker: int, barrier) -> None:
    barrier.wait()
    for i in range(5):
        merge_baseline(__import__("pathlib").Path(path), {f"w{worker}-{i}": {"params": worker, "macs": i, "flops": 0}})


@pytest.mark.skipif(sys.platform == "win32", reason="fork start method")
def test_eight_processes_updating_one_baseline_lose_nothing(tmp_path) -> None:
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps({"schema_version": 1, "models": {"old": {"params": 1, "macs": 1, "flops": 1}}}))
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(8)
    workers = [context.Process(target=_store, args=(str(path), w, barrier)) for w in range(8)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(60)
        assert p.exitcode == 0
    models = read_baseline(path)
    assert set(models) == {"old"} | {f"w{w}-{i}" for w in range(8) for i in range(5)}
    assert models["w7-4"] == {"params": 7, "macs": 4, "flops": 0}
    assert not list(tmp_path.glob("*.tmp"))
