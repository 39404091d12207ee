"""Lean counting runs at other input sizes: per-layer MACs/FLOPs only, reusing the fx trace.

A fitting point needs only what the dispatch counter gives per layer; tracing again, parameters,
receptive fields and rules are skipped, and the fx graph module is traced once and reused (fx
records size arithmetic as graph nodes, so one trace serves every size).
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn as nn

from ...errors import ModelExecutionError
from ...target.inputs import InputSpec
from ...trace.counting import OpCounter
from ...trace.fx_tracer import run_fx, symbolic_trace
from ...trace.hook_tracer import HookTracer
from ...trace.placement import placed_on, preserved_state
from ...trace.tracing import LayerFailure

Costs = dict[str, tuple[int, int]]  # layer name -> (macs, flops)


class Evaluator:
    """Counts ``model`` at given input specs with the tracer and device the concrete audit used."""

    def __init__(self, model: nn.Module, tracer: str, device: str, training: bool) -> None:
        self.model = model
        self.tracer = tracer
        self.device = torch.device(device)
        self.training = training
        self.gm: Any = None
        self.runs = 0

    def __call__(self, specs: Sequence[InputSpec]) -> Costs:
        counter = OpCounter()
        self.runs += 1
        with preserved_state(self.model, self.training), placed_on(self.model, self.device):
            if self.tracer == "fx" and self.gm is None:
                self.gm = symbolic_trace(self.model)
            args = tuple(spec.build(self.device) for spec in specs)
            try:
                with torch.no_grad(), counter:
                    if self.gm is not None:
                        layers = run_fx(self.gm, self.model, args, {}, counter, False)[0]
                    else:
                        hooks = HookTracer(self.model, counter, False)
                        hooks.run(args, {})
                        layers = hooks.layers
            except LayerFailure as failure:
                shapes = ", ".join(str(list(s.shape)) for s in specs)
                raise ModelExecutionError(f"symbolic audit at input {shapes}: {failure}", layer=failure.layer.name) from None
        return {layer.name: (layer.macs, layer.flops) for layer in layers}
