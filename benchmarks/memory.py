"""Peak training-step memory side by side: measured, model-audit, torchinfo, MemTracker.

    python benchmarks/memory.py                              # every model of tests/memory_models.py
    python benchmarks/memory.py --models resnet18,unet --optimizer sgd-momentum
    python benchmarks/memory.py --timing                     # resnet50 b32, GPT-2 8x512, LLaMA-7B on meta

measured: step 2 of a real CPU step, peak of torch.profiler's allocator records plus the bytes
alive before the step (tests/memory_oracle.py). model-audit: ``measure_step`` on meta tensors.
torchinfo: its "Estimated Total Size" (input + forward/backward pass size + params), a forward
pass on CPU. MemTracker: ``torch.distributed._tools.mem_tracker`` under FakeTensorMode, step 2's
peak (where it runs). Errors are relative to measured; times are wall seconds on this machine.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any, Callable

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

from memory_models import MODELS, build  # noqa: E402
from memory_oracle import OPTIMIZERS, measured_step  # noqa: E402

from model_audit.analyses.memory import measure_step  # noqa: E402


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    try:
        value = fn()
    except Exception as error:  # a peer tool that cannot run this model: say so in the table
        value = f"fails: {type(error).__name__}: {str(error).splitlines()[0][:60]}"
    return value, time.perf_counter() - start


def torchinfo_estimate(name: str) -> int:
    import torchinfo

    model, args, kwargs = build(name)
    stats = torchinfo.summary(model, input_data=list(args), verbose=0, **kwargs)
    return int(stats.total_input + stats.total_output_bytes + stats.total_param_bytes)


def memtracker_peak(name: str, optimizer: str) -> int:
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.distributed._tools.mem_tracker import MemTracker

    with FakeTensorMode():
        model, args, kwargs = build(name)
        opt = OPTIMIZERS[optimizer](list(model.parameters()))
        tracker = MemTracker()
        tracker.track_external(model, opt)
        with tracker as mt:
            for i in range(2):
                out = model(*args, **kwargs)
                out = out.logits if hasattr(out, "logits") else (out.last_hidden_state if hasattr(out, "last_hidden_state") else out)
                out.sum().backward()
                opt.step()
                opt.zero_grad(set_to_none=True)
                if i == 0:
                    mt.reset_mod_stats()
        snapshot = mt.get_tracker_snapshot("peak")
    return int(max(dev["Total"] for dev in snapshot.values()))


def mib(n: Any) -> str:
    return f"{n / 2**20:10.1f}" if isinstance(n, int) else f"{'-':>10}"


def err(n: Any, ref: Any) -> str:
    return f"{100.0 * (n - ref) / ref:+7.1f}%" if isinstance(n, int) and isinstance(ref, int) else f"{'':>8}"


def compare(names: list[str], optimizer: str, measure: bool) -> None:
    print(f"peak of a training step ({optimizer}, fp32), MiB; error vs measured; seconds")
    print(f"{'model':12s} {'measured':>10} {'s':>6} | {'model-audit':>11} {'err':>8} {'s':>5} | "
          f"{'torchinfo':>10} {'err':>8} {'s':>5} | {'MemTracker':>10} {'err':>8} {'s':>5}")
    for name in names:
        model, args, kwargs = build(name)
        # planned for the CPU, as the measured step runs: the for-loop optimizer, oneDNN's LSTM
        ours, t_ours = timed(lambda: measure_step(model, args, kwargs, optimizer=optimizer, amp_device="cpu").peak_bytes)
        real, t_real = timed(lambda: measured_step(model, args, kwargs, optimizer=optimizer)["peak"]) if measure else (None, 0.0)
        info, t_info = timed(lambda: torchinfo_estimate(name))
        tracker, t_tracker = timed(lambda: memtracker_peak(name, optimizer))
        print(f"{name:12s} {mib(real)} {t_real:6.1f} | {mib(ours):>11} {err(ours, real)} {t_ours:5.1f} | "
              f"{mib(info)} {err(info, real)} {t_info:5.1f} | {mib(tracker)} {err(tracker, real)} {t_tracker:5.1f}"
              + (f"  [MemTracker {tracker}]" if isinstance(tracker, str) else ""), flush=True)


def timing() -> None:
    import torchvision
    import transformers

    from memory_models import gpt2, tokens

    print("model-audit memory analysis wall time (meta tensors, AdamW training step)")
    model = torchvision.models.resnet50()
    r, t = timed(lambda: measure_step(model, (torch.empty(32, 3, 224, 224),), {}, optimizer="adamw"))
    print(f"  resnet50 batch 32:  {t:6.1f} s   peak {r.peak_bytes / 2**30:.2f} GiB ({r.peak_phase})", flush=True)
    model = gpt2()
    r, t = timed(lambda: measure_step(model, (tokens(8, 512, 50257),),
                                      {"attention_mask": torch.ones(8, 512, dtype=torch.long)}, optimizer="adamw"))
    print(f"  GPT-2 8x512:        {t:6.1f} s   peak {r.peak_bytes / 2**30:.2f} GiB ({r.peak_phase})", flush=True)
    config = transformers.LlamaConfig(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                                      num_attention_heads=32, num_key_value_heads=32, vocab_size=32000)
    start = time.perf_counter()
    with torch.device("meta"):
        llama = transformers.LlamaForCausalLM(config)
    built = time.perf_counter() - start
    ids = torch.zeros(1, 2048, dtype=torch.long)
    r, t = timed(lambda: measure_step(llama, (ids,), {}, optimizer="adamw",
                                      amp="bf16"))
    print(f"  LLaMA-7B 1x2048 bf16 autocast: {t:6.1f} s (+{built:.1f} s to build on meta)   "
          f"peak {r.peak_bytes / 2**30:.1f} GiB ({r.peak_phase})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--optimizer", default="adamw", choices=sorted(OPTIMIZERS))
    parser.add_argument("--no-measure", action="store_true", help="skip the real CPU step (slow on big models)")
    parser.add_argument("--timing", action="store_true", help="only the wall-time targets")
    args = parser.parse_args()
    torch.manual_seed(0)
    if args.timing:
        timing()
        return
    compare(args.models.split(","), args.optimizer, not args.no_measure)


if __name__ == "__main__":
    main()
