"""How the user's code consumes the model's output, read from the model file and the training script
(parsed, never run): fed to a distribution as probabilities (a policy head), or to a classification loss."""
from __future__ import annotations

import ast
from pathlib import Path

#: consumers that take probabilities: sampling a policy, not classifying with a loss
DISTRIBUTION_CALLS = frozenset({"Categorical", "OneHotCategorical", "Multinomial", "RelaxedOneHotCategorical",
                                "multinomial"})
#: losses that apply log-softmax themselves and want logits
LOGIT_LOSSES = frozenset({"CrossEntropyLoss", "cross_entropy"})


def _calls(paths: list[Path]) -> list[tuple[str, str]]:
    """(call name, "file:line") for every call in the readable, parsable files among ``paths``."""
    found = []
    for path in paths:
        try:
            tree = ast.parse(Path(path).read_text(encoding="utf-8"))
        except (OSError, SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
                if name:
                    found.append((name, f"{Path(path).name}:{node.lineno}"))
    return found


def distribution_consumer(paths: list[Path]) -> str | None:
    """``"Categorical() at train.py:12"`` when the code feeds probabilities to a distribution and trains
    no logit loss (``CrossEntropyLoss``/``F.cross_entropy``): the softmax output is the point there."""
    calls = _calls(paths)
    if any(name in LOGIT_LOSSES for name, _ in calls):
        return None
    for name, where in calls:
        if name in DISTRIBUTION_CALLS:
            return f"{name}() at {where}"
    return None
