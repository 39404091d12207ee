"""The meta-kernel memo and fast paths must give exactly what the real meta kernels give."""
from __future__ import annotations

import pytest
import torch

from model_audit.trace.meta_cache import _UNARY, MetaKernelCache, unary_fast_path

aten = torch.ops.aten


def _meta(shape, channels_last=False, dtype=torch.float32):
    t = torch.empty(shape, device="meta", dtype=dtype)
    return t.to(memory_format=torch.channels_last) if channels_last else t


def _signature(out):
    if isinstance(out, torch.Tensor):
        return (tuple(out.shape), out.stride(), out.dtype, out.storage_offset(), out.device.type)
    return tuple(_signature(o) for o in out)


@pytest.mark.parametrize("func", sorted(_UNARY, key=str), ids=str)
@pytest.mark.parametrize("shape,channels_last,dtype", [
    ((2, 8, 5, 7), False, torch.float32), ((2, 8, 5, 7), True, torch.float32),
    ((3, 11), False, torch.float16), ((4,), False, torch.float64),
])
def test_unary_fast_path_equals_the_meta_kernel(func, shape, channels_last, dtype):
    x = _meta(shape, channels_last, dtype)
    fast = unary_fast_path(func, (x,), {})
    real = func(x)
    if _UNARY[func] == "inplace":
        assert fast is x and real is x
    assert _signature(fast) == _signature(real)


def test_unary_fast_path_declines_what_it_cannot_prove():
    x = _meta((4, 6)).t()[1:]  # neither contiguous nor channels-last: strides are the kernel's call
    from model_audit.trace import meta_cache

    assert unary_fast_path(aten.gelu.default, (x,), {}) is meta_cache._MISS
    assert unary_fast_path(aten.relu.default, (torch.empty(3, dtype=torch.int64, device="meta"),), {}) is meta_cache._MISS


@pytest.mark.parametrize("call", [
    lambda: (aten.native_batch_norm.default, (_meta((1, 16, 9, 9), True), _meta((16,)), _meta((16,)), _meta((16,)),
                                              _meta((16,)), True, 0.1, 1e-5)),
    lambda: (aten.add.Tensor, (_meta((2, 3, 4)), _meta((3, 1)))),
    lambda: (aten.cat.default, ([_meta((1, 2, 3)), _meta((1, 5, 3))], 1)),
    lambda: (aten.max_pool2d_with_indices.default, (_meta((1, 3, 9, 9)), [3, 3], [2, 2], [1, 1])),
    lambda: (aten.add_.Tensor, (_meta((2, 3)), _meta((2, 3)))),
])
def test_memoized_results_equal_fresh_kernel_results(call):
    cache = MetaKernelCache()
    func, args = call()
    first = cache.call(func, args, {})
    func, args = call()
    second = cache.call(func, args, {})
    func, args = call()
    assert cache.hits == 1 and cache.misses == 1
    assert _signature(second) == _signature(first) == _signature(func(*args))
    if func is aten.add_.Tensor:
        assert second is not first  # in-place: the caller's own tensor comes back


def test_metadata_changing_inplace_ops_are_never_memoized():
    cache = MetaKernelCache()
    for _ in range(2):
        x = _meta((2, 3))
        assert cache.call(aten.resize_.default, (x, [4, 5]), {}).shape == (4, 5)
        y = _meta((2, 3))
        assert cache.call(aten.t_.default, (y,), {}).shape == (3, 2)
    assert cache.hits == 0


def _bn_args(x, channels=16, dtype=torch.float32):
    stats = [torch.empty(channels, device="meta", dtype=dtype) for _ in range(4)]
    return (x, *stats)


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("op", ["native_batch_norm", "_native_batch_norm_legit_no_training"])
def test_eval_batch_norm_fast_path_equals_the_meta_kernel(op, dtype, channels_last):
    from model_audit.trace.meta_cache import batch_norm_fast_path

    func = getattr(aten, op).default
    x = _meta((2, 16, 5, 7), channels_last, dtype)
    args = (*_bn_args(x, dtype=dtype), False, 0.1, 1e-5) if op == "native_batch_norm" else (*_bn_args(x, dtype=dtype), 0.1, 1e-5)
    fast = batch_norm_fast_path(func, args, {})
    assert _signature(fast) == _signature(func(*args))


def test_batch_norm_fast_path_leaves_errors_and_training_to_the_kernel():
    from model_audit.trace import meta_cache

    x = _meta((2, 16, 5, 7))
    wrong = (*_bn_args(x, channels=8), False, 0.1, 1e-5)  # BatchNorm2d(8) fed 16 channels
    assert meta_cache.batch_norm_fast_path(aten.native_batch_norm.default, wrong, {}) is meta_cache._MISS
    with pytest.raises(RuntimeError):
        aten.native_batch_norm.default(*wrong)
    training = (*_bn_args(x), True, 0.1, 1e-5)
    assert meta_cache.batch_norm_fast_path(aten.native_batch_norm.default, training, {}) is meta_cache._MISS


@pytest.mark.parametrize("shape", [(2, 1, 5), (2, 3, 1, 1), (1, 4), (2, 8, 5, 7), (1, 1, 1, 1), (2, 0, 3),
                                   (3, 1, 1, 2), (1, 3, 4, 1), (5,), ()])
def test_like_equals_empty_like(shape):
    """The fast paths' output allocation is exactly ``torch.empty_like`` — canonical strides through
    ``empty_strided``, odd ones (size-1 dims with any stride) through ``empty_like`` itself."""
    from model_audit.trace.meta_cache import _like

    candidates = [torch.empty(shape, device="meta")]
    if len(shape) == 4:
        candidates.append(candidates[0].to(memory_format=torch.channels_last))
    if 1 in shape:  # a size-1 dim may carry any stride and still be contiguous
        odd = list(candidates[0].stride())
        odd[shape.index(1)] = 99
        candidates.append(torch.empty_strided(shape, odd, device="meta"))
    for x in candidates:
        assert _signature(_like(x)) == _signature(torch.empty_like(x))
