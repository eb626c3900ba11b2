"""Settings: read from the environment; unsafe values refused."""

from __future__ import annotations

import stat
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from pydantic import ValidationError

from service.settings import ServiceSettings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch, tmp_path):
    for variable in ("DATABASE_URL", "MLFLOW_TRACKING_URI", "DROPOUT_RISK_API_TOKENS"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("DROPOUT_RISK_DATA_DIR", str(tmp_path))


def test_defaults_keep_everything_under_the_data_directory(tmp_path):
    settings = ServiceSettings()
    assert settings.audit_url == f"sqlite:///{tmp_path / 'audit.db'}"
    assert settings.tracking_uri == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert settings.token_path == tmp_path / "tokens.json"
    assert settings.model_alias == "champion"


def test_conventional_variables_are_followed(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.internal:5000")
    monkeypatch.setenv("DROPOUT_RISK_REGISTRY_POLL_SECONDS", "5")
    settings = ServiceSettings()
    assert settings.audit_url.startswith("postgresql+psycopg://")
    assert settings.tracking_uri == "http://mlflow.internal:5000"
    assert settings.registry_poll_seconds == 5


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DATABASE_URL", "sqlite://"),
        ("DATABASE_URL", "sqlite:///:memory:"),
        ("DATABASE_URL", "not a url"),
        ("DROPOUT_RISK_REGISTRY_POLL_SECONDS", "0"),
        ("DROPOUT_RISK_API_TOKENS", '[{"name": "x", "sha256": "secret", "scopes": ["admin"]}]'),
        ("DROPOUT_RISK_LOG_LEVEL", "LOUD"),
        ("DROPOUT_RISK_MONITORING_MIN_AUROC", "1.5"),
        ("DROPOUT_RISK_MONITORING_INTERVAL_SECONDS", "-1"),
    ],
)
def test_unsafe_values_are_refused(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError):
        ServiceSettings()


def test_the_monitoring_variables_keep_their_names(monkeypatch):
    """The monitoring settings are one nested object; their variables are spelled as before."""
    for name, value in {
        "PERIOD_DAYS": "7",
        "INTERVAL_SECONDS": "0",
        "FEATURE_PSI": "0.3",
        "SCORE_PSI": "0.2",
        "MIN_ASSESSMENTS": "50",
        "MIN_AUROC": "0.65",
        "MAX_CALIBRATION_GAP": "0.04",
        "MIN_LABELLED": "20",
    }.items():
        monkeypatch.setenv(f"DROPOUT_RISK_MONITORING_{name}", value)
    monitoring = ServiceSettings().monitoring
    assert (monitoring.period_days, monitoring.interval_seconds) == (7, 0)
    assert monitoring.thresholds().model_dump() == {
        "feature_psi": 0.3,
        "score_psi": 0.2,
        "min_assessments": 50,
        "min_auroc": 0.65,
        "max_calibration_gap": 0.04,
        "min_labelled": 20,
    }


def test_workers_starting_at_once_agree_on_one_link_secret(tmp_path):
    # Worker processes start together on a new data directory and each asks for the key;
    # a key another worker replaced, or a file half written, would fail their links.
    for attempt in range(20):
        directory = tmp_path / str(attempt)
        keys = _link_secrets_at_once(ServiceSettings(data_dir=directory), callers=8)
        stored = (directory / "link-secret").read_text().strip().encode()
        assert keys == {stored} and len(stored) >= 32
        assert stat.S_IMODE((directory / "link-secret").stat().st_mode) == 0o600
        assert [path.name for path in directory.iterdir()] == ["link-secret"]


def test_a_link_secret_is_made_where_the_filesystem_has_no_hard_links(tmp_path, monkeypatch):
    def no_hard_links(*_):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr("os.link", no_hard_links)
    key = ServiceSettings(data_dir=tmp_path).link_secret()
    assert len(key) >= 32 and ServiceSettings(data_dir=tmp_path).link_secret() == key
    assert stat.S_IMODE((tmp_path / "link-secret").stat().st_mode) == 0o600
    assert [path.name for path in tmp_path.iterdir()] == ["link-secret"]


def _link_secrets_at_once(settings: ServiceSettings, *, callers: int) -> set[bytes]:
    starting = threading.Barrier(callers)

    def link_secret(_: int) -> bytes:
        starting.wait()
        return settings.link_secret()

    with ThreadPoolExecutor(max_workers=callers) as pool:
        return set(pool.map(link_secret, range(callers)))
