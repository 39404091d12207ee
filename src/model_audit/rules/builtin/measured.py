"""Rules whose findings come from the probes (``--probe``): registered for their ids, docs and options.

The probes (``auditor/probes``) measure and emit these findings; registering them here makes them
part of the same contract as the static rules: listed by ``model-audit rules``, documented in
docs/rules.md, described in SARIF, selectable, and their thresholds set as rule options in
``[tool.model-audit.options.<id>]``. Reading the graph, they find nothing.
"""
from __future__ import annotations

from typing import Iterable

from ...ir.graph import LayerGraph
from ...report.finding import Finding
from ..base import RuleContext, rule


def _measured_by_probe(graph: LayerGraph, ctx: RuleContext) -> Iterable[Finding]:
    return ()


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
    return _measured_by_probe(graph, ctx)


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
    return _measured_by_probe(graph, ctx)


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
    return _measured_by_probe(graph, ctx)


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
    return _measured_by_probe(graph, ctx)


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
    return _measured_by_probe(graph, ctx)


RULES = [vanishing_gradient, exploding_gradient, dead_relu, saturated_activations, nonfinite_values]


def probe_thresholds(rules: Iterable, options: dict[str, dict]) -> dict[str, float]:
    """The probes' threshold table from these rules' options (defaults overridden by settings)."""
    thresholds: dict[str, float] = {}
    for item in rules:
        thresholds.update(item.options)
        thresholds.update({k.replace("-", "_"): v for k, v in options.get(item.id, {}).items()})
    return thresholds
