"""Recurrent nets: gradients through time need clipping."""
from __future__ import annotations

from typing import Iterable

from ...ir.graph import LayerGraph
from ...report.finding import Finding
from ..base import RuleContext, rule
from ..clipping import Evidence, evidence_in_callable, evidence_in_file, evidence_in_hooks

FIX = "torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)"


def _evidence(ctx: RuleContext) -> tuple[list[Evidence], list[str]]:
    """(evidence found, the places searched) — the searched list goes into the message."""
    found: list[Evidence] = []
    searched: list[str] = []
    for path, label in ((ctx.source_path, "model file"), (ctx.train_script, "train script")):
        if path is not None:
            searched.append(path.name)
            found += evidence_in_file(path, label)
    if ctx.train_step is not None:
        searched.append("train_step")
        found += evidence_in_callable(ctx.train_step)
    if ctx.model is not None:
        searched.append("gradient hooks")
        found += evidence_in_hooks(ctx.model)
    return found, searched


@rule(
    id="unclipped-rnn",
    severity="warning",
    summary="RNN/LSTM/GRU trained without gradient clipping",
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
    names = ", ".join(f"'{layer.name}' ({layer.type})" for layer in recurrent[:3])
    more = f" and {len(recurrent) - 3} more" if len(recurrent) > 3 else ""
    places = ", ".join(searched) if searched else "nothing (no model file, train script or train_step given)"
    yield ctx.finding(
        first,
        f"{len(recurrent)} recurrent layer(s) {names}{more} and no gradient clipping found "
        f"(searched: {places}); exploding gradients through time are unbounded — after loss.backward() "
        f"add {FIX}",
        fix=f"after loss.backward(): {FIX}",
        recurrent_layers=[layer.name for layer in recurrent],
        searched=searched,
    )


RULES = [unclipped_rnn]
