"""What the model benchmarks start from: the champion of an MLflow store, and landmark
histories of a simulated cohort to score with it."""

from __future__ import annotations


def load_champion(tracking_uri: str):
    """``(version, RiskModel)`` of the store's champion; exits when there is none."""
    from models.registry_store import RegistryLocation, download_model
    from training.registry import champion_version
    from training.settings import TrainingSettings

    version = champion_version(TrainingSettings(mlflow_tracking_uri=tracking_uri))
    if version is None:
        raise SystemExit(f"no champion in {tracking_uri}")
    return version, download_model(RegistryLocation(mlflow_tracking_uri=tracking_uri), version)


def simulated_histories(clients: int, *, seed: int, max_landmark: int):
    """The landmark histories (every landmark 1..``max_landmark``) of a simulated cohort of
    ``clients`` clients, checked against the data contract."""
    from features.contract import validate_extract
    from features.landmarks import build_landmarks
    from training.synth import simulate_cohort

    cohort = simulate_cohort(n_clients=clients, seed=seed)
    extract = validate_extract(cohort.clients, cohort.sessions)
    return build_landmarks(extract.clients, extract.sessions, max_landmark=max_landmark).history
