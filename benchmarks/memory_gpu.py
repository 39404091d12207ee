"""The memory analysis against CUDA's allocator, where a GPU is available: predicted vs measured peak.

    python benchmarks/memory_gpu.py                          # every model, fp32 and bf16, SGD-momentum and AdamW
    python benchmarks/memory_gpu.py --models resnet18 --amp none --optimizers adamw
    python benchmarks/memory_gpu.py --fit                    # the largest batch under a capped capacity

measured: ``torch.cuda.max_memory_allocated`` over step 2 of a real step (``reset_peak_memory_stats``
after step 1 and ``zero_grad(set_to_none=True)``), torch's default optimizer implementation on CUDA
(foreach), each model in a fresh process (tests/cuda_oracle.py). model-audit: ``measure_step`` on meta,
planned for CUDA. "before" is what is allocated when step 2 starts (measured) against parameters,
buffers, optimizer state, inputs and cuBLAS workspaces (predicted).

``--fit`` caps the allocator at ``--capacity`` with ``set_per_process_memory_fraction`` and compares the
largest batch model-audit predicts with the largest that really runs (bisection), and checks that
1.1x the predicted batch runs out of memory.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

from cuda_oracle import fresh  # noqa: E402
from memory_models import MODELS, build  # noqa: E402

from model_audit.analyses.memory import measure_step  # noqa: E402
from model_audit.errors import AuditError  # noqa: E402


def mib(n: int) -> str:
    return f"{n / 2**20:9.1f}"


def compare(names: list[str], amps: list[str], optimizers: list[str]) -> list[dict]:
    rows = []
    print(f"{'model':11} {'amp':5} {'optimizer':13} {'measured':>9} {'predicted':>9} {'error':>8}"
          f" {'before':>9} {'pred.before':>11} {'phase':>9} {'s':>5}")
    for name in names:
        measured = fresh("step", name, ",".join(amps), ",".join(optimizers))
        for real in measured:
            amp = None if real["amp"] == "none" else real["amp"]
            model, args, kwargs = build(name)
            start = time.perf_counter()
            try:
                step = measure_step(model, args, kwargs, optimizer=real["optimizer"], amp=amp, amp_device="cuda")
            except AuditError as error:
                print(f"{name:11} {real['amp']:5} {real['optimizer']:13} model-audit fails: {error}", flush=True)
                continue
            seconds = time.perf_counter() - start
            before = sum(step.at_peak.get(c, 0) for c in ("params", "buffers", "optimizer", "inputs", "workspaces"))
            error = (step.peak_bytes - real["peak"]) / real["peak"]
            rows.append({"model": name, **real, "predicted": step.peak_bytes, "error": error,
                         "predicted_before": before, "phase": step.peak_phase, "at_peak": step.at_peak,
                         "seconds": seconds})
            print(f"{name:11} {real['amp']:5} {real['optimizer']:13} {mib(real['peak'])} {mib(step.peak_bytes)} "
                  f"{100 * error:+7.2f}% {mib(real['before'])} {mib(before):>11} {step.peak_phase:>9} "
                  f"{seconds:5.2f}", flush=True)
    if rows:
        worst = max(rows, key=lambda r: abs(r["error"]))
        print(f"worst: {worst['model']} {worst['amp']} {worst['optimizer']} {100 * worst['error']:+.2f}%; "
              f"within 5%: {sum(abs(r['error']) <= 0.05 for r in rows)}/{len(rows)}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--amp", default="none,bf16")
    parser.add_argument("--optimizers", default="sgd-momentum,adamw")
    parser.add_argument("--fit", action="store_true", help="also the largest batch under a capped capacity")
    parser.add_argument("--capacity", default=str(6 * 2**30), help="bytes for --fit (default 6 GiB)")
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("memory_gpu.py needs CUDA")
    print(f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    out: dict = {"steps": compare(args.models.split(","), args.amp.split(","), args.optimizers.split(","))}
    if args.fit:
        out["fit"] = []
        for name in ("resnet18", "unet"):
            result = fresh("fit", name, args.capacity, "sgd-momentum")
            out["fit"].append({"model": name, **result})
            print(f"fit {name} under {int(args.capacity) / 2**30:.1f} GiB (sgd-momentum): predicted largest batch "
                  f"{result['predicted']} ({'runs' if result['fits'] else 'RUNS OUT OF MEMORY'}), 1.1x "
                  f"{'runs out of memory' if result['over_fails'] else 'STILL RUNS'}; really largest "
                  f"{result['largest']} ({100 * (result['predicted'] - result['largest']) / result['largest']:+.1f}%)",
                  flush=True)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(out, handle, indent=1)


if __name__ == "__main__":
    main()
