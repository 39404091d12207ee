"""``model-audit``: parse arguments -> public API -> renderer -> exit code. Thin on purpose."""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from . import __version__
from .api import audit
from .auditor.inputs import parse_input_spec
from .auditor.loading import load_target
from .commands import SUBCOMMANDS
from .config import load_config
from .errors import AuditError

EXAMPLES = """\
examples:
  model-audit examples/resnet.py                      # the model and input_shape defined in the file
  model-audit examples/resnet.py --depth 2            # roll rows up to module depth 2
  model-audit torchvision.models:resnet50 --input 1,3,224,224
  model-audit model.py:Net --input 1,3,32,32 --input 1,10      # two positional inputs
  model-audit gpt.py --input 1,128:int64 --format json          # integer token ids, JSON output
  model-audit model.py --backward                     # also count the backward pass at the dispatch level
  model-audit model.py --cross-check fvcore           # fvcore's count beside ours, per module

exit codes: 0 ok, 1 budget or finding breach, 2 usage or input error.
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
    parser.add_argument("target", help="model.py, model.py:NAME or package.module:NAME (e.g. torchvision.models:resnet50)")
    parser.add_argument("--input", "-i", action="append", metavar="SHAPE[:DTYPE]", default=None,
                        help="example input shape, e.g. 1,3,224,224 or 1,128:int64; repeat for several positional inputs "
                             "(default: example_inputs() or input_shape from the file)")
    parser.add_argument("--device", default=None, choices=["meta", "cpu", "cuda", "auto"],
                        help="where to run: counting defaults to meta (no weights materialized; falls back to cpu "
                             "when the model cannot run on meta), probes default to auto (cuda if available, else cpu)")
    parser.add_argument("--mode", default="eval", choices=["eval", "train"], help="audit the model in this mode (default: eval)")
    parser.add_argument("--tracer", default="auto", choices=["auto", "fx", "hooks"],
                        help="torch.fx graph (auto tries it first) or module hooks (fallback)")
    parser.add_argument("--depth", type=int, default=None, metavar="N", help="roll table rows up to module depth N")
    parser.add_argument("--format", "-f", default="table", choices=["table", "json"], help="output format (default: table)")
    parser.add_argument("--output", "-o", metavar="FILE", help="write the report to FILE instead of stdout")
    parser.add_argument("--backward", action="store_true", help="also count backward-pass MACs/FLOPs (measured, not estimated)")
    parser.add_argument("--cross-check", choices=["fvcore"], default=None,
                        help="put fvcore's count beside model-audit's per module and explain differences "
                             "(needs model-audit[fvcore]; runs the model on cpu)")
    parser.add_argument("--config", metavar="PYPROJECT",
                        help="read [tool.model-audit] from this file (default: the nearest pyproject.toml "
                             "from the current directory upward)")
    parser.add_argument("--version", action="version", version=f"model-audit {__version__}")
    return parser


def run(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        import importlib

        return importlib.import_module(SUBCOMMANDS[argv[0]][0]).main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.depth is not None and args.depth < 1:
        raise AuditError("--depth must be a positive integer")
    specs = [parse_input_spec(text) for text in args.input] if args.input else None
    project = load_config(path=args.config)
    loaded = load_target(args.target)
    inputs = None if specs else loaded.inputs
    input_shape = specs if specs else (None if inputs is not None else loaded.input_shape)
    report = audit(loaded.model, inputs, input_shape=input_shape, device=args.device, tracer=args.tracer,
                   backward=args.backward, mode=args.mode, name=loaded.name, config=project,
                   source_path=loaded.path)
    columns = None
    if args.cross_check == "fvcore":
        from .auditor.crosscheck import fvcore_crosscheck
        from .reports.crosscheck import crosscheck_columns, render_crosscheck

        check = fvcore_crosscheck(loaded.model, inputs, input_shape, report)
        report.extra["cross_check"] = check.to_dict()
        columns = crosscheck_columns(check) if args.format == "table" else None
    if args.format == "json":
        from .reports.json_report import render_json

        text = render_json(report)
    else:
        from .reports.table import render_table

        text = render_table(report, depth=args.depth, columns=columns)
        if args.cross_check == "fvcore":
            text += "\n\n" + render_crosscheck(check)
    _emit(text, args.output)
    return 0


def _emit(text: str, path: str | None) -> None:
    if path:
        try:
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(text + "\n")
        except OSError as error:
            raise AuditError(f"cannot write {path}: {error.strerror}") from None
    else:
        sys.stdout.write(text + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return run(argv)
    except AuditError as error:
        print(f"model-audit: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("model-audit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
