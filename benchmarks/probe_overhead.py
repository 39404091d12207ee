"""Probe cost vs one plain forward+backward of the same batch (target: at most 1.5x on a GPU).

    python benchmarks/probe_overhead.py                      # torchvision resnet18, 32x3x224x224, auto device
    python benchmarks/probe_overhead.py --model mlp --device cpu --batch 256

"plain" is the fastest of ``repeats`` timings of ``zero_grad; loss(model(x)).backward()``. "probe" is the wall time of
``probe_model`` with ``batches`` gradient passes and the side passes off (no timing, BatchNorm
variance or sequence-length passes; fastest of 3 runs), divided by ``batches``: the per-batch cost of the hooks,
statistics and gradient read-outs, with the one-off setup (stand-ins, fx re-trace) amortized.
The ratio of the two is printed; the setup alone is printed too.
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn as nn

from model_audit.api import AuditOptions, trace_and_analyse
from model_audit.probes import probe_model, resolve_device


def build(name: str) -> tuple[nn.Module, tuple[int, ...]]:
    if name == "mlp":
        layers: list[nn.Module] = []
        for _ in range(8):
            layers += [nn.Linear(2048, 2048), nn.ReLU()]
        return nn.Sequential(*layers, nn.Linear(2048, 10)), (2048,)
    import torchvision

    return getattr(torchvision.models, name)(weights=None), (3, 224, 224)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def plain_step(model: nn.Module, x: torch.Tensor, device: torch.device) -> float:
    model.zero_grad(set_to_none=True)
    sync(device)
    start = time.perf_counter()
    model(x).pow(2).mean().backward()
    sync(device)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet18", help="mlp or a torchvision model name (default resnet18)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batches", type=int, default=10, help="probe gradient passes (default 10)")
    parser.add_argument("--repeats", type=int, default=10, help="plain steps timed (default 10)")
    parser.add_argument("--autocast", default=None, choices=[None, "bf16"])
    args = parser.parse_args()

    device = resolve_device(args.device)
    model, shape = build(args.model)
    graph = trace_and_analyse(model, None, AuditOptions(input_shape=(args.batch, *shape)))  # the graph the probe joins to
    model.to(device).train()
    x = torch.randn(args.batch, *shape, device=device)
    for _ in range(3):
        plain_step(model, x, device)  # warm-up: kernels, allocator
    plain = min(plain_step(model, x, device) for _ in range(args.repeats))
    model.zero_grad(set_to_none=True)

    options = dict(device=device, input_shape=(args.batch, *shape), timing=False, bn_variance=False,
                   sequence_lengths=(), progress=False, autocast=args.autocast)

    def probe(batches: int) -> float:
        sync(device)
        start = time.perf_counter()
        probe_model(model, graph, batches=batches, **options)
        sync(device)
        return time.perf_counter() - start

    probe(1)  # warm-up
    one = min(probe(1) for _ in range(3))
    many = min(probe(args.batches + 1) for _ in range(3))
    per_batch = (many - one) / args.batches  # the one-off setup cancels out
    setup = one - per_batch
    print(f"model {args.model}  batch {args.batch}  device {device}  autocast {args.autocast}")
    print(f"plain forward+backward: {plain * 1e3:.2f} ms")
    print(f"probe per batch:        {per_batch * 1e3:.2f} ms   (one-off setup {setup * 1e3:.1f} ms)")
    print(f"ratio probe/plain:      {per_batch / plain:.2f}x   (target <= 1.5x on GPU)")


if __name__ == "__main__":
    main()
