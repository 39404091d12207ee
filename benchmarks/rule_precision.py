"""Precision and recall of the rules on the labelled corpora (tests/corpus, tests/corpus_realworld).

    PYTHONPATH=src python benchmarks/rule_precision.py [RULE ...]

Per file and rule: a true positive when the rule is in the file's EXPECT and fires (any severity); a
false negative when it is expected and silent; a false positive when it fires on a file listing it in
CONTROLS, or fires at warning/error on a file that does not expect it (info there is allowed by the
labels). Also counts findings whose source points outside the file's own folder.
"""
from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from pathlib import Path

from model_audit import audit
from model_audit.report.finding import Severity
from model_audit.target.loading import load_target

ROOT = Path(__file__).resolve().parents[1]
MISSION = ["unclipped-rnn", "dropout-before-batchnorm", "missing-padding", "softmax-output", "even-kernel",
           "sigmoid-vanishing-gradient"]


def _labels(path: Path) -> dict:
    spec = importlib.util.spec_from_file_location(f"_labels_{path.parent.name}_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {"expect": set(getattr(module, "EXPECT", set())), "controls": set(getattr(module, "CONTROLS", set()))}


def files() -> list[tuple[Path, Path | None]]:
    found = [(path, None) for path in sorted((ROOT / "tests" / "corpus").glob("*.py"))]
    for model in sorted((ROOT / "tests" / "corpus_realworld").glob("*/model.py")):
        train = model.parent / "train.py"
        found.append((model, train if train.exists() else None))
    return found


def main(rules: list[str]) -> None:
    counts = {rule: Counter() for rule in rules}
    outside = 0
    for path, train in files():
        labels = _labels(path)
        loaded = load_target(str(path))
        report = audit(loaded.model, loaded.inputs, source_path=path, train_script=train,
                       input_shape=None if loaded.inputs is not None else loaded.input_shape)
        fired: dict[str, Severity] = {}
        for finding in report.findings:
            fired[finding.rule] = max(fired.get(finding.rule, Severity.INFO), finding.severity)
            source = (finding.source or "").rpartition(":")[0]
            if source and not Path(source).resolve().is_relative_to(path.parent.resolve()):
                outside += 1
        for rule in rules:
            if rule in labels["expect"]:
                counts[rule]["tp" if rule in fired else "fn"] += 1
            elif rule in labels["controls"] and rule in fired:
                counts[rule]["fp"] += 1
            elif rule in fired and fired[rule] >= Severity.WARNING:
                counts[rule]["fp"] += 1
            else:
                counts[rule]["tn"] += 1
    print(f"{'rule':30} {'TP':>3} {'FP':>3} {'FN':>3} {'TN':>3} {'precision':>9} {'recall':>6}")
    for rule, c in counts.items():
        precision = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else float("nan")
        recall = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else float("nan")
        print(f"{rule:30} {c['tp']:3} {c['fp']:3} {c['fn']:3} {c['tn']:3} {precision:9.2f} {recall:6.2f}")
    print(f"findings pointing outside the file's folder: {outside}")


if __name__ == "__main__":
    main(sys.argv[1:] or MISSION)
