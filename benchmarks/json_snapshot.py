"""Snapshot the JSON report of every torchvision classifier, the transformers configs and the corpus.

Used to prove a refactor changes no figure: run it before (``--out before/``) and after
(``--out after/``), then ``--compare before/ after/`` lists every difference (added keys are allowed
with ``--allow-added``).

    python benchmarks/json_snapshot.py --out /tmp/before
    python benchmarks/json_snapshot.py --out /tmp/after
    python benchmarks/json_snapshot.py --compare /tmp/before /tmp/after --allow-added
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _cases():
    import torch
    import torchvision
    from torchvision.models import get_model, get_model_weights, list_models

    sys.path.insert(0, str(ROOT / "tests"))
    for name in sorted(list_models(module=torchvision.models)):
        weights = get_model_weights(name).DEFAULT
        crop = weights.transforms().crop_size
        h, w = (crop[0], crop[-1]) if isinstance(crop, (list, tuple)) else (crop, crop)
        from test_torchvision_zoo import _build  # the zoo test's builder: same kwargs as weights

        yield f"tv-{name}", (lambda n=name, wt=weights: _build(n, wt)), dict(input_shape=(1, 3, h, w))
    from test_transformers import KINDS, build, example

    for kind in KINDS:
        yield f"hf-{kind}", (lambda k=kind: build(k)), dict(inputs=(lambda k=kind: example(k)))
    for path in sorted((ROOT / "tests" / "corpus").glob("*.py")):
        yield f"corpus-{path.stem}", str(path), {}


def _normalize(data):
    if isinstance(data, dict):
        return {k: _normalize(v) for k, v in data.items() if k not in ("source",)}
    if isinstance(data, list):
        return [_normalize(v) for v in data]
    return data


def snapshot(out: Path) -> None:
    import torch

    from model_audit import audit

    try:
        from model_audit.target import load_target
    except ImportError:
        from model_audit.target.loading import load_target
    out.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for key, build, kwargs in _cases():
            torch.manual_seed(0)
            if isinstance(build, str):
                loaded = load_target(build)
                model = loaded.model
                kwargs = {"inputs": loaded.inputs} if loaded.inputs is not None else {"input_shape": loaded.input_shape}
                kwargs["source_path"] = loaded.path
            else:
                model = build()
                kwargs = {k: (v() if callable(v) else v) for k, v in kwargs.items()}
            for mode in ("eval",):
                try:
                    report = audit(model, mode=mode, **kwargs)
                    data = _normalize(report.to_dict())
                except Exception as error:  # noqa: BLE001 - recorded, compared like a result
                    data = {"error": f"{type(error).__name__}: {error}"}
                (out / f"{key}.json").write_text(json.dumps(data, indent=1, sort_keys=True, default=str))
            print(key, flush=True)


def _diff(a, b, path, allow_added, out):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in a.keys() | b.keys():
            if k not in b:
                out.append(f"{path}.{k}: removed")
            elif k not in a:
                if not allow_added:
                    out.append(f"{path}.{k}: added")
            else:
                _diff(a[k], b[k], f"{path}.{k}", allow_added, out)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            _diff(x, y, f"{path}[{i}]", allow_added, out)
    elif a != b:
        out.append(f"{path}: {str(a)[:120]} -> {str(b)[:120]}")


def compare(before: Path, after: Path, allow_added: bool) -> int:
    problems = 0
    for file in sorted(before.glob("*.json")):
        other = after / file.name
        if not other.exists():
            print(f"{file.name}: missing after")
            problems += 1
            continue
        out: list[str] = []
        _diff(json.loads(file.read_text()), json.loads(other.read_text()), "", allow_added, out)
        for line in out[:10]:
            print(f"{file.stem}{line}")
        problems += bool(out)
    print(f"{len(list(before.glob('*.json')))} reports compared, {problems} differ")
    return 1 if problems else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--compare", nargs=2, type=Path)
    parser.add_argument("--allow-added", action="store_true")
    args = parser.parse_args()
    if args.compare:
        sys.exit(compare(*args.compare, args.allow_added))
    snapshot(args.out)
