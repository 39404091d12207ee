"""Chains of saturating activations that starve early layers of gradient."""
from __future__ import annotations

from typing import Iterator

from ...ir import ops
from ...ir.graph import Layer, LayerGraph
from ...report.finding import Finding
from ..base import RuleContext, graded, rule
from ._layers import SATURATING_MAX_DERIVATIVE, data_inputs, describe, output_layers, saturating



def _is_product(layer: Layer, layers: dict[str, Layer]) -> bool:
    """A product of two activations (x * gate, q @ k): the gate's derivative scales, it does not chain."""
    name = layer.type.rstrip("_") if layer.module is None else ""
    return (name in ops.PRODUCTS or layer.kind == "matmul") and len(data_inputs(layer, layers)) >= 2


def _is_gate(name: str, layers: dict[str, Layer], consumers: dict[str, list[str]]) -> bool:
    """Every use of the activation ends in a product, through shape-only or scalar ops (``1 - z``, ``[..., None]``)."""
    stack, seen, ends = list(consumers.get(name, [])), set(), 0
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        layer = layers[current]
        if _is_product(layer, layers):
            ends += 1
        elif layer.kind in ("reshape", "identity", "elementwise") and len(data_inputs(layer, layers)) == 1:
            stack.extend(consumers.get(current, []))
        else:
            return False
    return ends > 0


def _chains(graph: LayerGraph) -> dict[str, tuple[str, ...]]:
    """For each layer, the saturating activations on its least-attenuated path to the model's output.

    Backward dynamic programming over the topological order: the gradient reaching a layer is the
    sum over its consumers' paths, so the path with the fewest saturating derivatives dominates
    (``min``). A residual add or a concatenation therefore bypasses the branch; a normalization
    layer resets the count (its backward pass rescales by gamma/sigma_batch); gates, and an output
    activation paired with its likelihood loss (d loss/dz = sigma(z) - y), do not count.
    """
    layers = graph.by_name()
    consumers = graph.consumers()
    outputs = set(graph.output_names)
    heads = output_layers(graph)
    counted = {layer.name for layer in graph if saturating(layer) and layer.name not in heads
               and not _is_gate(layer.name, layers, consumers)}
    best: dict[str, tuple[str, ...]] = {}
    for layer in reversed(graph.layers):
        options: list[tuple[str, ...]] = [()] if layer.name in outputs else []
        for user in consumers.get(layer.name, []):
            if user not in best:
                continue
            if layers[user].kind == "norm":
                options.append(())
            elif user in counted:
                options.append((user,) + best[user])
            else:
                options.append(best[user])
        if options:
            best[layer.name] = min(options, key=len)
    return best


def _bound(chain: tuple[str, ...], layers: dict[str, Layer]) -> tuple[float, str, dict[str, int]]:
    counts: dict[str, int] = {}
    for name in chain:
        kind = saturating(layers[name]) or "sigmoid"
        counts[kind] = counts.get(kind, 0) + 1
    bound = 1.0
    for kind, n in counts.items():
        bound *= SATURATING_MAX_DERIVATIVE[kind] ** n
    formula = " · ".join(f"{_fraction(SATURATING_MAX_DERIVATIVE[kind])}^{n} ({kind})" for kind, n in counts.items()
                         if kind not in _UNIT_BOUND)
    unit = sum(n for kind, n in counts.items() if kind in _UNIT_BOUND)
    if unit:
        names = "/".join(kind for kind in counts if kind in _UNIT_BOUND)
        formula = (formula + " · " if formula else "") + f"{names}' ≤ 1 ({unit}×, no attenuation guaranteed)"
    return bound, formula, counts


# Activations whose derivative bound is 1 (tanh'(0) = 1, softsign'(0) = 1): a chain of them guarantees no
# attenuation, and they are required where the model is differentiated twice (PINNs). -> ir/ops.py
_UNIT_BOUND = {"tanh", "softsign"}
SMOOTH_FIX = ("keep the smooth activation if the model needs it (a PINN differentiates its output twice: ReLU's second "
              "derivative is zero); keep pre-activations out of the flat tails with Xavier/Glorot init (gain 5/3 for tanh), "
              "a LayerNorm before each activation, or residual connections; `--probe` measures the saturation")


def _fraction(value: float) -> str:
    return "(1/6)" if abs(value - 1 / 6) < 1e-12 else f"{value:g}"


@rule(
    id="sigmoid-vanishing-gradient",
    severity="warning",
    summary="Chained saturating activations (sigmoid/tanh/hardsigmoid/softsign), no residual bypass or normalization",
    what="""
A path from a layer with parameters to the model's output that passes through `k` saturating
activations (`nn.Sigmoid`, `nn.Tanh`, `nn.Hardsigmoid`, `nn.Softsign`, `torch.sigmoid`, `F.tanh`,
`x.sigmoid()`, ...) when there is no better path for the gradient: no residual add or concatenation
bypassing them, and no normalization layer in between (a norm layer resets the count). The finding
is on the earliest layer with parameters that the chain starves, with the chain's activations.

`k` is measured on the least-attenuated path (the gradient is a sum over paths, so the best one
dominates). Not counted: multiplicative gates (an activation whose every use ends in a product with
another tensor — squeeze-excitation, GLU, LSTM-style and attention gates, `x * sigmoid(x)`), the
internals of `nn.RNN`/`nn.LSTM`/`nn.GRU`, and an output activation (the binary classifier head).

Tracers: both see modules, functions and tensor methods alike, except `F.softsign`, which the
hooks tracer sees only as its arithmetic (`abs`, `add`, `div`); `nn.Softsign` is seen by both.
""",
    why="""
The derivative of the logistic sigmoid is σ'(z) = σ(z)(1 − σ(z)) ≤ 1/4, so by the chain rule the
gradient through k stacked sigmoids is scaled by at most **0.25^k** (times the weights): 0.0156 at
k = 3, 0.00024 at k = 6. Early layers then learn orders of magnitude slower than late ones (Hochreiter
1991; Glorot & Bengio, AISTATS 2010, who show the top sigmoid layer saturating). The bound per
activation is its largest derivative — sigmoid 1/4, hardsigmoid 1/6, tanh 1, softsign 1 — and the
reported bound is their product along the chain. tanh and softsign reach 1 only at 0 and saturate
like the sigmoid (1 − tanh²(z) → 0), so they count toward the depth `k`; but a bound of 1 guarantees
no attenuation (autograd reaches it at 0), and deep tanh MLPs train with Xavier init (Glorot & Bengio
2010) and are required where the model is differentiated twice (physics-informed nets: ReLU's second
derivative is zero). So a chain of tanh/softsign only is reported as **info**, with a fix that keeps the
smooth activation (init, LayerNorm, residuals); whether it saturates is measured by `--probe`
(`saturated-activations`, `vanishing-gradient`). Chains with a sigmoid or hardsigmoid are graded by `k`. A residual connection gives the gradient a path
around the chain (He et al. 2016); a normalization layer rescales the backward signal by γ/σ
(Ioffe & Szegedy 2015); both reset or bypass the chain.
""",
    example="""
```python
model = nn.Sequential(
    nn.Linear(784, 256), nn.Sigmoid(),
    nn.Linear(256, 256), nn.Sigmoid(),
    nn.Linear(256, 256), nn.Sigmoid(),
    nn.Linear(256, 10),
)  # k = 3: the gradient reaching the first Linear is scaled by at most 0.25^3 = 0.0156
```
""",
    fix="""
Use a non-saturating activation (ReLU, GELU, SiLU) in hidden layers, or add normalization
(BatchNorm/LayerNorm) before each activation, or residual connections around the block. Keep
sigmoid/tanh for gates and output heads.
""",
    fix_hint="use ReLU/GELU in hidden layers, or put a norm layer before each saturating activation",
    options={"warning_depth": 3, "error_depth": 6},
    option_help={
        "warning_depth": "chains of at least this many saturating activations are a warning",
        "error_depth": "chains of at least this many saturating activations are an error",
    },
)
def sigmoid_vanishing_gradient(graph: LayerGraph, ctx: RuleContext) -> Iterator[Finding]:
    warn, error = int(ctx.options["warning_depth"]), int(ctx.options["error_depth"])
    layers = graph.by_name()
    chains = _chains(graph)
    starved = [layer for layer in graph if layer.kind != "parameter"
               and (layer.params or layer.shared_params or layer.kind in ("conv", "linear", "recurrent"))
               and len(chains.get(layer.name, ())) >= warn]
    reported = [chains[layer.name] for layer in starved]
    for layer in starved:
        chain = chains[layer.name]
        if any(len(other) > len(chain) and other[-len(chain):] == chain for other in reported):
            continue  # an earlier layer on the same chain is reported with the whole chain
        k = len(chain)
        bound, formula, counts = _bound(chain, layers)
        smooth_only = all(kind in _UNIT_BOUND for kind in counts)
        smooth_any = any(kind in _UNIT_BOUND for kind in counts)
        yield ctx.finding(
            layer,
            f"the gradient reaching {describe(layer)} passes k={k} chained saturating activations "
            f"({', '.join(f'`{name}`' for name in chain)}) with no residual bypass or normalization: derivative bound "
            f"{formula} = {bound:.3g} (all-sigmoid bound 0.25^k = {0.25 ** k:.3g}); "
            f"threshold: warning at k ≥ {warn}, error at k ≥ {error}"
            + ("; a tanh/softsign-only chain is info" if smooth_only else ""),
            severity="info" if smooth_only else graded(k, warn, error),  # k >= warn: only such chains are reported
            fix=SMOOTH_FIX if smooth_any else None,
            depth=k, bound=bound, activations=list(chain), counts=counts,
        )


RULES = [sigmoid_vanishing_gradient]
