"""``--format sarif``: SARIF 2.1.0 for GitHub code scanning and other SARIF viewers.

Each finding is a result at the module's source file and line (``Finding.source``) with the layer
as a logical location. Rule metadata (summary, what/why/fix) comes in through ``rules``, built by
the caller from the rule registry, so this renderer reads only plain data.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Mapping

from ..report.audit_report import AuditReport
from .locations import relative_path, repository_root, split_source

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"error": "error", "warning": "warning", "info": "note"}


def render_sarif(report: AuditReport, rules: Mapping[str, Mapping[str, Any]] | None = None,
                 root: str | Path | None = None, **_: Any) -> str:
    return json.dumps(sarif_log(report, rules, root), indent=2)


def sarif_log(report: AuditReport, rules: Mapping[str, Mapping[str, Any]] | None = None,
              root: str | Path | None = None) -> dict[str, Any]:
    """The SARIF log as a dict: one run, the rules the findings use, one result per finding."""
    from .. import __version__

    rules = rules or {}
    ids = list(dict.fromkeys([*rules.keys(), *(f.rule for f in report.findings)]))
    descriptors = [_descriptor(rule_id, rules.get(rule_id)) for rule_id in ids]
    index = {rule_id: i for i, rule_id in enumerate(ids)}
    results = [_result(f, index[f.rule], root) for f in report.findings]
    run: dict[str, Any] = {
        "tool": {"driver": {"name": "model-audit", "version": __version__, "semanticVersion": __version__,
                            "rules": descriptors}},
        "results": results,
        "properties": {"model": report.model, "params": report.params, "macs": report.macs, "flops": report.flops},
    }
    if any("uriBaseId" in loc.get("physicalLocation", {}).get("artifactLocation", {})
           for r in results for loc in r.get("locations", [])):
        run["originalUriBaseIds"] = {"SRCROOT": {"uri": (Path(root).resolve() if root else repository_root()).as_uri() + "/"}}
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def _descriptor(rule_id: str, meta: Mapping[str, Any] | None) -> dict[str, Any]:
    meta = meta or {}
    descriptor: dict[str, Any] = {
        "id": rule_id,
        "name": "".join(part.capitalize() for part in re.split(r"[-_]", rule_id)),
        "shortDescription": {"text": meta.get("summary") or rule_id},
    }
    if meta.get("what"):
        descriptor["fullDescription"] = {"text": meta["what"]}
    sections = [(title, meta.get(key)) for title, key in (("What it flags", "what"), ("Why it matters", "why"),
                                                          ("Example", "example"), ("Fix", "fix"))]
    markdown = "\n\n".join(f"**{title}**\n\n" + (f"```python\n{text}\n```" if title == "Example" else text)
                           for title, text in sections if text)
    if markdown:
        plain = "\n\n".join(f"{title}: {text}" for title, text in sections if text)
        descriptor["help"] = {"text": plain, "markdown": markdown}
    if meta.get("severity"):
        descriptor["defaultConfiguration"] = {"level": _LEVEL.get(str(meta["severity"]), "warning")}
    props = {k: meta[k] for k in ("plugin",) if meta.get(k)}
    if props:
        descriptor["properties"] = props
    return descriptor


def _result(finding: Any, rule_index: int, root: str | Path | None) -> dict[str, Any]:
    message = finding.message + (f" Fix: {finding.fix}" if finding.fix else "")
    result: dict[str, Any] = {"ruleId": finding.rule, "ruleIndex": rule_index,
                              "level": _LEVEL.get(str(finding.severity), "warning"), "message": {"text": message}}
    location: dict[str, Any] = {}
    path, line = split_source(finding.source)
    if path:
        rel = relative_path(path, root)
        artifact: dict[str, Any] = ({"uri": rel, "uriBaseId": "SRCROOT"} if not Path(rel).is_absolute()
                                    else {"uri": Path(rel).as_uri()})
        physical: dict[str, Any] = {"artifactLocation": artifact}
        if line:
            physical["region"] = {"startLine": line}
        location["physicalLocation"] = physical
    if finding.layer:
        location["logicalLocations"] = [{"fullyQualifiedName": finding.layer, "kind": "module"}]
    if location:
        result["locations"] = [location]
    if finding.data:
        result["properties"] = json.loads(json.dumps(finding.data, default=str))
    if finding.layer:
        result["partialFingerprints"] = {"modelAuditLayer/v1": f"{finding.rule}:{finding.layer}"}
    return result
