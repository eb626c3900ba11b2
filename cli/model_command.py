"""``model``: what a registered version is, in a few lines an operator can read."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from models.bundle import RiskModel

_HEADLINE = ("auroc", "ece", "calibration_slope", "brier")


def describe_model(
    model: RiskModel, version: str, metrics: dict[str, dict[str, float]], *, name: str
) -> list[str]:
    """The lines ``dropout-risk model`` prints: labels, landmarks, gate, metrics, levels."""
    meta = model.metadata or {}
    revision = meta.get("label_revision", 1)
    lines = [
        f"{name} version {version}, trained {meta.get('trained_at', 'at an unknown time')}",
        f"labels: data contract revision {revision}"
        + ("" if revision == 2 else " (outdated: retrain on revision 2 labels)"),
        f"landmarks: sessions 1 to {model.max_landmark}",
    ]
    gate = meta.get("gate")
    if gate:
        lines.append(f"gate: {gate['verdict']} ({gate['basis']})")
        lines += [f"  {reason}" for reason in gate["reasons"]]
        if gate.get("override"):
            override = gate["override"]
            lines.append(f"  override by {override['user']} at {override['at']}: "
                         f"{override['reason']}")  # fmt: skip
    else:
        lines.append("gate: not recorded (trained before the gate's verdict was kept)")
    for outcome in ("dropout", "poor_outcome"):
        figures = metrics.get(outcome, {})
        headline = ", ".join(
            f"{metric} {figures[metric]:.3f}" for metric in _HEADLINE if metric in figures
        )
        lines.append(f"{outcome}: held-out {headline or 'metrics not logged'}")
        cut = model.outcome_model(outcome).thresholds
        lines.append(f"  risk levels: moderate from {cut.moderate:.1%}, high from {cut.high:.1%}")
        for level, summary in cut.levels.items():
            lines.append(
                f"  {level:>8}: {summary.share:.1%} of assessments, observed rate "
                f"{summary.observed_rate:.1%}, sensitivity {summary.sensitivity:.1%}"
            )
    return lines
