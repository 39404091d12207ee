"""Example plugin: the cost of ``mcp::scaled_gelu`` (its own custom op) and a ``weight_bytes`` analysis."""
from __future__ import annotations

import torch

from model_audit import Analysis, Cost, hookimpl

GELU_FLOPS = 8  # per element, this plugin's convention for its op: tanh-approximate GELU
SCALE_FLOPS = 1


@torch.library.custom_op("mcp::scaled_gelu", mutates_args=())
def scaled_gelu(x: torch.Tensor, scale: float) -> torch.Tensor:
    return torch.nn.functional.gelu(x, approximate="tanh") * scale


@scaled_gelu.register_fake
def _(x: torch.Tensor, scale: float) -> torch.Tensor:
    return torch.empty_like(x)


def scaled_gelu_cost(args, kwargs, out) -> Cost:
    return Cost(0, (GELU_FLOPS + SCALE_FLOPS) * out.numel())


def weight_bytes(graph) -> dict:
    """Bytes of each layer's own parameters at their dtype's size (fp32: 4 per parameter)."""
    total = 0
    for layer in graph:
        size = 4 * layer.params
        layer.attrs["weight_bytes"] = size
        total += size
    return {"total": total}


@hookimpl
def model_audit_costs():
    return {"mcp::scaled_gelu": scaled_gelu_cost}


@hookimpl
def model_audit_analyses():
    return [Analysis("weight_bytes", weight_bytes, columns={"weight_bytes": "weight bytes"})]
