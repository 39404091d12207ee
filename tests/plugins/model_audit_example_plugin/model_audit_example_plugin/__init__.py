"""An example third-party rule: Linear layers holding more parameters than a budget."""
from __future__ import annotations

from model_audit import hookimpl, rule


@rule(
    id="example-huge-linear",
    severity="warning",
    summary="Linear layer with more parameters than max-params",
    fix_hint="pool or project the features before the Linear layer",
    options={"max_params": 1_000_000},
    option_help={"max_params": "largest parameter count of one Linear layer not reported"},
    what="`nn.Linear` layers whose weight and bias hold more than `max-params` parameters.",
    why="A single dense layer on flattened feature maps (VGG's 25088×4096) can hold most of a model's weights.",
    example="```python\nnn.Linear(25088, 4096)   # 102,764,544 parameters\n```",
    fix="Global-average-pool the feature map first: `nn.Linear(512, 4096)`.",
)
def huge_linear(graph, ctx):
    limit = ctx.options["max_params"]
    for layer in graph:
        if layer.kind == "linear" and layer.params > limit:
            yield ctx.finding(layer, f"{layer.params:,} parameters > max-params {limit:,}",
                              params=layer.params, threshold=limit)


@hookimpl
def model_audit_rules():
    return [huge_linear]
