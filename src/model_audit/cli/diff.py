"""``model-audit diff base.json head.json``: params/MACs/FLOPs (and memory) deltas, in total and per layer.

Both files are ``model-audit --format json`` reports (e.g. main's CI artifact and the pull
request's). ``--max-increase 2%`` makes it a gate: exit 1 when a total grows by more.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..errors import AuditError
from ..numbers import parse_percent
from ..report.report_file import report_problem
from ..escaping import plain
from ..report.budget import amount, holders_text
from ..report.diff import diff_reports, render_diff_json, render_diff_markdown, render_diff_table
from ..report.metrics import METRICS
from ._output import write_output


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="model-audit diff",
                                     description="Compare two `model-audit --format json` reports: total and per-layer "
                                                 "params/MACs/FLOPs deltas, and memory when both ran --memory "
                                                 "(layers added, removed, changed).")
    parser.add_argument("base", help="the report before the change (JSON)")
    parser.add_argument("head", help="the report after the change (JSON)")
    parser.add_argument("--format", "-f", default="table", choices=["table", "markdown", "json"],
                        help="output format (default: table)")
    parser.add_argument("--output", "-o", metavar="FILE", help="write the diff to FILE instead of stdout")
    parser.add_argument("--all", action="store_true", help="list every changed layer (default: the first 50)")
    parser.add_argument("--max-increase", metavar="PCT", default=None,
                        help="exit 1 when params, MACs, FLOPs or (when both reports have it) the peak memory grow by "
                             "more than PCT (e.g. 0, 1%%, 2.5%%)")
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    limit = _percent(args.max_increase) if args.max_increase is not None else None
    base_doc, head_doc = _load(args.base), _load(args.head)
    diff = diff_reports(base_doc, head_doc)
    rows = None if args.all else 50
    if args.format == "json":
        text = render_diff_json(diff)
    elif args.format == "markdown":
        text = render_diff_markdown(diff, rows)
    else:
        text = render_diff_table(diff, rows)
    from ..analyses.symbolic.diff import formula_diff, formula_lines

    formulas = formula_diff(base_doc, head_doc)  # symbolic reports: compare the formulas too
    if formulas is not None:
        text = (json.dumps({**json.loads(text), "symbolic": formulas}, indent=2) if args.format == "json"
                else text + "\n\n" + "\n".join(formula_lines(formulas, markdown=args.format == "markdown")))
    write_output(text, args.output)
    if limit is None:
        return 0
    grown = [m for m in diff.totals if METRICS[m].gate and diff.delta(m) > 0
             and (diff.growth(m) is None or diff.growth(m) > limit)]
    for key in grown:
        metric, (base, head) = METRICS[key], diff.totals[key]
        change = "from zero" if diff.growth(key) is None else f"{100 * diff.growth(key):+.2f}%"
        print(f"model-audit: {metric.label} grew from {amount(metric, base)} to {amount(metric, head)} ({change}), "
              f"more than --max-increase {args.max_increase}"
              + plain(holders_text(metric, diff.holders.get(key, []), head)), file=sys.stderr)
    return 1 if grown else 0

READABLE_SCHEMAS = (1, 2)


def _load(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except OSError as error:
        raise AuditError(f"cannot read {path}: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise AuditError(f"{path} is not UTF-8 text (byte {error.start}); give `model-audit --format json` output") from None
    except json.JSONDecodeError as error:
        raise AuditError(f"{path} is not JSON ({error.msg}, line {error.lineno}); give `model-audit --format json` output") from None
    except (ValueError, RecursionError) as error:
        raise AuditError(f"{path} is not usable JSON ({type(error).__name__}); give `model-audit --format json` output") from None
    if not isinstance(data, dict) or "summary" not in data or "layers" not in data:
        raise AuditError(f"{path} is not a model-audit JSON report (no 'summary'/'layers'); "
                         "make one with `model-audit TARGET --format json --output FILE`")
    problem = report_problem(data)
    if problem is not None:
        raise AuditError(f"{path}: {problem}; give `model-audit --format json` output")
    if data.get("schema_version") not in READABLE_SCHEMAS:  # 2 renamed functional layers only (CHANGELOG.md)
        raise AuditError(f"{path}: unsupported schema_version {data.get('schema_version')!r} "
                         f"(this model-audit reads {', '.join(map(str, READABLE_SCHEMAS))})")
    return data


def _percent(text: str) -> float:
    try:
        return parse_percent(text)
    except ValueError as error:
        raise AuditError(f"--max-increase: {error}") from None
