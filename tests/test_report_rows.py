"""A quieter, complete report: functional rows named by scope, zero-cost views folded (--all-rows shows
them), tied tensors named in the params column, and the HTML carrying every column the table has."""
from __future__ import annotations

from dataclasses import replace

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from model_audit import SCHEMA_VERSION, audit
from model_audit.cli.main import main
from model_audit.render.registry import render
from model_audit.render.table import render_table

VIEW_OPS = {"view", "permute", "transpose", "reshape", "getitem", "contiguous", "size"}


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.heads = heads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, L, D = x.shape
        q, k, v = self.qkv(x).view(B, L, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        return self.proj(F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, L, D))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.ln_2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class TinyGPT(nn.Module):
    """Two blocks, F.scaled_dot_product_attention, an lm_head tied to the token embedding (fx-traceable)."""

    def __init__(self, vocab: int = 50, dim: int = 16, heads: int = 2, layers: int = 2) -> None:
        super().__init__()
        self.wte = nn.Embedding(vocab, dim)
        self.h = nn.ModuleList(Block(dim, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(dim)
        self.lm_head = nn.Linear(dim, vocab, bias=False)
        self.lm_head.weight = self.wte.weight

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.wte(ids)
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))


@pytest.fixture(scope="module")
def gpt():
    model = TinyGPT()
    return model, audit(model, torch.zeros(1, 8, dtype=torch.long), name="tiny-gpt")


def test_functional_rows_are_named_by_their_scope(gpt):
    _, report = gpt
    assert report.tracer == "fx"
    sdpa = [l for l in report.layers if l.type == "scaled_dot_product_attention"]
    assert [l.name for l in sdpa] == ["h.0.attn.sdpa", "h.1.attn.sdpa"]
    assert [l.scope for l in sdpa] == ["h.0.attn", "h.1.attn"]
    # Residual adds: the module that called them, then @N for later calls in the same scope.
    adds = [l.name for l in report.layers if l.type == "add"]
    assert adds == ["h.0.add", "h.0.add@1", "h.1.add", "h.1.add@1"]
    names = [l.name for l in report.layers]
    assert len(names) == len(set(names))
    for layer in report.layers:  # every edge still points at a layer or a model input
        assert all(src in names or src in report.inputs for src in layer.inputs)
    data = report.to_dict()
    assert data["schema_version"] == SCHEMA_VERSION == 2


def test_functional_name_never_takes_a_module_name():
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.relu = nn.Linear(4, 4)  # a module that happens to be called "relu"

        def forward(self, x):
            return F.relu(self.relu(x))

    names = [l.name for l in audit(Net(), input_shape=(1, 4), rules=False).layers]
    assert names == ["relu", "relu@1"]


def test_tied_head_names_the_tensor_it_shares(gpt, capsys):
    model, report = gpt
    assert model.lm_head.weight is model.wte.weight  # the oracle: the tie is real
    head = report.layer("lm_head")
    assert head.params == 0 and head.shared_params == model.wte.weight.numel()
    assert report.to_dict()["layers"][[l.name for l in report.layers].index("lm_head")]["shares"] == ["wte.weight"]
    row = next(line for line in render_table(report).splitlines() if line.startswith("lm_head "))
    assert "shares wte.weight" in row
    assert not any("shares" in l.attrs for l in report.layers if l.name != "lm_head")


def test_views_are_folded_unless_all_rows(gpt):
    _, report = gpt
    views = [l.name for l in report.layers if l.module is None and l.type in VIEW_OPS]
    assert len(views) >= 8  # view, permute, getitem×3, transpose, reshape per block
    quiet, full = render_table(report), render_table(report, all_rows=True)

    def row_names(text: str) -> set[str]:
        return {line.split()[0] for line in text.split("\n\n")[0].splitlines()[2:]}

    assert not set(views) & row_names(quiet)
    assert set(views) <= row_names(full)
    assert row_names(full) - row_names(quiet) == set(views)
    assert f"{len(views)} zero-cost view/reshape rows folded" in quiet and "folded" not in full
    total = [line.split() for line in quiet.splitlines() if line.startswith("total")]
    assert total == [line.split() for line in full.splitlines() if line.startswith("total")]
    # The JSON keeps every layer.
    assert set(views) <= {layer["name"] for layer in report.to_dict()["layers"]}


def test_a_view_with_a_finding_stays_visible():
    from model_audit.render.folding import fold_targets
    from model_audit.report.finding import Finding, Severity

    report = audit(TinyGPT(layers=1), torch.zeros(1, 8, dtype=torch.long), rules=False)
    view = next(l.name for l in report.layers if l.type == "permute")
    assert view in fold_targets(report)
    report = replace(report, findings=[Finding("some-rule", Severity.WARNING, view, "message")])
    assert view not in fold_targets(report)


class _Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.tables[-1][-1].append("".join(self.cell).strip())
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


class Even(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 4, padding=2)
        self.act = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        return self.fc(self.pool(self.act(self.conv(x))).flatten(1))


def test_html_has_every_table_column_and_the_graph():
    report = audit(Even(), input_shape=(4, 3, 16, 16), select=["even-kernel"], probe=True, device="cpu")
    assert [f.rule for f in report.findings if f.rule == "even-kernel"] == ["even-kernel"]
    page = render(report, "html")
    parser = _Cells()
    parser.feed(page)
    layers = parser.tables[-1]
    table_headers = re.split(r"\s{2,}", render_table(report).splitlines()[0].strip())
    assert layers[0] == table_headers
    assert {"RF", "grad", "dead", "findings"} <= set(layers[0])
    rows = {row[0]: dict(zip(layers[0], row)) for row in layers[1:]}
    assert rows["conv"]["RF"] == "4×4 /1" and "even-kernel" in rows["conv"]["findings"]
    assert rows["conv"]["grad"] != "" and rows["fc"]["grad"] != ""
    svg = page[page.index("<svg", page.index("Layer graph")):]
    ET.fromstring(svg[:svg.index("</svg>") + 6])  # the inline graph is well-formed XML


def test_cli_all_rows_flag(tmp_path, capsys):
    path = tmp_path / "net.py"
    path.write_text("import torch.nn as nn\n"
                    "class Net(nn.Module):\n"
                    "    def __init__(self):\n"
                    "        super().__init__()\n"
                    "        self.a = nn.Linear(6, 6)\n"
                    "        self.b = nn.Linear(6, 2)\n"
                    "    def forward(self, x):\n"
                    "        return self.b(self.a(x).view(-1, 2, 3).transpose(1, 2).reshape(-1, 6))\n"
                    "input_shape = (4, 6)\n")
    assert main([str(path)]) == 0
    quiet = capsys.readouterr().out
    assert main([str(path), "--all-rows"]) == 0
    full = capsys.readouterr().out
    for name in ("view", "transpose", "reshape"):
        assert f"\n{name} " not in quiet and f"\n{name} " in full
    assert "3 zero-cost view/reshape rows folded" in quiet
    assert main([str(path), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"view", "transpose", "reshape"} <= {layer["name"] for layer in data["layers"]}
