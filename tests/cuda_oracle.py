"""The CUDA oracle for memory: ``torch.cuda.max_memory_allocated`` over step 2 of a real training step.

Each measurement runs in a fresh process: a thread's cuBLAS workspace outlives the model that made
it, so a model measured after another would carry the other's workspaces (and its allocator
cache). ``python tests/cuda_oracle.py step NAME AMP OPTIMIZER`` and ``... fit NAME CAPACITY OPTIMIZER``
print one JSON object; ``fresh(...)`` runs them and parses it.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
AMP = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def cuda_step(model: torch.nn.Module, args: tuple, kwargs: dict, optimizer: str, amp: str | None) -> dict[str, int]:
    """Step 2 on the GPU: its peak and what was allocated when it began (bytes)."""
    from memory_oracle import OPTIMIZERS, _loss

    model = model.cuda()
    args = tuple(a.cuda() for a in args)
    kwargs = {k: v.cuda() for k, v in kwargs.items()}
    opt = OPTIMIZERS[optimizer]([p for p in model.parameters() if p.requires_grad])
    dtype = AMP[amp or "none"]

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=dtype or torch.float32, enabled=dtype is not None):
            output = model(*args, **kwargs)
        _loss(output).backward()
        opt.step()

    step()
    opt.zero_grad(set_to_none=True)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    step()
    torch.cuda.synchronize()
    return {"before": before, "peak": torch.cuda.max_memory_allocated()}


def _runs(model: torch.nn.Module, shape: tuple, batch: int, optimizer: str) -> bool:
    torch.cuda.empty_cache()
    try:
        cuda_step(model, (torch.randn(batch, *shape),), {}, optimizer, None)
        return True
    except torch.OutOfMemoryError:
        return False
    finally:
        model.zero_grad(set_to_none=True)
        torch.cuda.empty_cache()


def fit(name: str, capacity: int, optimizer: str) -> dict[str, Any]:
    """The largest batch model-audit predicts under ``capacity`` against the allocator capped there:
    whether it runs, whether 1.1x of it runs out of memory, and the largest that really runs."""
    from memory_models import build

    from model_audit.analyses.memory.analysis import MemoryOptions, analyze

    model, args, _ = build(name)
    data, _ = analyze(model, args[0], None, MemoryOptions.build("train", optimizer=optimizer, gpu_memory=str(capacity)))
    predicted = data["fit"]["largest_batch"]
    shape = tuple(args[0].shape[1:])
    torch.cuda.set_per_process_memory_fraction(capacity / torch.cuda.get_device_properties(0).total_memory)
    fits = _runs(model, shape, predicted, optimizer)
    over = _runs(model, shape, int(predicted * 1.1), optimizer)
    low, high = (predicted, int(predicted * 1.1)) if fits and not over else (1, 4 * predicted)
    while high - low > 1:  # the largest batch that really runs
        mid = (low + high) // 2
        low, high = (mid, high) if _runs(model, shape, mid, optimizer) else (low, mid)
    return {"predicted": predicted, "fits": fits, "over_fails": not over, "largest": low}


def fresh(*argv: str) -> Any:
    """Run this module's command line in a new process and return its JSON."""
    done = subprocess.run([sys.executable, os.path.abspath(__file__), *argv], capture_output=True, text=True,
                          cwd=os.path.dirname(HERE))
    if done.returncode != 0:
        raise RuntimeError(f"cuda_oracle {' '.join(argv)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _main(argv: list[str]) -> None:
    sys.path.insert(0, HERE)
    from memory_models import build

    command, name = argv[0], argv[1]
    if command == "step":  # step NAME AMP[,AMP...] OPTIMIZER[,OPTIMIZER...]: one row per combination
        rows = []
        for amp in argv[2].split(","):
            for optimizer in argv[3].split(","):
                model, args, kwargs = build(name)
                rows.append({"amp": amp, "optimizer": optimizer,
                             **cuda_step(model, args, kwargs, optimizer, None if amp == "none" else amp)})
                del model
                torch.cuda.empty_cache()
        print(json.dumps(rows))
    elif command == "fit":
        print(json.dumps(fit(name, int(argv[2]), argv[3])))
    else:
        raise SystemExit(f"unknown command {command!r}: step or fit")


if __name__ == "__main__":
    _main(sys.argv[1:])
