"""Recurrent nets: gradients through time need clipping."""
from __future__ import annotations

from typing import Any, Iterable

from ...ir.graph import Layer, LayerGraph
from ...report.finding import Finding, Severity
from ..base import RuleContext, rule
from ..clipping import Evidence, evidence_in_callable, evidence_in_hooks, evidence_in_source

FIX = "torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)"


def _evidence(ctx: RuleContext) -> tuple[list[Evidence], list[str]]:
    """(evidence found, the places searched) — the searched list goes into the message."""
    found: list[Evidence] = []
    searched: list[str] = []
    roots = [(path, label) for path, label in ((ctx.source_path, "model file"), (ctx.train_script, "train script"))
             if path is not None]
    if roots:
        searched += [path.name for path, _ in roots]
        found += evidence_in_source(roots)
    if ctx.train_step is not None:
        searched.append("train_step")
        found += evidence_in_callable(ctx.train_step)
    if ctx.model is not None:
        searched.append("gradient hooks")
        found += evidence_in_hooks(ctx.model)
    return found, searched


def recurrent_modules(layers: list[Layer]) -> list[tuple[str, str, int]]:
    """(name, type, calls) per recurrent module — two LSTMCells stepped 999 times are 2 modules, not 1998
    layers; a functional recurrent op counts once per place (scope and op) that calls it."""
    seen: dict[tuple, list] = {}
    for layer in layers:
        key = ("module", id(layer.module)) if layer.module is not None else ("op", layer.scope, layer.type)
        base = layer.name.split("@")[0] if layer.module is not None else (f"{layer.scope}.{layer.type}".lstrip("."))
        entry = seen.setdefault(key, [base, layer.type, 0])
        entry[2] += 1
    return [tuple(entry) for entry in seen.values()]


def measured_growth(growth: float | None, threshold: float, suggested_max_norm: float | None) -> dict[str, Any]:
    """Judge the probe's gradient growth over sequence length for an ``unclipped-rnn`` finding.

    Growth at or above ``threshold`` (or non-finite) confirms the risk: error, and the measured
    ``max_norm`` is suggested. Below it the probe saw no explosion at initialization: the finding stays
    a risk (training can still move ``W_hh`` past spectral norm 1), keeps its severity, says so, and
    suggests no max_norm from a measurement that showed nothing to clip.
    Returns ``{"confirmed", "severity" (or None: unchanged), "text", "max_norm" (or None)}``.
    """
    import math

    if growth is None:
        return {"confirmed": False, "severity": None, "text": "growth not measured", "max_norm": None}
    if growth >= threshold or not math.isfinite(growth):
        return {"confirmed": True, "severity": Severity.ERROR, "max_norm": suggested_max_norm,
                "text": f"growth ×{growth:.3g} (threshold ×{threshold:g}): exploding at initialization"
                        + (f"; suggested max_norm={suggested_max_norm:.3g}" if suggested_max_norm else "")}
    return {"confirmed": False, "severity": None, "max_norm": None,
            "text": f"growth ×{growth:.3g} (< ×{threshold:g}): no growth measured at initialization, "
                    f"the risk is in training, when W_hh can grow"}


@rule(
    id="unclipped-rnn",
    severity="warning",
    summary="RNN/LSTM/GRU trained without gradient clipping",
    needs_trace=False,
    fix_hint=f"clip after loss.backward(): {FIX}",
    what="""
A model with recurrent layers (`nn.RNN`, `nn.LSTM`, `nn.GRU`, their cells, or the functional
`lstm`/`gru`/`rnn_*` ops) and no evidence of gradient clipping. Evidence is any of: a call of
`clip_grad_norm_`/`clip_grad_value_` (or `clip_grad_norm`, `clip_grads_with_norm_`,
accelerate/Fabric's `clip_gradients`) or a Lightning `gradient_clip_val=` argument in the model
file or the training script given with `--train-script` (parsed, never run); a `train_step`
callable passed to `audit()` that calls a clipping function; a gradient hook registered on the
model's parameters (`param.register_hook`) or modules that clamps the gradient.
""",
    why="""
Backpropagation through time multiplies the gradient by the recurrent Jacobian once per step:
`∂h_T/∂h_t = ∏_{k=t+1..T} diag(σ'(·)) W_hh`, so its norm can grow like `‖W_hh‖^(T−t)`.
When the largest singular value of `W_hh` exceeds 1 the gradient explodes and one step can wreck
the weights (Pascanu, Mikolov & Bengio, *On the difficulty of training recurrent neural networks*,
ICML 2013). Rescaling the gradient to a maximum norm bounds the step and is the standard remedy.
""",
    example="""
```python
class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(128, 256, num_layers=2)
        self.head = nn.Linear(256, 10)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out)

# train.py
loss.backward()
optimizer.step()          # no clipping
```
""",
    fix=f"""
Clip the gradient norm between `loss.backward()` and `optimizer.step()`:

```python
loss.backward()
{FIX}
optimizer.step()
```

Needs no trace: when the model cannot be traced (no example input, or inputs it rejects) the rule
still runs on the module tree and the scripts, and the error says what it found.

Pass the training script (`--train-script train.py`) or the step function
(`audit(..., train_step=step)`) so the audit can see it.
""",
    options={"rnn_growth": 10.0},
    option_help={"rnn_growth": "with --probe: gradient-norm growth from the shortest to the longest sequence "
                               "from which the finding becomes an error"},
)
def unclipped_rnn(graph: LayerGraph, ctx: RuleContext) -> Iterable[Finding]:
    recurrent = [layer for layer in graph if layer.kind == "recurrent"]
    if not recurrent:
        return
    found, searched = _evidence(ctx)
    if found:
        return
    first = recurrent[0]
    modules = recurrent_modules(recurrent)
    names = ", ".join(f"'{name}' ({kind}" + (f", called {calls} times)" if calls > 1 else ")")
                      for name, kind, calls in modules[:3])
    more = f" and {len(modules) - 3} more" if len(modules) > 3 else ""
    places = ", ".join(searched) if searched else "nothing (no model file, train script or train_step given)"
    if any(name.endswith(".py") for name in searched):
        places += " and the project modules they import"
    yield ctx.finding(
        first,
        f"{len(modules)} recurrent module(s) {names}{more} and no gradient clipping found "
        f"(searched: {places}); nothing bounds the gradient through time if it grows — after loss.backward() "
        f"add {FIX}",
        fix=f"after loss.backward(): {FIX}",
        recurrent_layers=[name for name, _, _ in modules],
        recurrent_calls=len(recurrent),
        searched=searched,
    )


RULES = [unclipped_rnn]
