"""Clinic isolation: every endpoint x every kind of caller, and the poisoning scenario.

The callers: a token of the record's own clinic ("north"), one of another clinic
("south"), an operator's (all clinics), none, a token of the own clinic without the
endpoint's scope, a revoked one and an expired one. Tokens are stored in the database, as
``dropout-risk token create`` stores them, and read by the running app.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cli.main import app as cli
from service.audit import AuditStore, NewAlert
from service.fhir.examples import EXAMPLE_BUNDLE
from service.security import Scope, new_token

OWN, OTHER = "north", "south"
CALLERS = ("own", "other", "operator", "none", "wrong_scope", "revoked", "expired")


class Clinics:
    """The app, its database and a token per kind of caller (all scopes unless told)."""

    def __init__(self, api: TestClient, url: str) -> None:
        self.api = api
        self.url = url
        self.tokens: dict[str, str] = {}
        with AuditStore.open(url) as store:
            for name, clinics, everything in (
                ("own", [OWN], False),
                ("other", [OTHER], False),
                ("operator", [], True),
                ("revoked", [OWN], False),
            ):
                token, entry = new_token(
                    name=name, scopes=set(Scope), clinics=clinics, all_clinics=everything
                )
                store.api_tokens.save(entry)
                self.tokens[name] = token
            store.api_tokens.revoke("revoked")
            token, entry = new_token(
                name="expired",
                scopes=set(Scope),
                clinics=[OWN],
                expires_at=datetime.now(UTC) - timedelta(minutes=1),
            )
            store.api_tokens.save(entry)
            self.tokens["expired"] = token

    def without(self, scope: Scope) -> str:
        """A token of the own clinic with every scope but ``scope``."""
        token, entry = new_token(
            name=f"no-{scope.value.replace(':', '-')}",
            scopes=set(Scope) - {scope},
            clinics=[OWN],
        )
        with AuditStore.open(self.url) as store:
            store.api_tokens.save(entry)
        return token

    def headers(self, caller: str, scope: Scope) -> dict[str, str]:
        if caller == "none":
            return {}
        token = self.without(scope) if caller == "wrong_scope" else self.tokens[caller]
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def clinics(registry, make_settings, audit_url) -> Clinics:
    from service.app import create_app

    settings = make_settings(
        tracking_uri=registry.tracking_uri,
        database_url=audit_url,
        api_tokens=[],
        token_refresh_seconds=0.0,  # every lookup reads the table: tokens made mid-test count
        auth_failures_per_minute=10_000,
    )
    with TestClient(create_app(settings)) as api:
        yield Clinics(api, audit_url)


def _request(example_request: dict[str, Any], clinic: str, client: str = "c-001") -> dict:
    body = copy.deepcopy(example_request)
    body["client"] |= {"clinic_id": clinic, "client_id": client}
    return body


def _assess(clinics: Clinics, body: dict[str, Any], caller: str = "operator") -> str:
    answer = clinics.api.post(
        "/v1/risk-assessments", json=body, headers=clinics.headers(caller, Scope.RISK_WRITE)
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["assessment_id"]


# The expected status per caller: (own, other, operator); no token, revoked and expired are
# always 401 and a token without the scope 403.
def _endpoints(
    example_request, own_id, version, alert_id
) -> list[tuple[str, str, Scope, Any, tuple]]:
    north = _request(example_request, OWN)
    outcome = {"client_id": "c-001", "clinic_id": OWN, "termination": "ongoing"}
    return [
        ("POST", "/v1/risk-assessments", Scope.RISK_WRITE, north, (200, 403, 200)),
        (
            "POST",
            "/v1/risk-assessments/batch",
            Scope.RISK_WRITE,
            {"assessments": [north]},
            (200, 403, 200),
        ),
        ("GET", f"/v1/risk-assessments/{own_id}", Scope.AUDIT_READ, None, (200, 404, 200)),
        ("POST", "/v1/outcomes", Scope.OUTCOMES_WRITE, outcome, (201, 403, 201)),
        ("GET", "/v1/monitoring", Scope.AUDIT_READ, None, (200, 200, 200)),
        ("GET", "/v1/models/current", Scope.MODELS_READ, None, (200, 200, 200)),
        ("POST", "/v1/models/reload", Scope.ADMIN, None, (200, 200, 200)),
        ("GET", "/metrics", Scope.METRICS_READ, None, (200, 200, 200)),
        ("GET", f"/reports/{own_id}", Scope.AUDIT_READ, None, (200, 404, 200)),
        ("GET", f"/models/{version}/card", Scope.MODELS_READ, None, (200, 200, 200)),
        ("GET", "/v1/caseload", Scope.AUDIT_READ, None, (200, 200, 200)),
        ("GET", "/caseload", Scope.AUDIT_READ, None, (200, 200, 200)),
        ("GET", "/v1/alerts", Scope.AUDIT_READ, None, (200, 200, 200)),
        ("GET", "/fhir/r4/Flag?patient=c-001", Scope.AUDIT_READ, None, (200, 200, 200)),
        # The own clinic resolves it; the other clinic cannot find it; then it is final.
        ("POST", f"/v1/alerts/{alert_id}/resolve", Scope.RISK_WRITE, {}, (200, 404, 409)),
        (
            "POST",
            "/fhir/r4/$assess-dropout-risk",
            Scope.RISK_WRITE,
            EXAMPLE_BUNDLE,
            (200, 403, 200),
        ),
    ]


def test_every_endpoint_by_every_kind_of_caller(clinics, example_request, registry):
    own_id = _assess(clinics, _request(example_request, OWN))
    _assess(clinics, _request(example_request, OTHER))  # south's own "c-001"
    with AuditStore.open(clinics.url) as store:
        (alert,) = store.alerts.raise_alerts(
            [NewAlert(OWN, "c-001", "t-07", own_id, "alliance_rupture")]
        )
    unexpected = []
    for method, path, scope, body, (own, other, operator) in _endpoints(
        example_request, own_id, registry.version, alert.alert_id
    ):
        expected = dict(zip(CALLERS, (own, other, operator, 401, 403, 401, 401), strict=True))
        for caller in CALLERS:
            answer = clinics.api.request(
                method, path, json=body, headers=clinics.headers(caller, scope)
            )
            if answer.status_code != expected[caller]:
                unexpected.append((method, path, caller, answer.status_code, answer.text[:200]))
    assert unexpected == []


def test_a_token_from_before_clinics_is_refused_with_a_reason(
    registry, make_settings, tmp_path, example_request
):
    from service.app import create_app
    from service.security import TokenEntry

    token, entry = new_token(name="old", scopes={Scope.RISK_WRITE}, all_clinics=True)
    old = TokenEntry(**(entry.model_dump() | {"all_clinics": False}))
    settings = make_settings(
        tracking_uri=registry.tracking_uri,
        database_url=f"sqlite:///{tmp_path / 'audit.db'}",
        api_tokens=[old],
    )
    with TestClient(create_app(settings)) as api:
        answer = api.post(
            "/v1/risk-assessments",
            json=example_request,
            headers={"Authorization": f"Bearer {token}"},
        )
    assert answer.status_code == 401
    assert "reissue" in answer.json()["message"]


def test_lists_and_monitoring_hold_the_callers_clinics_only(clinics, example_request):
    for number in range(3):
        _assess(clinics, _request(example_request, OWN, f"c-{number}"))
    _assess(clinics, _request(example_request, OTHER, "c-0"))
    counts = {}
    for caller in ("own", "other", "operator"):
        report = clinics.api.get(
            "/v1/monitoring", headers=clinics.headers(caller, Scope.AUDIT_READ)
        ).json()
        counts[caller] = sum(window["assessments"] for window in report["windows"])
    assert counts == {"own": 3, "other": 1, "operator": 4}


def test_rows_record_their_clinic_and_caller(clinics, example_request):
    assessment_id = _assess(clinics, _request(example_request, OWN), caller="own")
    with AuditStore.open(clinics.url) as store:
        stored = store.get_assessment(assessment_id)
        assert (stored.clinic_id, stored.caller) == (OWN, "own")
        assert store.get_assessment(assessment_id, clinics=frozenset({OTHER})) is None


def test_poisoning_another_clinics_client_is_refused(clinics, example_request, tmp_path):
    """Clinic B cannot write an episode or an outcome for clinic A's "c-001"; an export of
    A afterwards holds A's data only, and an operator's export keeps the two apart."""
    a_body = _request(example_request, OWN)
    _assess(clinics, a_body, caller="own")
    b = clinics.headers("other", Scope.RISK_WRITE)

    # B sends a three-session episode for A's client, naming A's clinic.
    poisoned = _request(example_request, OWN)
    poisoned["sessions"].append(
        {"session_number": 3, "session_date": "2026-03-16", "attended": False}
    )
    assert clinics.api.post("/v1/risk-assessments", json=poisoned, headers=b).status_code == 403
    batch = {"assessments": [poisoned]}
    assert clinics.api.post("/v1/risk-assessments/batch", json=batch, headers=b).status_code == 403
    # ... and its ending, naming A's clinic, or its own (where "c-001" was never assessed).
    for clinic, status in ((OWN, 403), (OTHER, 404)):
        outcome = {
            "client_id": "c-001",
            "clinic_id": clinic,
            "termination": "dropout",
            "end_date": "2026-03-20",
        }
        answer = clinics.api.post("/v1/outcomes", json=outcome, headers=b)
        assert answer.status_code == status, answer.text
    # B's own client "c-001", a different person, is B's to score.
    _assess(clinics, _request(example_request, OTHER), caller="other")

    out = tmp_path / "north"
    result = CliRunner().invoke(
        cli, ["export", "--out", str(out), "--database-url", clinics.url, "--clinic", OWN]
    )
    assert result.exit_code == 0, result.output
    exported = pd.read_csv(out / "sessions.csv")
    assert list(exported["session_number"]) == [1, 2]  # A's two sessions, not B's three
    clients = pd.read_csv(out / "clients.csv")
    assert list(clients["client_id"]) == ["c-001"] and list(clients["clinic_id"]) == [OWN]
    assert (out / "sessions.csv").stat().st_mode & 0o777 == 0o600

    everyone = tmp_path / "all"
    result = CliRunner().invoke(
        cli, ["export", "--out", str(everyone), "--database-url", clinics.url, "--all-clinics"]
    )
    assert result.exit_code == 0, result.output
    ids = sorted(pd.read_csv(everyone / "clients.csv")["client_id"])
    assert ids == [f"{OWN}/c-001", f"{OTHER}/c-001"]
    report = json.loads((everyone / "export-report.json").read_text())
    assert report["assessments_read"] == 2


def test_export_names_its_clinics(tmp_path):
    result = CliRunner().invoke(cli, ["export", "--out", str(tmp_path / "x")])
    assert result.exit_code != 0
    assert "--clinic" in result.output


def test_a_fhir_record_naming_no_clinic_takes_the_tokens_only_clinic(clinics):
    bundle = copy.deepcopy(EXAMPLE_BUNDLE)
    for entry in bundle["entry"]:
        entry["resource"].pop("serviceProvider", None)
        entry["resource"].pop("managingOrganization", None)
    path = "/fhir/r4/$assess-dropout-risk"
    own = clinics.api.post(path, json=bundle, headers=clinics.headers("own", Scope.RISK_WRITE))
    assert own.status_code == 200, own.text
    with AuditStore.open(clinics.url) as store:
        (stored,) = list(store.assessments())
    assert (stored.clinic_id, stored.caller) == (OWN, "own")
    # An operator's token spans every clinic: the record must say which.
    headers = clinics.headers("operator", Scope.RISK_WRITE)
    assert clinics.api.post(path, json=bundle, headers=headers).status_code == 422
