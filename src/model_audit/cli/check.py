"""``model-audit check``: audit every ``[[tool.model-audit.targets]]`` entry — a one-command CI gate.

pyproject.toml (found from the current directory upward)::

    [tool.model-audit]
    max-params = "30M"                  # defaults for every target
    fail-on = "error"

    [[tool.model-audit.targets]]
    target = "models/resnet.py:model"   # file paths are relative to the pyproject.toml; also timm:NAME,
                                        # hf:ORG/NAME, hf:./folder, torchvision:NAME
    inputs = ["1,3,224,224"]            # one spec per positional input (default: from the file)
    max-flops = "8.2G"                  # overrides the defaults for this target
    ignore = ["large-kernel"]           # optional per-target select/ignore

Exit code: 0 when every target fits its budgets and no finding reaches ``fail-on``; 1 when one
does not; 2 when a target cannot be audited or the configuration is wrong.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import ConfigError, ProjectConfig, load_config
from ..errors import AuditError
from ..progress import Progress
from ..escaping import md_code, md_text, plain
from ._output import write_output
from .streams import user_output_to_stderr
from ..report.budget import Breach, Budget
from ..report.metrics import METRICS
from ..units import format_count

_TARGET_KEYS = {"target", "name", "inputs", "select", "ignore", "max-params", "max-macs", "max-flops",
                "max-uncounted-fraction", "max-findings", "device", "mode", "trust-remote-code", "symbolic", "over"}


@dataclass
class TargetSpec:
    target: str
    name: str
    inputs: list[str] | None
    budget: Budget
    select: list[str] | None = None
    ignore: list[str] | None = None
    device: str | None = None
    mode: str = "eval"
    trust_remote_code: bool = False  # hf: targets only
    outside: str | None = None  # the file, when it lies outside the project tree: user code from elsewhere runs

    @property
    def outside_note(self) -> str | None:
        return None if self.outside is None else f"runs {self.outside}, outside the project tree"
    symbolic: str | None = None  # dimension names in inputs, e.g. "B=1,L=128" (docs/symbolic.md)
    over: str | None = None  # budgets over a range of sizes, e.g. "L <= 4096"


@dataclass
class TargetResult:
    spec: TargetSpec
    report: Any = None
    breaches: list[Breach] = field(default_factory=list)
    findings_fail: bool = False
    error: str | None = None
    ranges: list[Any] = field(default_factory=list)  # RangeAnswer per budget checked over spec.over

    @property
    def status(self) -> str:
        if self.error is not None:
            return "error"
        return "fail" if self.breaches or self.findings_fail else "ok"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.spec.name, "target": self.spec.target, "status": self.status,
                                "budget": self.spec.budget.to_dict()}
        if self.spec.outside is not None:
            data["outside_project"] = self.spec.outside
        if self.error is not None:
            data["error"] = self.error
        if self.report is not None:
            data.update(params=self.report.params, macs=self.report.macs, flops=self.report.flops,
                        breaches=[b.to_dict() for b in self.breaches], findings_fail=self.findings_fail,
                        findings=[f.to_dict() for f in self.report.findings])
            if self.ranges:
                data["ranges"] = [a.to_dict() for a in self.ranges]
        return data


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="model-audit check",
                                     description="Audit every [[tool.model-audit.targets]] entry of pyproject.toml "
                                                 "against its budgets and rules (exit 0 ok, 1 breach, 2 error).")
    parser.add_argument("--config", metavar="PYPROJECT", help="this pyproject.toml instead of the nearest one upward")
    parser.add_argument("--format", "-f", default="text", choices=["text", "json", "markdown", "github"],
                        help="result format (default: text, one line per target)")
    parser.add_argument("--output", "-o", metavar="FILE", help="write the result to FILE instead of stdout")
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    project = load_config(path=args.config)
    specs = parse_targets(project)
    results = []
    with Progress(len(specs), "auditing") as bar, user_output_to_stderr():  # model prints: stderr
        for spec in specs:
            bar.step(spec.name)
            results.append(check_target(spec, project))
    text = {"text": render_text, "json": render_json, "markdown": render_markdown,
            "github": render_github}[args.format](results)
    write_output(text, args.output)
    if any(r.status == "error" for r in results):
        return 2
    return 1 if any(r.status == "fail" for r in results) else 0


def parse_targets(project: ProjectConfig) -> list[TargetSpec]:
    """The ``targets`` array of tables, validated, with the top-level budgets as defaults."""
    if project.path is None:
        raise ConfigError("no pyproject.toml found from the current directory upward; `model-audit check` "
                          "audits its [[tool.model-audit.targets]]")
    entries = project.get("targets")
    if not entries:
        raise ConfigError(f"{project.path}: no [[tool.model-audit.targets]] to check; add one with "
                          "target = \"model.py\" and inputs = [\"1,3,224,224\"]")
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ConfigError(f"{project.where('targets')}: expected an array of tables ([[tool.model-audit.targets]])")
    defaults = Budget.from_table(project.data, project.where)
    specs = []
    for i, entry in enumerate(entries):
        where = project.where(f"targets[{i}]")
        unknown = sorted(set(entry) - _TARGET_KEYS)
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; use {', '.join(sorted(_TARGET_KEYS))}")
        target = entry.get("target")
        if not isinstance(target, str) or not target:
            raise ConfigError(f"{where}: 'target' is required, e.g. target = \"models/net.py:model\"")
        inputs = entry.get("inputs")
        if isinstance(inputs, str):
            inputs = [inputs]
        if inputs is not None and not (isinstance(inputs, list) and all(isinstance(x, str) for x in inputs)):
            raise ConfigError(f"{where}: 'inputs' must be a list of shapes like [\"1,3,224,224\"]")
        if not isinstance(entry.get("trust-remote-code", False), bool):
            raise ConfigError(f"{where}.trust-remote-code: expected true or false")
        resolved = _resolve(target, project.root)
        specs.append(TargetSpec(
            target=resolved, outside=_outside(resolved, project.root), name=str(entry.get("name") or target), inputs=inputs,
            budget=defaults.override(Budget.from_table(entry, lambda key, where=where: f"{where}.{key}")),
            select=_ids(entry.get("select"), where), ignore=_ids(entry.get("ignore"), where),
            device=entry.get("device"), mode=str(entry.get("mode", "eval")),
            trust_remote_code=entry.get("trust-remote-code") is True,
            symbolic=entry.get("symbolic"), over=entry.get("over")))
    return specs


def check_target(spec: TargetSpec, project: ProjectConfig) -> TargetResult:
    """Audit one target; user errors (bad file, bad shape) become the result's ``error``."""
    from ..api import audit
    from ..report.budget import budget_section, check_budget
    from ..rules.settings import RuleSettings
    from ..target import load

    result = TargetResult(spec)
    root = str(project.root)
    sys.path.insert(0, root)  # `package.module:name` targets import from the project root
    try:
        settings = RuleSettings.resolve(project, select=spec.select, ignore=spec.ignore)
        loaded = load(spec.target, None if spec.symbolic else spec.inputs, trust_remote_code=spec.trust_remote_code)
        inputs, input_shape = loaded.inputs, loaded.input_shape
        if spec.symbolic:  # dimension names in inputs: the symbolic audit parses them
            inputs, input_shape = None, spec.inputs
        report = audit(loaded.model, inputs, input_shape=input_shape, device=spec.device,
                       mode=spec.mode, name=spec.name, config=project, settings=settings, source_path=loaded.path,
                       memory="train" if spec.budget.peak_memory is not None else None, symbolic=spec.symbolic)
        range_breaches: list = []
        if spec.over:
            from .ranges import enforce_range

            range_breaches, result.ranges = enforce_range(report, spec.budget, spec.over)
    except AuditError as error:
        result.error = str(error)
        return result
    finally:
        if root in sys.path:
            sys.path.remove(root)
    result.breaches = check_budget(report, spec.budget) + range_breaches
    result.report = report.with_sections(budget=budget_section(spec.budget, result.breaches))
    result.findings_fail = settings.fails(report.findings)
    return result


def render_text(results: list[TargetResult]) -> str:
    lines = []
    for r in results:
        note = [f"      note: {plain(r.spec.outside_note)}"] if r.spec.outside_note else []
        if r.error is not None:
            lines.append(f"ERROR {plain(r.spec.name)}: {plain(r.error)}")
            lines += note
            continue
        report, limits = r.report, r.spec.budget
        figures = ", ".join(f"{metric.label} {metric.format(metric.of_report(report))}"
                            + (f"/{metric.format(getattr(limits, m))}" if getattr(limits, m, None) is not None else "")
                            for m, metric in METRICS.items() if metric.gate and metric.of_report(report) is not None)
        count = len(report.findings)
        lines.append(f"{r.status.upper():<5} {plain(r.spec.name)}: {figures}, {count} finding{'s' if count != 1 else ''}")
        lines += note
        lines += [f"      {b.message()}" for b in r.breaches]
        lines += [f"      {a.line()}" for a in r.ranges]
        if r.findings_fail:
            lines += [f"      {f.severity} {f.rule}" + (f" at {plain(f.layer)}" if f.layer else "") + f": {plain(f.message)}"
                      for f in report.findings]
    lines.append(_summary(results))
    return "\n".join(lines)


def render_json(results: list[TargetResult]) -> str:
    return json.dumps({"targets": [r.to_dict() for r in results], "summary": _counts(results)}, indent=2, default=str)


def render_markdown(results: list[TargetResult]) -> str:
    icon = {"ok": "✅", "fail": "❌", "error": "⚠️"}
    lines = ["## model-audit check", "", "| | target | params | MACs | FLOPs | findings | details |",
             "|---|---|---:|---:|---:|---:|---|"]
    for r in results:
        if r.report is None:
            details = md_text(r.error) + (f"<br>{md_text(r.spec.outside_note)}" if r.spec.outside_note else "")
            lines.append(f"| {icon['error']} | {md_code(r.spec.name)} | | | | | {details} |")
            continue
        details = "<br>".join([md_text(b.message()) for b in r.breaches]
                              + ([md_text(r.spec.outside_note)] if r.spec.outside_note else []))
        lines.append(f"| {icon[r.status]} | {md_code(r.spec.name)} | {format_count(r.report.params)} | {format_count(r.report.macs)} | "
                     f"{format_count(r.report.flops)} | {len(r.report.findings)} | {details} |")
    return "\n".join(lines + ["", _summary(results)]) + "\n"


def render_github(results: list[TargetResult]) -> str:
    from ..render.github import annotation, render_github as annotate

    lines = []
    for r in results:
        if r.spec.outside_note:
            lines.append(annotation("warning", f"{r.spec.name}: {r.spec.outside_note}", title="model-audit check"))
        if r.report is None:
            lines.append(annotation("error", f"{r.spec.name}: {r.error}", title="model-audit check"))
        else:
            lines.append(annotate(r.report))
    lines.append(annotation("notice", _summary(results), title="model-audit check"))
    return "\n".join(lines)


def _counts(results: list[TargetResult]) -> dict[str, int]:
    return {status: sum(1 for r in results if r.status == status) for status in ("ok", "fail", "error")}


def _summary(results: list[TargetResult]) -> str:
    counts = _counts(results)
    return (f"{len(results)} target{'s' if len(results) != 1 else ''}: {counts['ok']} ok, "
            f"{counts['fail']} failed, {counts['error']} errors")


def _resolve(target: str, root: Path) -> str:
    """File targets are relative to the pyproject.toml, as pytest's testpaths are."""
    from ..target.hub import hub_prefix, resolve_relative

    if hub_prefix(target) is not None:  # timm:, hf:, torchvision: (hf:./folder is relative too)
        return resolve_relative(target, root)
    head, sep, tail = target.rpartition(":")
    path, suffix = (head, sep + tail) if sep and head.endswith(".py") else (target, "")
    if path.endswith(".py") and not os.path.isabs(path):
        path = str(root / path)
    return path + suffix


def _outside(target: str, root: Path) -> str | None:
    """The absolute file path of a file target outside ``root`` (symlinks resolved), else None."""
    head, sep, tail = target.rpartition(":")
    path = head if sep and head.endswith(".py") else target
    if not path.endswith(".py"):
        return None  # package.module:name imports like any import
    resolved = Path(path).resolve()
    try:
        resolved.relative_to(root.resolve())
    except ValueError:
        return str(resolved)
    return None


def _ids(value: Any, where: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ConfigError(f"{where}: select/ignore must be a list of rule ids")
