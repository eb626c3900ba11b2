"""The evaluation plots and the model card that every run logs."""

from __future__ import annotations

from tests.support.quick_model import light_config
from training.model_card import render_model_card
from training.plots import save_plots

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_every_plot_is_a_png(tmp_path, trained):
    paths = save_plots(
        trained.test_predictions["dropout"],
        trained.importance["dropout"]["concepts"],
        outcome="dropout",
        directory=tmp_path,
    )
    names = sorted(path.name for path in paths)
    assert names == [
        "dropout_calibration.png",
        "dropout_importance.png",
        "dropout_precision_recall.png",
        "dropout_roc.png",
    ]
    for path in paths:
        content = path.read_bytes()
        assert content.startswith(PNG_SIGNATURE) and len(content) > 5_000


def test_model_card_has_use_data_metrics_subgroups_thresholds_and_limits(trained):
    card = render_model_card(trained, fingerprint={"clients": 4000})
    for heading in ("## Intended use", "## Data", "## Dropout", "## No reliable recovery",
                    "## Risk levels", "## Limitations"):  # fmt: skip
        assert heading in card
    assert "not a diagnosis" in card
    assert "By age band (" in card and "By clinic (" in card
    dropout = trained.model.dropout.thresholds
    high = dropout.levels["high"]
    assert (
        f"| Dropout | high | {dropout.high:.1%} | {high.share:.1%} | "
        f"{high.clients_flagged_early:.1%} | {high.observed_rate:.1%} | {high.sensitivity:.1%} |"
    ) in card
    assert "at most 15% of held-out session assessments" in card
    auroc = trained.metrics["dropout"]["test"]["xgboost"]["auroc"]
    assert f"{auroc.value:.3f} ({auroc.low:.3f}-{auroc.high:.3f})" in card


def test_model_card_says_what_evaluation_a_quick_run_left_out(trained):
    quick = render_model_card(
        trained, fingerprint={}, config=light_config(cv_folds=0, bootstrap=50)
    )
    assert (
        "- Evaluation run: no cross-validation (`--cv-folds 0`); no leave-one-clinic-out "
        "(`--no-leave-one-clinic-out`); 50 bootstrap replicates"
    ) in quick
    full = render_model_card(
        trained, fingerprint={}, config=light_config(cv_folds=5, leave_one_clinic_out=True)
    )
    assert "5-fold client-grouped cross-validation; leave-one-clinic-out;" in full


def test_model_card_says_when_its_cohort_is_synthetic(trained):
    synthetic = render_model_card(trained, fingerprint={}, synthetic=True)
    clinical = render_model_card(trained, fingerprint={})
    data = synthetic.split("## Data\n\n", 1)[1]
    assert data.startswith("- **Source: a synthetic cohort** (`dropout-risk synth`)")
    assert "synthetic" not in clinical


def test_model_card_says_how_its_boosters_were_grown(trained):
    dropout, poor_outcome = (
        trained.model.outcome_model(o).booster for o in ("dropout", "poor_outcome")
    )
    refitted = render_model_card(trained, fingerprint={}, config=light_config())
    assert (
        f"- Boosters: depth 4, learning rate 0.1; dropout model "
        f"{dropout.num_boosted_rounds():,} trees, refitted on fit and validation clients; "
        f"poor-outcome model {poor_outcome.num_boosted_rounds():,} trees, refitted"
    ) in refitted
    rounds = [booster.attr("rounds") for booster in (dropout, poor_outcome)]
    for booster in (dropout, poor_outcome):
        booster.set_attr(rounds=None)  # as an early-stopped booster carries it
    try:
        kept = render_model_card(trained, fingerprint={}, config=light_config())
    finally:  # the fixture is shared
        for booster, count in zip((dropout, poor_outcome), rounds, strict=True):
            booster.set_attr(rounds=count)
    assert (
        "trees, early-stopped on the validation clients, not refitted (at least 1,000,000 "
        "fit landmarks)"
    ) in kept
