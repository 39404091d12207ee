"""Audit a LLaMA-7B-shaped model built on the meta device: wall time and peak RSS.

No weights are materialized (fp32 weights would take 27 GB). Expected: 6,738,415,616 params and
850,000,871,424 MACs (850.0 GMACs) for 128 tokens; see tests/test_transformers.py for the closed form.

    python benchmarks/llama7b_meta.py [--tokens 128]
"""
from __future__ import annotations

import argparse
import resource
import sys
import time

import torch


def peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=128)
    args = parser.parse_args()

    start = time.perf_counter()
    import transformers

    from model_audit import audit
    imported = time.perf_counter()
    rss_after_import = peak_rss_mib()

    config = transformers.LlamaConfig(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                                      num_attention_heads=32, num_key_value_heads=32, vocab_size=32000)
    with torch.device("meta"):
        model = transformers.LlamaForCausalLM(config)
    built = time.perf_counter()

    report = audit(model, {"input_ids": torch.zeros(1, args.tokens, dtype=torch.long)})
    done = time.perf_counter()

    weights_gb = report.params * 4 / 1e9
    print(f"model         LLaMA-7B shape, {args.tokens} tokens, device={report.device}, tracer={report.tracer}")
    print(f"params        {report.params:,}  (fp32 weights would take {weights_gb:.1f} GB)")
    print(f"MACs          {report.macs:,}  ({report.macs / 1e9:.1f} GMACs)")
    print(f"FLOPs         {report.flops:,}  ({report.flops / 1e9:.1f} GFLOPs)")
    print(f"uncounted     {report.uncounted_ops or 'none'}")
    print(f"import        {imported - start:.2f} s")
    print(f"build (meta)  {built - imported:.2f} s")
    print(f"audit         {done - built:.2f} s")
    print(f"peak RSS      {peak_rss_mib():.0f} MiB  (after imports: {rss_after_import:.0f} MiB)")


if __name__ == "__main__":
    main()
