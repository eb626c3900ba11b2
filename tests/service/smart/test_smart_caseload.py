"""The caseload page in a SMART session: a practitioner's launch opens its issuer's clinics'
caseload and acts on alerts as that practitioner; a session opened on one patient's record
does not open the caseload."""

from __future__ import annotations

from service.smart.session import COOKIE_NAME
from tests.support.smart_ehr import round_trip, session_cookie


def _cookie(value: str) -> dict[str, str]:
    # Secure cookie over plain HTTP: sent by hand, alone (no token, no link), as a browser
    # sends it to 127.0.0.1.
    return {"Cookie": f"{COOKIE_NAME}={value}"}


def _score(app, tokens, example_request, *, client_id: str, clinic_id: str, item9: int) -> None:
    sessions = [dict(s) for s in example_request["sessions"]]
    # An attended session's PHQ-9 item 9 above 0: the self-harm signal, and its alert.
    attended = [s for s in sessions if s["attended"] and s.get("phq9") is not None]
    attended[-1]["phq9_item9"] = item9
    body = example_request | {
        "client": example_request["client"] | {"client_id": client_id, "clinic_id": clinic_id},
        "sessions": sessions,
    }
    answer = app.post("/v1/risk-assessments", json=body, headers=tokens.header())
    assert answer.status_code == 200, answer.text


def _launch(app, ehr, *, patient: str | None) -> str:
    user = f"{ehr.iss}/Practitioner/t-07"
    value, _ = session_cookie(round_trip(app, ehr, launch=ehr.launch(patient=patient, user=user)))
    app.cookies.clear()
    return value


def test_a_practitioners_session_opens_its_clinics_caseload_and_acts_as_them(
    smart_app, smart_ehr, tokens, example_request
):
    _score(smart_app, tokens, example_request, client_id="n-1", clinic_id="north", item9=2)
    _score(smart_app, tokens, example_request, client_id="s-1", clinic_id="south", item9=2)
    session = _launch(smart_app, smart_ehr, patient=None)

    page = smart_app.get("/caseload?therapist_id=t-07", headers=_cookie(session))
    assert page.status_code == 200, page.text
    assert "n-1" in page.text and "s-1" not in page.text  # the issuer's clinic (north) only

    alerts = smart_app.get("/v1/alerts", headers=tokens.header()).json()["alerts"]
    (north_alert,) = [a for a in alerts if a["client_id"] == "n-1" and a["kind"] == "safety"]
    (south_alert,) = [a for a in alerts if a["client_id"] == "s-1" and a["kind"] == "safety"]
    acted = smart_app.post(
        f"/caseload/alerts/{north_alert['alert_id']}/acknowledge",
        content="note=called+the+client",
        headers=_cookie(session) | {"Content-Type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert acted.status_code == 303, acted.text
    elsewhere = smart_app.post(
        f"/caseload/alerts/{south_alert['alert_id']}/acknowledge",
        content="note=x",
        headers=_cookie(session) | {"Content-Type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert elsewhere.status_code == 404  # another clinic's alert: not revealed
    after = smart_app.get("/v1/alerts?state=acknowledged", headers=tokens.header()).json()
    (done,) = [a for a in after["alerts"] if a["alert_id"] == north_alert["alert_id"]]
    assert done["acted_by"] == f"smart:{smart_ehr.iss}/Practitioner/t-07"  # the id_token's
    assert done["note"] == "called the client"


def test_a_session_opened_on_one_patients_record_does_not_open_the_caseload(
    smart_app, smart_ehr, tokens, example_request
):
    _score(smart_app, tokens, example_request, client_id="n-1", clinic_id="north", item9=0)
    session = _launch(smart_app, smart_ehr, patient="n-1")
    page = smart_app.get("/caseload?therapist_id=t-07", headers=_cookie(session))
    assert page.status_code == 403
    assert "n-1" not in page.text
