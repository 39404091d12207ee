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
from ...trace.placement import placed_on
from ...trace.untouched import ModuleSnapshot, RandomState
from ...trace.tracing import LayerFailure

Costs = dict[str, tuple[int, int]]  # layer name -> (macs, flops)
Records = list[tuple[str | None, Any, tuple, dict, Any, Any]]  # (layer name, op, args, kwargs, out, Cost | None)


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
        self._gm_session: Any = None  # the session the fx graph module was traced in

    @contextmanager
    def session(self) -> Iterator["Evaluator"]:
        """Place the model once for every run inside the block (runs outside it place it themselves)."""
        flags = [(m, m.training) for m in self.model.modules()]
        try:
            with placed_on(self.model, self.device):
                self.model.train(self.training)
                # What each run must undo, taken once: the placed model's state (its modes included)
                # and the global RNG; placed_on puts the user's tensors back, the flags come last.
                self._placed = (ModuleSnapshot(self.model), RandomState())
                try:
                    yield self
                finally:
                    self._placed = None
        finally:
            for module, flag in flags:
                module.training = flag

    def __call__(self, specs: Sequence[InputSpec]) -> Costs:
        return self.run(specs)[0]

    def run(self, specs: Sequence[InputSpec], record: bool = False, plain: bool = False) -> tuple[Costs, Records]:
        """Per-layer costs at ``specs``; with ``record``, also every forward op with its layer.

        ``plain``: the model's own forward, no tracer (a third to a half cheaper): no layers, so no
        costs; the records' layers are None (the caller attributes the ops by position)."""
        if self._placed is None:
            with self.session():
                return self.run(specs, record, plain)
        counter = OpCounter()
        counter.record = [] if record or plain else None
        self.runs += 1
        try:
            if self.tracer == "fx" and (self.gm is None or (plain and self._gm_session is not self._placed)):
                self.gm = symbolic_trace(self.model)
                self._gm_session = self._placed
            args = tuple(spec.build(self.device) for spec in specs)
            try:
                with torch.no_grad(), counter:
                    if plain:
                        # the fx graph's own code (traced in this session: its tensor attributes are
                        # this placement's), so that the ops are the traced runs'
                        (self.gm if self.gm is not None else self.model)(*args)
                        layers = []
                    elif self.gm is not None:
                        layers = run_fx(self.gm, self.model, args, {}, counter, False, lean=True)[0]
                    else:
                        hooks = HookTracer(self.model, counter, False, lean=True)
                        hooks.run(args, {})
                        layers = hooks.layers
            except LayerFailure as failure:
                shapes = ", ".join(str(list(s.shape)) for s in specs)
                raise ModelExecutionError(f"symbolic audit at input {shapes}: {failure}", layer=failure.layer.name) from None
            except Exception as error:  # only a plain run gets here: no tracer names the layer
                shapes = ", ".join(str(list(s.shape)) for s in specs)
                raise ModelExecutionError(f"symbolic audit at input {shapes}: {type(error).__name__}: {error}") from None
        finally:
            for state in self._placed:
                state.restore()
        records = [(layer.name if layer is not None else None, func, a, k, out, cost)
                   for layer, func, a, k, out, cost in counter.record or ()]
        return {layer.name: (layer.macs, layer.flops) for layer in layers}, records
