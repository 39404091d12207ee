"""BatchNorm needs enough values per channel to estimate a mean and a variance."""
from __future__ import annotations

import math
from typing import Iterable

from ...ir.graph import LayerGraph
from ...report.finding import Finding
from ..base import RuleContext, rule
from ...ir.facts import batchnorm_call


@rule(
    id="batchnorm-small-batch",
    severity="warning",
    summary="BatchNorm normalizing over fewer than 8 values per channel (1 value: error)",
    fix_hint="use GroupNorm/LayerNorm, a larger batch, or move the BatchNorm before the spatial collapse",
    options={"min_values": 8, "batch_size": 0},
    option_help={
        "min_values": "fewest values per channel (batch × spatial positions) not reported",
        "batch_size": "training batch size to check with; 0 = the audited input's batch size, "
                      "and only for BatchNorm calls that use batch statistics in the audited run",
    },
    what="""
BatchNorm calls (`nn.BatchNorm1d/2d/3d`, `nn.SyncBatchNorm`, `F.batch_norm`) that normalize with
batch statistics over fewer than `min-values` (default 8) values per channel, where the number of
values is batch size × spatial positions (`N·H·W` for 2-D maps, `N·L` for sequences, `N` for
`[N, C]` features). Exactly one value per channel is an error.

Which batch: BatchNorm uses batch statistics only while training (or in any mode with
`track_running_stats=False`); in eval mode it uses its running statistics and the batch size does
not matter. So by default the rule checks BatchNorm calls that use batch statistics in the audited
run — audit with `--mode train` and your training batch shape — and stays silent on eval-mode
audits (a torchvision model audited at batch 1 in eval mode is fine). Set the option `batch-size`
to your training batch size to check any audit, in either mode, with that batch size and the
audited spatial sizes.
""",
    why="""
BatchNorm estimates `μ = mean(x)` and `σ² = var(x)` per channel from the `m` values it sees. With
`m = 1`, `x − μ = 0`: the output is the bias β whatever the input, the gradient to the input is zero,
and PyTorch raises `Expected more than 1 value per channel when training`. With small `m` the
estimates are noisy (the variance estimate's relative standard error is `√(2/(m−1))`: 53% at
m = 8) and the running statistics used at inference disagree with training; accuracy degrades
sharply below 8–16 samples per batch (Wu & He, *Group Normalization*, ECCV 2018, Fig. 1).
""",
    example="""
```python
self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(512, 256), nn.BatchNorm1d(256))   # N values per channel
# trained with batch size 4: 4 values per channel
```
""",
    fix="""
Use `nn.GroupNorm(32, C)` or `nn.LayerNorm` (independent of batch size), increase the batch size
(or use `SyncBatchNorm` across devices), or normalize before global pooling where `N·H·W` is large.
""",
)
def batchnorm_small_batch(graph: LayerGraph, ctx: RuleContext) -> Iterable[Finding]:
    minimum = int(ctx.options["min_values"])
    batch_size = int(ctx.options["batch_size"] or 0)
    for layer in graph:
        call = batchnorm_call(layer, training=ctx.mode == "train")
        if call is None or len(call.input_shape) < 2:
            continue
        if not batch_size and not call.batch_statistics:
            continue  # running statistics: the audited batch size does not matter
        n, spatial = call.input_shape[0], call.input_shape[2:]
        batch = batch_size or n
        values = batch * math.prod(spatial)
        if values >= minimum:
            continue
        shape = "×".join(map(str, spatial)) if spatial else "no spatial axes"
        source = "option batch-size" if batch_size else f"audited batch, {ctx.mode} mode"
        yield ctx.finding(
            layer,
            f"{values} value(s) per channel (batch {batch} [{source}] × spatial {shape}) < {minimum}"
            + ("; one value per channel: the output is constant and training raises" if values == 1 else
               "; batch statistics this small are noisy"),
            severity="error" if values == 1 else None,
            values_per_channel=values, batch_size=batch, threshold=minimum,
        )


RULES = [batchnorm_small_batch]
