"""Where a finding points in the user's code: the line that builds the layer, or the line that calls the op.

- A module layer (``features.3``): the statement that constructs it, found by AST over the source of
  the class that owns it — ``self.conv1 = nn.Conv2d(...)`` (or ``self.add_module("conv1", ...)`` /
  ``setattr``) in that class; for a child of ``nn.Sequential``/``nn.ModuleList``/``nn.ModuleDict``, the
  n-th positional argument of the container's construction, its ``OrderedDict``/dict entry, or the
  container's own line; a root ``nn.Sequential`` built at module level in the model file is found there.
- A functional op (``dropout_1``, ``sigmoid``): the k-th call of that function in the owning module's
  ``forward`` (k counted over the same op in the same module, in graph order).
- Otherwise the nearest enclosing module whose class is the user's, at its ``class`` line.

Never a file of an installed package (``site-packages/torch/nn/modules/conv.py``): such a layer is
located at the nearest user code, or not at all. Files are parsed, never imported; results are cached.
"""
from __future__ import annotations

import ast
import inspect
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch.nn as nn

from ..ir import ops
from ..ir.graph import Layer, LayerGraph

_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
_ATEN_CALLS = ops.FUNCTIONAL_SPELLINGS


def is_user_file(path: str | None) -> bool:
    """A file the user owns: not inside an installed package (site-/dist-packages) or the torch tree."""
    if not path:
        return False
    parts = Path(path).parts
    if "site-packages" in parts or "dist-packages" in parts:
        return False
    import torch

    try:
        Path(path).resolve().relative_to(Path(torch.__file__).resolve().parent)
        return False
    except ValueError:
        return True


@lru_cache(maxsize=256)
def _parse(path: str) -> ast.Module | None:
    try:
        return ast.parse(Path(path).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return None


def _class_node(cls: type) -> tuple[str, ast.ClassDef] | None:
    """The user's source file and ``class`` node of ``cls``; None for installed or source-less classes."""
    try:
        path = inspect.getsourcefile(cls)
    except TypeError:
        return None
    if not is_user_file(path):
        return None
    tree = _parse(path)
    if tree is None:
        return None
    found = [node for node in ast.walk(tree) if isinstance(node, ast.ClassDef) and node.name == cls.__name__]
    return (path, found[0]) if len(found) == 1 else None


def _is_self_attr(target: ast.expr, attr: str) -> bool:
    return (isinstance(target, ast.Attribute) and target.attr == attr and isinstance(target.value, ast.Name)
            and target.value.id == "self")


def _assignment(cls_node: ast.ClassDef, attr: str) -> ast.AST | None:
    """The value node assigned to ``self.<attr>`` in the class (``__init__`` first), or the registering call."""
    methods = sorted((n for n in cls_node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))),
                     key=lambda n: n.name != "__init__")
    for method in methods:
        for node in ast.walk(method):
            if isinstance(node, ast.Assign) and any(_is_self_attr(t, attr) for t in node.targets):
                return node.value
            if isinstance(node, ast.AnnAssign) and node.value is not None and _is_self_attr(node.target, attr):
                return node.value
            if isinstance(node, ast.Call) and isinstance(node.func, (ast.Attribute, ast.Name)):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
                args = node.args[1:] if name == "setattr" else node.args
                if name in ("add_module", "register_module", "setattr") and args and \
                        isinstance(args[0], ast.Constant) and args[0].value == attr:
                    return args[1] if len(args) > 1 else node
    return None


def _entry(container: ast.AST, key: str) -> ast.AST | None:
    """Inside a container construction ``nn.Sequential(a, b, c)``: the entry for child ``key``."""
    if not isinstance(container, ast.Call):
        return None
    if key.isdigit() and not any(isinstance(a, ast.Starred) for a in container.args):
        index = int(key)
        if len(container.args) == 1 and isinstance(container.args[0], (ast.List, ast.Tuple)):
            items = container.args[0].elts  # nn.ModuleList([a, b])
            if not any(isinstance(a, ast.Starred) for a in items) and index < len(items):
                return items[index]
        elif index < len(container.args):
            return container.args[index]
    for node in ast.walk(container):  # OrderedDict([("conv", ...)]) or {"conv": ...}
        if isinstance(node, ast.Tuple) and len(node.elts) == 2 and isinstance(node.elts[0], ast.Constant) \
                and node.elts[0].value == key:
            return node.elts[1]
        if isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values):
                if isinstance(k, ast.Constant) and k.value == key:
                    return v
    return None


class Locator:
    """Locations for the layers of one model; ``source_path`` is the model file (for a root built there)."""

    def __init__(self, model: nn.Module, source_path: Path | None = None) -> None:
        self.model = model
        self.source_path = str(source_path) if source_path is not None else None
        self._built: dict[str, tuple[str, ast.AST] | None] = {}

    def _module(self, path: str) -> nn.Module | None:
        try:
            return self.model.get_submodule(path) if path else self.model
        except AttributeError:
            return None

    def built_at(self, path: str) -> tuple[str, ast.AST] | None:
        """(file, AST node) of the expression that constructs submodule ``path``, when it is the user's code."""
        if path in self._built:
            return self._built[path]
        self._built[path] = None
        result: tuple[str, ast.AST] | None = None
        if not path:
            result = self._root()
        else:
            parent_path, _, attr = path.rpartition(".")
            parent = self._module(parent_path)
            if parent is not None:
                owner = _class_node(type(parent))
                if owner is not None and not isinstance(parent, _CONTAINERS):
                    node = _assignment(owner[1], attr)
                    result = (owner[0], node) if node is not None else None
                elif isinstance(parent, _CONTAINERS) or owner is not None:
                    container = self.built_at(parent_path)
                    if container is not None:
                        entry = _entry(container[1], attr)
                        result = (container[0], entry if entry is not None else container[1])
        self._built[path] = result
        return result

    def _root(self) -> tuple[str, ast.AST] | None:
        """A root container built at module level in the model file: ``model = nn.Sequential(...)``."""
        if self.source_path is None or not isinstance(self.model, _CONTAINERS) or not is_user_file(self.source_path):
            return None
        tree = _parse(self.source_path)
        if tree is None:
            return None
        kind = type(self.model).__name__
        calls = [node.value for node in tree.body if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
                 and getattr(node.value.func, "attr", getattr(node.value.func, "id", None)) == kind]
        return (self.source_path, calls[0]) if len(calls) == 1 else None

    def user_class(self, path: str) -> str | None:
        """'file:line' of the nearest module on ``path`` (itself, then its ancestors) whose class is the user's."""
        parts = path.split(".") if path else []
        for depth in range(len(parts), -1, -1):
            module = self._module(".".join(parts[:depth]))
            found = _class_node(type(module)) if module is not None else None
            if found is not None:
                return f"{found[0]}:{found[1].lineno}"
        return None

    def functional_call(self, layer: Layer, occurrence: int) -> str | None:
        """'file:line' of the ``occurrence``-th call of the layer's function in its owner's ``forward``."""
        owner = self._module(layer.scope)
        found = _class_node(type(owner)) if owner is not None else None
        if found is None:
            return None
        path, cls_node = found
        op = layer.type.rstrip("_")
        names = {op, f"{op}_"} | _ATEN_CALLS.get(op, set())
        forward = next((n for n in cls_node.body if isinstance(n, ast.FunctionDef) and n.name == "forward"), None)
        if forward is None:
            return None
        calls = sorted((n for n in ast.walk(forward) if isinstance(n, ast.Call)
                        and (getattr(n.func, "attr", None) in names or getattr(n.func, "id", None) in names)),
                       key=lambda n: (n.lineno, n.col_offset))
        if not calls:
            return None
        return f"{path}:{calls[min(occurrence, len(calls) - 1)].lineno}"

    def locate(self, layer: Layer, occurrence: int = 0) -> str | None:
        """The user's line for ``layer`` (see the module docstring), or None when no user code is involved."""
        if layer.module is not None:
            base = layer.name.split("@")[0]
            built = self.built_at(base)
            if built is not None:
                return f"{built[0]}:{built[1].lineno}"
            return self.user_class(base)
        return self.functional_call(layer, occurrence) or self.user_class(layer.scope)


@lru_cache(maxsize=8)
def _locator(model_id: int, model: Any, source_path: str | None) -> Locator:
    return Locator(model, Path(source_path) if source_path else None)


def occurrence_of(layer: Layer, graph: LayerGraph | None) -> int:
    """How many functional layers of the same op and scope come before ``layer`` in graph order."""
    if graph is None or layer.module is not None:
        return 0
    count = 0
    for other in graph:
        if other is layer:
            return count
        if other.module is None and other.scope == layer.scope and other.type == layer.type:
            count += 1
    return 0


def locate(model: nn.Module, layer: Layer, source_path: Path | None = None, graph: LayerGraph | None = None) -> str | None:
    """The user's 'file:line' for ``layer`` of ``model`` (cached per model), never an installed package's file."""
    locator = _locator(id(model), model, str(source_path) if source_path else None)
    try:
        return locator.locate(layer, occurrence_of(layer, graph))
    except (RecursionError, ValueError, TypeError, AttributeError):  # an odd class or source: no location, no crash
        return None


def model_location(model: nn.Module, source_path: Path | None = None) -> str | None:
    """'file:line' of the model's own class (or the root container's construction) — where budget breaches point."""
    locator = _locator(id(model), model, str(source_path) if source_path else None)
    built = locator.built_at("")
    return f"{built[0]}:{built[1].lineno}" if built is not None else locator.user_class("")
