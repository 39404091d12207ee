"""``model-audit``: parse arguments -> public API -> renderer -> exit code. Thin on purpose."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from .. import __version__
from ..api import AuditOptions, audit
from ..config import ProjectConfig, load_config
from ..errors import AuditError
from ..render.registry import FORMATS, render
from .errors import INTERNAL_ERROR, internal_error_line
from .streams import report_stream, user_output_to_stderr
from .memory import add_memory_arguments, memory_kwargs
from ..rules.settings import RuleSettings
from ..target import load
from .commands import SUBCOMMANDS
from .gates import add_budget_arguments, budget_from, enforce

EXAMPLES = """\
examples:
  model-audit examples/resnet.py                      # the model and input_shape defined in the file
  model-audit examples/resnet.py --depth 2            # roll rows up to module depth 2
  model-audit torchvision.models:resnet50 --input 1,3,224,224
  model-audit timm:resnet50                           # by name: timm:, hf:ORG/NAME, hf:./folder, torchvision:
  model-audit model.py:Net --input 1,3,32,32 --input 1,10      # two positional inputs
  model-audit gpt.py --input 1,128:int64 --format json          # integer token ids, JSON output
  model-audit gpt.py --input B,L:int64 --symbolic B=1,L=128     # FLOPs as a formula in B and L
  model-audit model.py --backward                     # also count the backward pass at the dispatch level
  model-audit model.py --cross-check fvcore           # fvcore's count beside ours, per module
  model-audit model.py --max-params 25M --max-flops 8G          # CI gate: exit 1 over budget
  model-audit model.py --format sarif -o audit.sarif            # also markdown, html, github
  model-audit model.py --format svg -o model.svg      # the layer graph, repeated blocks as "x N"; also dot, mermaid
  model-audit model.py --memory --optimizer adamw --gpu-memory A100-80GB   # will a training step fit?

exit codes: 0 ok, 1 budget or finding breach, 2 bad input or a model that cannot run,
3 an internal error of model-audit (--debug shows the traceback).
"""


def _subcommand_help() -> str:
    if not SUBCOMMANDS:
        return ""
    lines = ["", "other commands (model-audit COMMAND --help):"]
    lines += [f"  model-audit {name:<10} {text}" for name, (_, text) in SUBCOMMANDS.items()]
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="model-audit",
        description="Audit a PyTorch model: exact parameters, MACs/FLOPs and output shapes per layer.",
        epilog=EXAMPLES + _subcommand_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("target", help="model.py, model.py:NAME, package.module:NAME (e.g. torchvision.models:resnet50), "
                                       "or a name: timm:NAME, hf:ORG/NAME[@REV], hf:./FOLDER, torchvision:NAME")
    parser.add_argument("--trust-remote-code", action="store_true",
                        help="hf: targets only: run the repository's own modelling code (auto_map in config.json)")
    parser.add_argument("--input", "-i", action="append", metavar="SHAPE[:DTYPE]", default=None,
                        help="example input shape, e.g. 1,3,224,224 or 1,128:int64; repeat for several positional inputs "
                             "(default: example_inputs() or input_shape from the file)")
    parser.add_argument("--symbolic", metavar="DIMS", default=None,
                        help="params/MACs/FLOPs as exact formulas in the dimension names used by --input, e.g. "
                             "--input B,L:int64 --symbolic B,L=128 or --input B,3,H,W --symbolic B,H=W=224%%32 "
                             "(H=W ties dims, =N sets the base size, %%N keeps sizes on a class; docs/symbolic.md)")
    parser.add_argument("--over", metavar="RANGE", default=None,
                        help="with --symbolic and --max-*: check the budgets over a range of sizes, e.g. "
                             "--over 'L <= 4096' answers the largest passing L (exit 1 when a size in range breaches)")
    parser.add_argument("--device", default=None, choices=["meta", "cpu", "cuda", "auto"],
                        help="where to run: counting defaults to meta (no weights materialized; falls back to cpu "
                             "when the model cannot run on meta), probes default to auto (cuda if available, else cpu)")
    parser.add_argument("--mode", default="eval", choices=["eval", "train"], help="audit the model in this mode (default: eval)")
    parser.add_argument("--tracer", default="auto", choices=["auto", "fx", "hooks"],
                        help="torch.fx graph (auto tries it first) or module hooks (fallback)")
    parser.add_argument("--depth", type=int, default=None, metavar="N", help="roll table rows up to module depth N")
    parser.add_argument("--format", "-f", default="table", choices=list(FORMATS), help="output format (default: table)")
    parser.add_argument("--all-rows", action="store_true",
                        help="show zero-cost view/reshape rows instead of folding them into the layer that reads them")
    parser.add_argument("--output", "-o", metavar="FILE", help="write the report to FILE instead of stdout")
    parser.add_argument("--backward", action="store_true", help="also count backward-pass MACs/FLOPs (measured, not estimated)")
    parser.add_argument("--cross-check", choices=["fvcore"], default=None,
                        help="put fvcore's count beside model-audit's per module and explain differences "
                             "(needs model-audit[fvcore]; runs the model on cpu)")
    parser.add_argument("--erf", action="store_true",
                        help="measure the effective receptive field (Luo et al. 2016) of the last spatial layer "
                             "with the model's real weights; prints a line after the table, JSON key "
                             "'effective_receptive_field'")
    parser.add_argument("--config", metavar="PYPROJECT",
                        help="read [tool.model-audit] from this file (default: the nearest pyproject.toml "
                             "from the current directory upward)")
    rules = parser.add_argument_group("rules", "risk rules (`model-audit rules` lists them; see docs/rules.md)")
    rules.add_argument("--select", metavar="ID[,ID]", type=_ids, default=None,
                       help="run only these rules (ids or id prefixes ending in '-', or ALL); overrides pyproject")
    rules.add_argument("--ignore", metavar="ID[,ID]", type=_ids, default=None,
                       help="skip these rules; overrides pyproject's ignore")
    rules.add_argument("--fail-on", default=None, choices=["info", "warning", "error", "never"],
                       help="exit 1 when a finding has at least this severity (default: error, or pyproject fail-on)")
    rules.add_argument("--train-script", metavar="FILE", default=None,
                       help="training script searched (parsed, not run) for gradient clipping by unclipped-rnn")
    rules.add_argument("--no-rules", action="store_true", help="do not run the risk rules")
    probes = parser.add_argument_group("probes", "real forward/backward passes at initialization (see docs/probes.md)")
    probes.add_argument("--probe", action="store_true",
                        help="measure gradient norms, dead and saturated units on --device (default auto: cuda if available)")
    probes.add_argument("--loss", default="mse", choices=["mse", "ce", "sum"],
                        help="probe loss: mse = mean of squared outputs (default), ce = cross-entropy against seeded "
                             "random labels (classes on the last axis), sum = sum of outputs")
    probes.add_argument("--probe-batches", type=_positive, default=2, metavar="N",
                        help="seeded synthetic batches to probe (default 2; dead units need at least 2)")
    probes.add_argument("--seed", type=_seed, default=0, help="seed of the probe's synthetic batches (default 0)")
    probes.add_argument("--autocast", choices=["bf16", "fp16"], default=None,
                        help="run the probe's forward passes under torch.autocast with this dtype")
    add_memory_arguments(parser)
    add_budget_arguments(parser)
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error instead of one line (for bug reports)")
    parser.add_argument("--version", action="version", version=f"model-audit {__version__}")
    return parser


def _positive(text: str) -> int:
    from ..numbers import parse_int

    try:
        return parse_int(text, low=1, high=10**6, what="a batch count")
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer (at most 1000000), got {text[:20]!r}") from None


def _ids(text: str) -> list[str]:
    ids = [part.strip() for part in text.split(",") if part.strip()]
    if not ids:  # `--select ''` would run no rules at all: a gate that always passes
        raise argparse.ArgumentTypeError(f"expected rule ids such as ALL or sigmoid-stack, got {text!r}")
    return ids


def _seed(text: str) -> int:
    from ..numbers import MAX_SEED, parse_int

    try:
        return parse_int(text, low=0, high=MAX_SEED, what="a seed")
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _rule_settings(args: argparse.Namespace, project: ProjectConfig) -> RuleSettings:
    """CLI flags over ``[tool.model-audit]`` over defaults; labels errors with the flag's name."""
    settings = RuleSettings.resolve(project, select=args.select, ignore=args.ignore, fail_on=args.fail_on)
    settings.origins.update({key: f"--{key}" for key in ("select", "ignore") if getattr(args, key) is not None})
    if args.train_script is not None and not os.path.isfile(args.train_script):
        raise AuditError(f"--train-script: no such file: {args.train_script}")
    if not args.no_rules:  # before the (slow) audit: a typo in --select fails at once
        from ..rules.registry import default_registry
        from ..rules.runner import known_ids

        settings.validate(known_ids(default_registry()))
    return settings


def run(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        import importlib

        return importlib.import_module(SUBCOMMANDS[argv[0]][0]).main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    with user_output_to_stderr():  # the model's prints must not corrupt the report on stdout
        return _audit_command(args)


def _audit_command(args: argparse.Namespace) -> int:
    if args.depth is not None and args.depth < 1:
        raise AuditError("--depth must be a positive integer")
    if args.over and not args.symbolic:
        raise AuditError("--over needs --symbolic: the range is over a named input dimension")
    if args.over:
        from .ranges import check_spelling

        check_spelling(args.symbolic, args.over)  # before the (slow) audit
    project = load_config(path=args.config)
    budget = budget_from(args, project)  # before the audit: a bad unit fails at once (exit 2)
    settings = _rule_settings(args, project)
    loaded = load(args.target, None if args.symbolic else args.input, trust_remote_code=args.trust_remote_code)
    inputs, input_shape = loaded.inputs, loaded.input_shape
    if args.symbolic:  # dimension names in --input: the symbolic audit parses them
        inputs, input_shape = None, list(args.input or []) or None
    options = AuditOptions(input_shape=input_shape, device=args.device, tracer=args.tracer, backward=args.backward,
                           mode=args.mode, name=loaded.name, config=project, source_path=loaded.path,
                           rules=not args.no_rules, settings=settings, train_script=args.train_script,
                           probe=args.probe, loss_fn=args.loss, seed=args.seed,
                           probe_options={"batches": args.probe_batches, "autocast": args.autocast},
                           cross_check=args.cross_check, erf=args.erf, symbolic=args.symbolic,
                           **memory_kwargs(args, budget))
    report = audit(loaded.model, inputs, options=options)
    report, breaches = enforce(report, budget)  # the budget section, and one stderr line per breach
    if args.over:
        from .ranges import enforce_range

        over_breaches, answers = enforce_range(report, budget, args.over)
        for answer in answers:
            print(f"model-audit: {'budget' if answer.ok else 'budget exceeded'}: {report.model}: {answer.line()}",
                  file=sys.stderr)
        breaches = breaches + over_breaches
    rules = None
    if args.format == "sarif":  # SARIF describes every rule it reports: the rules' own documentation
        from ..rules.metadata import rule_metadata

        rules = rule_metadata(f.rule for f in report.findings)
    _emit(render(report, args.format, depth=args.depth, rules=rules, all_rows=args.all_rows), args.output)
    if breaches:  # budget breach; findings are judged below
        return 1
    if settings.fails(report.findings):
        return 1
    return 0


def _emit(text: str, path: str | None) -> None:
    if path:
        try:
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(text + "\n")
        except OSError as error:
            raise AuditError(f"cannot write {path}: {error.strerror}") from None
    else:
        report_stream().write(text + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv  # re-raise instead of one line: for bug reports
    argv = [a for a in argv if a != "--debug"]
    try:
        return run(argv)
    except AuditError as error:
        if debug:
            raise
        print(f"model-audit: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("model-audit: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # a bug in model-audit itself: exit 3, one line, where to report it
        if debug:
            raise
        print(internal_error_line(error), file=sys.stderr)
        return INTERNAL_ERROR


if __name__ == "__main__":
    sys.exit(main())
