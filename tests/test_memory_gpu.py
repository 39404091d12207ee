"""The memory analysis against CUDA's allocator: runs only where a GPU is available (marker ``gpu``).

Prediction on meta (CUDA's autocast policy) vs ``torch.cuda.max_memory_allocated`` over step 2 of a
real step (after ``reset_peak_memory_stats``), and the predicted largest batch for a capped
capacity really fits while 1.1x of it runs out of memory.
"""
from __future__ import annotations

import pytest
import torch

from model_audit.analyses.memory import measure_step
from model_audit.analyses.memory.analysis import MemoryOptions, analyze

from memory_models import build
from memory_oracle import OPTIMIZERS, _loss

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


def cuda_step_peak(model, args, kwargs, optimizer: str, amp: str | None = None) -> int:
    model = model.cuda()
    args = tuple(a.cuda() for a in args)
    kwargs = {k: v.cuda() for k, v in kwargs.items()}
    opt = OPTIMIZERS[optimizer]([p for p in model.parameters() if p.requires_grad])
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp or "")

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=dtype, enabled=dtype is not None):
            output = model(*args, **kwargs)
        _loss(output).backward()
        opt.step()

    step()
    opt.zero_grad(set_to_none=True)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    step()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated()


@pytest.mark.parametrize("amp", [None, "bf16"])
@pytest.mark.parametrize("name", ["resnet18", "resnet50", "vit_b_16", "gpt2", "bert", "unet"])
def test_peak_within_5_percent_of_cuda_max_memory_allocated(name, amp):
    model, args, kwargs = build(name)
    predicted = measure_step(model, args, kwargs, optimizer="adamw", amp=amp, amp_device="cuda").peak_bytes
    measured = cuda_step_peak(model, args, kwargs, "adamw", amp)
    assert abs(predicted - measured) <= 0.05 * measured, (name, amp, predicted, measured)


def test_largest_batch_fits_and_1_1x_does_not():
    model, args, kwargs = build("resnet18")
    capacity = 6 * 2**30
    total = torch.cuda.get_device_properties(0).total_memory
    data, _ = analyze(model, args[0], None, MemoryOptions.build("train", optimizer="sgd-momentum",
                                                                gpu_memory=str(capacity)))
    batch = data["fit"]["largest_batch"]
    assert batch > 8
    torch.cuda.set_per_process_memory_fraction(capacity / total)
    try:
        x = torch.randn(batch, *args[0].shape[1:])
        cuda_step_peak(model, (x,), {}, "sgd-momentum")
        torch.cuda.empty_cache()
        with pytest.raises(torch.OutOfMemoryError):
            cuda_step_peak(model, (torch.randn(int(batch * 1.1), *args[0].shape[1:]),), {}, "sgd-momentum")
    finally:
        torch.cuda.empty_cache()
        torch.cuda.set_per_process_memory_fraction(1.0)
