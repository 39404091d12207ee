"""Whether a dropout still drops at inference, and what a measured train/eval variance ratio says.

``dropout-before-batchnorm`` is about the *variance shift*: BatchNorm's running variance is learned
under dropout's 1/(1 − p) scaling and applied at inference, where dropout is the identity. A dropout
that stays on at inference (``F.dropout(x, p)`` without ``training=`` — it defaults to True —, or
Monte-Carlo dropout modules that always sample) scales the same way in both modes: no shift.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from ...ir.facts import op_name
from ...ir.graph import Layer


def _module_drops_in_eval(module: nn.Module) -> bool:
    """Run the dropout module once in eval mode on a probe tensor of ones: does it still zero or scale?

    Dropout modules hold no state, so one call changes nothing; the module's training flag is restored.
    A module that cannot run on the probe tensor is taken to follow the usual eval-mode contract.
    """
    if type(module).__module__.startswith("torch."):  # torch's own dropouts are the identity in eval mode
        return False
    shapes = {nn.Dropout1d: (2, 8, 64), nn.Dropout2d: (2, 8, 8, 8), nn.Dropout3d: (2, 8, 4, 4, 4)}
    shape = next((s for cls, s in shapes.items() if isinstance(module, cls)), (4, 256))
    was_training = module.training
    try:
        module.eval()
        with torch.no_grad():
            out = module(torch.ones(shape))
        return isinstance(out, torch.Tensor) and not torch.equal(out, torch.ones(shape))
    except Exception:
        return False
    finally:
        module.train(was_training)


def active_at_inference(layer: Layer, mode: str) -> bool:
    """The dropout keeps dropping when the model is in eval mode (Monte-Carlo dropout, ``F.dropout`` without
    ``training=``), so training and inference see the same variance.

    Judged from an eval-mode audit (the default): fx records ``training=True`` for ``F.dropout(x, p)``
    and ``training=False`` for ``training=self.training``; the hooks tracer sees functional dropout in
    eval mode only when it runs (``bernoulli_``). Modules (``nn.Dropout`` subclasses included) are run
    once in eval mode on a probe tensor. In a train-mode audit every dropout is on, so functional ones
    cannot be told apart and count as ordinary dropout.
    """
    if layer.module is not None:
        return _module_drops_in_eval(layer.module)
    if mode != "eval":
        return False
    if op_name(layer) == "bernoulli":  # the hooks tracer saw it run in eval mode
        return True
    return layer.arguments.get("training") is True


def variance_verdict(ratio: float | None, low: float, high: float) -> dict[str, Any]:
    """Judge the probe's Var(BN input, eval) / running_var for a dropout-before-batchnorm finding.

    Within ``[low, high]`` the shift the rule predicts is not there (DenseNet's p = 1e-7 dropout
    measures 0.99–1.04; real positives 1.6–11 or below 0.7): ``"silence"`` — the finding is
    downgraded to info, quoting the figure. Outside, ``"confirm"``. ``None`` when nothing was measured.
    """
    if ratio is None:
        return {"verdict": None, "text": ""}
    text = f"measured Var(BN input, eval) / running_var = {ratio:.3g} (1.0 = no shift; band {low:g}..{high:g})"
    if low <= ratio <= high:
        return {"verdict": "silence", "text": text + ": no variance shift measured"}
    return {"verdict": "confirm", "text": text + ": shift confirmed"}
