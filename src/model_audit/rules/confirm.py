"""Static findings confirmed or re-graded by what the probes measured (``--probe``).

A static rule predicts a risk from the architecture; the probe measures the real figure on a
forward/backward pass. Judging that figure is the rules' job, so it lives here, beside them: the
sigmoid chain's gradient ratio, the BatchNorm variance shift after dropout, an RNN's gradient growth
with the sequence length. Probes only measure.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..report.finding import Finding, Severity


def _g(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def _annotate(finding: Finding, text: str, severity: Severity | None = None, fix: str | None = None,
              **data: Any) -> Finding:
    return replace(finding, message=f"{finding.message}; probe: {text}", severity=severity or finding.severity,
                   fix=fix if fix is not None else finding.fix, data={**finding.data, **data})


def confirm_with_probe(static: list[Finding], report: Any, options: dict[str, dict[str, Any]]) -> list[Finding]:
    """Static findings with the probe's measurement added to the message and data, re-graded by it.

    ``options`` maps rule ids to their resolved options: the thresholds are the measured rules'
    (``vanishing-gradient``'s ``vanishing_ratio``) and ``unclipped-rnn``'s ``rnn_growth``.
    """
    if report is None:
        return list(static)
    t = {**options.get("vanishing-gradient", {}), **options.get("unclipped-rnn", {})}
    by_name = {layer.name: layer for layer in report.layers}
    out: list[Finding] = []
    for finding in static:
        if finding.rule == "sigmoid-vanishing-gradient":
            out.append(_confirm_sigmoid(finding, report, by_name, t))
        elif finding.rule == "dropout-before-batchnorm":
            out.append(_confirm_dropout(finding, by_name))
        elif finding.rule == "unclipped-rnn" and report.sequence and report.sequence.get("grad_norms"):
            out.append(_confirm_rnn(finding, report.sequence, t))
        else:
            out.append(finding)
    return out


def _confirm_sigmoid(finding: Finding, report: Any, by_name: dict, t: dict[str, float]) -> Finding:
    layer = by_name.get(finding.layer or "")
    last = by_name.get(report.last_layer or "")
    if layer is None or layer.grad_norm is None or last is None or not last.grad_norm:
        ratio = report.first_last_ratio
    else:
        ratio = layer.grad_norm / last.grad_norm
    if ratio is None:
        return finding
    if ratio < t["vanishing_ratio"]:
        return _annotate(finding, f"measured gradient-norm ratio to the last layer `{report.last_layer}` = {ratio:.3g} "
                                  f"(< {t['vanishing_ratio']:g}: confirmed)", Severity.ERROR, measured_ratio=ratio)
    if ratio >= 0.1:
        return _annotate(finding, f"measured gradient-norm ratio to the last layer `{report.last_layer}` = {ratio:.3g} "
                                  f"(≥ 0.1: not confirmed at initialization)", Severity.INFO, measured_ratio=ratio)
    return _annotate(finding, f"measured gradient-norm ratio to the last layer = {ratio:.3g}", measured_ratio=ratio)


def _confirm_dropout(finding: Finding, by_name: dict) -> Finding:
    from .builtin.dropout_inference import variance_verdict  # the rule judges its measurement

    band = finding.data.get("variance_band") or (0.9, 1.1)  # the rule's option, carried on its finding
    bn = by_name.get(str(finding.data.get("batchnorm")))
    ratio = bn.bn_variance_ratio if bn is not None else None
    verdict = variance_verdict(ratio, float(band[0]), float(band[1]))
    if verdict["verdict"] is None:
        return finding
    text = f"{verdict['text']} at `{bn.name}`"
    if verdict["verdict"] == "silence":
        return _annotate(finding, text, Severity.INFO, variance_ratio=ratio)
    return _annotate(finding, text, Severity.ERROR if abs(1.0 - ratio) >= 0.3 else None, variance_ratio=ratio)


def _confirm_rnn(finding: Finding, seq: dict[str, Any], t: dict[str, float]) -> Finding:
    from .builtin.recurrent import measured_growth  # the rule judges its measurement

    pairs = ", ".join(f"{n:.3g} at T={length}" for length, n in zip(seq["lengths"], seq["grad_norms"]))
    growth = seq.get("growth")
    verdict = measured_growth(growth, t["rnn_growth"], seq.get("suggested_max_norm"))
    max_norm = verdict["max_norm"]
    fix = f"after loss.backward(): torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm={max_norm:g})" \
        if max_norm else None
    return _annotate(finding, f"gradient norm {pairs}; {verdict['text']}", verdict["severity"], fix=fix,
                     sequence_lengths=seq["lengths"], sequence_grad_norms=seq["grad_norms"],
                     growth=growth, suggested_max_norm=max_norm)
