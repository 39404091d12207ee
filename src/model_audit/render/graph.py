"""The layer graph with repeated blocks collapsed to "× N": one model for ``dot``, ``svg``, ``mermaid`` and HTML.

Every graph tool draws a 12-layer transformer as hundreds of boxes. Here the module tree says
which layers belong together: consecutive siblings numbered ``0..11`` (``h.0``, ``h.1``...,
``encoder_layer_0``...) whose subtrees have the same structure (layer types, kinds, output shapes,
parameter counts, nested runs included) become one cluster drawn once and labelled "× 12". If the
graph still has more than ``MAX_NODES`` nodes, the deepest modules are drawn as one node each
until it fits. Zero-cost view/reshape layers are folded into their reader, as in the table.
Edges come from ``Layer.inputs``; an edge between two copies of a block is the repetition itself
and is not drawn.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from ..ir.graph import Layer
from ..report.audit_report import AuditReport
from .folding import fold_targets

MAX_NODES = 40
_NUMBERED = re.compile(r"^(.*?)(\d+)$")
_SEVERITY_RANK = {"error": 3, "warning": 2, "info": 1}

Path = tuple[str, ...]


@dataclass
class Node:
    """One drawn box: a layer (of the first copy of a repeated block) or a module drawn whole."""

    id: str
    name: str  # canonical layer or module name (first copy)
    type: str
    kind: str
    cluster: str | None  # innermost cluster id
    macs: int = 0  # per copy
    flops: int = 0
    params: int = 0
    layers: list[str] = field(default_factory=list)
    findings: list[Any] = field(default_factory=list)  # of every copy
    shares: list[str] = field(default_factory=list)
    is_input: bool = False

    @property
    def severity(self) -> str | None:
        if not self.findings:
            return None
        return max((str(f.severity) for f in self.findings), key=lambda s: _SEVERITY_RANK.get(s, 0))


@dataclass
class Cluster:
    """A run of identical sibling modules drawn once: ``encoder.layers.encoder_layer_0..11`` × 12."""

    id: str
    label: str
    repeat: int
    parent: str | None
    path: str = ""  # the first copy's module path (node names inside start with it)
    macs: int = 0  # all copies
    params: int = 0


@dataclass
class LayerGraphView:
    title: str
    nodes: list[Node]
    edges: list[tuple[str, str]]
    clusters: dict[str, Cluster]
    notes: list[str]
    total_macs: int

    def node(self, node_id: str) -> Node:
        return next(n for n in self.nodes if n.id == node_id)

    def nesting(self) -> tuple[dict[str | None, list[str]], dict[str | None, list[Node]]]:
        """(cluster -> child cluster ids, cluster -> its own nodes); ``None`` is the top level."""
        children: dict[str | None, list[str]] = {}
        for cluster in self.clusters.values():
            children.setdefault(cluster.parent, []).append(cluster.id)
        members: dict[str | None, list[Node]] = {}
        for node in self.nodes:
            members.setdefault(node.cluster, []).append(node)
        return children, members


class _Tree:
    def __init__(self) -> None:
        self.own: list[Layer] = []
        self.children: dict[str, _Tree] = {}
        self.runs: list[list[str]] = []  # child keys grouped in runs (length 1 = no repetition)
        self.signature: Any = None

    def layers(self) -> list[Layer]:
        out = list(self.own)
        for child in self.children.values():
            out.extend(child.layers())
        return out


def layer_path(layer: Layer) -> Path:
    """Where the layer sits in the module tree; a functional layer sits in the module that called it."""
    if layer.module is not None or layer.kind == "parameter" or not layer.scope:
        return tuple(layer.name.split("."))
    prefix = layer.scope + "."
    rest = layer.name[len(prefix):] if layer.name.startswith(prefix) else layer.name.rsplit(".", 1)[-1]
    return tuple(layer.scope.split(".")) + (rest,)


def _leaf_signature(layer: Layer) -> tuple:
    return (layer.type, layer.kind, tuple(map(tuple, layer.output_shapes)), layer.params + layer.shared_params)


def _analyse(tree: _Tree) -> Any:
    """Fill in runs and signatures bottom-up; returns the structural signature of ``tree``."""
    for child in tree.children.values():
        _analyse(child)
    keys = list(tree.children)
    runs: list[list[str]] = []
    for key in keys:
        if runs:
            last = runs[-1][-1]
            a, b = _NUMBERED.match(last), _NUMBERED.match(key)
            if (a and b and a.group(1) == b.group(1) and int(b.group(2)) == int(a.group(2)) + 1
                    and tree.children[last].children and tree.children[key].signature == tree.children[last].signature):
                runs[-1].append(key)
                continue
        runs.append([key])
    tree.runs = runs
    parts = []
    for run in runs:
        head = _NUMBERED.match(run[0])
        key = (head.group(1) + "#") if len(run) > 1 and head else run[0]
        parts.append((key, len(run), tree.children[run[0]].signature))
    tree.signature = (tuple(_leaf_signature(l) for l in tree.own), tuple(parts))
    return tree.signature


def build_graph(report: AuditReport, max_nodes: int = MAX_NODES) -> LayerGraphView:
    """Collapse repeated blocks, fold views, and shrink to ``max_nodes`` by drawing deep modules whole."""
    folded = fold_targets(report)
    drawn = [l for l in report.layers if l.executed and l.name not in folded]
    by_name = {l.name: l for l in report.layers}
    root = _Tree()
    for layer in drawn:
        node = root
        for part in layer_path(layer):
            node = node.children.setdefault(part, _Tree())
        node.own.append(layer)
    _analyse(root)

    canonical: dict[str, Path] = {}  # layer name -> path in the first copy
    clusters: dict[Path, Cluster] = {}

    def walk(tree: _Tree, canon: Path, parent: str | None) -> None:
        for layer in tree.own:
            canonical[layer.name] = canon
        for run in tree.runs:
            first = canon + (run[0],)
            inner = parent
            if len(run) > 1:
                if first not in clusters:
                    head, tail = _NUMBERED.match(run[0]), _NUMBERED.match(run[-1])
                    assert head and tail
                    label = ".".join(canon + (f"{run[0]}..{tail.group(2)}",))
                    clusters[first] = Cluster(f"c{len(clusters)}", label, len(run), parent, ".".join(first))
                    for key in run:  # the first time only: an inner run's totals are those of one outer copy
                        for layer in tree.children[key].layers():
                            clusters[first].macs += layer.macs
                            clusters[first].params += layer.params
                cluster = clusters[first]
                inner = cluster.id
            for key in run:
                walk(tree.children[key], first, inner)

    walk(root, (), None)

    def innermost(path: Path) -> str | None:
        best = None
        for length in range(1, len(path) + 1):
            c = clusters.get(path[:length])
            if c is not None:
                best = c.id
        return best

    order: dict[Path, int] = {}
    for layer in drawn:
        order.setdefault(canonical[layer.name], len(order))

    def node_count(collapsed: set[Path]) -> int:
        return len({_collapse(canonical[l.name], collapsed) for l in drawn})

    collapsed = _pointwise_modules(drawn, canonical)
    pointwise = len(collapsed)
    while node_count(collapsed) + len(report.inputs) > max_nodes:
        candidate = _deepest_group(list(order), collapsed)
        if candidate is None:
            break
        collapsed.add(candidate)

    nodes: dict[Path, Node] = {}
    for name in report.inputs:
        nodes[("<input>", name)] = Node(f"n{len(nodes)}", name, "input", "input", None, is_input=True)
    layer_node: dict[str, Node] = {}
    for layer in drawn:
        path = canonical[layer.name]
        key = _collapse(path, collapsed)
        node = nodes.get(key)
        if node is None:
            whole = key != path
            node = nodes[key] = Node(f"n{len(nodes)}", ".".join(key), _module_type(report, key) if whole else layer.type,
                                     "module" if whole else layer.kind, innermost(key))
        layer_node[layer.name] = node
        if layer_path(layer) == path:  # figures of the first copy; the cluster caption has the totals
            node.macs += layer.macs
            node.flops += layer.flops
            node.params += layer.params
            node.layers.append(layer.name)
        for shared in layer.attrs.get("shares", []):
            if shared not in node.shares:
                node.shares.append(shared)
    for name, target in folded.items():
        if target in layer_node:
            layer_node[name] = layer_node[target]
    missed = 0
    for finding in report.findings:
        node = layer_node.get(getattr(finding, "layer", None) or "")
        if node is not None:
            node.findings.append(finding)
        elif getattr(finding, "layer", None):
            missed += 1

    input_node = {n.name: n for n in nodes.values() if n.is_input}
    position = {n.id: i for i, n in enumerate(nodes.values())}
    edges: dict[tuple[str, str], None] = {}  # ordered set

    def sources(name: str, seen: set[str]) -> list[Node]:
        if name in seen:
            return []
        seen.add(name)
        if name in input_node:
            return [input_node[name]]
        if name in folded and name in by_name:
            return [n for src in by_name[name].inputs for n in sources(src, seen)]
        node = layer_node.get(name)
        return [node] if node is not None else []

    for layer in drawn:
        dst = layer_node[layer.name]
        for src_name in layer.inputs:
            for src in sources(src_name, set()):
                edge = (src.id, dst.id)
                if src is not dst and position[src.id] < position[dst.id]:
                    edges[edge] = None
    notes = []
    hidden = [l for l in report.layers if not l.executed]
    if hidden:
        notes.append(f"{len(hidden)} parameter row(s) of modules that never ran are not drawn")
    if missed:
        notes.append(f"{missed} finding(s) name no drawn layer")
    if len(collapsed) > pointwise:
        notes.append(f"{len(collapsed) - pointwise} module(s) drawn as one node to stay within {max_nodes} nodes")
    shown: set[str] = set()  # clusters with a node inside (a run inside a module drawn whole has none)
    by_id = {c.id: c for c in clusters.values()}
    for node in nodes.values():
        cluster_id = node.cluster
        while cluster_id is not None:
            shown.add(cluster_id)
            cluster_id = by_id[cluster_id].parent
    return LayerGraphView(report.model, list(nodes.values()), list(edges),
                          {c.id: c for c in clusters.values() if c.id in shown}, notes, report.macs)


def _pointwise_modules(drawn: list[Layer], canonical: dict[str, Path]) -> set[Path]:
    """Modules made only of functional ops with no params and no MACs (a tanh-GELU's 8 elementwise ops): one node each."""
    under: dict[Path, list[Layer]] = {}
    for layer in drawn:
        path = canonical[layer.name]
        for length in range(1, len(path)):
            under.setdefault(path[:length], []).append(layer)
    found = {p for p, layers in under.items() if len(layers) >= 2
             and all(l.module is None and l.kind != "parameter" and not l.params and not l.macs for l in layers)}
    return {p for p in found if not any(p[:k] in found for k in range(1, len(p)))}


def _collapse(path: Path, collapsed: set[Path]) -> Path:
    for length in range(1, len(path)):
        if path[:length] in collapsed:
            return path[:length]
    return path


def _deepest_group(paths: list[Path], collapsed: set[Path]) -> Path | None:
    """The deepest module with at least two drawn nodes under it (ties: the one that saves most)."""
    visible = {_collapse(p, collapsed) for p in paths}
    under: dict[Path, int] = {}
    for path in visible:
        for length in range(1, len(path)):
            under[path[:length]] = under.get(path[:length], 0) + 1
    groups = [(len(p), n, p) for p, n in under.items() if n >= 2]
    if not groups:
        return None
    return max(groups, key=lambda t: (t[0], t[1]))[2]


def _module_type(report: AuditReport, path: Path) -> str:
    return report.module_types.get(".".join(path), "(group)")


def short_label(node: Node, view: LayerGraphView) -> str:
    """The node's name relative to its cluster (``ln_1`` in ``h.0..11``), else its full name."""
    if node.cluster is not None:
        base = view.clusters[node.cluster].path + "."
        if node.name.startswith(base):
            return node.name[len(base):]
    return node.name


def cluster_caption(cluster: Cluster, count: Callable[[int], str]) -> str:
    figures = [f"{count(cluster.macs)} MACs" if cluster.macs else "", f"{count(cluster.params)} params" if cluster.params else ""]
    tail = " · ".join(f for f in figures if f)
    return f"{cluster.label} × {cluster.repeat}" + (f" · {tail} in all" if tail else "")


def node_caption(node: Node, count: Callable[[int], str]) -> str:
    """'Linear · 465M MACs · 2.4M params' (per copy), 'shares transformer.wte.weight' for tied tensors."""
    if node.is_input:
        return "input"
    parts = [node.type]
    if node.macs:
        parts.append(f"{count(node.macs)} MACs")
    if node.params:
        parts.append(f"{count(node.params)} params")
    if node.shares:
        parts.append("shares " + ", ".join(node.shares))
    return " · ".join(parts)


def heat(node: Node, view: LayerGraphView) -> float:
    """0..1: the node's MACs against the costliest node (square root, so mid-sized layers still show)."""
    peak = max((n.macs for n in view.nodes), default=0)
    return (node.macs / peak) ** 0.5 if peak and node.macs else 0.0


def fill_color(node: Node, view: LayerGraphView) -> str:
    """White to blue by MACs; inputs grey."""
    if node.is_input:
        return "#eaeef2"
    h = heat(node, view)
    start, end = (255, 255, 255), (84, 174, 255)
    return "#" + "".join(f"{round(a + (b - a) * h):02x}" for a, b in zip(start, end))


SEVERITY_COLOR = {"error": "#cf222e", "warning": "#bf8700", "info": "#0969da"}


def _dot(report: AuditReport) -> str:
    from .dot import render_dot

    return render_dot(build_graph(report))


def _svg(report: AuditReport) -> str:
    from .svg import render_svg

    return render_svg(build_graph(report))


def _mermaid(report: AuditReport) -> str:
    from .mermaid import render_mermaid

    return render_mermaid(build_graph(report))


GRAPH_RENDERERS: dict[str, Callable[[AuditReport], str]] = {"dot": _dot, "svg": _svg, "mermaid": _mermaid}


def render_dot(report: AuditReport, **_: Any) -> str:
    """``--format dot``: the collapsed layer graph for Graphviz."""
    return _dot(report)


def render_svg(report: AuditReport, **_: Any) -> str:
    """``--format svg``: the collapsed layer graph, laid out in pure Python (no Graphviz needed)."""
    return _svg(report)


def render_mermaid(report: AuditReport, **_: Any) -> str:
    """``--format mermaid``: the collapsed layer graph for Markdown renderers that draw Mermaid."""
    return _mermaid(report)
