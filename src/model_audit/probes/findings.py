"""Turn probe measurements into findings, and confirm or re-grade static findings with them.

Probe rule ids (registered with their docs and threshold options by
``rules/builtin/measured.py``, so ``model-audit rules`` lists them and the user's
select/ignore/severity/suppressions/options apply to them like to any finding):
``vanishing-gradient``, ``exploding-gradient``, ``dead-relu``, ``saturated-activations``,
``nonfinite-values``. Thresholds follow AUTOTRAINER (Zhang et al., ICSE 2021) for the gradient
ratio and are options (``probe_options={"thresholds": {...}}``).
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from ..report.finding import Finding, Severity
from .report import ProbeReport

THRESHOLDS: dict[str, float] = {
    "vanishing_ratio": 1e-3,       # first/last layer gradient-norm ratio below this ...
    "vanishing_first_norm": 1e-4,  # ... and the first layer's gradient norm below this: vanishing
    "exploding_ratio": 70.0,       # first/last ratio above this: exploding
    "exploding_total_norm": 1e3,   # or the total gradient norm above this: exploding
    "dead_fraction": 0.7,          # share of a ReLU layer's units never active (deep healthy nets tend to 0.5)
    "saturation": 0.3,             # share of a sigmoid/tanh layer's outputs saturated
    "rnn_growth": 10.0,            # gradient norm at the longest / shortest sequence length
}

PROBE_RULES = ("vanishing-gradient", "exploding-gradient", "dead-relu", "saturated-activations", "nonfinite-values")


def _g(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def probe_findings(report: ProbeReport, thresholds: dict[str, float] | None = None) -> list[Finding]:
    """Findings from the measurements, each with the measured value and its threshold."""
    t = {**THRESHOLDS, **(thresholds or {})}
    found: list[Finding] = []
    if report.first_nonfinite or (report.total_grad_norm is not None and not math.isfinite(report.total_grad_norm)):
        where = f"layer `{report.first_nonfinite}` is the first to output NaN/Inf" if report.first_nonfinite else \
            f"the total gradient norm is {report.total_grad_norm} although every layer's output is finite"
        found.append(Finding("nonfinite-values", Severity.ERROR, report.first_nonfinite,
                             f"{where} on {report.device} (threshold: any non-finite value)",
                             fix="check the layer's inputs and initialization; lower the learning rate, "
                                 "add normalization, or compute the loss in float32",
                             data={"first_nonfinite": report.first_nonfinite, "total_grad_norm": report.total_grad_norm}))
        return found  # other figures are meaningless once NaN/Inf flow
    ratio = report.first_last_ratio
    first = report.layer(report.first_layer).grad_norm if report.first_layer else None
    pair = f"`{report.first_layer}` / `{report.last_layer}`"
    if ratio is not None and first is not None and ratio < t["vanishing_ratio"] and first < t["vanishing_first_norm"]:
        found.append(Finding(
            "vanishing-gradient", Severity.WARNING, report.first_layer,
            f"gradient norm ratio first/last layer {pair} = {ratio:.3g} (threshold < {t['vanishing_ratio']:g}) and "
            f"first-layer gradient norm {first:.3g} (threshold < {t['vanishing_first_norm']:g}): early layers barely learn",
            fix="use ReLU/GELU instead of sigmoid/tanh in hidden layers, He/Xavier initialization, normalization "
                "layers or residual connections",
            data={"ratio": ratio, "first_grad_norm": first, "first_layer": report.first_layer,
                  "last_layer": report.last_layer, "threshold_ratio": t["vanishing_ratio"],
                  "threshold_first_norm": t["vanishing_first_norm"]}))
    total = report.total_grad_norm
    if (ratio is not None and ratio > t["exploding_ratio"]) or (total is not None and total > t["exploding_total_norm"]):
        found.append(Finding(
            "exploding-gradient", Severity.ERROR, report.first_layer if ratio is not None and ratio > t["exploding_ratio"] else None,
            f"gradient norm ratio first/last layer {pair} = {_g(ratio)} (threshold > {t['exploding_ratio']:g}), "
            f"total gradient norm {_g(total)} (threshold > {t['exploding_total_norm']:g})",
            fix="scale the initialization down (He/Xavier: std = gain/√fan_in), add normalization, and clip: "
                "torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)",
            data={"ratio": ratio, "total_grad_norm": total, "threshold_ratio": t["exploding_ratio"],
                  "threshold_total_norm": t["exploding_total_norm"]}))
    samples = report.batches * (report.batch_size or 1)
    for layer in report.layers:
        if layer.dead_fraction is not None and layer.dead_fraction >= t["dead_fraction"]:
            found.append(Finding(
                "dead-relu", Severity.ERROR if layer.dead_fraction >= 1.0 else Severity.WARNING, layer.name,
                f"{layer.dead_fraction:.0%} of the {layer.units} units of `{layer.name}` were never active on "
                f"{report.batches} probe batches ({samples} samples) (threshold ≥ {t['dead_fraction']:.0%}): "
                f"no gradient flows through them",
                fix="check the biases and initialization before this ReLU (He init, biases ≥ 0), lower the "
                    "learning rate, or use LeakyReLU/GELU",
                data={"dead_fraction": layer.dead_fraction, "units": layer.units, "threshold": t["dead_fraction"]}))
        if layer.saturation is not None and layer.saturation >= t["saturation"]:
            found.append(Finding(
                "saturated-activations", Severity.WARNING, layer.name,
                f"{layer.saturation:.0%} of the outputs of `{layer.name}` are saturated (|tanh| > 0.99, sigmoid "
                f"< 0.01 or > 0.99; threshold ≥ {t['saturation']:.0%}): their derivative is nearly zero",
                fix="scale the initialization down (Xavier for sigmoid/tanh), normalize the inputs, add a norm "
                    "layer before the activation, or use a non-saturating activation",
                data={"saturation": layer.saturation, "threshold": t["saturation"]}))
    return found


def _annotate(finding: Finding, text: str, severity: Severity | None = None, fix: str | None = None,
              **data: Any) -> Finding:
    return replace(finding, message=f"{finding.message}; probe: {text}", severity=severity or finding.severity,
                   fix=fix if fix is not None else finding.fix, data={**finding.data, **data})


def confirm_findings(static: list[Finding], report: ProbeReport | None,
                     thresholds: dict[str, float] | None = None) -> list[Finding]:
    """Static findings with the probe's measurement added to the message and data, re-graded by it."""
    if report is None:
        return list(static)
    t = {**THRESHOLDS, **(thresholds or {})}
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


def _confirm_sigmoid(finding: Finding, report: ProbeReport, by_name: dict, t: dict[str, float]) -> Finding:
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
    from ..rules.builtin.dropout_inference import variance_verdict  # the rule judges its measurement

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
    from ..rules.builtin.recurrent import measured_growth  # the rule judges its measurement

    pairs = ", ".join(f"{n:.3g} at T={length}" for length, n in zip(seq["lengths"], seq["grad_norms"]))
    growth = seq.get("growth")
    verdict = measured_growth(growth, t["rnn_growth"], seq.get("suggested_max_norm"))
    max_norm = verdict["max_norm"]
    fix = f"after loss.backward(): torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm={max_norm:g})" \
        if max_norm else None
    return _annotate(finding, f"gradient norm {pairs}; {verdict['text']}", verdict["severity"], fix=fix,
                     sequence_lengths=seq["lengths"], sequence_grad_norms=seq["grad_norms"],
                     growth=growth, suggested_max_norm=max_norm)
