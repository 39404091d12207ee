"""Shared pieces of the two tracers: the leaf-module rule, layer construction, failure wrapping."""
from __future__ import annotations

import inspect
import linecache
import re
import sys
from functools import lru_cache
from typing import Any

import torch
import torch.nn as nn

from ..ir.graph import Layer
from ..ir.kinds import module_kind
from .shapes import describe_shapes


def is_leaf_module(module: nn.Module) -> bool:
    """torch.nn's own modules (not containers), plus childless custom modules that own parameters.

    The second clause keeps e.g. ``LlamaRMSNorm`` or transformers' ``Conv1D`` as one layer with its
    parameters, instead of a scatter of functional ops and parameter reads.
    """
    if isinstance(module, (nn.Sequential, nn.ModuleList, nn.ModuleDict)):
        return False
    modname = type(module).__module__
    if modname.startswith(("torch.nn", "torch.ao.nn")):
        return True
    return not any(True for _ in module.children()) and any(True for _ in module.parameters(recurse=False))


@lru_cache(maxsize=None)
def class_source(cls: type) -> str | None:
    """'path/to/file.py:LINE' of a module class, for findings and SARIF locations.

    Found by scanning the file for ``class Name`` rather than ``inspect.getsourcelines``, which
    parses the whole module (a quarter of a second for torch.nn's files on a cold audit).
    """
    try:
        path = inspect.getsourcefile(cls)
    except TypeError:
        return None
    if not path:
        return None
    pattern = re.compile(rf"^\s*class\s+{re.escape(cls.__name__)}\b")
    for number, line in enumerate(linecache.getlines(path), 1):
        if pattern.match(line):
            return f"{path}:{number}"
    return None


def module_layer(name: str, module: nn.Module) -> Layer:
    scope = name.rsplit(".", 1)[0] if "." in name.split("@")[0] else ""
    return Layer(name=name, type=type(module).__name__, kind=module_kind(module), scope=scope,
                 module=module, source=class_source(type(module)))


class LayerFailure(Exception):
    """A layer raised while running; carries a message naming the layer and the shapes."""

    def __init__(self, layer: Layer, args: Any, error: BaseException) -> None:
        self.layer = layer
        self.error = error
        expected = expected_input(layer.module)
        if isinstance(error, RecursionError):  # not the input's fault: say what it is
            self.message = (f"layer '{layer.name}' ({layer.type}) exceeded Python's recursion limit "
                            f"({sys.getrecursionlimit()}): the model nests too deeply or its forward recurses without end")
            super().__init__(self.message)
            return
        message = (
            f"layer '{layer.name}' ({layer.type}) rejected its input of shape {describe_shapes(args)}"
            + (f"; it expects {expected}" if expected else "")
            + f": {first_line(error)}"
        )
        if cuda_only(error):  # the shapes are fine: the code itself wants a GPU
            message = (f"layer '{layer.name}' ({layer.type}) runs CUDA-only code (.cuda() or device='cuda') and "
                       f"this machine has no usable CUDA device: {first_line(error)}; make the code follow "
                       "the input's device (x.device) or audit where CUDA is available")
        self.message = message  # fx decorates str(exc) with 'While executing ...'; keep ours
        super().__init__(message)

    def __str__(self) -> str:
        return self.message


_CUDA_MISSING = ("found no nvidia driver", "torch not compiled with cuda enabled", "cuda is not available",
                 "no cuda gpus are available", "cuda driver initialization failed", "cuda error: no cuda-capable")


def cuda_only(error: BaseException) -> bool:
    """Whether ``error`` is torch refusing CUDA on a machine without it (not a shape problem)."""
    text = str(error).lower()
    return any(s in text for s in _CUDA_MISSING)


def first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]


def expected_input(module: nn.Module | None) -> str | None:
    if isinstance(module, nn.Linear):
        return f"last dimension {module.in_features}"
    if isinstance(module, nn.modules.conv._ConvNd):
        dims = len(module.kernel_size)
        return f"{module.in_channels} channels in [N, C, {', '.join('*' * dims)}] or [C, ...]"
    if isinstance(module, (nn.RNNBase,)):
        return f"input size {module.input_size} in the last dimension"
    if isinstance(module, nn.modules.batchnorm._NormBase):
        return f"{module.num_features} channels in dimension 1"
    if isinstance(module, nn.LayerNorm):
        return f"trailing dimensions {list(module.normalized_shape)}"
    if isinstance(module, nn.Embedding):
        return f"integer indices below {module.num_embeddings}"
    return None


def meta_unsupported(error: BaseException) -> bool:
    """Whether a failure looks like the meta device's limits rather than a shape mismatch."""
    text = str(error).lower()
    return any(s in text for s in ("meta", "data-dependent", "item()", "cannot copy out of meta",
                                   "not implemented", "notimplemented", "does not have", "tensor.item"))


def is_tensor_output(value: Any) -> bool:
    if isinstance(value, torch.Tensor):
        return True
    if isinstance(value, (list, tuple)):
        return any(is_tensor_output(v) for v in value)
    return False
