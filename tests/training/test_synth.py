"""The simulator: deterministic, contract-valid, faithful to clinic instrument sets, and its
oracle knows more than any observable baseline."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from features.contract import read_extract, validate_extract
from features.instruments import MEASURE_COLUMNS, OUTCOME_MEASURE_ORDER, SESSION_SCORE_COLUMNS
from features.labels import derive_labels
from features.schemas import SESSION_COLUMNS
from training.synth import (
    DEFAULT_CLINIC_PROFILES,
    Cohort,
    SimulationParams,
    simulate_cohort,
    write_cohort,
)


@pytest.fixture(scope="module")
def simulated() -> Cohort:
    return simulate_cohort(n_clients=6000, seed=7)


def _assert_same_cohort(left: Cohort, right: Cohort) -> None:
    for table in ("clients", "sessions", "oracle", "latent"):
        pd.testing.assert_frame_equal(getattr(left, table), getattr(right, table))


def test_same_seed_gives_the_same_cohort() -> None:
    _assert_same_cohort(
        simulate_cohort(n_clients=1500, seed=3), simulate_cohort(n_clients=1500, seed=3)
    )


def test_different_seeds_give_different_cohorts() -> None:
    first = simulate_cohort(n_clients=1500, seed=3)
    second = simulate_cohort(n_clients=1500, seed=4)

    assert not first.clients["age"].equals(second.clients["age"])
    assert not first.sessions["session_date"].equals(second.sessions["session_date"])
    assert not np.allclose(
        first.oracle["dropout_probability"], second.oracle["dropout_probability"]
    )


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_cohort_meets_the_data_contract(seed: int) -> None:
    cohort = simulate_cohort(n_clients=2500, seed=seed)

    report = validate_extract(cohort.clients, cohort.sessions)

    assert report.ok, report.lines()[:10]
    assert set(cohort.clients["termination"]) == {"completed", "dropout", "referred", "ongoing"}


@pytest.mark.parametrize("definition", ["min_attended", "either"])
def test_every_dropout_definition_meets_the_contract(definition: str) -> None:
    params = SimulationParams(dropout_definition=definition)
    cohort = simulate_cohort(n_clients=2000, seed=5, params=params)

    assert validate_extract(cohort.clients, cohort.sessions).ok
    attended = cohort.sessions.groupby("client_id")["attended"].sum()
    dropouts = cohort.clients.loc[cohort.clients["termination"] == "dropout", "client_id"]
    if definition == "min_attended":
        # NHS Talking Therapies: fewer than two attended sessions did not finish a course.
        assert (attended[dropouts] < params.dropout_min_attended).all()
    assert len(dropouts) > 0


def test_contract_dtypes(simulated: Cohort) -> None:
    clients, sessions = simulated.clients, simulated.sessions
    assert clients["client_id"].is_unique
    assert clients["intake_date"].dtype == "datetime64[ns]"
    assert clients["age"].dtype == "int64"
    assert clients["prior_treatment"].dtype == "boolean"
    assert sessions["attended"].dtype == bool
    assert sessions["session_number"].dtype == "int64"
    for column in ("oq45", "phq9", "gad7"):
        assert sessions[column].dtype == "Int64"
    for column in ("wai_client", "wai_therapist", "srs", "ors"):
        assert sessions[column].dtype == "float64"
    assert sessions.loc[~sessions["attended"], list(SESSION_SCORE_COLUMNS)].isna().all().all()
    assert (clients["end_date"].isna() == (clients["termination"] == "ongoing")).all()


def test_write_cohort_round_trips(simulated: Cohort, tmp_path) -> None:
    paths = write_cohort(simulated, tmp_path / "out")

    assert set(paths) == {"clients", "sessions", "oracle"}
    # The simulator's tables carry exactly the dtypes the contract reader produces.
    clients, sessions = read_extract(paths["clients"], paths["sessions"])
    pd.testing.assert_frame_equal(clients, simulated.clients)
    pd.testing.assert_frame_equal(sessions, simulated.sessions)
    oracle = pd.read_csv(paths["oracle"], dtype={"client_id": "string[pyarrow]"})
    pd.testing.assert_frame_equal(oracle, simulated.oracle)


def test_written_values_look_as_the_contract_says(simulated: Cohort, tmp_path) -> None:
    paths = write_cohort(simulated, tmp_path)
    header, *rows = paths["sessions"].read_text().splitlines()[:400]

    assert header == ",".join(SESSION_COLUMNS)
    cells = [row.split(",") for row in rows]
    assert {c[3] for c in cells} == {"true", "false"}
    integer_cells = [c[i] for c in cells for i in (8, 9, 10) if c[i]]
    assert integer_cells and all(cell.isdigit() for cell in integer_cells)
    assert all(len(c[2]) == 10 for c in cells)  # ISO date, no time of day


def test_clinics_record_only_their_instruments(simulated: Cohort) -> None:
    profiles = {frozenset(p.measures): p.name for p in DEFAULT_CLINIC_PROFILES}
    sessions = simulated.sessions.merge(simulated.clients[["client_id", "clinic_id"]])
    recorded = sessions.groupby("clinic_id")[list(MEASURE_COLUMNS)].count()

    kinds = {
        clinic: profiles.get(frozenset(row.index[row > 0]), "unknown")
        for clinic, row in recorded.iterrows()
    }

    assert "unknown" not in kinds.values()
    assert set(kinds.values()) == set(profiles.values())
    pcoms = [clinic for clinic, kind in kinds.items() if kind == "pcoms"]
    assert (recorded.loc[pcoms, ["phq9", "gad7", "oq45"]] == 0).all().all()


def test_every_branch_of_the_poor_outcome_label_occurs(simulated: Cohort) -> None:
    labels = derive_labels(simulated.clients, simulated.sessions)

    used = set(labels["outcome_measure"].dropna())

    assert used == {"+".join(measures) for measures in OUTCOME_MEASURE_ORDER}


def _observable_baseline(cohort: Cohort) -> np.ndarray:
    """A simple observable score: logistic regression on age, clinic and intake scores,
    fitted and scored in-sample (which flatters it)."""
    first = cohort.sessions[cohort.sessions["session_number"] == 1].set_index("client_id")
    frame = cohort.clients.set_index("client_id")
    features = pd.concat(
        [
            frame["age"],
            pd.get_dummies(frame["clinic_id"], dtype=float),
            first[["phq9", "gad7", "oq45", "ors"]].astype(float).fillna(-1.0),
        ],
        axis=1,
    ).to_numpy(dtype=float)
    return features


@pytest.mark.parametrize("label", ["dropout", "poor_outcome"])
def test_oracle_beats_an_observable_baseline(simulated: Cohort, label: str) -> None:
    column = {"dropout": "dropout_probability", "poor_outcome": "poor_outcome_probability"}
    oracle = simulated.oracle[column[label]].to_numpy(dtype=float)
    truth = derive_labels(simulated.clients, simulated.sessions)[label]
    truth = truth.reindex(simulated.clients["client_id"]).to_numpy(dtype=float, na_value=np.nan)
    labelled = ~np.isnan(truth)
    features = _observable_baseline(simulated)[labelled]
    baseline = LogisticRegression(max_iter=2000).fit(features, truth[labelled])

    baseline_auroc = roc_auc_score(truth[labelled], baseline.predict_proba(features)[:, 1])
    oracle_auroc = roc_auc_score(truth[labelled], oracle[labelled])

    assert ((oracle[labelled] >= 0) & (oracle[labelled] <= 1)).all()
    assert oracle_auroc > baseline_auroc + 0.1
    # The oracle is a probability: on average it matches the realised rate.
    assert abs(oracle[labelled].mean() - truth[labelled].mean()) < 0.03


def test_oracle_probabilities_are_probabilities(simulated: Cohort) -> None:
    oracle = simulated.oracle

    assert oracle["client_id"].equals(simulated.clients["client_id"])
    assert oracle["dropout_probability"].between(0, 1).all()
    poor = oracle["poor_outcome_probability"]
    assert poor.dropna().between(0, 1).all()
    assert poor.notna().mean() > 0.99


def test_latent_events_stay_inside_the_episode(simulated: Cohort) -> None:
    booked = simulated.sessions.groupby("client_id")["session_number"].max()
    latent = simulated.latent.set_index("client_id")
    # Ongoing episodes continue after the extract date, and so may their events.
    ended = simulated.clients.set_index("client_id")["termination"] != "ongoing"

    rupture = latent.loc[ended, "rupture_session"].dropna()
    assert (rupture <= booked[rupture.index]).all()
    assert 0.3 < latent["rupture_session"].notna().mean() < 0.9
    assert 0.1 < latent["sudden_gain_session"].notna().mean() < 0.4


def test_parameters_are_checked() -> None:
    with pytest.raises(ValueError, match="n_clients"):
        simulate_cohort(n_clients=0, seed=1)
    with pytest.raises(ValueError, match="dropout_definition"):
        simulate_cohort(n_clients=10, seed=1, params=SimulationParams(dropout_definition="never"))
    with pytest.raises(ValueError, match="gender_probs"):
        simulate_cohort(
            n_clients=10,
            seed=1,
            params=dataclasses.replace(SimulationParams(), gender_probs=(0.5, 0.4, 0.0, 0.0)),
        )


def test_the_package_exports_the_public_api() -> None:
    import training.synth as synth

    assert set(synth.__all__) == {
        "Cohort",
        "SimulationParams",
        "ClinicProfile",
        "DEFAULT_CLINIC_PROFILES",
        "TargetCheck",
        "simulate_cohort",
        "write_cohort",
        "achieved_targets",
    }
    assert all(hasattr(synth, name) for name in synth.__all__)


def test_a_single_client_is_a_valid_extract() -> None:
    cohort = simulate_cohort(n_clients=1, seed=0)

    assert validate_extract(cohort.clients, cohort.sessions).ok
    assert cohort.clients["client_id"].tolist() == ["c0000001"]


def test_the_self_harm_item_sits_beside_phq9_and_never_above_it(simulated: Cohort) -> None:
    sessions = simulated.sessions
    item = sessions["phq9_item9"]
    assert item.notna().sum() == sessions["phq9"].notna().sum()
    assert (item.isna() == sessions["phq9"].isna()).all()
    answered = sessions[item.notna()]
    assert (answered["phq9_item9"] <= answered["phq9"]).all()
    endorsed = (answered["phq9_item9"] > 0).mean()
    assert 0.05 < endorsed < 0.4  # a minority, more often at higher totals
    severe = answered["phq9"] >= 20
    assert (answered.loc[severe, "phq9_item9"] > 0).mean() > endorsed
