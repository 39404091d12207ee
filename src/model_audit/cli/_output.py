"""Writing a subcommand's result to stdout or ``--output FILE`` (an unwritable file is exit 2)."""
from __future__ import annotations


from ..errors import AuditError
from .streams import report_stream


def write_output(text: str, path: str | None) -> None:
    if not path:
        report_stream().write(text + "\n")
        return
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
    except OSError as error:
        raise AuditError(f"cannot write {path}: {error.strerror}") from None
