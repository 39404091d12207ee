"""model-audit beside fvcore, ptflops, thop and torchinfo on four torchvision models.

Each (tool, model) pair runs in its own fresh Python process, so imports, caches and peak memory do
not leak between tools. In each process: torch and torchvision are imported and the model is built on
CPU in eval mode (not timed: the same for every tool); then the timer starts, the tool is imported
(timed, reported apart as "import") and counts MACs and parameters for one 1x3x224x224 input ("count").
"total" = import + count. Peak RSS is the process's maximum resident set size (it includes torch and
the model's weights, the same for every tool); "+RSS" is the growth over the RSS after building the
model. Errors are against torchvision's ``weights.meta``: ``_ops`` (GMACs, 3 decimals) and ``num_params``.

    python benchmarks/peers.py [--models resnet50,vit_b_16] [--tools model-audit,fvcore] [--repeat 1]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

MODELS = ["resnet50", "vit_b_16", "densenet121", "mobilenet_v2"]
TOOLS = ["model-audit", "fvcore", "ptflops", "thop", "torchinfo"]
SHAPE = (1, 3, 224, 224)


def _rss_mib() -> float:
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _count(tool: str, model, shape) -> tuple[int, int, str]:
    """(MACs, params, how) for one tool; the import happens here, inside the timed region."""
    import torch

    if tool == "model-audit":
        from model_audit import audit

        report = audit(model, input_shape=shape)
        return report.macs, report.params, f"audit(device=meta) tracer={report.tracer}"
    if tool == "fvcore":
        from fvcore.nn import FlopCountAnalysis, parameter_count

        analysis = FlopCountAnalysis(model, torch.randn(*shape))
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        return int(analysis.total()), int(parameter_count(model)[""]), "FlopCountAnalysis.total()"
    if tool == "ptflops":
        from ptflops import get_model_complexity_info

        with open(os.devnull, "w") as devnull:
            macs, params = get_model_complexity_info(model, tuple(shape[1:]), as_strings=False,
                                                     print_per_layer_stat=False, ost=devnull)
        return int(macs), int(params), "get_model_complexity_info (pytorch backend)"
    if tool == "thop":
        from thop import profile

        macs, params = profile(model, inputs=(torch.randn(*shape),), verbose=False)
        return int(macs), int(params), "profile()"
    if tool == "torchinfo":
        from torchinfo import summary

        stats = summary(model, input_size=shape, verbose=0)
        return int(stats.total_mult_adds), int(stats.total_params), "summary().total_mult_adds"
    raise SystemExit(f"unknown tool {tool}")


def worker(tool: str, name: str) -> None:
    import time
    import warnings

    warnings.filterwarnings("ignore")
    import torch  # noqa: F401  (imported before the timer starts, like torchvision)
    import torchvision

    weights = torchvision.models.get_model_weights(name).DEFAULT
    model = torchvision.models.get_model(name).eval()
    rss_built = _rss_mib()
    start = time.perf_counter()
    result = {"tool": tool, "model": name, "truth_macs": round(weights.meta["_ops"] * 1e9),
              "truth_params": weights.meta["num_params"], "rss_built_mib": rss_built}
    try:
        macs, params, how = _count(tool, model, SHAPE)
        result.update(macs=macs, params=params, how=how)
    except Exception as error:  # a peer that crashes on a model is a result too
        result["error"] = f"{type(error).__name__}: {str(error).strip().splitlines()[0][:80] if str(error).strip() else ''}"
    result["total_s"] = time.perf_counter() - start
    result["peak_rss_mib"] = _rss_mib()
    print("RESULT " + json.dumps(result))


def _import_time(tool: str) -> float:
    """Seconds to import the tool in a fresh process that has already imported torch and torchvision."""
    module = {"model-audit": "model_audit", "fvcore": "fvcore.nn", "ptflops": "ptflops", "thop": "thop",
              "torchinfo": "torchinfo"}[tool]
    code = ("import time, warnings; warnings.filterwarnings('ignore'); import torch, torchvision; "
            f"t = time.perf_counter(); import {module}; print(time.perf_counter() - t)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    try:
        return float(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return float("nan")


def _best(tool: str, name: str, repeat: int) -> dict:
    best: dict | None = None
    for _ in range(repeat):
        proc = subprocess.run([sys.executable, __file__, "--worker", tool, name], capture_output=True,
                              text=True, timeout=900)
        line = next((l for l in proc.stdout.splitlines() if l.startswith("RESULT ")), None)
        if line is None:
            tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            result = {"tool": tool, "model": name, "error": f"process failed: {tail[:80]}", "total_s": float("nan"),
                      "peak_rss_mib": float("nan"), "rss_built_mib": float("nan")}
        else:
            result = json.loads(line[len("RESULT "):])
        if best is None or result.get("total_s", float("inf")) < best.get("total_s", float("inf")):
            best = result
    assert best is not None
    return best


def _err(value: int | None, truth: int | None) -> str:
    if value is None or not truth:
        return "-"
    return f"{100.0 * (value - truth) / truth:+.2f}%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--repeat", type=int, default=1, help="runs per pair; the fastest is kept")
    parser.add_argument("--worker", nargs=2, metavar=("TOOL", "MODEL"), help=argparse.SUPPRESS)
    parser.add_argument("--json", metavar="FILE", help="also write the raw results to FILE")
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return

    from tabulate import tabulate

    models, tools = args.models.split(","), args.tools.split(",")
    imports = {tool: _import_time(tool) for tool in tools}
    results = [_best(tool, name, args.repeat) for name in models for tool in tools]
    rows = []
    for name in models:
        mine = [r for r in results if r["model"] == name]
        peers = [r["total_s"] for r in mine if r["tool"] != "model-audit" and "error" not in r]
        fastest = min(peers) if peers else None
        for r in mine:
            ok = "error" not in r
            ratio = ""
            if r["tool"] == "model-audit" and fastest and ok:
                ratio = f"{r['total_s'] / fastest:.2f}x"
            rows.append([
                name, r["tool"], f"{imports[r['tool']]:.2f}", f"{r['total_s']:.2f}",
                f"{r['peak_rss_mib']:.0f}", f"{r['peak_rss_mib'] - r['rss_built_mib']:+.0f}",
                f"{r['macs'] / 1e9:.3f}G" if ok else r["error"], _err(r.get("macs"), r.get("truth_macs")),
                f"{r['params']:,}" if ok else "-", _err(r.get("params"), r.get("truth_params")), ratio,
            ])
        truth = mine[0]
        rows.append([name, "torchvision meta", "", "", "", "", f"{truth.get('truth_macs', 0) / 1e9:.3f}G", "",
                     f"{truth.get('truth_params', 0):,}", "", ""])
    headers = ["model", "tool", "import s", "total s", "peak RSS MiB", "+RSS MiB", "MACs", "MACs err",
               "params", "params err", "ratio to fastest peer"]
    print(tabulate(rows, headers=headers, disable_numparse=True,
                   colalign=("left", "left", "right", "right", "right", "right", "right", "right", "right",
                             "right", "right")))
    print("\ntotal s = tool import + counting one 1x3x224x224 input, in a fresh process (model construction "
          "excluded); import s measured separately in another fresh process. ratio = model-audit total / fastest "
          "peer total on that model.")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"imports": imports, "results": results}, handle, indent=2)


if __name__ == "__main__":
    main()
