"""CDS Hooks and clinics: an issuer (or its tenant) speaks only for its configured clinics,
and the service reads only the issuer's own FHIR servers, never an internal address."""

from __future__ import annotations

import pytest

from service.audit import AuditStore
from service.cds.prefetch import SERVICE_ID
from tests.support.cds import BASE_URL, CdsClient, hook_body, issuer, load_case

SERVICE_PATH = f"/cds-services/{SERVICE_ID}"


def _prefetched(ehr, cases, number=0):
    client, _ = cases[number]
    load_case(ehr, cases[number], sessions=3)
    return client, hook_body(ehr, client["client_id"], prefetch=ehr.prefetch(client["client_id"]))


def test_a_record_of_a_clinic_the_issuer_does_not_speak_for_is_refused(start_app, ehr, cases):
    client, body = _prefetched(ehr, cases)
    app = start_app(cds_issuers=[issuer(ehr, clinics=["somewhere-else"])])
    answer = CdsClient(app, ehr).call(body)
    assert answer.status_code == 403, answer.text


@pytest.mark.parametrize(("tenant", "status"), [("t-own", 200), ("t-other", 403)])
def test_a_tenant_speaks_for_its_own_clinics(start_app, ehr, cases, tmp_path, tenant, status):
    client, body = _prefetched(ehr, cases, 1)
    clinics = {"t-own": [client["clinic_id"]], "t-other": ["somewhere-else"]}
    app = start_app(cds_issuers=[issuer(ehr, clinics=[], tenant_clinics=clinics)])
    token = ehr.token(f"{BASE_URL}{SERVICE_PATH}", tenant=tenant)
    answer = CdsClient(app, ehr).call(body, token=token)
    assert answer.status_code == status, answer.text
    if status == 200:
        with AuditStore.open(f"sqlite:///{tmp_path / 'audit.db'}") as store:
            (stored,) = list(store.assessments())
        assert (stored.clinic_id, stored.caller) == (client["clinic_id"], f"{ehr.iss}#t-own")


def test_a_fhir_server_not_the_issuers_is_never_called(start_app, ehr, cases):
    client, _ = cases[2]
    load_case(ehr, cases[2], sessions=3)
    app = start_app(cds_issuers=[issuer(ehr, fhir_servers=["https://fhir.example.org/r4"])])
    answer = CdsClient(app, ehr).call(hook_body(ehr, client["client_id"], fhir=True))
    assert answer.status_code == 412, answer.text
    assert ehr.seen == []  # the lent token never left


def test_a_loopback_fhir_server_is_refused_unless_private_addresses_are_allowed(
    start_app, ehr, cases
):
    """SSRF: even an allow-listed server is not read at a private or loopback address."""
    client, _ = cases[3]
    load_case(ehr, cases[3], sessions=3)
    body = hook_body(ehr, client["client_id"], fhir=True)
    refused = start_app(allow_private_addresses=False)
    answer = CdsClient(refused, ehr).call(body)
    assert answer.status_code == 412, answer.text
    assert ehr.seen == []
    allowed = start_app(allow_private_addresses=True)
    assert CdsClient(allowed, ehr).call(body).status_code == 200
    assert ehr.seen != []
