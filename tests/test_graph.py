"""The collapsed layer graph (--format dot|svg|mermaid, HTML): repetition counts against the models' own
module lists, SVG parsed by xml.etree, DOT parsed by pydot, Mermaid checked for structure."""
from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pydot
import pytest
import torch
import torch.nn as nn
import torchvision

from model_audit import audit
from model_audit.cli.main import main
from model_audit.render.graph import MAX_NODES, build_graph
from model_audit.render.registry import render

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def vit():
    model = torchvision.models.vit_b_16()
    return model, audit(model, input_shape=(1, 3, 224, 224), name="vit_b_16")


def small_gpt2(layers: int = 12):
    transformers = pytest.importorskip("transformers")
    config = transformers.GPT2Config(n_layer=layers, n_embd=32, n_head=2, vocab_size=100, n_positions=32)
    return transformers.GPT2LMHeadModel(config)


@pytest.fixture(scope="module")
def gpt2():
    model = small_gpt2()
    return model, audit(model, {"input_ids": torch.zeros(1, 16, dtype=torch.long)}, name="gpt2")


def svg_nodes(text: str) -> tuple[ET.Element, list[ET.Element]]:
    root = ET.fromstring(text)
    assert root.tag == SVG + "svg"
    return root, [g for g in root.iter(SVG + "g") if g.get("class") == "node"]


def check_svg(text: str) -> tuple[list[ET.Element], list[str]]:
    """Well-formed SVG: a viewBox holding every box, edges between drawn nodes, a text per node."""
    root, nodes = svg_nodes(text)
    x0, y0, width, height = map(float, root.get("viewBox").split())
    assert (x0, y0) == (0, 0) and float(root.get("width")) == width and float(root.get("height")) == height
    ids = {g.get("id") for g in nodes}
    assert len(ids) == len(nodes)
    for g in nodes:
        rect = g.find(SVG + "rect")
        x, y, w, h = (float(rect.get(k)) for k in ("x", "y", "width", "height"))
        assert 0 <= x and x + w <= width and 0 <= y and y + h <= height
        assert g.find(SVG + "title").text and [t.text for t in g.iter(SVG + "text")]
    edges = [p for p in root.iter(SVG + "path") if p.get("class") == "edge"]
    for path in edges:
        assert path.get("data-from") in ids and path.get("data-to") in ids
        assert re.fullmatch(r"M[\d.-]+,[\d.-]+ C([\d.-]+,[\d.-]+ ?){3}", path.get("d"))
    texts = [t.text or "" for t in root.iter(SVG + "text")]
    return nodes, texts


def check_mermaid(text: str) -> tuple[set[str], list[tuple[str, str]], list[str]]:
    """Flowchart header, balanced subgraph/end, quoted labels without raw quotes, edges between declared ids."""
    lines = text.splitlines()
    assert lines[0] == "flowchart TD"
    declared: set[str] = set()
    edges: list[tuple[str, str]] = []
    subgraphs: list[str] = []
    depth = 0
    for line in lines[1:]:
        body = line.strip()
        if m := re.fullmatch(r'subgraph (c\d+)\["([^"]*)"\]', body):
            depth += 1
            subgraphs.append(m.group(2))
        elif body == "end":
            depth -= 1
            assert depth >= 0
        elif m := re.fullmatch(r'(n\d+)(?:\["[^"]*"\]|\(\["[^"]*"\]\))', body):
            declared.add(m.group(1))
        elif m := re.fullmatch(r"(n\d+) --> (n\d+)", body):
            edges.append((m.group(1), m.group(2)))
        elif m := re.fullmatch(r"style (n\d+) fill:#[0-9a-f]{6}(,stroke:#[0-9a-f]{6},stroke-width:3px)?", body):
            assert m.group(1) in declared
        else:
            raise AssertionError(f"not Mermaid flowchart syntax: {line!r}")
    assert depth == 0
    assert all(a in declared and b in declared for a, b in edges)
    return declared, edges, subgraphs


def dot_nodes(graph: pydot.Dot) -> dict[str, pydot.Node]:
    found: dict[str, pydot.Node] = {}

    def walk(g) -> None:
        for node in g.get_nodes():
            if node.get_name() not in ("graph", "node", "edge"):
                found[node.get_name()] = node
        for sub in g.get_subgraphs():
            walk(sub)

    walk(graph)
    return found


def test_vit_collapses_to_one_block_times_12(vit):
    model, report = vit
    view = build_graph(report)
    [cluster] = view.clusters.values()
    assert cluster.repeat == len(model.encoder.layers) == 12
    assert cluster.label == "encoder.layers.encoder_layer_0..11"
    assert cluster.params == sum(p.numel() for p in model.encoder.layers.parameters())
    # One copy drawn: its nodes carry exactly one block's parameters.
    inside = [n for n in view.nodes if n.cluster == cluster.id]
    assert sum(n.params for n in inside) == sum(p.numel() for p in model.encoder.layers[0].parameters())
    assert len(view.nodes) <= MAX_NODES
    # Every parameter outside the repeated blocks is on a node.
    outside = sum(p.numel() for p in model.parameters()) - cluster.params
    assert sum(n.params for n in view.nodes if n.cluster is None) == outside


def test_vit_svg_is_well_formed_and_small(vit):
    _, report = vit
    nodes, texts = check_svg(render(report, "svg"))
    assert 10 <= len(nodes) <= 40
    assert any(t.startswith("× 12") and "encoder_layer_0..11" in t for t in texts)
    assert "self_attention" in texts and "mlp.0" in texts  # names inside the block are relative to it


def _chromium() -> str | None:
    return next((shutil.which(n) for n in ("chromium-headless-shell", "chromium", "chromium-browser") if shutil.which(n)), None)


@pytest.mark.skipif(_chromium() is None, reason="no headless Chromium (apt-get install chromium)")
def test_vit_svg_renders_in_headless_chromium(vit, tmp_path):
    _, report = vit
    page = tmp_path / "vit.svg"
    page.write_text(render(report, "svg"))
    shot = tmp_path / "vit.png"
    subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--no-first-run", "--window-size=900,1500", f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, timeout=120, check=True)
    from PIL import Image

    pixels = list(Image.open(shot).convert("RGB").getdata())
    hottest = sum(1 for p in pixels if p == (84, 174, 255))  # fill of the costliest box (self_attention)
    purple = sum(1 for p in pixels if p == (130, 80, 223))  # the params bars, #8250df
    assert hottest > 5000 and purple > 200, (hottest, purple)


def test_vit_dot_parses(vit):
    _, report = vit
    view = build_graph(report)
    [graph] = pydot.graph_from_dot_data(render(report, "dot"))
    nodes = dot_nodes(graph)
    assert set(nodes) == {n.id for n in view.nodes}
    [cluster] = graph.get_subgraphs()
    assert cluster.get_name() == "cluster_c0" and "× 12" in cluster.get_label()
    edges = {(e.get_source(), e.get_destination()) for e in graph.get_edges()}
    assert edges == set(view.edges) and len(edges) >= len(nodes) - 1


def test_vit_mermaid_is_well_formed(vit):
    _, report = vit
    view = build_graph(report)
    declared, edges, subgraphs = check_mermaid(render(report, "mermaid"))
    assert declared == {n.id for n in view.nodes} and set(edges) == set(view.edges)
    assert len(subgraphs) == 1 and "× 12" in subgraphs[0]


def test_gpt2_graph_is_readable_and_marks_the_tied_head(gpt2):
    model, report = gpt2
    view = build_graph(report)
    [cluster] = view.clusters.values()
    assert cluster.repeat == len(model.transformer.h) == 12 and cluster.label == "transformer.h.0..11"
    assert len(view.nodes) <= MAX_NODES
    assert model.lm_head.weight is model.transformer.wte.weight  # the oracle: the tie is real
    [head] = [n for n in view.nodes if n.name == "lm_head"]
    assert head.params == 0 and head.shares == ["transformer.wte.weight"]
    nodes, texts = check_svg(render(report, "svg"))
    assert len(nodes) == len(view.nodes)
    assert any("shares transformer.wte.weight" in t for t in texts)
    # The tanh-GELU module's elementwise ops are one node.
    assert [n.type for n in view.nodes if n.name.endswith("mlp.act")] == ["NewGELUActivation"]
    assert not any("drawn as one node" in note for note in view.notes)  # that was readability, not the limit


class Block(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.fc = nn.Linear(width, width)
        self.act = nn.ReLU()

    def forward(self, x):
        return x + self.act(self.fc(x))


def stages(widths: list[int], blocks: int) -> nn.Module:
    layers: list[nn.Module] = []
    for i, width in enumerate(widths):
        if i:
            layers.append(nn.Linear(widths[i - 1], width))
        layers.append(nn.Sequential(*[Block(width) for _ in range(blocks)]))
    return nn.Sequential(*layers)


def test_nested_repetition_counts():
    # Identical stages: one outer cluster × 2 holding one inner cluster × 3.
    model = nn.Sequential(*[nn.Sequential(*[Block(8) for _ in range(3)]) for _ in range(2)])
    view = build_graph(audit(model, input_shape=(2, 8), rules=False))
    by_repeat = sorted((c.repeat, c.label, c.parent is None) for c in view.clusters.values())
    assert by_repeat == [(2, "0..1", True), (3, "0.0..2", False)]
    inner = next(c for c in view.clusters.values() if c.repeat == 3)
    assert inner.params == sum(p.numel() for p in model[0].parameters())
    assert len(view.nodes) == 1 + 3  # input, then fc, act, add of one block
    # Stages of different widths are not repeats of each other; their blocks still are.
    model = stages([8, 16], 4)
    view = build_graph(audit(model, input_shape=(2, 8), rules=False))
    assert sorted((c.repeat, c.label) for c in view.clusters.values()) == [(4, "0.0..3"), (4, "2.0..3")]


def test_first_block_that_differs_is_drawn_apart():
    model = nn.Sequential(Block(8), Block(8), Block(8), nn.Linear(8, 4), Block(4))
    view = build_graph(audit(model, input_shape=(2, 8), rules=False))
    [cluster] = view.clusters.values()
    assert (cluster.label, cluster.repeat) == ("0..2", 3)


class EvenConv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 4, padding=2)
        self.head = nn.Conv2d(8, 8, 3, padding=1)

    def forward(self, x):
        return self.head(torch.relu(self.conv(x)))


def test_findings_are_marked_in_every_format():
    report = audit(EvenConv(), input_shape=(1, 3, 16, 16), select=["even-kernel"])
    [finding] = report.findings
    view = build_graph(report)
    [marked] = [n for n in view.nodes if n.findings]
    assert marked.name == finding.layer == "conv" and marked.severity == "warning"
    _, texts = check_svg(render(report, "svg"))
    assert "⚠ even-kernel" in texts
    [graph] = pydot.graph_from_dot_data(render(report, "dot"))
    node = dot_nodes(graph)[marked.id]
    assert node.get("penwidth") == "3" and "even-kernel" in node.get("xlabel")
    mermaid = render(report, "mermaid")
    check_mermaid(mermaid)
    assert f"style {marked.id} fill:" in mermaid and "stroke-width:3px" in mermaid


def test_cli_writes_svg_dot_mermaid(tmp_path, capsys):
    path = tmp_path / "net.py"
    path.write_text("import torch.nn as nn\n"
                    "model = nn.Sequential(*[nn.Sequential(nn.Linear(8, 8), nn.ReLU()) for _ in range(6)])\n"
                    "input_shape = (2, 8)\n")
    out = tmp_path / "net.svg"
    assert main([str(path), "--format", "svg", "-o", str(out)]) == 0
    nodes, texts = check_svg(out.read_text())
    assert len(nodes) == 3 and any(t.startswith("× 6") for t in texts)  # input, Linear, ReLU
    assert main([str(path), "--format", "dot"]) == 0
    [graph] = pydot.graph_from_dot_data(capsys.readouterr().out)
    assert len(dot_nodes(graph)) == 3
    assert main([str(path), "--format", "mermaid"]) == 0
    check_mermaid(capsys.readouterr().out.rstrip("\n"))
    with pytest.raises(SystemExit) as exit_info:
        main([str(path), "--format", "png"])
    assert exit_info.value.code == 2


def test_resnet50_repeats_after_the_downsampling_block():
    model = torchvision.models.resnet50()
    view = build_graph(audit(model, input_shape=(1, 3, 224, 224), rules=False))
    runs = sorted((c.label, c.repeat) for c in view.clusters.values())
    stages = [(f"layer{i}", getattr(model, f"layer{i}")) for i in range(1, 5)]
    # Block 0 of each stage has the downsample branch; blocks 1.. are identical Bottlenecks.
    assert runs == [(f"{name}.1..{len(stage) - 1}", len(stage) - 1) for name, stage in stages]
    assert len(view.nodes) <= MAX_NODES
    assert sum(n.params for n in view.nodes if n.cluster is None) + sum(c.params for c in view.clusters.values()) \
        == sum(p.numel() for p in model.parameters())


def test_too_many_nodes_draws_deep_modules_whole():
    widths = [4 + i for i in range(15)]  # no two blocks alike: nothing repeats
    layers: list[nn.Module] = []
    for i, width in enumerate(widths):
        if i:
            layers.append(nn.Linear(widths[i - 1], width))
        layers.append(Block(width))
    model = nn.Sequential(*layers)
    report = audit(model, input_shape=(2, 4), rules=False)
    assert len(build_graph(report, max_nodes=1000).nodes) == 1 + 15 * 3 + 14
    view = build_graph(report)
    assert not view.clusters and len(view.nodes) <= MAX_NODES
    whole = [n for n in view.nodes if n.kind == "module"]
    assert whole and all(n.type == "Block" for n in whole)
    for node in whole:
        assert node.params == sum(p.numel() for p in model.get_submodule(node.name).parameters())
    assert sum(n.params for n in view.nodes) == sum(p.numel() for p in model.parameters())
    assert any("drawn as one node" in note for note in view.notes)
    check_svg(render(report, "svg"))
