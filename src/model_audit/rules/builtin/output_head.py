"""The model's outputs: losses expect logits, not probabilities."""
from __future__ import annotations

from typing import Iterable

from ...ir.graph import Layer, LayerGraph
from ...report.finding import Finding
from ..base import RuleContext, rule
from ...ir.facts import is_softmax
from .output_use import distribution_consumer

_TRANSPARENT = {"reshape", "identity"}  # view/flatten/getitem/squeeze: the values are unchanged


# The softmax's input must come from a head (a layer with weights mapping features to classes), not
# from a matmul of activations (attention scores q·kᵀ). -> ir/ops.py
_HEAD_KINDS = {"linear", "conv"}


def _from_head(layer: Layer, layers: dict[str, Layer]) -> bool:
    """The softmax is applied to a head's output (through shape-only ops): classification logits."""
    sources = [name for name in layer.inputs if name in layers and layers[name].kind != "parameter"]
    if not sources:
        return False
    return _producer(layers[sources[0]], layers).kind in _HEAD_KINDS


def _producer(layer: Layer, layers: dict[str, Layer]) -> Layer:
    """Follow an output back through shape-only ops to the op that computed its values."""
    seen = set()
    while layer.kind in _TRANSPARENT and len(layer.inputs) == 1 and layer.inputs[0] in layers:
        if layer.name in seen:
            break
        seen.add(layer.name)
        layer = layers[layer.inputs[0]]
    return layer


@rule(
    id="softmax-output",
    severity="warning",
    summary="The model returns softmax probabilities; CrossEntropyLoss expects logits",
    fix_hint="return the logits and let nn.CrossEntropyLoss apply log-softmax",
    what="""
The model's main output — what `forward` returns, or the first element when it returns a tuple —
computed by a softmax (`nn.Softmax`, `nn.Softmax2d`, `F.softmax`, `torch.softmax`, `x.softmax(dim)`),
possibly followed only by reshapes, over the output of a head (a Linear or a convolution):
classification logits turned into probabilities. Not flagged: `log_softmax`/`nn.LogSoftmax` (the input
`nn.NLLLoss` expects); softmax inside the model; a second or later output (attention weights returned
beside the prediction); a softmax over a matmul of activations (attention maps, whatever their
position); and a policy head: when the model file or the training script feeds probabilities to
`torch.distributions.Categorical`/`OneHotCategorical`/`Multinomial` or `torch.multinomial` and trains
no `CrossEntropyLoss`/`F.cross_entropy`, the probabilities are the point (REINFORCE, actor-critic).
""",
    why="""
`nn.CrossEntropyLoss` applies `log_softmax` itself: fed probabilities it computes
`−log softmax(softmax(z))_y`. Softmax of values in [0, 1] is nearly uniform (for 10 classes the
largest probability it can produce is `e/(e+9) ≈ 0.23`), so the loss cannot fall below ≈1.46 and its
gradient shrinks by up to the softmax Jacobian `diag(p) − ppᵀ` a second time: training stalls.
Computing `log(softmax(z))` separately is also numerically unstable where `log_softmax` is not.
The model is audited in the mode given (`--mode`); a model that applies softmax only at inference
(`if not self.training`) is clean in `--mode train`.
""",
    example="""
```python
def forward(self, x):
    return F.softmax(self.fc(self.features(x)), dim=1)

loss = nn.CrossEntropyLoss()(model(x), y)
```
""",
    fix="""
Return logits from `forward` and apply softmax where probabilities are needed:

```python
def forward(self, x):
    return self.fc(self.features(x))

probs = model(x).softmax(dim=1)        # at inference only
```
or return `F.log_softmax(...)` and train with `nn.NLLLoss`.
""",
)
def softmax_output(graph: LayerGraph, ctx: RuleContext) -> Iterable[Finding]:
    layers = graph.by_name()
    reported = set()
    for name in graph.output_names[:1]:  # the main output; later ones are auxiliaries (attention weights)
        if name not in layers:
            continue
        producer = _producer(layers[name], layers)
        if producer.name in reported or not is_softmax(producer) or not _from_head(producer, layers):
            continue
        policy = distribution_consumer([p for p in (ctx.source_path, ctx.train_script) if p is not None])
        if policy is not None:
            continue  # a policy head: the probabilities feed a distribution, not a loss
        reported.add(producer.name)
        dim = producer.arguments.get("dim") if producer.module is None else getattr(producer.module, "dim", None)
        yield ctx.finding(
            producer,
            f"model output '{name}' is a softmax (dim={dim}; audited in {ctx.mode} mode): probabilities in [0, 1], "
            f"while nn.CrossEntropyLoss expects unnormalized logits (threshold: no softmax on an output)",
            output=name, dim=dim, mode=ctx.mode,
        )


RULES = [softmax_output]
