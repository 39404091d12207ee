"""Memoized meta kernels: an op's output metadata is a pure function of its inputs' metadata.

On the meta device most of an audit's time is spent in Python meta kernels and decompositions
(``batch_norm``, ``hardtanh_``: milliseconds per call) that only compute output shapes. Models
repeat the same op on the same shapes block after block, and audits repeat whole models, so the
counter remembers ``(op, input metadata, constant arguments) -> output metadata`` and builds
fresh meta tensors (or returns ``self`` for in-place ops) instead of re-running the kernel.
Only ops whose schema says they return fresh tensors or mutate exactly their first argument in
place are cached; views, ``out=`` variants and ops without tensor inputs always run for real.
"""
from __future__ import annotations

from typing import Any

import torch

from ..ir import ops
from .meta_checks import check_meta_dtypes

_MISS = object()
_HASHABLE = (int, float, bool, str, type(None), torch.dtype, torch.device, torch.memory_format, torch.layout)


def _kind(func: Any) -> str | None:
    """'fresh', 'inplace' or None (not cacheable), from the op's schema."""
    try:
        schema = func._schema
    except AttributeError:
        return None
    writes = [a for a in schema.arguments if a.alias_info is not None and a.alias_info.is_write]
    returns = list(schema.returns)
    if not writes:
        return "fresh" if returns and all(r.alias_info is None for r in returns) else None
    if (len(writes) == 1 and schema.arguments and writes[0] is schema.arguments[0] and len(returns) == 1
            and returns[0].alias_info is not None and returns[0].alias_info.is_write):
        return "inplace"
    return None


_SCALAR_TYPES = frozenset(_HASHABLE)


_Tensor = torch.Tensor


def _key_of(value: Any, found: list) -> Any:
    # Called for every argument of every op: exact-type checks first, then the general ones.
    cls = type(value)
    if cls in _SCALAR_TYPES:
        return (cls, value)
    if cls is _Tensor or isinstance(value, _Tensor):
        if not value.is_meta:
            raise TypeError
        found.append(True)
        return ("T", value.shape, value.stride(), value.dtype, value.storage_offset())
    if cls is tuple or cls is list or isinstance(value, (list, tuple)):
        return tuple([_key_of(v, found) for v in value])
    if isinstance(value, _HASHABLE):
        return (type(value), value)
    raise TypeError


def _args_key(args: tuple, found: list) -> tuple:
    """``_key_of(args)`` with the common arguments (tensors, scalars) inline: the cache's hot path."""
    parts = []
    for value in args:
        cls = type(value)
        if cls is _Tensor:
            if not value.is_meta:
                raise TypeError
            found.append(True)
            parts.append(("T", value.shape, value.stride(), value.dtype, value.storage_offset()))
        elif cls in _SCALAR_TYPES:
            parts.append((cls, value))
        else:
            parts.append(_key_of(value, found))
    return tuple(parts)


def _describe(out: Any) -> Any:
    if isinstance(out, torch.Tensor):
        return (tuple(out.shape), out.stride(), out.dtype, out.storage_offset())
    if isinstance(out, (list, tuple)):
        return (type(out), tuple(_describe(o) for o in out))
    raise TypeError


def _build(spec: Any) -> Any:
    if isinstance(spec[0], type):
        kind, items = spec
        return kind(_build(s) for s in items)
    shape, stride, dtype, offset = spec
    if offset:
        raise TypeError
    return torch.empty_strided(shape, stride, dtype=dtype, device="meta")


# Unary pointwise activations whose meta kernels are Python decompositions costing 0.1-3 ms a call
# (hardtanh, hardswish, gelu...): on a dense floating-point input their output is exactly
# ``empty_like(input)`` (same shape, dtype, strides) and the in-place forms return the input.
_UNARY: dict[Any, str] = {}
for _name in sorted(ops.SHAPE_PRESERVING_UNARY):
    for _variant, _how in ((_name, "fresh"), (_name + "_", "inplace")):
        _packet = getattr(torch.ops.aten, _variant, None)
        if _packet is not None and hasattr(_packet, "default"):
            _UNARY[_packet.default] = _how


def _dense_float(t: Any) -> bool:
    return (isinstance(t, torch.Tensor) and t.device.type == "meta" and t.is_floating_point()
            and (t.is_contiguous() or t.is_contiguous(memory_format=torch.channels_last)))


def _canonical_strides(shape: tuple, channels_last: bool) -> tuple:
    order = (1, 3, 2, 0) if channels_last else tuple(range(len(shape) - 1, -1, -1))
    strides = [0] * len(shape)
    step = 1
    for dim in order:
        strides[dim] = step
        step *= max(shape[dim], 1)
    return tuple(strides)


def _like(t: torch.Tensor) -> torch.Tensor:
    """``torch.empty_like(t)``, through ``empty_strided`` (a C++ meta kernel; ``empty_like``'s is
    Python, about 15x slower, and was most of the batch-norm fast path's cost) when ``t`` has the
    canonical contiguous or channels-last strides, which ``empty_like`` reproduces; otherwise
    (odd strides on size-1 dims, which ``empty_like`` renormalizes) ``empty_like`` itself."""
    shape, stride = tuple(t.shape), t.stride()
    if stride == _canonical_strides(shape, False) or (len(shape) == 4 and stride == _canonical_strides(shape, True)):
        return torch.empty_strided(shape, stride, dtype=t.dtype, device="meta")
    return torch.empty_like(t)


def unary_fast_path(func: Any, args: tuple, kwargs: dict) -> Any:
    """The output of a unary activation on meta without running its kernel, or ``_MISS``."""
    kind = _UNARY.get(func)
    if kind is None or not args or not _dense_float(args[0]) or kwargs.get("out") is not None:
        return _MISS
    return args[0] if kind == "inplace" else _like(args[0])


_BN_EVAL = {op: at for op, at in ((getattr(torch.ops.aten, "native_batch_norm", None), 5),
                                  (getattr(torch.ops.aten, "_native_batch_norm_legit_no_training", None), None))
            if op is not None}
_BN_EVAL = {packet.default: at for packet, at in _BN_EVAL.items()}


def batch_norm_fast_path(func: Any, args: tuple, kwargs: dict) -> Any:
    """Eval-mode batch norm on meta: (empty_like(input), [C], [C]) after the kernel's own size checks.

    Its meta kernel is a Python decomposition (about 3 ms a call, a quarter of a cold densenet121
    audit). Anything unusual (training, half precision, mismatched sizes) runs the real kernel,
    which also raises the real error message.
    """
    training_at = _BN_EVAL.get(func, _MISS)
    if training_at is _MISS or kwargs or len(args) < 5:
        return _MISS
    if training_at is not None and (len(args) <= training_at or args[training_at] is not False):
        return _MISS
    x = args[0]
    if not _dense_float(x) or x.dtype not in (torch.float32, torch.float64) or x.dim() < 2:
        return _MISS
    channels = x.shape[1]
    for t in args[1:5]:
        if t is not None and (not isinstance(t, torch.Tensor) or t.device.type != "meta" or t.dim() != 1
                              or t.shape[0] != channels or t.dtype != x.dtype):
            return _MISS
    stat = (channels,)
    return (_like(x), torch.empty(stat, dtype=x.dtype, device="meta"),
            torch.empty(stat, dtype=x.dtype, device="meta"))


_FAST_PATHS = {**{op: unary_fast_path for op in _UNARY}, **{op: batch_norm_fast_path for op in _BN_EVAL}}


class MetaKernelCache:
    """A bounded cache of meta-kernel results (oldest out first), shared by every audit in the process."""

    def __init__(self, maxsize: int = 8192) -> None:
        self.maxsize = maxsize
        self.entries: dict[Any, Any] = {}
        # id(op) -> (op, kind, fast path or None): an OpOverload hashes in Python code, its id in C;
        # the op is kept with its plan so that the id stays its own (keys below name the op by id too)
        self.plans: dict[int, tuple[Any, str | None, Any]] = {}
        self.hits = 0
        self.misses = 0

    def call(self, func: Any, args: tuple, kwargs: dict, checked: bool = True) -> Any:
        """``func(*args, **kwargs)`` on meta; ``checked=False`` skips the dtype checks real kernels make
        (for a rerun of ops that passed them)."""
        if checked:
            check_meta_dtypes(func, args)  # what real kernels would refuse, before any shortcut
        plan = self.plans.get(id(func))
        if plan is None:
            plan = self.plans[id(func)] = (func, _kind(func), _FAST_PATHS.get(func))
        _, kind, fast_path = plan
        if fast_path is not None:
            fast = fast_path(func, args, kwargs)
            if fast is not _MISS:
                self.hits += 1
                return fast
        if kind is None:
            return func(*args, **kwargs)
        found: list = []
        try:
            # The default dtype decides the dtype of scalars and fresh tensors some kernels make.
            key = (id(func), torch.get_default_dtype(), _args_key(args, found),
                   _key_of(tuple(sorted(kwargs.items())), found) if kwargs else ())
        except TypeError:
            return func(*args, **kwargs)
        if not found:  # creation ops depend on global state (default dtype): always run
            return func(*args, **kwargs)
        spec = self.entries.get(key, _MISS)
        if spec is not _MISS:
            self.hits += 1
            return args[0] if kind == "inplace" else _build(spec)
        before = _describe(args[0]) if kind == "inplace" else None
        out = func(*args, **kwargs)
        self.misses += 1
        try:
            if kind == "inplace":
                # resize_, squeeze_, t_... change self's metadata: those must run every time.
                if out is not args[0] or _describe(out) != before:
                    return out
                spec = None
            else:
                spec = _describe(out)
                _build(spec)  # only cache what can be rebuilt
        except TypeError:
            return out
        self.entries[key] = spec
        if len(self.entries) > self.maxsize:
            del self.entries[next(iter(self.entries))]
        return out


META_KERNELS = MetaKernelCache()
