"""The SMART session cookie: signed, expiring, bound to a registered issuer; what it sees."""

from __future__ import annotations

import time

import pytest
from starlette.responses import Response

from service.reports.links import LinkSigner
from service.smart.clients import SmartClient
from service.smart.session import (
    COOKIE_NAME,
    SmartSession,
    issue_cookie,
    practitioner_id,
    read_cookie,
)

ISS = "https://ehr.example.org/fhir"
CLIENT = SmartClient(iss=ISS, client_id="app", clinics=("north",))
LINKS = LinkSigner(b"k" * 32)


def _cookie(session: SmartSession, *, lifetime: int = 600, now: float | None = None) -> str:
    response = Response()
    issue_cookie(response, session, links=LINKS, lifetime_seconds=lifetime, now=now)
    header = response.headers["set-cookie"]
    assert header.startswith(f"{COOKIE_NAME}=")
    return header.split(";", 1)[0].split("=", 1)[1]


def test_a_cookie_reads_back_as_its_session_with_the_issuers_clinics():
    value = _cookie(SmartSession(iss=ISS, user="Practitioner/7", patient="p-1"))
    session = read_cookie(value, links=LINKS, clients={ISS: CLIENT})
    assert session == SmartSession(
        iss=ISS, user="Practitioner/7", patient="p-1", clinics=frozenset({"north"})
    )
    assert session.sees(clinic_id="north", client_id="p-1")
    assert not session.sees(clinic_id="north", client_id="p-2")
    assert not session.sees(clinic_id="south", client_id="p-1")


def test_an_expired_forged_or_orphaned_cookie_is_no_session():
    value = _cookie(SmartSession(iss=ISS, user=None, patient="p-1"), now=time.time() - 3600)
    assert read_cookie(value, links=LINKS, clients={ISS: CLIENT}) is None  # expired
    value = _cookie(SmartSession(iss=ISS, user=None, patient="p-1"))
    assert read_cookie(value, links=LinkSigner(b"x" * 32), clients={ISS: CLIENT}) is None
    assert read_cookie(value, links=LINKS, clients={}) is None  # issuer since removed
    for junk in ("", "a.b.c", "a.1.", "é.1.é", "x" * 5000, None):
        assert read_cookie(junk, links=LINKS, clients={ISS: CLIENT}) is None


def test_a_caseload_session_sees_every_client_of_its_clinics():
    session = SmartSession(iss=ISS, user="Practitioner/7", patient=None, clinics=frozenset({"n"}))
    assert session.sees(clinic_id="n", client_id="anyone")
    assert not session.sees(clinic_id="s", client_id="anyone")


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("Practitioner/t-07", "t-07"),
        ("https://ehr.example.org/fhir/Practitioner/42", "42"),
        ("Patient/p-1", None),
        ("RelatedPerson/9", None),
        ("Practitioner/", None),
        (None, None),
    ],
)
def test_the_practitioner_of_a_fhir_user(user, expected):
    assert practitioner_id(user) == expected
