"""Lean counting runs at other input sizes: per-layer MACs/FLOPs only, reusing the fx trace.

A counting run needs only what the dispatch counter gives per layer (and, for the sizes method,
the costed ops it saw): tracing again, parameters, receptive fields, rules and the layers' shapes
and arguments are skipped, and the concrete audit's fx graph is rerun (fx records size arithmetic
as graph nodes, so one trace serves every size). Inside :meth:`Evaluator.session` the
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
from ...trace.counting import OpCounter, OpRecorder
from ...trace.fx_tracer import graph_module, run_fx, trace_graph
from ...trace.hook_tracer import HookTracer
from ...trace.placement import placed_on
from ...trace.untouched import ModuleSnapshot, RandomState
from ...trace.tracing import LayerFailure

Costs = dict[str, tuple[int, int]]  # layer name -> (macs, flops)
# (layer name, op, args, kwargs, out, Cost | None); a plain run's cost is None until the caller computes it
Records = list[tuple[str | None, Any, tuple, dict, Any, Any]]


class Evaluator:
    """Counts ``model`` at given input specs with the tracer and device the concrete audit used
    (``fx_graph``: the graph its fx tracer ran, rerun here rather than traced again)."""

    def __init__(self, model: nn.Module, tracer: str, device: str, training: bool, fx_graph: Any = None) -> None:
        self.model = model
        self.tracer = tracer
        self.device = torch.device(device)
        self.training = training
        self.fx_graph = fx_graph
        self.runs = 0
        self._placed: tuple[ModuleSnapshot, RandomState] | None = None
        self._code: Any = None  # the fx graph's code, compiled in (and for) the open session

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
                    self._code = None
        finally:
            for module, flag in flags:
                module.training = flag

    def _graph(self) -> Any:
        """The fx graph, traced here only when the concrete audit did not keep its own. (A trace keeps
        the frames above it alive in a reference cycle, fx's ``Proxy.__iter__`` holding its own: with
        every record their locals hold, until a cyclic GC pass.)"""
        if self.fx_graph is None:
            self.fx_graph = trace_graph(self.model)
        return self.fx_graph

    def _plain_code(self) -> Any:
        """The fx graph's code for plain runs, compiled in this session: its tensor attributes are this
        placement's, and its ops are the traced runs' (the model's own forward may differ: ``+=``)."""
        if self._code is None:
            self._code = graph_module(self._graph(), self.model)
        return self._code

    def __call__(self, specs: Sequence[InputSpec]) -> Costs:
        return self.run(specs)[0]

    def run(self, specs: Sequence[InputSpec], record: bool = False, plain: bool = False) -> tuple[Costs, Records]:
        """Per-layer costs at ``specs``; with ``record``, also every forward op with its layer.

        ``plain``: the model's own forward, no tracer (a third to a half cheaper) and no costs: the
        records' layers and costs are None (the caller attributes the ops by position and costs those
        it needs)."""
        if self._placed is None:
            with self.session():
                return self.run(specs, record, plain)
        counter: OpCounter | OpRecorder
        if plain:
            counter = OpRecorder()
        else:
            counter = OpCounter()
            counter.record = [] if record else None
        self.runs += 1
        try:
            fx_code = (self._plain_code() if plain else self._graph()) if self.tracer == "fx" else None
            args = tuple(spec.build(self.device) for spec in specs)
            try:
                with torch.no_grad(), counter:
                    if plain:
                        (fx_code if fx_code is not None else self.model)(*args)
                        layers = []
                    elif fx_code is not None:
                        layers = run_fx(fx_code, self.model, args, {}, counter, False, lean=True)[0]
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
        if plain:
            records = [(None, func, a, k, out, None) for func, a, k, out in counter.record]
        else:
            records = [(layer.name if layer is not None else None, func, a, k, out, cost)
                       for layer, func, a, k, out, cost in counter.record or ()]
        return {layer.name: (layer.macs, layer.flops) for layer in layers}, records
