"""Receptive-field rules: the deepest local features should see the whole input."""
from __future__ import annotations

from typing import Iterable

from ...ir.graph import LayerGraph
from ...report.finding import Finding
from ..base import RuleContext, rule
from ._layers import size_text


@rule(
    id="receptive-field-coverage",
    severity="info",
    summary="The last spatial layer's receptive field covers less than the input",
    fix_hint="add downsampling or dilation, a larger kernel, or a global-context block before the head",
    what="""
The last layer that still has spatial axes (before global pooling, flatten→linear or attention
mixes every position) has a receptive field whose central unit covers less than
`min_coverage` of the input along some axis. Coverage is the fraction of the input extent
inside the central output unit's window, clipped to the input. Not flagged: a last spatial layer
followed by self-attention over all positions (ViT's patch embedding: every token then sees the
whole image), and models whose field the analysis cannot follow to the output (windowed attention).
""",
    why="""
A unit cannot react to anything outside its receptive field: with
`r_l = r_{l-1} + (k_l - 1)·d_l·j_{l-1}` (Araujo, Norris & Sim, Distill 2019), a detector whose
deepest features see 100 px cannot reason about 300 px objects, and a segmentation network whose
field does not cover the image misses context. The *effective* field is smaller still — roughly
Gaussian and a fraction of the theoretical one (Luo et al., NeurIPS 2016; `--erf` measures it) —
so a theoretical field below the input size is a strong signal.
""",
    example="""
model = nn.Sequential(                        # three 3×3 convs: field 7×7
    nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(),
    nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
    nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10),
)
audit(model, input_shape=(1, 3, 224, 224))   # 7×7 of 224×224 input (3%)
""",
    fix="""
Grow the field before the head: downsample (stride-2 convs or pooling) so later kernels count
in coarser pixels, use dilated convolutions (DeepLab), larger kernels, or more stages; or add an
explicit global-context block (attention, pyramid pooling). Feeding a smaller input also raises
coverage when the content allows it.
""",
    options={"min_coverage": 1.0},
    option_help={"min_coverage": "fraction of the input extent (per axis) the central unit must cover"},
)
def receptive_field_coverage(graph: LayerGraph, ctx: RuleContext) -> Iterable[Finding]:
    field = graph.receptive_field
    if not field or field["layer"] is None:
        return
    layers = graph.by_name()
    mixer = layers.get(field.get("global_at") or "")
    if mixer is not None and (mixer.kind in ("attention", "matmul") or "softmax" in mixer.type.lower()):
        return  # self-attention right after: every token sees the whole input, the field is no bottleneck
    threshold = float(ctx.options["min_coverage"])
    coverage = field["coverage"]
    if all(c >= threshold for c in coverage):
        return
    percent = "×".join(f"{100 * c:.0f}%" for c in coverage) if len(set(coverage)) > 1 else f"{100 * coverage[0]:.0f}%"
    layer = layers.get(field["layer"], field["layer"])
    yield ctx.finding(
        layer,
        f"the last spatial layer {field['layer']} sees {size_text(field['size'])} px of the "
        f"{size_text(field['input'])} input (coverage {percent}, threshold {100 * threshold:.0f}%)",
        size=field["size"], input=field["input"], coverage=coverage, threshold=threshold,
    )


RULES = [receptive_field_coverage]
