"""Escaping user-controlled strings (layer, target, model names, messages) for each output format.

A name is user code's choice: a backtick, pipe or newline in it must not break a Markdown table
or end a code span, and a newline must not start a new line in a terminal or CI log (where a
line beginning ``::`` is a GitHub workflow command). GitHub annotations escape their own values
(:mod:`.github`); HTML escapes with :func:`html.escape`; JSON and SARIF are encoded by ``json``.
"""
from __future__ import annotations

import re
from typing import Any

_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


def plain(value: Any) -> str:
    """One line of terminal text: control characters (newline, CR, ESC...) shown as ``\\n``-style escapes."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(value))


def _folded(value: Any) -> str:
    """Line breaks become spaces (Markdown reads them as whitespace anyway), other controls escapes."""
    return plain(re.sub(r"\r\n|[\r\n\u2028\u2029\x85]", " ", str(value)))


def md_text(value: Any) -> str:
    """Markdown text safe in a table cell: no new line, no cell break, no code span, no HTML tag."""
    text = _folded(value)
    for char, escaped in (("\\", "\\\\"), ("|", "\\|"), ("`", "\\`"), ("*", "\\*"), ("_", "\\_"),
                          ("[", "\\["), ("]", "\\]")):
        text = text.replace(char, escaped)
    return text.replace("<", "&lt;").replace(">", "&gt;")


def md_code(value: Any, *, in_table: bool = True) -> str:
    """An inline code span holding ``value`` verbatim, whatever backticks it contains (CommonMark:
    a fence longer than any backtick run inside, padded when the text starts or ends with one)."""
    text = _folded(value)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    if text.startswith("`") or text.endswith("`"):
        text = f" {text} "
    if in_table:
        text = text.replace("|", "\\|")  # GFM splits cells before code spans: escape pipes even inside code
    return f"{fence}{text}{fence}"
