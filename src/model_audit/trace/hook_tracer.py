"""Tracer 2 (fallback): run the model once with module hooks and rebuild the graph from tensor identity.

Used when ``torch.fx`` cannot trace (data-dependent control flow, most transformers models). Each
call of a leaf module is a layer; an ATen op issued outside any leaf module becomes a functional
layer named after the module that issued it (``encoder.layer.0.attention.bmm``). Pure view ops
outside leaves pass their producer through instead of adding rows.
"""
from __future__ import annotations

import sys
from typing import Any

import torch
import torch.nn as nn

from .arguments import aten_arguments
from .counting import OpCounter
from ..ir.graph import Layer
from ..ir import ops
from ..ir.kinds import function_kind
from ..analyses.costs import Cost
from .shapes import dtype_of, iter_tensors, shapes_of
from .tracing import LayerFailure, is_leaf_module, module_layer

class HookTracer:
    def __init__(self, model: nn.Module, counter: OpCounter, backward: bool, lean: bool = False) -> None:
        self.model = model
        self.lean = lean  # counts only: no shapes, dtypes or arguments on the layers (symbolic counting runs)
        self.counter = counter
        self.backward = backward
        self.names = {m: n for n, m in model.named_modules(remove_duplicate=False)}
        self.layers: list[Layer] = []
        self.producer: dict[int, str] = {}
        self.keep_alive: list[torch.Tensor] = []
        self.stack: list[nn.Module] = []
        self.active_leaf: nn.Module | None = None
        self.calls: dict[str, int] = {}
        self.input_names: list[str] = []
        self.failure: tuple[nn.Module, Layer | None, Any] | None = None
        self.handled = sys.exc_info()[1]  # an exception being handled around the whole run (a retry) is not ours
        counter.on_unowned = self._on_unowned

    # -- identity bookkeeping
    def _mark(self, obj: Any, name: str) -> None:
        for t in iter_tensors(obj):
            self.producer[id(t)] = name
            self.keep_alive.append(t)

    def _sources(self, obj: Any) -> list[str]:
        found = [self.producer[id(t)] for t in iter_tensors(obj) if id(t) in self.producer]
        return list(dict.fromkeys(found))

    def _unique(self, name: str) -> str:
        count = self.calls.get(name, 0)
        self.calls[name] = count + 1
        return name if count == 0 else f"{name}@{count}"

    def _scope(self) -> str:
        for module in reversed(self.stack):
            name = self.names.get(module, "")
            if name:
                return name
        return ""

    # -- module hooks
    def _pre(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        self.stack.append(module)
        if self.active_leaf is None and is_leaf_module(module):
            self.active_leaf = module
            layer = module_layer(self._unique(self.names.get(module) or type(module).__name__), module)
            layer.inputs = self._sources((args, kwargs))
            if not self.lean:
                layer.input_shapes = shapes_of((args, kwargs))
            self.layers.append(layer)
            self.counter.sink = layer
            self._current_args = (args, kwargs)

    def _post(self, module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
        if self.failure is None and sys.exc_info()[1] not in (None, self.handled):
            # always_call hooks run while the module's exception unwinds: the first one is the failing module
            self.failure = (module, self.counter.sink if module is self.active_leaf else None, (args, kwargs))
        if self.stack and self.stack[-1] is module:
            self.stack.pop()
        if module is self.active_leaf:
            layer = self.counter.sink
            self.active_leaf = None
            self.counter.sink = None
            if layer is not None:
                if not self.lean:
                    layer.output_shapes = shapes_of(output)
                    layer.output_dtype = dtype_of(output)
                self._mark(output, layer.name)
                self._hook_grads(output, layer)

    def _hook_grads(self, output: Any, layer: Layer) -> None:
        if not self.backward:
            return
        counter = self.counter
        for t in iter_tensors(output):
            if t.requires_grad:
                t.register_hook(lambda grad, layer=layer: setattr(counter, "sink", layer))

    # -- ops outside any leaf module
    def _on_unowned(self, func: Any, args: tuple, kwargs: dict, out: Any, cost: Cost | None) -> Layer | None:
        name = getattr(getattr(func, "overloadpacket", func), "__name__", str(func))
        sources = self._sources((args, kwargs))
        outputs = list(iter_tensors(out))
        if not sources and cost is not None and cost.macs == 0 and cost.flops == 0:
            return None  # creation ops (arange, zeros, masks from constants): no data flows in
        # Work on parameters, buffers or constants alone (``self.a @ self.b``) has no traced
        # source but real cost: it becomes a layer like any other, never dropped.
        if name in ops.ATEN_PASS_THROUGH or not any(t.is_floating_point() for t in outputs):
            if cost is not None and cost.flops == 0:
                for t in outputs:
                    self.producer[id(t)] = sources[0]
                    self.keep_alive.append(t)
                return None
        scope = self._scope()
        layer = Layer(name=self._unique(f"{scope}.{name}" if scope else name), type=name,
                      kind=function_kind(name, len(sources)), scope=scope, target=func, inputs=sources)
        if not self.lean:
            layer.input_shapes = shapes_of((args, kwargs))
            layer.arguments = aten_arguments(func, args, kwargs)
            layer.output_shapes = shapes_of(out)
            layer.output_dtype = dtype_of(out)
        self.layers.append(layer)
        self._mark(out, layer.name)
        self._hook_grads(out, layer)
        return layer

    def run(self, args: tuple, kwargs: dict) -> Any:
        handles = []
        try:
            for module in self.model.modules():
                handles.append(module.register_forward_pre_hook(self._pre, with_kwargs=True))
                handles.append(module.register_forward_hook(self._post, with_kwargs=True, always_call=True))
            for i, t in enumerate(iter_tensors((args, kwargs))):
                name = f"input_{i}"
                self.input_names.append(name)
                self._mark(t, name)
            try:
                return self.model(*args, **kwargs)
            except LayerFailure:
                raise
            except Exception as error:
                layer = self.counter.sink
                current = getattr(self, "_current_args", (args, kwargs))
                if layer is None and self.failure is not None:  # the innermost module that raised
                    module, layer, current = self.failure
                    if layer is None:
                        layer = module_layer(self.names.get(module) or type(module).__name__, module)
                if layer is None:  # raised in the model's own Python code, outside any leaf module
                    layer = module_layer(self._scope() or type(self.model).__name__, self.model)
                    current = (args, kwargs)
                raise LayerFailure(layer, current, error) from error
        finally:
            for handle in handles:
                handle.remove()
            self.counter.sink = None
            self.active_leaf = None
            self.stack.clear()
            self.counter.on_unowned = None

    def outputs_of(self, output: Any) -> list[str]:
        return self._sources(output)
