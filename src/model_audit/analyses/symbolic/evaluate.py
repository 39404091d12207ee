"""Lean counting runs at other input sizes: per-layer MACs/FLOPs only, reusing the fx trace.

A counting run needs only what the dispatch counter gives per layer (and, for the sizes method,
the costed ops it saw): tracing again, parameters, receptive fields, rules and the layers' shapes
and arguments are skipped, and the fx graph module is traced once and reused (fx records size
arithmetic as graph nodes, so one trace serves every size). Inside :meth:`Evaluator.session` the
model is placed on the device once for all runs; each run still restores the model's state after
itself (a rotary cache filled at one size must not be seen by the next).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, Sequence

import torch
import torch.nn as nn

from ...errors import ModelExecutionError
from ...target.inputs import InputSpec
from ...trace.counting import OpCounter
from ...trace.fx_tracer import run_fx, symbolic_trace
from ...trace.hook_tracer import HookTracer
from ...trace.placement import placed_on, preserved_state
from ...trace.untouched import ModuleSnapshot, RandomState
from ...trace.tracing import LayerFailure

Costs = dict[str, tuple[int, int]]  # layer name -> (macs, flops)
Records = list[tuple[str, Any, tuple, dict, Any]]  # (layer name, op, args, kwargs, out) of each costed op


class Evaluator:
    """Counts ``model`` at given input specs with the tracer and device the concrete audit used."""

    def __init__(self, model: nn.Module, tracer: str, device: str, training: bool) -> None:
        self.model = model
        self.tracer = tracer
        self.device = torch.device(device)
        self.training = training
        self.gm: Any = None
        self.runs = 0
        self._placed: tuple[ModuleSnapshot, RandomState] | None = None

    @contextmanager
    def session(self) -> Iterator["Evaluator"]:
        """Place the model once for every run inside the block (runs outside it place it themselves)."""
        with preserved_state(self.model, self.training), placed_on(self.model, self.device):
            # What each run must undo, taken once: the placed model's state and the global RNG.
            self._placed = (ModuleSnapshot(self.model), RandomState())
            try:
                yield self
            finally:
                self._placed = None

    def __call__(self, specs: Sequence[InputSpec]) -> Costs:
        return self.run(specs)[0]

    def run(self, specs: Sequence[InputSpec], record: bool = False) -> tuple[Costs, Records]:
        """Per-layer costs at ``specs``; with ``record``, also every costed forward op with its layer."""
        if self._placed is None:
            with self.session():
                return self.run(specs, record)
        counter = OpCounter()
        counter.record = [] if record else None
        self.runs += 1
        try:
            if self.tracer == "fx" and self.gm is None:
                self.gm = symbolic_trace(self.model)
            args = tuple(spec.build(self.device) for spec in specs)
            try:
                with torch.no_grad(), counter:
                    if self.gm is not None:
                        layers = run_fx(self.gm, self.model, args, {}, counter, False, lean=True)[0]
                    else:
                        hooks = HookTracer(self.model, counter, False, lean=True)
                        hooks.run(args, {})
                        layers = hooks.layers
            except LayerFailure as failure:
                shapes = ", ".join(str(list(s.shape)) for s in specs)
                raise ModelExecutionError(f"symbolic audit at input {shapes}: {failure}", layer=failure.layer.name) from None
        finally:
            for state in self._placed:
                state.restore()
        records = [(layer.name, func, a, k, out) for layer, func, a, k, out in counter.record or ()]
        return {layer.name: (layer.macs, layer.flops) for layer in layers}, records
