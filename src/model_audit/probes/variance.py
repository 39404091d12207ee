"""Eval-time variance shift at each BatchNorm: Var(BN input, eval) / running_var.

Running statistics are re-estimated from scratch on the probe's copies of the buffers: each
BatchNorm's running stats are reset and its ``momentum`` set to None (a cumulative average), the
model runs ``passes`` train-mode forward passes (dropout active, as in training), then the same
number of eval-mode passes during which the BatchNorm's input is captured. Per channel the ratio
is the unbiased eval variance over the running variance; the figure is the mean over channels.
1.0 means no shift; Dropout(p) just before a Linear→BatchNorm on zero-mean inputs gives 1 − p,
after a ReLU about 0.41 for p = 0.5 (docs/probes.md derives both).
"""
from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn as nn

from ..ir.graph import LayerGraph


def batchnorms(graph: LayerGraph) -> list[tuple[str, nn.modules.batchnorm._BatchNorm]]:
    return [(layer.name, layer.module) for layer in graph.layers
            if isinstance(layer.module, nn.modules.batchnorm._BatchNorm) and layer.module.track_running_stats
            and "@" not in layer.name]


@torch.no_grad()
def variance_ratios(model: nn.Module, graph: LayerGraph, forward: Callable[[int], Any], passes: int) -> dict[str, float]:
    """BN layer name -> mean over channels of Var_eval(input) / running_var. Call inside ``isolated``."""
    norms = batchnorms(graph)
    if not norms:
        return {}
    for _, bn in norms:
        bn.reset_running_stats()
        bn.momentum = None
    model.train()
    for index in range(passes):
        forward(10_000 + index)
    sums: dict[str, list[torch.Tensor]] = {name: [] for name, _ in norms}

    def capture(name: str):
        def hook(module: nn.Module, args: Any) -> None:
            x = args[0].detach().double()
            channels = x.transpose(0, 1).reshape(x.shape[1], -1) if x.dim() > 1 else x.reshape(1, -1)
            sums[name].append(torch.stack([channels.sum(1), channels.pow(2).sum(1),
                                           torch.full_like(channels[:, 0], channels.shape[1])]))
        return hook

    handles = [bn.register_forward_pre_hook(capture(name)) for name, bn in norms]
    try:
        model.eval()
        for index in range(passes):
            forward(20_000 + index)
    finally:
        for handle in handles:
            handle.remove()
    ratios: dict[str, float] = {}
    for name, bn in norms:
        if not sums[name]:
            continue
        total = torch.stack(sums[name]).sum(0)  # [3, C]: Σx, Σx², n
        s, s2, n = total[0], total[1], total[2]
        var = (s2 - s * s / n) / (n - 1).clamp(min=1)
        running = bn.running_var.double().to(var.device)
        keep = running > 1e-12
        if bool(keep.any()):
            ratios[name] = float((var[keep] / running[keep]).mean())
    return ratios
