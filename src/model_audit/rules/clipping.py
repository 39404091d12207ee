"""Evidence that gradients get clipped: in source files (AST), a train_step callable, or gradient hooks.

``unclipped-rnn`` stays silent when any of these shows clipping. The evidence is looked for, not
executed: files are parsed, never imported; callables are read through ``inspect.getsource`` (or
their bytecode names when the source is unavailable); hooks already registered on the model's
parameters and modules are inspected the same way.
"""
from __future__ import annotations

import ast
import inspect
import textwrap
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import torch.nn as nn

from ..errors import AuditError
from ..ir import ops

#: calls that clip gradients (torch, accelerate, fabric, deepspeed all use these names)
CLIP_FUNCTIONS = frozenset({"clip_grad_norm_", "clip_grad_value_", "clip_grad_norm", "clip_grad_value",
                            "clip_grads_with_norm_", "clip_gradients"})
#: keyword arguments that switch a trainer's clipping on (Lightning ``Trainer(gradient_clip_val=1.0)``)
CLIP_KEYWORDS = frozenset({"gradient_clip_val"})
#: tensor calls a gradient hook uses to bound the gradient it returns
CLAMP_CALLS = ops.CLAMPS | CLIP_FUNCTIONS
HOOK_REGISTRATIONS = frozenset({"register_hook", "register_post_accumulate_grad_hook",
                                "register_full_backward_hook", "register_backward_hook"})


@dataclass(frozen=True)
class Evidence:
    where: str  # "train.py:42", "train_step", "hook on lstm.weight_hh_l0"
    what: str  # the call found

    def __str__(self) -> str:
        return f"{self.what} ({self.where})"


def _call_name(node: ast.Call) -> str | None:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


def _truthy_keyword(keyword: ast.keyword) -> bool:
    value = keyword.value
    return not (isinstance(value, ast.Constant) and value.value in (None, 0, 0.0, False))


def _calls(tree: ast.AST, names: frozenset) -> Iterable[ast.Call]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _call_name(node) in names:
            yield node


def evidence_in_tree(tree: ast.AST, where: str) -> list[Evidence]:
    """Clipping calls, clipping trainer keywords, and hook registrations whose hook clamps."""
    found = [Evidence(f"{where}:{call.lineno}", f"{_call_name(call)}()") for call in _calls(tree, CLIP_FUNCTIONS)]
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg in CLIP_KEYWORDS and _truthy_keyword(keyword):
                    found.append(Evidence(f"{where}:{node.lineno}", f"{keyword.arg}="))
    functions = {n.name: n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    for call in _calls(tree, HOOK_REGISTRATIONS):
        for arg in [*call.args, *(k.value for k in call.keywords)]:
            body: ast.AST | None = arg
            if isinstance(arg, ast.Name):
                body = functions.get(arg.id)
            if body is not None and any(True for _ in _calls(body, CLAMP_CALLS)):
                found.append(Evidence(f"{where}:{call.lineno}", f"{_call_name(call)}() with a clamping hook"))
    return found


def evidence_in_file(path: Path, label: str) -> list[Evidence]:
    """Parse ``path`` (never import it); a missing or unparsable file is the user's error (exit 2)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise AuditError(f"cannot read {label} {path}: {error.strerror}") from None
    try:
        tree = ast.parse(text, filename=str(path))
    except SyntaxError as error:
        raise AuditError(f"syntax error in {label} {path}, line {error.lineno}: {error.msg}") from None
    return evidence_in_tree(tree, Path(path).name)


def _code_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_names(const)
    return names


def _function_calls(fn: Callable, names: frozenset) -> str | None:
    """The first of ``names`` that ``fn`` calls: from its source's AST, else from its bytecode."""
    target = inspect.unwrap(getattr(fn, "__func__", fn))
    try:
        source = textwrap.dedent(inspect.getsource(target))
        tree: ast.AST | None = ast.parse(source)
    except (OSError, TypeError, SyntaxError):  # no source, or a lambda in the middle of a line
        tree = None
    if tree is not None:
        for call in _calls(tree, names):
            return _call_name(call)
        return None
    code = getattr(target, "__code__", None) or getattr(getattr(target, "__call__", None), "__code__", None)
    hits = sorted(_code_names(code) & names) if code is not None else []
    return hits[0] if hits else None


def evidence_in_callable(fn: Callable, label: str = "train_step") -> list[Evidence]:
    name = _function_calls(fn, CLIP_FUNCTIONS)
    return [Evidence(label, f"{name}()")] if name else []


def _hooks(obj: Any, attribute: str) -> list[Callable]:
    hooks = getattr(obj, attribute, None)
    return list(hooks.values()) if isinstance(hooks, dict) else []


def evidence_in_hooks(model: nn.Module) -> list[Evidence]:
    """Gradient hooks already registered on the model's parameters or modules that clamp gradients.

    ``Tensor.register_hook`` stores hooks in ``param._backward_hooks``;
    ``register_post_accumulate_grad_hook`` in ``param._post_accumulate_grad_hooks``;
    module backward hooks in ``module._backward_hooks``.
    """
    found = []
    for name, param in model.named_parameters():
        for attribute in ("_backward_hooks", "_post_accumulate_grad_hooks"):
            for hook in _hooks(param, attribute):
                call = _function_calls(hook, CLAMP_CALLS)
                if call:
                    found.append(Evidence(f"hook on {name}", f"{call}()"))
    for name, module in model.named_modules():
        for hook in _hooks(module, "_backward_hooks") + _hooks(module, "_backward_pre_hooks"):
            call = _function_calls(hook, CLAMP_CALLS)
            if call:
                found.append(Evidence(f"backward hook on {name or 'the model'}", f"{call}()"))
    return found
