"""Measured rules: they judge the probes' measurements (``ctx.probe``, present with ``--probe``).

The probes (``probes/``) only measure; these rules turn the measurements into findings with the
measured value and the threshold, and the thresholds are these rules' options — the only source
(``[tool.model-audit.options.<id>]``). Thresholds follow AUTOTRAINER (Zhang et al., ICSE 2021) for
the gradient ratio. Without a probe report they find nothing.
"""
from __future__ import annotations

import math
from typing import Any, Iterable

from ...ir.graph import LayerGraph
from ...report.finding import Finding, Severity
from ..base import RuleContext, rule


def _g(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def _nonfinite(probe: Any) -> bool:
    """NaN/Inf reached an output or the gradient: the other figures are meaningless then."""
    total = probe.total_grad_norm
    return bool(probe.first_nonfinite) or (total is not None and not math.isfinite(total))


def _judged(ctx: RuleContext) -> Any:
    """The probe report when there is one to judge (finite), else None."""
    probe = getattr(ctx, "probe", None)
    return None if probe is None or _nonfinite(probe) else probe


def _at(graph: LayerGraph, name: str | None) -> Any:
    """The graph layer (for its source location) or the bare name."""
    return graph.by_name().get(name, name) if name else None


_PROBE_NOTE = "Needs `--probe` (API: `probe=True`): the figure is measured on a real forward/backward pass."


@rule(id="vanishing-gradient", severity="warning", measured=True,
      summary="Measured: early layers receive a vanishing share of the gradient",
      what=f"""The first layer's weight-gradient norm is below `vanishing-ratio` (1e-3) of the last layer's
**and** below `vanishing-first-norm` (1e-4) in absolute terms, on a seeded batch at initialization.
{_PROBE_NOTE}""",
      why="""Backpropagation multiplies the gradient by every layer's Jacobian; with sigmoids (σ' ≤ 1/4) and
default init the product shrinks geometrically and early layers stop learning. Thresholds after
AUTOTRAINER (Zhang et al., ICSE 2021). The absolute bound assumes a loss of order 1 (the default
probe loss).""",
      example="""```python
layers = []
for _ in range(8):
    layers += [nn.Linear(64, 64), nn.Sigmoid()]
model = nn.Sequential(*layers, nn.Linear(64, 10))   # measured first/last ratio ≈ 4e-8
```""",
      fix="ReLU/GELU in hidden layers, He/Xavier initialization, normalization layers, residual connections.",
      options={"vanishing_ratio": 1e-3, "vanishing_first_norm": 1e-4},
      option_help={"vanishing_ratio": "first/last gradient-norm ratio below which gradients vanish",
                   "vanishing_first_norm": "first-layer gradient norm below which it counts as vanished"})
def vanishing_gradient(graph: LayerGraph, ctx: RuleContext) -> Iterable[Finding]:
    probe = _judged(ctx)
    if probe is None:
        return
    t = ctx.options
    ratio = probe.first_last_ratio
    first = probe.layer(probe.first_layer).grad_norm if probe.first_layer else None
    if ratio is None or first is None or not (ratio < t["vanishing_ratio"] and first < t["vanishing_first_norm"]):
        return
    pair = f"`{probe.first_layer}` / `{probe.last_layer}`"
    yield ctx.finding(
        _at(graph, probe.first_layer),
        f"gradient norm ratio first/last layer {pair} = {ratio:.3g} (threshold < {t['vanishing_ratio']:g}) and "
        f"first-layer gradient norm {first:.3g} (threshold < {t['vanishing_first_norm']:g}): early layers barely learn",
        fix="use ReLU/GELU instead of sigmoid/tanh in hidden layers, He/Xavier initialization, normalization "
            "layers or residual connections",
        ratio=ratio, first_grad_norm=first, first_layer=probe.first_layer, last_layer=probe.last_layer,
        threshold_ratio=t["vanishing_ratio"], threshold_first_norm=t["vanishing_first_norm"])


@rule(id="exploding-gradient", severity="error", measured=True,
      summary="Measured: gradients grow from the last layer to the first, or the total norm is huge",
      what=f"""The first/last weight-gradient norm ratio is above `exploding-ratio` (70, AUTOTRAINER) or the
total gradient norm (what `clip_grad_norm_` returns) is above `exploding-total-norm` (1e3). {_PROBE_NOTE}""",
      why="""When each layer multiplies the backward signal by more than 1, early layers get updates orders of
magnitude larger than late ones and one step can wreck the weights (mean-field theory: the
per-layer factor χ = σ_w² E[φ'(h)²] > 1 is the chaotic phase; Schoenholz et al., ICLR 2017).""",
      example="""```python
layers = []
for _ in range(30):
    linear = nn.Linear(64, 64)
    nn.init.normal_(linear.weight, std=4 / 64 ** 0.5)
    layers += [linear, nn.Tanh()]
model = nn.Sequential(*layers)                      # measured ratio ≈ 3e4
```""",
      fix="Scale the init (std = gain/√fan_in), add normalization, clip the gradient norm.",
      options={"exploding_ratio": 70.0, "exploding_total_norm": 1e3},
      option_help={"exploding_ratio": "first/last gradient-norm ratio above which gradients explode",
                   "exploding_total_norm": "total gradient norm above which gradients explode"})
def exploding_gradient(graph: LayerGraph, ctx: RuleContext) -> Iterable[Finding]:
    probe = _judged(ctx)
    if probe is None:
        return
    t = ctx.options
    ratio, total = probe.first_last_ratio, probe.total_grad_norm
    by_ratio = ratio is not None and ratio > t["exploding_ratio"]
    if not (by_ratio or (total is not None and total > t["exploding_total_norm"])):
        return
    pair = f"`{probe.first_layer}` / `{probe.last_layer}`"
    yield ctx.finding(
        _at(graph, probe.first_layer) if by_ratio else None,
        f"gradient norm ratio first/last layer {pair} = {_g(ratio)} (threshold > {t['exploding_ratio']:g}), "
        f"total gradient norm {_g(total)} (threshold > {t['exploding_total_norm']:g})",
        fix="scale the initialization down (He/Xavier: std = gain/√fan_in), add normalization, and clip: "
            "torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)",
        ratio=ratio, total_grad_norm=total, threshold_ratio=t["exploding_ratio"],
        threshold_total_norm=t["exploding_total_norm"])


@rule(id="dead-relu", severity="warning", measured=True,
      summary="Measured: most units of a ReLU layer are never active",
      what=f"""At least `dead-fraction` (70 %) of a ReLU-family layer's units never output a positive value on
any probe sample (at least 2 batches); error when the whole layer is dead. {_PROBE_NOTE}""",
      why="""A unit that outputs 0 for every input has zero gradient and never recovers (DeepDiagnosis;
SageMaker Debugger's `dead_relu`). In deep healthy He-initialized nets the never-active share tends
to 1/2 (measured 20–45 % on 20-layer MLPs), hence 70 %.""",
      example="""```python
linear = nn.Linear(64, 64)
nn.init.constant_(linear.bias, -10.0)
model = nn.Sequential(linear, nn.ReLU(), nn.Linear(64, 10))   # 100 % dead
```""",
      fix="He init with zero biases, a lower learning rate, LeakyReLU/GELU.",
      options={"dead_fraction": 0.7},
      option_help={"dead_fraction": "share of never-active units from which a layer is reported"})
def dead_relu(graph: LayerGraph, ctx: RuleContext) -> Iterable[Finding]:
    probe = _judged(ctx)
    if probe is None:
        return
    threshold = ctx.options["dead_fraction"]
    samples = probe.batches * (probe.batch_size or 1)
    for layer in probe.layers:
        if layer.dead_fraction is None or layer.dead_fraction < threshold:
            continue
        yield ctx.finding(
            _at(graph, layer.name),
            f"{layer.dead_fraction:.0%} of the {layer.units} units of `{layer.name}` were never active on "
            f"{probe.batches} probe batches ({samples} samples) (threshold ≥ {threshold:.0%}): "
            f"no gradient flows through them",
            severity=Severity.ERROR if layer.dead_fraction >= 1.0 else Severity.WARNING,
            fix="check the biases and initialization before this ReLU (He init, biases ≥ 0), lower the "
                "learning rate, or use LeakyReLU/GELU",
            dead_fraction=layer.dead_fraction, units=layer.units, threshold=threshold)


@rule(id="saturated-activations", severity="warning", measured=True,
      summary="Measured: a sigmoid/tanh layer's outputs sit in the flat tails",
      what=f"""At least `saturation` (30 %) of a sigmoid/tanh/softsign/hardsigmoid/hardtanh layer's outputs are
saturated (|tanh| > 0.99, sigmoid < 0.01 or > 0.99; docs/probes.md has every definition). {_PROBE_NOTE}""",
      why="""Saturated units have a near-zero derivative: their inputs stop learning, and chains of them make
gradients vanish (TheDeepChecker; DeepDiagnosis).""",
      example="""```python
linear = nn.Linear(64, 64)
nn.init.normal_(linear.weight, std=4 / 64 ** 0.5)
model = nn.Sequential(linear, nn.Tanh())            # about half the outputs beyond |0.99|
```""",
      fix="Xavier init, normalized inputs, a norm layer before the activation, ReLU-family hidden layers.",
      options={"saturation": 0.3},
      option_help={"saturation": "share of saturated outputs from which a layer is reported"})
def saturated_activations(graph: LayerGraph, ctx: RuleContext) -> Iterable[Finding]:
    probe = _judged(ctx)
    if probe is None:
        return
    threshold = ctx.options["saturation"]
    for layer in probe.layers:
        if layer.saturation is None or layer.saturation < threshold:
            continue
        yield ctx.finding(
            _at(graph, layer.name),
            f"{layer.saturation:.0%} of the outputs of `{layer.name}` are saturated (|tanh| > 0.99, sigmoid "
            f"< 0.01 or > 0.99; threshold ≥ {threshold:.0%}): their derivative is nearly zero",
            fix="scale the initialization down (Xavier for sigmoid/tanh), normalize the inputs, add a norm "
                "layer before the activation, or use a non-saturating activation",
            saturation=layer.saturation, threshold=threshold)


@rule(id="nonfinite-values", severity="error", measured=True,
      summary="Measured: a layer outputs NaN or Inf, or the gradient norm is not finite",
      what=f"""The first layer (in graph order) whose output holds NaN or ±Inf on the probe batch, or a
non-finite total gradient norm. Other probe findings are skipped then. {_PROBE_NOTE}""",
      why="""One NaN propagates to every weight at the first optimizer step; the first layer producing it is
where to look (log of negatives, division by zero, overflow in float16).""",
      example="""```python
class Net(nn.Module):
    def forward(self, x):
        return torch.log(self.linear(x))   # log of negative values: NaN
```""",
      fix="Check the layer's inputs and initialization; clamp before log/sqrt/div; compute the loss in float32.")
def nonfinite_values(graph: LayerGraph, ctx: RuleContext) -> Iterable[Finding]:
    probe = getattr(ctx, "probe", None)
    if probe is None or not _nonfinite(probe):
        return
    where = f"layer `{probe.first_nonfinite}` is the first to output NaN/Inf" if probe.first_nonfinite else \
        f"the total gradient norm is {probe.total_grad_norm} although every layer's output is finite"
    yield ctx.finding(
        _at(graph, probe.first_nonfinite), f"{where} on {probe.device} (threshold: any non-finite value)",
        fix="check the layer's inputs and initialization; lower the learning rate, add normalization, "
            "or compute the loss in float32",
        first_nonfinite=probe.first_nonfinite, total_grad_norm=probe.total_grad_norm)


RULES = [vanishing_gradient, exploding_gradient, dead_relu, saturated_activations, nonfinite_values]
