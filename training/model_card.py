"""The model card: markdown logged with every version and shown by the service."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.vocabulary import OUTCOME_TITLES, OUTCOMES
from models.metrics import Estimate
from training.fitting import TrainingConfig
from training.gate import GateVerdict
from training.pipeline import TrainingResult

_NAMES = {
    "xgboost": "XGBoost, calibrated (this model)",
    "logistic": "Regularised logistic regression",
    "srs_below_cutoff": "Rule: SRS below 36",
    "not_on_track": "Rule: not on track (expected recovery curve)",
}
_SUBGROUP_TABLES = ("landmark", "gender", "age_band", "primary_concern", "clinic")
#: The ablation and tuning results (written by bench/bench_ablation.py --write), shipped
#: with the package so that every model card states why the model is configured as it is.
_DEVELOPMENT = Path(__file__).with_name("model_development.md")


def _ci(stats: Estimate, digits: int = 3) -> str:
    value, low, high = stats.value, stats.low, stats.high
    if pd.isna(value):
        return "n/a"
    return f"{value:.{digits}f} ({low:.{digits}f}-{high:.{digits}f})"


def render_model_card(
    result: TrainingResult,
    *,
    fingerprint: dict[str, object],
    config: TrainingConfig | None = None,
    synthetic: bool = False,
) -> str:
    """Markdown card: intended use, data, metrics with intervals, subgroups, limitations.

    ``config`` (the run's options) adds what evaluation was run, and ``synthetic`` (the
    extract is a simulated cohort) says so, so that the card of a quick run on the demo's
    small synthetic cohort says what it is and what it left out.
    """
    counts = result.counts
    lines = [
        "# dropout-risk model card",
        "",
        "## Intended use",
        "",
        "Decision support for psychotherapy services: a calibrated estimate, after each of the",
        "first sessions, of the chance that a client drops out and of the chance of a poor",
        "outcome: for a client who starts in the clinical range, no reliable recovery (NHS",
        "Talking Therapies' headline outcome); for one who starts below it, reliable",
        "deterioration (data contract, labels revision 2); with the factors behind each.",
        "It is **not a diagnosis** and not a reason to end or refuse treatment: it prompts a",
        "conversation (about the alliance, attendance barriers, the treatment plan).",
        "Not for use with children (contract ages 16-100) or outside outpatient therapy.",
        "",
        "## Data",
        "",
        *([_SYNTHETIC_LINE] if synthetic else []),
        f"- Episodes: {counts['clients']:,}; landmarks (client x session k): "
        f"{counts['landmarks']:,}.",
        f"- Left out of the dropout model: {counts['left_out_referred']:,} referred and "
        f"{counts['left_out_ongoing']:,} ongoing episodes (no label).",
        f"- Left out of the poor-outcome model: {counts['left_out_no_outcome_scores']:,} ended "
        "episodes with fewer than two scores on every outcome measure.",
        *([] if config is None else [_evaluation_line(config), _boosters_line(result, config)]),
        f"- Fingerprint: `{fingerprint}`",
        "- Held-out test clients: a fixed hash of the client id (the same clients in every",
        "  retraining), never seen in fitting, early stopping or calibration.",
        "",
    ]
    for outcome in OUTCOMES:
        lines += _outcome_section(result, outcome)
    lines += _risk_levels_section(result)
    lines += [
        "## Limitations",
        "",
        "- Trained on the data described above: performance at another clinic can differ (see",
        "  leave-one-clinic-out); check calibration on local data before relying on the numbers.",
        "- Rule flags are shown beside the score, not replaced by it; the score does not see",
        "  anything outside the recorded measures (life events, risk to self).",
        "- Subgroups with few events have wide intervals; unequal performance is reported, not",
        "  corrected.",
        "- Probabilities are calibrated on average; an individual estimate is not a certainty.",
        "  Each carries an interval (inductive Venn-Abers on the calibration clients): one end",
        "  is a calibrated probability for clients like the calibration clients. It does not",
        "  cover a clinic or period unlike them, nor the sampling error of the trees.",
        "",
    ]
    lines += _development_section()
    return "\n".join(lines)


_SYNTHETIC_LINE = (
    "- **Source: a synthetic cohort** (`dropout-risk synth`), not clinical records: the "
    "figures below describe the simulator, not any clinic, and say nothing about how the "
    "model performs on real clients. For demonstration and testing only."
)


def _evaluation_line(config: TrainingConfig) -> str:
    """What evaluation this run did, and what it left out."""
    cv = (
        f"{config.cv_folds}-fold client-grouped cross-validation"
        if config.cv_folds > 1
        else "no cross-validation (`--cv-folds 0`)"
    )
    loco = (
        "leave-one-clinic-out"
        if config.leave_one_clinic_out
        else "no leave-one-clinic-out (`--no-leave-one-clinic-out`)"
    )
    return (
        f"- Evaluation run: {cv}; {loco}; {config.bootstrap} bootstrap replicates for the "
        f"intervals; landmarks 1-{config.max_landmark}."
    )


def _boosters_line(result: TrainingResult, config: TrainingConfig) -> str:
    """How the served boosters were grown: learning rate, trees, refitted or early-stopped."""
    grown = []
    for outcome in OUTCOMES:
        booster = result.model.outcome_model(outcome).booster
        how = (
            "refitted on fit and validation clients"
            if booster.attr("rounds") is not None
            else "early-stopped on the validation clients, not refitted (at least "
            f"{config.keep_stopped_from:,} fit landmarks)"
        )
        name = outcome.replace("_", "-")
        grown.append(f"{name} model {booster.num_boosted_rounds():,} trees, {how}")
    return (
        f"- Boosters: depth {config.booster.max_depth}, learning rate "
        f"{config.booster.learning_rate:g}; " + "; ".join(grown) + "."
    )


def _development_section() -> list[str]:
    """How the configuration was chosen: the ablation table bench/bench_ablation.py wrote."""
    if not _DEVELOPMENT.exists():
        return []
    return [_DEVELOPMENT.read_text().rstrip(), ""]


def _risk_levels_section(result: TrainingResult) -> list[str]:
    """The cut-offs, the rule that chose them, and what each level meant on held-out clients."""
    thresholds = {o: result.model.outcome_model(o).thresholds for o in OUTCOMES}
    lines = ["## Risk levels", "", next(iter(thresholds.values())).rule, ""]
    lines += [
        "On held-out clients (session assessments over landmarks 1 to "
        f"{result.model.max_landmark}; flagged early: at this level or above at least once in "
        "sessions 1-5; observed rate: share of the level's assessments whose client had the "
        "outcome; sensitivity: share of the outcome's assessments at this level or above):",
        "",
        "| outcome | level | from | share of assessments | clients flagged early | observed "
        "rate | sensitivity |",
        "|---|---|---|---|---|---|---|",
    ]
    for outcome, cut in thresholds.items():
        starts = {"low": 0.0, "moderate": cut.moderate, "high": cut.high}
        for level, summary in cut.levels.items():
            lines.append(
                f"| {OUTCOME_TITLES[outcome]} | {level} | {starts[level]:.1%} | "
                f"{summary.share:.1%} | {summary.clients_flagged_early:.1%} | "
                f"{summary.observed_rate:.1%} | {summary.sensitivity:.1%} |"
            )
        if cut.base_rate is not None:
            lines.append(
                f"| {OUTCOME_TITLES[outcome]} | (all) | | 100% | | {cut.base_rate:.1%} | |"
            )
    return [*lines, ""]


def _outcome_section(result: TrainingResult, outcome: str) -> list[str]:
    test = result.metrics[outcome]["test"]
    lines = [
        f"## {OUTCOME_TITLES[outcome]}",
        "",
        "Held-out clients, 95% client-cluster bootstrap intervals.",
        "",
        "| model | AUROC | AUPRC | Brier | calibration slope | calibration intercept | ECE |",
        "|---|---|---|---|---|---|---|",
    ]
    for model, stats in test.items():
        calibration = (
            [
                _ci(stats["calibration_slope"], 2),
                _ci(stats["calibration_intercept"], 2),
                _ci(stats["ece"]),
            ]
            if model in ("xgboost", "logistic")
            else ["(a flag)", "(a flag)", "(a flag)"]
        )
        lines.append(
            f"| {_NAMES.get(model, model)} | {_ci(stats['auroc'])} | {_ci(stats['auprc'])} | "
            f"{_ci(stats['brier'])} | " + " | ".join(calibration) + " |"
        )
    xgb = test["xgboost"]
    lines += [
        "",
        "At the risk thresholds (this model): sensitivity "
        f"{_ci(xgb['sensitivity_at_moderate'], 2)} and PPV {_ci(xgb['ppv_at_moderate'], 2)} "
        f"from moderate; sensitivity {_ci(xgb['sensitivity_at_high'], 2)} and PPV "
        f"{_ci(xgb['ppv_at_high'], 2)} at high.",
        "",
    ]
    cv = result.metrics[outcome].get("cross_validation")
    if cv:
        booster, logistic = cv["xgboost"], cv["logistic"]
        lines += [
            f"Client-grouped cross-validation (out of fold): AUROC {booster['auroc']:.3f} "
            f"(logistic regression {logistic['auroc']:.3f}), ECE {booster['ece']:.3f}.",
            "",
        ]
    for grouping in _SUBGROUP_TABLES:
        table = result.tables.get(f"{outcome}_by_{grouping}")
        if table is not None:
            lines += _subgroup_table(table, grouping)
    loco = result.tables.get(f"{outcome}_leave_one_clinic_out")
    if loco is not None and "auroc" in loco:
        lines += [
            "Leave one clinic out (trained without the clinic, tested on it):",
            "",
            "| clinic | n | events | AUROC | ECE | calibration slope |",
            "|---|---|---|---|---|---|",
        ]
        for row in loco.itertuples(index=False):
            lines.append(
                f"| {row.clinic} | {row.n} | {row.events} | {row.auroc:.3f} | {row.ece:.3f} | "
                f"{row.calibration_slope:.2f} |"
            )
        lines.append("")
    for key, render in (
        ("decision_curve", _decision_curve),
        ("interval_validity", lambda t: _interval_validity(t, "held-out clients")),
        (
            "interval_validity_unseen_clinics",
            lambda t: _interval_validity(t, "unseen clinics (leave one clinic out, pooled)"),
        ),
    ):
        table = result.tables.get(f"{outcome}_{key}")
        if table is not None and len(table):
            lines += render(table)
    importance = result.importance[outcome]["concepts"]
    lines += ["What drives the estimate (mean absolute effect, probability points):", ""]
    lines += [f"- {name}: {value:.1f}" for name, value in importance.items()]
    return [*lines, ""]


def _subgroup_table(table: pd.DataFrame, grouping: str) -> list[str]:
    """Discrimination, calibration and the high level's reach per group, with intervals."""
    lines = [
        f"By {grouping.replace('_', ' ')} (sensitivity and flagged at the `high` cut-off):",
        "",
        "| group | n | events | AUROC | calibration slope | calibration intercept | ECE | "
        "sensitivity at high | flagged high |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in table.to_dict("records"):
        if "auroc" not in row or pd.isna(row.get("auroc")):
            lines.append(
                f"| {row['group']} | {row['n']} | {row['events']} | too few events | | | | | |"
            )
            continue
        cells = [
            _row_ci(row, "auroc", 3),
            _row_ci(row, "calibration_slope", 2),
            _row_ci(row, "calibration_intercept", 2),
            f"{row['ece']:.3f}",
            _row_ci(row, "sensitivity_at_high", 2),
            _row_ci(row, "flagged_at_high", 2),
        ]
        lines.append(
            f"| {row['group']} | {row['n']} | {row['events']} | " + " | ".join(cells) + " |"
        )
    return [*lines, ""]


def _row_ci(row: dict[str, object], name: str, digits: int) -> str:
    return _ci(Estimate(row[name], row[f"{name}_low"], row[f"{name}_high"]), digits)


def _decision_curve(table: pd.DataFrame) -> list[str]:
    lines = [
        "Decision curve (net benefit per assessment; Vickers and Elkin 2006): flagging by the",
        "model against flagging every client and flagging none, at the threshold probability",
        "at which a clinician would act.",
        "",
        "| threshold | model | flag all | flag none | share flagged by the model |",
        "|---|---|---|---|---|",
    ]
    for row in table.itertuples(index=False):
        lines.append(
            f"| {row.threshold:.0%} | {row.model:.3f} | {row.flag_all:.3f} | "
            f"{row.flag_none:.3f} | {row.flagged:.1%} |"
        )
    return [*lines, ""]


def _interval_validity(table: pd.DataFrame, where: str) -> list[str]:
    holds, inside = int(table["holds"].sum()), int(table["inside"].sum())
    lines = [
        f"Probability intervals on {where}: rows in ten equal bins by their interval. The",
        f"observed rate lies inside the bin's mean interval in {inside} of {len(table)} bins,",
        f"and inside it or within two binomial standard errors of it in {holds}.",
        "",
        "| bin | n | mean interval | observed rate | inside | within noise |",
        "|---|---|---|---|---|---|",
    ]
    for row in table.itertuples(index=False):
        lines.append(
            f"| {row.bin} | {row.n} | {row.mean_low:.1%}-{row.mean_high:.1%} | "
            f"{row.observed:.1%} | {'yes' if row.inside else 'no'} | "
            f"{'yes' if row.holds else 'no'} |"
        )
    return [*lines, ""]


def gate_section(verdict: GateVerdict) -> str:
    """The promotion gate's verdict, its reasons and any override, as the card's last part."""
    lines = ["", "## Promotion gate", "", f"Verdict: **{verdict.verdict}** ({verdict.basis}).", ""]
    lines += [f"- {reason}" for reason in verdict.reasons]
    if verdict.override is not None:
        lines += [
            "",
            f"Promoted by override: {verdict.override.reason} (by {verdict.override.user}, "
            f"{verdict.override.at}). The gate refused it; its reasons above stand.",
        ]
    return "\n".join(lines) + "\n"
