"""``model-audit``: the command line (audit one target; check, diff, rules subcommands)."""
from .main import build_parser, main, run

__all__ = ["build_parser", "main", "run"]
