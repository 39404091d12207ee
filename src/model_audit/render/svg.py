"""``--format svg``: the collapsed layer graph drawn in pure Python (no Graphviz on the machine).

Layered layout: a node's rank is the longest path from the model's inputs (a parameter read sits
just above its first reader, in a side column), nodes of one rank take columns left to right, a
node preferring the column of its latest input so the main chain stays straight. Edges between adjacent ranks of one column
are straight; longer ones bend out to the right of the column so they never cross a box.
Repeated blocks are dashed boxes labelled "× N"; fill is MACs, the purple bar is params, a
coloured border and a ⚠ line mark findings; every box has a tooltip with the figures.
"""
from __future__ import annotations

from html import escape

from ..units import format_count
from .graph import SEVERITY_COLOR, LayerGraphView, Node, cluster_caption, fill_color, node_caption, short_label

NODE_W, NODE_H, H_GAP, V_GAP, MARGIN, TOP = 280, 50, 70, 24, 20, 56


def layout(view: LayerGraphView) -> dict[str, tuple[float, float]]:
    """Top-left corner of every node: ranks by longest path, columns by first free slot."""
    preds: dict[str, list[str]] = {n.id: [] for n in view.nodes}
    succs: dict[str, list[str]] = {n.id: [] for n in view.nodes}
    for a, b in view.edges:
        preds[b].append(a)
        succs[a].append(b)
    rank: dict[str, int] = {}
    for node in view.nodes:  # nodes are in execution order and edges only point forward
        rank[node.id] = max((rank[p] + 1 for p in preds[node.id]), default=0)
    for node in reversed(view.nodes):  # parameter reads and constants: just above their first reader
        if not preds[node.id] and not node.is_input and succs[node.id]:
            rank[node.id] = max(0, min(rank[s] for s in succs[node.id]) - 1)
    # A cluster's nodes first within each rank, so its dashed box holds only its own nodes.
    used: dict[int, set[int]] = {}
    column: dict[str, int] = {}
    for node in view.nodes:
        if preds[node.id]:  # follow the input computed last (the main path), not a parameter read
            main = max(preds[node.id], key=lambda p: (rank[p], bool(preds[p])))
            want = column[main]
        else:
            want = 0 if node.is_input else 1
        taken = used.setdefault(rank[node.id], set())
        col = want
        while col in taken:
            col += 1
        taken.add(col)
        column[node.id] = col
    return {n.id: (MARGIN + column[n.id] * (NODE_W + H_GAP), TOP + rank[n.id] * (NODE_H + V_GAP)) for n in view.nodes}


def _cluster_depth(view: LayerGraphView, cluster_id: str | None) -> int:
    depth = 0
    while cluster_id is not None:
        depth += 1
        cluster_id = view.clusters[cluster_id].parent
    return depth


def render_svg(view: LayerGraphView) -> str:
    pos = layout(view)
    width = max(760, max((x for x, _ in pos.values()), default=MARGIN) + NODE_W + 3 * H_GAP // 2 + MARGIN)
    height = max((y for _, y in pos.values()), default=TOP) + NODE_H + MARGIN + 14 * len(view.notes)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
           f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="layer graph of {escape(view.title)}">',
           f"<title>layer graph of {escape(view.title)}</title>",
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#57606a"/></marker></defs>',
           '<style>text{font:11px system-ui,-apple-system,"Segoe UI",sans-serif;fill:#1f2328}'
           ".g-sub{fill:#57606a;font-size:10px}.g-cap{font-weight:600;fill:#57606a}</style>",
           f'<text x="{MARGIN}" y="18" class="g-cap">{escape(view.title)} · {len(view.nodes)} nodes · fill = MACs, '
           "purple bar = params, coloured border = finding · repeated blocks drawn once (× N)</text>"]
    out += _clusters(view, pos)
    out += _edges(view, pos)
    peak_params = max((n.params for n in view.nodes), default=0)
    for node in view.nodes:
        out.append(_node(node, view, pos[node.id], peak_params))
    for i, note in enumerate(view.notes):
        out.append(f'<text x="{MARGIN}" y="{height - MARGIN + 4 + 14 * (i - len(view.notes) + 1):.0f}" class="g-sub">'
                   f"note: {escape(note)}</text>")
    out.append("</svg>")
    return "\n".join(out)


def _clusters(view: LayerGraphView, pos: dict[str, tuple[float, float]]) -> list[str]:
    out = []
    members: dict[str, list[Node]] = {}
    for node in view.nodes:
        cluster_id = node.cluster
        while cluster_id is not None:  # a node of an inner cluster is in every outer one
            members.setdefault(cluster_id, []).append(node)
            cluster_id = view.clusters[cluster_id].parent
    deepest = max((_cluster_depth(view, c) for c in view.clusters), default=0)
    for cluster_id, nodes in members.items():
        cluster = view.clusters[cluster_id]
        pad = 8 + 10 * (deepest - _cluster_depth(view, cluster_id))
        x0 = min(pos[n.id][0] for n in nodes) - pad
        y0 = min(pos[n.id][1] for n in nodes) - pad - 14
        x1 = max(pos[n.id][0] for n in nodes) + NODE_W + pad
        y1 = max(pos[n.id][1] for n in nodes) + NODE_H + pad
        caption = cluster_caption(cluster, format_count)
        out.append(f'<g class="cluster" id="{cluster_id}"><title>{escape(caption)}</title>'
                   f'<rect x="{x0:.0f}" y="{y0:.0f}" width="{x1 - x0:.0f}" height="{y1 - y0:.0f}" rx="8" '
                   'fill="#f6f8fa" fill-opacity="0.6" stroke="#8c959f" stroke-dasharray="5,3"/>'
                   f'<text x="{x0 + 8:.0f}" y="{y0 + 14:.0f}" class="g-cap">× {cluster.repeat}  '
                   f"{escape(caption.split(' × ')[0])}</text></g>")
    return out


def _edges(view: LayerGraphView, pos: dict[str, tuple[float, float]]) -> list[str]:
    out = []
    for i, (a, b) in enumerate(view.edges):
        (xa, ya), (xb, yb) = pos[a], pos[b]
        x1, y1 = xa + NODE_W / 2, ya + NODE_H
        x2, y2 = xb + NODE_W / 2, yb
        if xa == xb and yb - ya > NODE_H + V_GAP:  # skips rows: bend out to the right of the column
            bulge = NODE_W / 2 + 18 + 10 * (i % 3)
            path = (f"M{xa + NODE_W:.0f},{ya + NODE_H / 2:.0f} C{xa + NODE_W / 2 + bulge:.0f},{ya + NODE_H / 2:.0f} "
                    f"{xb + NODE_W / 2 + bulge:.0f},{yb + NODE_H / 2:.0f} {xb + NODE_W:.0f},{yb + NODE_H / 2:.0f}")
        else:
            mid = (y1 + y2) / 2
            path = f"M{x1:.0f},{y1:.0f} C{x1:.0f},{mid:.0f} {x2:.0f},{mid:.0f} {x2:.0f},{y2:.0f}"
        out.append(f'<path class="edge" data-from="{a}" data-to="{b}" d="{path}" fill="none" stroke="#57606a" '
                   'stroke-width="1.2" marker-end="url(#arrow)"/>')
    return out


def _node(node: Node, view: LayerGraphView, at: tuple[float, float], peak_params: int) -> str:
    x, y = at
    name = short_label(node, view)
    name = name if len(name) <= 44 else "…" + name[-43:]
    caption, _, shared = node_caption(node, format_count).partition(" · shares ")
    caption = caption if len(caption) <= 50 else caption[:49] + "…"
    shared = f"shares {shared}" if shared else ""
    shared = shared if len(shared) <= 50 else "…" + shared[-49:]
    tooltip = f"{node.name}\n{node_caption(node, format_count)}"
    if node.macs:
        tooltip += f"\nMACs {node.macs:,} ({100 * node.macs / view.total_macs:.1f}% of the model, per copy)" \
            if view.total_macs else f"\nMACs {node.macs:,}"
    stroke, width = "#8c959f", 1
    findings = ""
    if node.severity:
        stroke, width = SEVERITY_COLOR.get(node.severity, "#cf222e"), 3
        rules = sorted({f.rule for f in node.findings})
        tooltip += "".join(f"\n{f.severity}: {f.rule} at {f.layer}: {f.message}" for f in node.findings)
        findings = (f'<text x="{x + NODE_W + 6:.0f}" y="{y + 14:.0f}" fill="{stroke}" style="fill:{stroke}">'
                    f"⚠ {escape(', '.join(rules))}</text>")
    bar = ""
    if node.params and peak_params:
        bar = (f'<rect x="{x + 1:.0f}" y="{y + NODE_H - 4:.0f}" width="{max(2.0, (NODE_W - 2) * node.params / peak_params):.1f}" '
               'height="3" fill="#8250df"/>')
    rx = NODE_H / 2 if node.is_input else 6
    return (f'<g class="node" id="{node.id}" data-kind="{escape(node.kind)}"><title>{escape(tooltip)}</title>'
            f'<rect x="{x:.0f}" y="{y:.0f}" width="{NODE_W}" height="{NODE_H}" rx="{rx:.0f}" '
            f'fill="{fill_color(node, view)}" stroke="{stroke}" stroke-width="{width}"/>{bar}'
            f'<text x="{x + 8:.0f}" y="{y + 15:.0f}">{escape(name)}</text>'
            f'<text x="{x + 8:.0f}" y="{y + 29:.0f}" class="g-sub">{escape(caption)}</text>'
            + (f'<text x="{x + 8:.0f}" y="{y + 42:.0f}" class="g-sub">{escape(shared)}</text>' if shared else "")
            + f"{findings}</g>")
