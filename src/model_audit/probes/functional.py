"""Measure functional ops too (``F.relu(x)``, ``torch.sigmoid``, ``x.log()``), not only modules.

Module forward hooks see ``nn.ReLU`` but not ``F.relu``. When the audit traced the model with
torch.fx, the probe re-traces it the same way (in the probe's train/eval mode, inside ``placed_on``
so the graph reads the stand-in parameters) and runs the graph with an ``fx.Interpreter`` that
hands every function/method node's output to the recorder under the IR's layer name (``build_layers``
names nodes by scope, as the audit did), so the figures join. Used for the gradient passes only (timing runs the model
itself, without interpreter overhead).
"""
from __future__ import annotations

from typing import Any, Callable

import torch.fx as fx
import torch.nn as nn

from ..trace.fx_tracer import build_layers, symbolic_trace
from ..ir.graph import LayerGraph
from .stats import ActivationRecorder


class _Recording(fx.Interpreter):
    def __init__(self, gm: fx.GraphModule, names: dict[str, str], record: Callable[[str, Any], None]) -> None:
        super().__init__(gm, garbage_collect_values=True)
        self.names = names  # fx node name -> IR layer name, for the recorded layers
        self.record = record

    def run_node(self, n: fx.Node) -> Any:
        out = super().run_node(n)
        if n.name in self.names:
            self.record(self.names[n.name], out)
        return out


def functional_runner(model: nn.Module, graph: LayerGraph, recorder: ActivationRecorder,
                      notes: list[str]) -> Callable[[tuple, dict], Any] | None:
    """A callable ``(args, kwargs) -> output`` running the re-traced graph, or None to run the model itself."""
    names = set(recorder.functional)
    if graph.tracer != "fx" or not names:
        return None
    try:
        gm = symbolic_trace(model)
    except Exception:  # traced once already; if it fails now (mode-dependent code), modules are still hooked
        notes.append("functional ops were not measured: the model could not be re-traced in the probe's mode")
        return None
    ir_names = {node.name: layer.name for node, layer in build_layers(gm, model)[0].items()}
    if not names <= set(ir_names.values()):
        notes.append("functional ops were not measured: the re-traced graph names its nodes differently")
        return None
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]

    def run(args: tuple, kwargs: dict) -> Any:
        if kwargs or len(args) != len(placeholders):
            return model(*args, **kwargs)
        wanted = {node: name for node, name in ir_names.items() if name in names}
        return _Recording(gm, wanted, recorder.record_function).run(*args)

    return run
