"""Clipping evidence by data flow over source files: the script, and the project modules it imports.

A call is clipping evidence when its callee resolves — through ``import ... as``, ``from ... import
... as``, ``name = torch.nn.utils.clip_grad_norm_`` and ``self.method`` — to:

- a clipping function (``clip_grad_norm_``, ``clip_grad_value_``, accelerate's
  ``accelerator.clip_grad_norm_``, Fabric's ``clip_gradients``, ...);
- a function of the same project (this file, ``utils.py`` beside it, ``pkg/helpers.py`` imported
  absolutely or relatively) whose body is evidence, followed to any depth;
- an in-place bound on a gradient: ``p.grad.clamp_(-c, c)``, ``p.grad.data.clamp_``,
  ``torch.clamp_(p.grad, ...)``, ``p.grad = torch.clamp(p.grad, ...)``, or ``p.grad.mul_(coef)`` in
  a function that computes a norm (hand-written norm clipping);
- a gradient hook (``register_hook``, ...) whose function clamps;
- a trainer configured to clip: Lightning ``Trainer(gradient_clip_val=...)`` (off when 0/None), and
  transformers' ``Trainer`` (and ``Seq2SeqTrainer``, trl's trainers, subclasses), which clips at
  ``TrainingArguments.max_grad_norm`` = 1.0 by default — unless ``max_grad_norm=0``/``None`` is set.

In the script itself every call counts (it is the user's training code); in an imported module
only the functions the script reaches count, so a helper that is never called is no evidence.
Files are parsed, never imported or run.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from ...errors import AuditError
from .runtime import CLAMP_CALLS, CLIP_FUNCTIONS, CLIP_KEYWORDS, HOOK_REGISTRATIONS, Evidence

#: trainers that clip by default (transformers: TrainingArguments.max_grad_norm = 1.0)
HF_PACKAGES = ("transformers", "trl", "optimum", "setfit")
HF_ARGUMENTS = frozenset({"TrainingArguments", "Seq2SeqTrainingArguments", "SFTConfig", "DPOConfig",
                          "RewardConfig", "GRPOConfig", "ORPOConfig", "PPOConfig"})
#: in-place scaling that clips by hand when its factor comes from a norm (``p.grad.mul_(max_norm / total)``)
SCALE_CALLS = frozenset({"mul_", "div_"})
#: how far up from a file an absolute project import is looked for (``src/pkg/train.py`` importing ``pkg.utils``)
_ANCESTORS = 3


@dataclass(frozen=True)
class Ref:
    """What a name means: ``dotted`` inside project file ``file`` (or outside the project when None)."""

    dotted: str
    file: Path | None = None
    module: bool = False  # the name is a module of the project (``import utils``)

    def last(self) -> str:
        return self.dotted.rsplit(".", 1)[-1]


@dataclass
class Source:
    """One parsed project file: its import aliases, functions (top level and methods) and classes."""

    path: Path
    tree: ast.Module
    aliases: dict[str, Ref] = field(default_factory=dict)
    functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = field(default_factory=dict)
    classes: dict[str, ast.ClassDef] = field(default_factory=dict)


class Project:
    """The files reachable from the roots by imports that resolve to files on disk, parsed lazily."""

    def __init__(self) -> None:
        self.sources: dict[Path, Source | None] = {}
        self._function_evidence: dict[tuple[Path, str], list[Evidence] | None] = {}
        self.hf_trainers: list[tuple[Path, int, str]] = []
        self.hf_clip_off: list[tuple[Path, int]] = []

    # -- files -------------------------------------------------------------------------------
    def load(self, path: Path, *, label: str | None = None) -> Source | None:
        """Parse ``path``; a root's read or syntax error is the user's error (``label`` given), an import's is skipped."""
        given, path = path, path.resolve()
        if path in self.sources:
            return self.sources[path]
        try:
            text = path.read_text(encoding="utf-8")
            tree = ast.parse(text, filename=str(path))
        except OSError as error:
            if label:
                raise AuditError(f"cannot read {label} {given}: {error.strerror}") from None
            self.sources[path] = None
            return None
        except (SyntaxError, ValueError) as error:
            if label:
                line = getattr(error, "lineno", None)
                raise AuditError(f"syntax error in {label} {given}, line {line}: {getattr(error, 'msg', error)}") from None
            self.sources[path] = None
            return None
        source = Source(path=path, tree=tree)
        self.sources[path] = source
        self._index(source)
        return source

    def _module_file(self, dotted: str, base: Path, level: int) -> Path | None:
        """The project file of module ``dotted`` imported from a file in ``base`` (``level`` dots)."""
        parts = [p for p in dotted.split(".") if p]
        if level:
            roots = [base.parents[level - 2] if level >= 2 else base] if level - 2 < len(base.parents) else []
        else:
            roots = [base, *list(base.parents)[:_ANCESTORS]]
        for root in roots:
            candidate = root.joinpath(*parts) if parts else root
            for path in (candidate.with_suffix(".py") if parts else None, candidate / "__init__.py"):
                if path is not None and path.is_file():
                    return path.resolve()
        return None

    def _index(self, source: Source) -> None:
        base = source.path.parent
        for node in ast.walk(source.tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                source.functions.setdefault(node.name, node)
            elif isinstance(node, ast.ClassDef):
                source.classes.setdefault(node.name, node)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    file = self._module_file(alias.name, base, 0)
                    if alias.asname:
                        source.aliases[alias.asname] = Ref("", file, True) if file else Ref(alias.name)
                    else:
                        head = alias.name.split(".")[0]
                        head_file = self._module_file(head, base, 0)
                        source.aliases[head] = Ref("", head_file, True) if head_file else Ref(head)
            elif isinstance(node, ast.ImportFrom):
                module = node.module or ""
                file = self._module_file(module, base, node.level)
                for alias in node.names:
                    local = alias.asname or alias.name
                    submodule = self._module_file(f"{module}.{alias.name}" if module else alias.name, base, node.level)
                    if submodule is not None:
                        source.aliases[local] = Ref("", submodule, True)
                    elif file is not None:
                        source.aliases[local] = Ref(alias.name, file)
                    else:
                        source.aliases[local] = Ref(f"{module}.{alias.name}" if module else alias.name)
        for node in ast.walk(source.tree):  # ``clip = torch.nn.utils.clip_grad_norm_``: an alias by assignment
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) \
                    and isinstance(node.value, (ast.Name, ast.Attribute)):
                ref = self.resolve(node.value, source)
                if ref is not None and (ref.last() in CLIP_FUNCTIONS or ref.file is not None):
                    source.aliases.setdefault(node.targets[0].id, ref)

    # -- names -------------------------------------------------------------------------------
    def resolve(self, expr: ast.expr, source: Source) -> Ref | None:
        """What a callee expression names, or None for computed callees."""
        if isinstance(expr, ast.Name):
            if expr.id in source.aliases:
                return source.aliases[expr.id]
            if expr.id in source.functions or expr.id in source.classes:
                return Ref(expr.id, source.path)
            return Ref(expr.id)
        if isinstance(expr, ast.Attribute):
            if isinstance(expr.value, ast.Name) and expr.value.id in ("self", "cls"):
                return Ref(expr.attr, source.path) if expr.attr in source.functions else Ref(f"self.{expr.attr}")
            base = self.resolve(expr.value, source)
            if base is None:
                return Ref(f"?.{expr.attr}")
            if base.module and base.file is not None:
                target = self.load(base.file)
                if target is not None and expr.attr in target.aliases:
                    return target.aliases[expr.attr]
                return Ref(expr.attr, base.file)
            return Ref(f"{base.dotted}.{expr.attr}" if base.dotted else expr.attr)
        return None

    # -- evidence ----------------------------------------------------------------------------
    def function_evidence(self, file: Path, name: str) -> list[Evidence]:
        """Evidence in the body of project function ``name`` of ``file`` (memoized; recursion-safe)."""
        key = (file, name)
        if key in self._function_evidence:
            return self._function_evidence[key] or []
        self._function_evidence[key] = None  # in progress: a recursive call is no evidence by itself
        source = self.load(file)
        found: list[Evidence] = []
        if source is not None:
            node = source.functions.get(name)
            if node is not None:
                found = list(self.evidence(node, source))
            elif name in source.classes:  # a class whose methods clip when called (a training-loop class)
                found = list(self.evidence(source.classes[name], source))
        self._function_evidence[key] = found
        return found

    def evidence(self, tree: ast.AST, source: Source) -> Iterator[Evidence]:
        """Every piece of clipping evidence in ``tree`` (a file, a function or a class of ``source``)."""
        computes_norm = any(isinstance(n, ast.Call) and _name(n.func) in ("norm", "vector_norm", "clip_grad_norm_")
                            for n in ast.walk(tree))
        grads = _gradient_names(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            where = f"{source.path.name}:{node.lineno}"
            ref = self.resolve(node.func, source)
            name = ref.last() if ref is not None else _name(node.func)
            if name in CLIP_FUNCTIONS:
                yield Evidence(where, f"{_spelled(node.func)}()" + (f" (= {name})" if _name(node.func) != name else ""))
            elif name in CLAMP_CALLS and _bounds_grad(node, grads):
                yield Evidence(where, f"{_spelled(node.func)}() on a .grad")
            elif name in SCALE_CALLS and computes_norm and _receiver_is_grad(node, grads):
                yield Evidence(where, f"{_spelled(node.func)}() rescaling a .grad by a norm")
            elif name in HOOK_REGISTRATIONS and self._clamping_hook(node, source):
                yield Evidence(where, f"{name}() with a clamping hook")
            for keyword in node.keywords:
                if keyword.arg in CLIP_KEYWORDS and _truthy(keyword.value):
                    yield Evidence(where, f"{keyword.arg}=")
            if ref is not None and self._hf_trainer(ref):
                self.hf_trainers.append((source.path, node.lineno, ref.last()))
            if ref is not None and ref.last() in HF_ARGUMENTS:
                for keyword in node.keywords:
                    if keyword.arg == "max_grad_norm" and not _truthy(keyword.value):
                        self.hf_clip_off.append((source.path, node.lineno))
            if ref is not None and ref.file is not None and ref.last() not in CLIP_FUNCTIONS:
                for inner in self.function_evidence(ref.file, ref.last()):
                    yield Evidence(where, f"{_spelled(node.func)}() → {inner.what} ({inner.where})")
                    break

    def _clamping_hook(self, call: ast.Call, source: Source) -> bool:
        for arg in [*call.args, *(k.value for k in call.keywords)]:
            body: ast.AST | None = arg if isinstance(arg, ast.Lambda) else None
            ref = self.resolve(arg, source) if isinstance(arg, (ast.Name, ast.Attribute)) else None
            target = self.load(ref.file) if ref is not None and ref.file is not None else None
            if target is not None:
                body = target.functions.get(ref.last())
            if body is not None and any(isinstance(n, ast.Call) and _name(n.func) in CLAMP_CALLS for n in ast.walk(body)):
                return True
        return False

    def _hf_trainer(self, ref: Ref, depth: int = 0) -> bool:
        """A transformers/trl ``*Trainer``, directly or as a project subclass of one."""
        if ref.file is None:
            return ref.dotted.split(".")[0] in HF_PACKAGES and ref.last().endswith("Trainer")
        source = self.load(ref.file)
        cls = source.classes.get(ref.last()) if source is not None else None
        if cls is None or depth > 8:
            return False
        return any(self._hf_trainer(base, depth + 1) for base in
                   (self.resolve(b, source) for b in cls.bases) if base is not None)

    def trainer_evidence(self) -> list[Evidence]:
        """transformers' Trainer clips by default, unless some TrainingArguments sets max_grad_norm to 0/None."""
        if not self.hf_trainers or self.hf_clip_off:
            return []
        path, line, name = self.hf_trainers[0]
        return [Evidence(f"{path.name}:{line}", f"transformers {name} (clips at max_grad_norm=1.0 by default)")]


def _name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


def _spelled(func: ast.expr) -> str:
    try:
        return ast.unparse(func)
    except Exception:  # pragma: no cover - ast.unparse handles every expression the parser produces
        return _name(func) or "?"


def _mentions_grad(expr: ast.AST | None, names: frozenset[str] = frozenset()) -> bool:
    """``expr`` reads a ``.grad`` attribute, or a variable bound to gradients (``names``)."""
    return expr is not None and any((isinstance(n, ast.Attribute) and n.attr == "grad")
                                    or (isinstance(n, ast.Name) and n.id in names) for n in ast.walk(expr))


def _gradient_names(tree: ast.AST) -> frozenset[str]:
    """Variables bound to gradients: ``grads = [p.grad for p in ...]``, ``for g in grads:``, ``g = p.grad``
    (propagated to a fixed point over assignments, loop targets and comprehension targets)."""
    names: set[str] = set()
    bindings: list[tuple[ast.AST, ast.AST]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            bindings += [(target, node.value) for target in node.targets]
        elif isinstance(node, (ast.For, ast.comprehension)):
            bindings.append((node.target, node.iter))
    changed = True
    while changed:
        changed = False
        for target, value in bindings:
            if _mentions_grad(value, frozenset(names)):
                for leaf in ast.walk(target):
                    if isinstance(leaf, ast.Name) and leaf.id not in names:
                        names.add(leaf.id)
                        changed = True
    return frozenset(names)


def _receiver_is_grad(call: ast.Call, names: frozenset[str] = frozenset()) -> bool:
    return isinstance(call.func, ast.Attribute) and _mentions_grad(call.func.value, names)


def _bounds_grad(call: ast.Call, names: frozenset[str] = frozenset()) -> bool:
    """``p.grad.clamp_(...)``, ``g.clamp_`` for a gradient variable, or ``torch.clamp(p.grad, ...)``."""
    if _receiver_is_grad(call, names):
        return True
    return bool(call.args) and _mentions_grad(call.args[0], names)


def _truthy(value: ast.expr) -> bool:
    return not (isinstance(value, ast.Constant) and value.value in (None, 0, 0.0, False))


def evidence_in_source(paths: Iterable[tuple[Path, str]]) -> list[Evidence]:
    """Evidence in the given root files (``(path, label)``: the model file, the training script) and the
    project functions they call; a root that cannot be read or parsed is an AuditError (exit 2)."""
    project = Project()
    found: list[Evidence] = []
    for path, label in paths:
        source = project.load(Path(path), label=label)
        if source is not None:
            found.extend(project.evidence(source.tree, source))
    return found + project.trainer_evidence()


def evidence_in_file(path: Path, label: str) -> list[Evidence]:
    """Evidence in one file and the project modules it imports."""
    return evidence_in_source([(Path(path), label)])
