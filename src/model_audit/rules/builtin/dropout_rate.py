"""Dropout rates: above one half, a layer throws away more signal than it keeps."""
from __future__ import annotations

from typing import Iterable

import torch.nn as nn

from ...ir.graph import Layer, LayerGraph
from ...report.finding import Finding
from ..base import RuleContext, rule
from ...ir.facts import dropout_p, op_name


def _inverted_mask_p(layer: Layer, graph_layers: dict[str, Layer], consumers: dict[str, list[str]]) -> float | None:
    """The hooks tracer sees a functional dropout as ``bernoulli_(keep)`` then ``div_(keep)``: 1 − keep."""
    if layer.module is not None or op_name(layer) != "bernoulli":
        return None
    keep = layer.arguments.get("p")
    if not isinstance(keep, float) or not 0.0 <= keep < 1.0:
        return None
    for name in consumers.get(layer.name, []):
        consumer = graph_layers.get(name)
        if consumer is not None and op_name(consumer) == "div" and consumer.arguments.get("other") == keep:
            return 1.0 - keep
    return None


def _internal_p(layer: Layer) -> float | None:
    """Dropout configured inside a leaf module: attention weights (MultiheadAttention) or between the
    stacked layers of an RNN/LSTM/GRU (only applied when ``num_layers > 1``)."""
    module = layer.module
    if isinstance(module, nn.MultiheadAttention):
        return float(module.dropout)
    if isinstance(module, nn.RNNBase) and module.num_layers > 1:
        return float(module.dropout)
    return None


@rule(
    id="high-dropout",
    severity="warning",
    summary="Dropout probability above 0.5",
    fix_hint="lower p to 0.5 or less (0.1-0.3 for convolutional and attention layers)",
    options={"threshold": 0.5},
    option_help={"threshold": "largest drop probability that is not reported (p > threshold fires)"},
    what="""
Dropout layers (`nn.Dropout`, `Dropout1d/2d/3d`, `AlphaDropout`, `F.dropout` and friends), and the
`dropout=` of `nn.MultiheadAttention` and of stacked `nn.LSTM`/`GRU`/`RNN` layers, whose drop
probability `p` exceeds `threshold` (default 0.5). `p = 0.5` — AlexNet's and VGG's classifier
dropout — is not flagged. (In eval mode `F.dropout(x, training=False)` is the identity; the fx
tracer still records it with its `p`, the hooks tracer sees functional dropout only in `--mode train`.)
""",
    why="""
Dropout keeps each unit with probability `1 − p` and scales the survivors by `1/(1 − p)`. The
variance of the scaled activation grows as `p/(1 − p)` times its squared mean: 1 at `p = 0.5`,
2.3 at `p = 0.7`, 9 at `p = 0.9`, so gradients get noisier and training needs many more steps to
converge, while the network sees only a small fraction of its units per step (Srivastava et al.,
*Dropout*, JMLR 2014, found `p = 0.5` for hidden units and `0.2` for inputs close to optimal).
A high rate is usually a typo for the keep probability (`p=0.8` meant "keep 80%", TensorFlow 1's
`keep_prob`).
""",
    example="""
```python
self.drop = nn.Dropout(p=0.8)           # drops 80% of the units
```
""",
    fix="""
`nn.Dropout(p=0.2)` — `p` is the probability of *dropping* a unit. For stronger regularization
prefer weight decay, data augmentation or a smaller model.
""",
)
def high_dropout(graph: LayerGraph, ctx: RuleContext) -> Iterable[Finding]:
    threshold = float(ctx.options["threshold"])
    layers = graph.by_name()
    consumers = graph.consumers()
    for layer in graph:
        p = dropout_p(layer)
        if p is None:
            p = _inverted_mask_p(layer, layers, consumers)
        if p is None:
            p = _internal_p(layer)
        if p is None or p <= threshold:
            continue
        variance = p / (1 - p) if p < 1 else float("inf")
        yield ctx.finding(
            layer,
            f"dropout p={p:g} > threshold {threshold:g}: keeps {1 - p:.0%} of the units; the noise it adds "
            f"has variance p/(1-p) = {variance:.2g} times the squared activation",
            p=p, threshold=threshold,
        )


RULES = [high_dropout]
