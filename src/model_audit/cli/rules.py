"""``model-audit rules``: list the installed rules, or print one rule's documentation."""
from __future__ import annotations

import argparse
import sys

from tabulate import tabulate

from ..rules.docs import builtin_rules, rule_markdown, rules_markdown
from ..rules.registry import default_registry


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="model-audit rules",
        description="List the installed rules (built-in and third-party plugins), or print one rule's documentation.",
        epilog="examples:\n  model-audit rules\n  model-audit rules unclipped-rnn\n"
               "  model-audit rules --markdown > docs/rules.md",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("rule", nargs="?", metavar="ID", help="print this rule's documentation")
    parser.add_argument("--markdown", action="store_true",
                        help="print the documentation of all built-in rules as Markdown (docs/rules.md)")
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    registry = default_registry()
    if args.markdown:
        sys.stdout.write(rules_markdown(builtin_rules()))
        return 0
    if args.rule:
        sys.stdout.write(rule_markdown(registry.get(args.rule), level=1))
        return 0
    rows = [[rule.id, str(rule.severity), rule.plugin, rule.summary] for rule in sorted(registry, key=lambda r: r.id)]
    sys.stdout.write(tabulate(rows, headers=["rule", "severity", "plugin", "summary"], tablefmt="simple",
                              disable_numparse=True) + "\n")
    sys.stdout.write(f"\n{len(rows)} rules; `model-audit rules ID` prints one rule's documentation.\n")
    return 0
