"""pytest plugin: model budgets as assertions (auto-loaded through the ``pytest11`` entry point).

- fixture ``model_audit(model, inputs=None, *, input_shape=None, **options) -> AuditReport``
  (``model_audit.audit`` with the project's ``[tool.model-audit]`` as config);
- ``report.assert_budget(params="25M", macs="4.1G", ...)`` in a test;
- marker ``@pytest.mark.model_budget(params=..., macs=..., flops=...)`` checked on every audit the
  fixture makes during the test;
- ``--model-audit-report=PATH``: every audit of the session as JSON;
- ``--model-audit-baseline=FILE`` (compare; growth beyond ``--model-audit-tolerance`` fails the
  test, naming what holds most) and ``--model-audit-update`` (store), after pytest-benchmark's
  save/compare; the gated METRICS (params, MACs, FLOPs, and the peak memory when the memory
  analysis ran);
- a terminal summary table of the audited models.

Under pytest-xdist each worker sends its audits to the controller through ``workeroutput`` (the
channel pytest-cov uses), so the report, the baseline update and the summary cover every worker.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest

from .report.budget import Budget, BudgetError, check_budget, amount, holders, holders_text
from .report.metrics import METRICS, gated
_WORKER_KEY = "model_audit_records"
BASELINE_SCHEMA = 1


@dataclass
class _State:
    """What the plugin keeps for one session (one per process; the controller merges workers')."""

    config: pytest.Config
    tolerance: float = 0.0
    baseline_path: Path | None = None
    baseline: dict[str, dict[str, int]] = field(default_factory=dict)
    update: bool = False
    report_path: Path | None = None
    records: list[dict[str, Any]] = field(default_factory=list)
    project: Any = None  # ProjectConfig, loaded on first use

    def project_config(self) -> Any:
        if self.project is None:
            from .config import load_config

            self.project = load_config(self.config.rootpath)
        return self.project


_STATE = pytest.StashKey[_State]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("model-audit", "model budgets (model-audit)")
    group.addoption("--model-audit-report", metavar="PATH", default=None,
                    help="write every audit made through the model_audit fixture to PATH as JSON")
    group.addoption("--model-audit-baseline", metavar="FILE", default=None,
                    help="compare each audit with the figures stored in FILE; growth beyond the tolerance fails")
    group.addoption("--model-audit-update", action="store_true", default=False,
                    help="store this session's figures in --model-audit-baseline FILE instead of comparing")
    group.addoption("--model-audit-tolerance", metavar="PCT", default="0%",
                    help="allowed growth of params/MACs/FLOPs (and peak memory, when measured) over the baseline, "
                         "e.g. 1%% or 0.01 (default: 0%%)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "model_budget(params=None, macs=None, flops=None, uncounted_fraction=None, findings=None, peak_memory=None): "
        "limits checked on every audit the model_audit fixture makes in this test; ints or '25M', '4.1G', peak_memory '4GiB'")
    state = _State(config=config, tolerance=_tolerance(config.getoption("model_audit_tolerance")),
                   update=bool(config.getoption("model_audit_update")))
    report = config.getoption("model_audit_report")
    state.report_path = _writable(Path(report)) if report else None  # found now, not after the whole session
    baseline = config.getoption("model_audit_baseline")
    if state.update and not baseline:
        raise pytest.UsageError("--model-audit-update needs --model-audit-baseline=FILE (where to store the figures)")
    if baseline:
        state.baseline_path = Path(baseline)
        if state.baseline_path.exists():
            state.baseline = _read_baseline(state.baseline_path)
        elif not state.update:
            raise pytest.UsageError(f"--model-audit-baseline {baseline}: no such file; create it with --model-audit-update")
    config.stash[_STATE] = state


@pytest.fixture
def model_audit(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """``model_audit(model, inputs=None, *, input_shape=None, **options) -> AuditReport``.

    ``options`` go to :func:`model_audit.audit` (``name=``, ``device=``, ``rules=``, ``probe=``, ...).
    Every audit is checked against the test's ``model_budget`` marker and the stored baseline.
    """
    state = request.config.stash[_STATE]
    budget = _project_budget(state.project_config(), _marker_budget(request.node))
    seen: dict[str, int] = {}

    def run(model: Any, inputs: Any = None, *, input_shape: Any = None, **options: Any) -> Any:
        __tracebackhide__ = True
        from .api import audit

        if "config" not in options and "settings" not in options:
            options["config"] = state.project_config()
        if budget is not None and budget.peak_memory is not None:  # a memory budget needs the memory analysis
            options.setdefault("memory", "train")
        report = audit(model, inputs, input_shape=input_shape, **options)
        name = str(options.get("name") or report.model)
        seen[name] = seen.get(name, 0) + 1
        key = f"{request.node.nodeid}::{name}" + (f"#{seen[name]}" if seen[name] > 1 else "")
        record = _record(request.node.nodeid, name, key, report)
        problems = []
        if budget is not None:
            breaches = check_budget(report, budget)
            record["budget"] = budget.to_dict()
            record["breaches"] = [b.to_dict() for b in breaches]
            problems += [b.message() for b in breaches]
        if state.baseline_path is not None and not state.update:
            record["baseline"] = _compare(state, key, record)
            problems += record["baseline"].get("regressions", [])
        problems += _project_fail_on(state.project_config(), report)
        state.records.append(record)
        if problems:
            pytest.fail(f"model-audit: {name} is over budget:\n  " + "\n  ".join(problems), pytrace=False)
        return report

    return run


def _project_budget(project: Any, marker: Budget | None) -> Budget | None:
    """``[tool.model-audit]`` max-* limits, with the test's ``model_budget`` marker on top."""
    if project is None or not project.data:
        return marker
    base = Budget.from_table(project.data, project.where)
    if base.empty:
        return marker
    return base if marker is None else base.override(marker)


def _project_fail_on(project: Any, report: Any) -> list[str]:
    """Findings at or above ``[tool.model-audit] fail-on`` (only when the project sets it)."""
    if project is None or "fail-on" not in project.data:
        return []
    from .rules.settings import RuleSettings

    settings = RuleSettings.resolve(project)
    if not settings.fails(report.findings):
        return []
    return [f"finding {f.rule} ({f.severity}) at {f.layer or 'model'}: {f.message} "
            f"[fail-on = {project.data['fail-on']!r} in {project.path}]"
            for f in report.findings if settings.fails([f])]


def _marker_budget(node: pytest.Item) -> Budget | None:
    """All ``model_budget`` marks on the test, class and module; the closest one wins per limit."""
    marks = list(node.iter_markers("model_budget"))
    if not marks:
        return None
    budget = Budget()
    for mark in reversed(marks):  # farthest first
        if mark.args:
            raise pytest.UsageError(f"{node.nodeid}: model_budget takes keyword arguments, e.g. "
                                    "@pytest.mark.model_budget(params='25M')")
        try:
            budget = budget.override(Budget.parse(where="model_budget", **mark.kwargs))
        except BudgetError as error:
            raise pytest.UsageError(f"{node.nodeid}: {error}") from None
    return budget


def _record(nodeid: str, name: str, key: str, report: Any) -> dict[str, Any]:
    """What the session keeps of one audit: every gated figure it has (peak memory when the memory
    analysis ran), what holds most of each optional one, and the JSON report."""
    figures = {m.key: m.of_report(report) for m in gated()}
    figures = {k: int(v) for k, v in figures.items() if v is not None}
    held = {m.key: holders(report, m) for m in gated() if m.optional and m.key in figures}
    return {"test": nodeid, "name": name, "key": key, **figures, "findings": len(report.findings),
            "holders": {k: [[n, v] for n, v in top] for k, top in held.items() if top},
            "report": json.loads(json.dumps(report.to_dict(), default=str))}


def _figures(record: dict[str, Any]) -> dict[str, int]:
    """The gated figures a record (or a baseline entry) has."""
    return {m.key: record[m.key] for m in gated() if record.get(m.key) is not None}


def _compare(state: _State, key: str, record: dict[str, Any]) -> dict[str, Any]:
    base = state.baseline.get(key)
    if base is None:
        return {"status": "new"}
    regressions, changes = [], {}
    for metric in gated():
        if metric.key not in record or (metric.optional and metric.key not in base):
            continue  # an optional figure (peak memory) is compared when both sides measured it
        old, new = int(base.get(metric.key, 0)), int(record[metric.key])
        if old != new:
            changes[metric.key] = new - old
        if new > old * (1 + state.tolerance) and new > old:
            growth = f"+{100.0 * (new - old) / old:.2f}%" if old else "from zero"
            top = [(n, v) for n, v in record.get("holders", {}).get(metric.key, [])]
            regressions.append(f"{metric.label} grew from {amount(metric, old)} to {amount(metric, new)} ({growth}; "
                               f"tolerance {100 * state.tolerance:g}%) over baseline {state.baseline_path}"
                               f"{holders_text(metric, top, new)}; accept it with --model-audit-update")
    status = "regressed" if regressions else ("changed" if changes else "same")
    return {"status": status, "base": _figures(base), "delta": changes, "regressions": regressions}


# -- gathering (pytest-xdist) and session output


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """On the xdist controller: take a finished worker's audits."""
    state = node.config.stash.get(_STATE, None)
    data = getattr(node, "workeroutput", {}).get(_WORKER_KEY)
    if state is not None and data:
        state.records.extend(json.loads(data))


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    state = config.stash.get(_STATE, None)
    if state is None:
        return
    if _is_worker(config):
        config.workeroutput[_WORKER_KEY] = json.dumps(state.records)
        return
    state.records.sort(key=lambda r: r["key"])
    if state.report_path is not None:
        state.report_path.parent.mkdir(parents=True, exist_ok=True)
        document = {"schema_version": 1, "audits": state.records}
        state.report_path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    if state.update and state.baseline_path is not None and state.records:
        from .report.baseline import merge_baseline

        state.baseline_path.parent.mkdir(parents=True, exist_ok=True)
        # merged under a lock with what other sessions stored meanwhile: none of their entries is lost
        merge_baseline(state.baseline_path, {r["key"]: _figures(r) for r in state.records})


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    if state is None or _is_worker(config) or not state.records:
        return
    from tabulate import tabulate

    shown = [m for m in gated() if any(m.key in r for r in state.records)]  # peak memory only if measured
    rows = []
    for r in state.records:
        budget = "-" if "budget" not in r else ("over" if r.get("breaches") else "ok")
        rows.append([r["test"], r["name"], *[m.format(r[m.key]) if m.key in r else "-" for m in shown],
                     r["findings"], budget, _baseline_cell(r, state)])
    terminalreporter.write_sep("-", "model-audit")
    terminalreporter.write_line(tabulate(rows, headers=["test", "model", *[m.label for m in shown], "findings", "budget",
                                                        "baseline"], tablefmt="simple", disable_numparse=True))
    if state.update and state.baseline_path is not None:
        terminalreporter.write_line(f"model-audit: stored {len(state.records)} audit(s) in {state.baseline_path}")
    if state.report_path is not None:
        terminalreporter.write_line(f"model-audit: report written to {state.report_path}")


def _baseline_cell(record: dict[str, Any], state: _State) -> str:
    if state.update:
        return "stored"
    info = record.get("baseline")
    if not info:
        return "-"
    if info["status"] in ("new", "same"):
        return info["status"]
    base = info["base"]
    parts = []
    for metric, delta in info["delta"].items():
        old = base.get(metric) or 0
        label = METRICS[metric].label if metric in METRICS else metric
        parts.append(f"{label} {100.0 * delta / old:+.2f}%" if old else f"{label} {delta:+,}")
    return ("REGRESSED " if info["status"] == "regressed" else "") + ", ".join(parts)


def _tolerance(text: str) -> float:
    from .numbers import parse_fraction

    try:
        return parse_fraction(text)
    except ValueError as error:
        raise pytest.UsageError(f"--model-audit-tolerance: {error}; use e.g. 1% or 0.01") from None


def _read_baseline(path: Path) -> dict[str, dict[str, int]]:
    from .report.baseline import BaselineError, read_baseline

    try:
        return read_baseline(path)
    except BaselineError as error:
        raise pytest.UsageError(f"--model-audit-baseline {error}") from None


def _writable(path: Path) -> Path:
    """``--model-audit-report`` PATH checked at session start: not a directory, in a writable directory."""
    if path.is_dir():
        raise pytest.UsageError(f"--model-audit-report {path}: is a directory; give a file path such as audits.json")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise pytest.UsageError(f"--model-audit-report {path}: cannot create a file under {parent}")
    return path
