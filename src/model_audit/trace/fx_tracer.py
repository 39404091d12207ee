"""Tracer 1: ``torch.fx`` symbolic trace, then run the graph node by node under the op counter."""
from __future__ import annotations

from typing import Any

import torch
import torch.fx as fx
import torch.nn as nn

from .arguments import function_arguments
from .counting import OpCounter
from ..ir.graph import Layer
from ..ir.kinds import function_kind, function_name
from ..ir.naming import functional_name
from .shapes import dtype_of, iter_tensors, shapes_of
from .tracing import LayerFailure, is_leaf_module, is_tensor_output, module_layer


class _Tracer(fx.Tracer):
    # Buffers become get_attr nodes instead of trace-time values: otherwise ``self.a @ self.b``
    # on two buffers is computed once while tracing and baked in as a constant, its cost lost.
    proxy_buffer_attributes = True

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return is_leaf_module(m)


def symbolic_trace(model: nn.Module) -> fx.GraphModule:
    """Trace ``model`` into an fx graph; raises whatever fx raises (data-dependent control flow...)."""
    before = set(vars(model))
    try:
        graph = _Tracer().trace(model)
        gm = fx.GraphModule(model, graph, class_name=type(model).__name__)
    finally:
        # fx stores tensor constants (``_tensor_constant0``...) as attributes of the root module:
        # take them back off the user's model (never mutate it) and keep them on the graph module.
        added = {name: model.__dict__.pop(name) for name in set(vars(model)) - before}
    gm.trace_constants = added  # type: ignore[attr-defined]
    return gm


class TracedGraph:
    """The fx graph of ``model`` without a GraphModule: the audit interprets the graph against the
    model itself, so generating, compiling and attaching Python code for it (a third of fx's cost)
    would be wasted."""

    def __init__(self, graph: fx.Graph, constants: dict[str, Any]) -> None:
        self.graph = graph
        self.trace_constants = constants


def trace_graph(model: nn.Module) -> TracedGraph:
    """``symbolic_trace`` for the audit: the same graph, no GraphModule (and no code generation)."""
    before = set(vars(model))
    try:
        graph = _Tracer().trace(model)
    finally:
        added = {name: model.__dict__.pop(name) for name in set(vars(model)) - before}
    return TracedGraph(graph, added)


def graph_module(traced: TracedGraph, model: nn.Module) -> fx.GraphModule:
    """The traced graph as Python code (what reruns at other sizes execute: no interpreter), reading
    ``model``'s submodules and tensors as they are now (its current placement) and the trace's
    constants; tracing again would give the same graph at three times the cost."""
    root: dict[str, Any] = {}
    for node in traced.graph.nodes:
        if node.op in ("get_attr", "call_module"):
            root[node.target] = _fetch(model, node.target, traced.trace_constants)
    return fx.GraphModule(root, traced.graph, class_name=type(model).__name__)


def _scope(node: fx.Node) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return ""
    return list(stack.keys())[-1].split("@")[0]


def build_layers(gm: fx.GraphModule | TracedGraph, model: nn.Module) -> tuple[dict[fx.Node, Layer], list[str]]:
    """One Layer per call/get_attr node (names unique: repeated module calls get '@N')."""
    layers: dict[fx.Node, Layer] = {}
    seen: dict[str, int] = {}
    inputs: list[str] = []
    taken = {str(n.target): 1 for n in gm.graph.nodes if n.op in ("call_module", "get_attr")}
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            inputs.append(node.name)
            continue
        if node.op == "output":
            continue
        if node.op == "call_module":
            module = model.get_submodule(node.target)
            count = seen.get(node.target, 0)
            seen[node.target] = count + 1
            name = node.target if count == 0 else f"{node.target}@{count}"
            layer = module_layer(name, module)
        elif node.op == "get_attr":
            try:
                value = _fetch(model, node.target, getattr(gm, "trace_constants", None))
            except AttributeError:
                continue
            if not isinstance(value, torch.Tensor):
                continue
            is_param = isinstance(value, nn.Parameter)
            layer = Layer(name=node.target, type="parameter" if is_param else "buffer", kind="parameter",
                          scope=node.target.rsplit(".", 1)[0] if "." in node.target else "", target=node.target)
        else:
            fname = function_name(node.target)
            tensor_inputs = len(node.all_input_nodes)
            scope = _scope(node)
            layer = Layer(name=functional_name(scope, fname, taken), type=fname,
                          kind=function_kind(fname, tensor_inputs), scope=scope, target=node.target)
        layers[node] = layer
    return layers, inputs


def _fetch(model: nn.Module, target: str, constants: dict | None = None) -> Any:
    if constants and target in constants:
        return constants[target]
    obj: Any = model
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


class _LayerInterpreter(fx.Interpreter):
    def __init__(self, gm: fx.GraphModule | TracedGraph, model: nn.Module, layers: dict[fx.Node, Layer],
                 counter: OpCounter, backward: bool, lean: bool = False) -> None:
        # Interpreted against the model itself (its submodules and device-swapped tensors).
        super().__init__(model, garbage_collect_values=True, graph=gm.graph)
        self.lean = lean  # counts only: no input shapes or arguments on the layers (symbolic counting runs)
        self.layers = layers
        self.counter = counter
        self.backward = backward
        self.model = model
        self.constants = getattr(gm, "trace_constants", None)

    def fetch_attr(self, target: str) -> Any:
        # A GraphModule copied get_attr tensors at trace time; read the (device-swapped) model instead.
        return _fetch(self.model, target, self.constants)

    def run_node(self, node: fx.Node) -> Any:
        layer = self.layers.get(node)
        if layer is None:
            return super().run_node(node)
        # fx.Interpreter.run_node, with the arguments fetched once and kept for the layer's shapes.
        with self._set_current_node(node):
            args, kwargs = self.fetch_args_kwargs_from_env(node)
            self.counter.sink = layer
            try:
                result = getattr(self, node.op)(node.target, args, kwargs)
            except LayerFailure:
                raise
            except Exception as error:  # a layer rejected its input: name it, with the shapes
                raise LayerFailure(layer, args, error) from error
            finally:
                self.counter.sink = None
        if not self.lean:
            layer.input_shapes = shapes_of((args, kwargs))
            if node.op in ("call_function", "call_method"):
                layer.arguments = function_arguments(node.target, args, kwargs)
        layer.output_shapes = shapes_of(result) if is_tensor_output(result) else []
        layer.output_dtype = dtype_of(result)
        if self.backward:
            for t in iter_tensors(result):
                if t.requires_grad:
                    t.register_hook(_grad_hook(self.counter, layer))
        return result


def _grad_hook(counter: OpCounter, layer: Layer):
    def hook(grad):
        counter.sink = layer
        return None

    return hook


def _check_arity(model: nn.Module, placeholders: list[fx.Node], args: tuple) -> None:
    """fx's interpreter ignores surplus positional inputs; an extra ``--input`` must be an error."""
    if any(str(node.target).startswith("*") for node in placeholders):
        return  # forward(*args) takes any number
    if len(args) > len(placeholders):
        from ..errors import InputSpecError

        names = ", ".join(str(node.target) for node in placeholders) or "none"
        raise InputSpecError(
            f"{type(model).__name__}.forward takes {len(placeholders)} input{'s' if len(placeholders) != 1 else ''} "
            f"({names}) but {len(args)} were given; drop the extra --input")


def run_fx(gm: fx.GraphModule | TracedGraph, model: nn.Module, args: tuple, kwargs: dict, counter: OpCounter,
           backward: bool, lean: bool = False) -> tuple[list[Layer], list[str], list[str], Any]:
    """Run the traced graph; returns (layers, input names, output layer names, model output).
    ``lean``: the layers carry counts and output shapes only (a symbolic audit's counting runs)."""
    layers, input_names = build_layers(gm, model)
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    _check_arity(model, placeholders, args)
    positional = list(args)
    for node in placeholders[len(positional):]:
        if node.name in kwargs or node.target in kwargs:
            positional.append(kwargs.get(node.target, kwargs.get(node.name)))
        elif node.args:
            positional.append(node.args[0])  # the default value fx recorded
        else:
            break
    interp = _LayerInterpreter(gm, model, layers, counter, backward, lean)
    output = interp.run(*positional)
    # Edges, skipping nodes that produced no tensor (x.size(0), shape arithmetic): link through them.
    keep = {node: layer for node, layer in layers.items() if layer.output_shapes or layer.kind == "parameter"
            or layer.module is not None or layer.macs or layer.flops or layer.uncounted_ops}
    placeholder_names = {n: n.name for n in placeholders}

    def sources(node: fx.Node, seen: set) -> list[str]:
        found: list[str] = []
        for src in node.all_input_nodes:
            if src in seen:
                continue
            seen.add(src)
            if src in keep:
                found.append(keep[src].name)
            elif src in placeholder_names:
                found.append(placeholder_names[src])
            elif src in layers:
                found.extend(sources(src, seen))
        return found

    for node, layer in keep.items():
        layer.inputs = list(dict.fromkeys(sources(node, set())))
    out_node = next(n for n in gm.graph.nodes if n.op == "output")
    outputs = [keep[n].name for n in out_node.all_input_nodes if n in keep]
    return list(keep.values()), input_names, outputs, output
