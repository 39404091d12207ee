"""``--format dot``: the collapsed layer graph for Graphviz (``dot -Tsvg``); repeated blocks are clusters."""
from __future__ import annotations

from ..units import format_count
from .graph import SEVERITY_COLOR, LayerGraphView, Node, cluster_caption, fill_color, node_caption, short_label


def quote(text: str) -> str:
    """A DOT double-quoted string: backslashes and quotes escaped, newlines as DOT's centred ``\\n``."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _node(node: Node, view: LayerGraphView, indent: str) -> str:
    label = short_label(node, view) + "\n" + node_caption(node, format_count)
    attrs = [f"label={quote(label)}", f"fillcolor={quote(fill_color(node, view))}"]
    if node.is_input:
        attrs.append("shape=ellipse")
    severity = node.severity
    if severity:
        rules = sorted({f.rule for f in node.findings})
        attrs += [f"color={quote(SEVERITY_COLOR.get(severity, '#cf222e'))}", "penwidth=3",
                  f"tooltip={quote(severity + ': ' + ', '.join(rules))}",
                  f"xlabel={quote('⚠ ' + ', '.join(rules))}"]
    return f"{indent}{node.id} [{', '.join(attrs)}];"


def render_dot(view: LayerGraphView) -> str:
    lines = [f"digraph {quote(view.title)} {{",
             f"  graph [rankdir=TB, fontname=Helvetica, fontsize=11, labelloc=t, label={quote(_title(view))}];",
             '  node [shape=box, style="rounded,filled", fontname=Helvetica, fontsize=10];',
             '  edge [color="#57606a", arrowsize=0.6];']
    children, members = view.nesting()

    def emit(cluster_id: str | None, depth: int) -> None:
        indent = "  " * (depth + 1)
        for node in members.get(cluster_id, []):
            lines.append(_node(node, view, indent))
        for child in children.get(cluster_id, []):
            cluster = view.clusters[child]
            lines.append(f"{indent}subgraph cluster_{child} {{")
            lines.append(f"{indent}  label={quote(cluster_caption(cluster, format_count))}; style=\"rounded,dashed\"; "
                         'color="#8c959f";')
            emit(child, depth + 1)
            lines.append(f"{indent}}}")

    emit(None, 0)
    lines += [f"  {a} -> {b};" for a, b in view.edges]
    lines.append("}")
    return "\n".join(lines)


def _title(view: LayerGraphView) -> str:
    text = f"{view.title} · {len(view.nodes)} nodes · colour = MACs · repeated blocks drawn once (× N)"
    return text + "".join(f"\n{note}" for note in view.notes)
