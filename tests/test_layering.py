"""Data flows one way (DESIGN.md): no module imports a stage that runs after it.

Every ``import``/``from ... import`` in the package — at module level or inside a function — is read
from the source; each folder may import only the stages before it (and the shared leaves: errors,
units, progress, config). Probes measure and never build findings; renderers see only the report.
"""
from __future__ import annotations

import ast
from pathlib import Path

import model_audit

PACKAGE = Path(model_audit.__file__).parent
LEAVES = {"errors", "units", "progress", "config", "numbers", "escaping", "__version__"}
# stage -> the stages (top-level subpackages/modules) it may import besides itself and the leaves
ALLOWED = {
    "ir": set(),
    "target": {"ir"},
    "analyses": {"ir", "trace", "target", "plugins", "hookspec"},  # the counter reads the formulas; memory runs a step
    "trace": {"ir", "target", "analyses"},
    "probes": {"ir", "trace", "target", "analyses"},
    "report": {"ir"},
    "rules": {"ir", "report", "trace", "plugins", "hookspec"},
    "compare": {"ir", "report", "trace", "target", "analyses"},
    "render": {"report", "ir"},
}
FORBIDDEN_NAMES = {"probes": {("report.finding", "Finding")}}


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(absolute module, imported names) for every import in ``path``."""
    rel = path.relative_to(PACKAGE).with_suffix("")
    package = list(rel.parts[:-1]) if rel.parts[-1] != "__init__" else list(rel.parts[:-1])
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                module = ".".join([*base, *([node.module] if node.module else [])])
            elif node.module and node.module.startswith("model_audit"):
                module = node.module[len("model_audit."):] if node.module != "model_audit" else ""
            else:
                continue
            names = [alias.name for alias in node.names]
            if not module:  # from . import x  /  from .. import x
                found += [(name, [name]) for name in names]
            else:
                found.append((module, names))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("model_audit."):
                    found.append((alias.name[len("model_audit."):], []))
    return found


def violations() -> list[str]:
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        stage = rel.parts[0] if len(rel.parts) > 1 else None
        if stage not in ALLOWED:
            continue
        for module, names in _imports(path):
            top = module.split(".")[0]
            if top in (stage, *LEAVES, "") or top in ALLOWED[stage]:
                if any((module, name) in FORBIDDEN_NAMES.get(stage, set()) for name in names):
                    bad.append(f"{rel}: imports {names} from {module}")
                continue
            bad.append(f"{rel}: {stage} imports {module}")
    return bad


def test_no_import_runs_against_the_flow():
    assert violations() == []


def test_probes_never_build_findings():
    for path in (PACKAGE / "probes").rglob("*.py"):
        assert "Finding(" not in path.read_text(encoding="utf-8"), path


def test_the_report_holds_no_live_model_or_graph():
    from dataclasses import fields

    from model_audit.report.audit_report import AuditReport

    names = {f.name for f in fields(AuditReport)}
    assert not names & {"module", "graph", "model_module"}
    assert AuditReport.__dataclass_params__.frozen
