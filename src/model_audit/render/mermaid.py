"""``--format mermaid``: the collapsed layer graph as a Mermaid flowchart (renders in GitHub Markdown)."""
from __future__ import annotations

from ..units import format_count
from .graph import SEVERITY_COLOR, LayerGraphView, Node, cluster_caption, fill_color, node_caption, short_label


def text(value: str) -> str:
    """A Mermaid quoted label: quotes and angle brackets as entity codes, lines joined with <br/>."""
    escaped = value.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
    return '"' + escaped.replace("\n", "<br/>") + '"'


def _node(node: Node, view: LayerGraphView) -> str:
    label = short_label(node, view) + "\n" + node_caption(node, format_count)
    if node.findings:
        label += "\n⚠ " + ", ".join(sorted({f.rule for f in node.findings}))
    return f"{node.id}([{text(label)}])" if node.is_input else f"{node.id}[{text(label)}]"


def render_mermaid(view: LayerGraphView) -> str:
    lines = ["flowchart TD"]
    children, members = view.nesting()

    def emit(cluster_id: str | None, depth: int) -> None:
        indent = "  " * (depth + 1)
        for node in members.get(cluster_id, []):
            lines.append(indent + _node(node, view))
        for child in children.get(cluster_id, []):
            lines.append(f"{indent}subgraph {child}[{text(cluster_caption(view.clusters[child], format_count))}]")
            emit(child, depth + 1)
            lines.append(f"{indent}end")

    emit(None, 0)
    lines += [f"  {a} --> {b}" for a, b in view.edges]
    for node in view.nodes:
        style = f"fill:{fill_color(node, view)}"
        if node.severity:
            style += f",stroke:{SEVERITY_COLOR.get(node.severity, '#cf222e')},stroke-width:3px"
        lines.append(f"  style {node.id} {style}")
    return "\n".join(lines)
