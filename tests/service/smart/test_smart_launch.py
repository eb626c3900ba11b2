"""SMART App Launch 2, EHR launch, end to end against the test authorization server: the
redirect's parameters one by one, the code exchange with PKCE, the id_token's checks, the
session cookie, and the report it opens (only the launch's patient, only its clinics)."""

from __future__ import annotations

import base64
import hashlib
import re
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt

from service.smart.session import COOKIE_NAME
from tests.support.cds import BASE_URL
from tests.support.smart_ehr import (
    AUTHORIZE_PARAMETERS,
    CLIENT_ID,
    authorize,
    pem,
    public_jwk,
    round_trip,
    rsa_key,
    session_cookie,
)

REDIRECT_URI = f"{BASE_URL}/smart/callback"


def _session(app, ehr, patient: str) -> str:
    """The session cookie a launch for ``patient`` opens."""
    value, _ = session_cookie(round_trip(app, ehr, launch=ehr.launch(patient=patient)))
    app.cookies.clear()
    return value


def _no_session(answer) -> bool:
    """Whether ``answer`` opened no session (it may clear the launch's cookie)."""
    return not [c for c in answer.headers.get_list("set-cookie") if c.startswith(COOKIE_NAME)]


def _with_cookie(value: str) -> dict[str, str]:
    # The cookie is Secure, so the test client's jar would not send it over plain HTTP;
    # a browser does, to 127.0.0.1. It is sent by hand, alone: no token, no link.
    return {"Cookie": f"{COOKIE_NAME}={value}"}


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_the_round_trip_opens_the_patients_latest_report(smart_app, smart_ehr, assess, tokens):
    assess(client_id="p-1", sessions=1)
    latest = assess(client_id="p-1", sessions=2)
    assess(client_id="p-2")  # another patient of the clinic, assessed after
    handle = smart_ehr.launch(patient="p-1")

    started = authorize(smart_app, iss=smart_ehr.iss, launch=handle)
    assert started.status_code == 302
    (bound,) = started.headers.get_list("set-cookie")  # the launch, bound to this browser
    assert bound.startswith("__Host-dropout-risk-launch-")
    assert {"HttpOnly", "Secure", "SameSite=lax"} <= {a.strip() for a in bound.split(";")}
    location = urlsplit(started.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == (
        f"{smart_ehr.base_url}/authorize"
    )
    query = {name: values[0] for name, values in parse_qs(location.query).items()}
    assert set(AUTHORIZE_PARAMETERS) <= set(query)
    assert query["response_type"] == "code"
    assert query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == REDIRECT_URI
    assert query["launch"] == handle
    scopes = query["scope"].split()
    assert {"launch", "openid", "fhirUser"} <= set(scopes)
    assert {"patient/Patient.rs", "patient/Observation.rs"} <= set(scopes)
    assert len(query["state"]) >= 32  # 256 random bits
    assert query["aud"] == smart_ehr.iss
    assert query["code_challenge_method"] == "S256"
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", query["code_challenge"])

    callback = round_trip(smart_app, smart_ehr, launch=smart_ehr.launch(patient="p-1"))
    assert callback.status_code == 302, callback.text
    assert callback.headers["location"] == f"{BASE_URL}/reports/{latest}"
    assert "code=" not in callback.headers["location"] and "token" not in callback.text
    value, header = session_cookie(callback)
    (cleared,) = [c for c in callback.headers.get_list("set-cookie") if "-launch-" in c]
    assert "Max-Age=0" in cleared  # the launch is over
    attributes = {part.strip().split("=")[0].lower() for part in header.split(";")[1:]}
    assert {"httponly", "secure", "samesite", "path", "max-age"} <= attributes
    assert "samesite=lax" in header.lower() and "path=/" in header.lower()

    (exchange,) = smart_ehr.token_requests[-1:]
    second = smart_ehr.authorize_requests[-1]
    assert exchange["grant_type"] == "authorization_code"
    assert exchange["redirect_uri"] == REDIRECT_URI and exchange["client_id"] == CLIENT_ID
    assert _s256(exchange["code_verifier"]) == second["code_challenge"]
    assert "client_assertion" not in exchange  # a public client

    smart_app.cookies.clear()
    page = smart_app.get(f"/reports/{latest}", headers=_with_cookie(value))
    assert page.status_code == 200, page.text
    assert "Early-warning report after session 2" in page.text
    assert smart_app.get(f"/reports/{latest}").status_code == 401  # the cookie alone opens it
    reads = smart_app.get("/v1/audit/reads", headers=tokens.header()).json()["reads"]
    assert reads[-1]["caller"] == "smart:Practitioner/pr-7"  # who read it, in the audit store
    assert reads[-1]["subject_id"] == latest


def test_a_session_sees_only_its_patient(smart_app, smart_ehr, assess):
    mine = assess(client_id="p-1")
    other = assess(client_id="p-2")
    value = _session(smart_app, smart_ehr, "p-1")
    assert smart_app.get(f"/reports/{mine}", headers=_with_cookie(value)).status_code == 200
    assert smart_app.get(f"/reports/{other}", headers=_with_cookie(value)).status_code == 404


def test_a_patient_of_another_clinic_is_not_shown(smart_app, smart_ehr, assess):
    south = assess(client_id="p-9", clinic_id="south")
    callback = round_trip(smart_app, smart_ehr, launch=smart_ehr.launch(patient="p-9"))
    assert callback.status_code == 404 and "no report" in callback.text
    value, _ = session_cookie(callback)
    smart_app.cookies.clear()
    assert smart_app.get(f"/reports/{south}", headers=_with_cookie(value)).status_code == 404


def test_a_forged_id_token_is_refused(smart_app, smart_ehr, assess):
    assess(client_id="p-1")
    smart_ehr.signing_key = rsa_key()  # same kid, another key: the signature cannot verify
    callback = round_trip(smart_app, smart_ehr, launch=smart_ehr.launch(patient="p-1"))
    assert callback.status_code == 403 and "could not be verified" in callback.text
    assert _no_session(callback)


def test_an_id_token_for_another_audience_is_refused(smart_app, smart_ehr, assess):
    assess(client_id="p-1")
    smart_ehr.id_token_claims = {"aud": "another-app"}
    callback = round_trip(smart_app, smart_ehr, launch=smart_ehr.launch(patient="p-1"))
    assert callback.status_code == 403 and _no_session(callback)


def test_an_expired_id_token_is_refused(smart_app, smart_ehr, assess):
    assess(client_id="p-1")
    now = int(time.time())
    smart_ehr.id_token_claims = {"iat": now - 7200, "exp": now - 3600}
    callback = round_trip(smart_app, smart_ehr, launch=smart_ehr.launch(patient="p-1"))
    assert callback.status_code == 403 and _no_session(callback)


def test_an_id_token_of_another_issuer_is_refused(smart_app, smart_ehr, assess):
    assess(client_id="p-1")
    smart_ehr.id_token_claims = {"iss": "https://elsewhere.example/fhir"}
    callback = round_trip(smart_app, smart_ehr, launch=smart_ehr.launch(patient="p-1"))
    assert callback.status_code == 403 and _no_session(callback)


def test_a_replayed_state_is_refused(smart_app, smart_ehr, assess):
    assess(client_id="p-1")
    started = authorize(smart_app, iss=smart_ehr.iss, launch=smart_ehr.launch(patient="p-1"))
    state = parse_qs(urlsplit(started.headers["location"]).query)["state"][0]
    callback = round_trip(smart_app, smart_ehr, launch=smart_ehr.launch(patient="p-1"))
    assert callback.status_code == 302
    same_browser = {"Cookie": callback.request.headers["cookie"]}
    replayed = smart_app.get(callback.request.url, headers=same_browser, follow_redirects=False)
    assert replayed.status_code == 400 and "already used" in replayed.text
    assert _no_session(replayed)
    made_up = smart_app.get("/smart/callback", params={"code": "x", "state": state + "x"},
                            follow_redirects=False)  # fmt: skip
    assert made_up.status_code == 400


def test_a_launch_completed_in_another_browser_is_refused(smart_app, smart_ehr, assess):
    assess(client_id="p-1")
    handle = smart_ehr.launch(patient="p-1")
    callback = round_trip(smart_app, smart_ehr, launch=handle, same_browser=False)
    assert callback.status_code == 400 and "not started in this browser" in callback.text
    assert _no_session(callback)
    assert not smart_ehr.token_requests  # the code was not even exchanged


def test_an_issuer_not_registered_is_refused(smart_app, smart_ehr):
    answer = authorize(smart_app, iss="https://ehr.elsewhere.example/fhir", launch="l-1")
    assert answer.status_code == 403 and "not registered" in answer.text
    assert answer.headers["content-type"].startswith("text/html")
    assert not smart_ehr.authorize_requests  # nothing was called on its behalf
    assert smart_app.get("/smart/launch", params={"iss": smart_ehr.iss}).status_code == 400


def test_a_launch_without_a_patient_opens_the_practitioners_caseload(smart_app, smart_ehr):
    handle = smart_ehr.launch(patient=None, user=f"{smart_ehr.iss}/Practitioner/t-07")
    callback = round_trip(smart_app, smart_ehr, launch=handle)
    assert callback.status_code == 302
    assert callback.headers["location"] == f"{BASE_URL}/caseload?therapist_id=t-07"
    session_cookie(callback)  # set
    nobody = round_trip(smart_app, smart_ehr, launch=smart_ehr.launch(patient=None, user=None))
    assert nobody.status_code == 403 and _no_session(nobody)


def test_a_launch_by_someone_not_a_practitioner_opens_nothing(smart_app, smart_ehr, assess):
    assess(client_id="p-1")
    for user in ("Patient/p-1", f"{smart_ehr.iss}/RelatedPerson/r-1", None):
        answer = round_trip(
            smart_app, smart_ehr, launch=smart_ehr.launch(patient="p-1", user=user)
        )
        assert answer.status_code == 403, (user, answer.status_code)
        assert "for clinicians" in answer.text and _no_session(answer)


def test_private_addresses_are_refused_unless_allowed(start_smart_app, smart_ehr):
    app = start_smart_app(allow_private_addresses=False)
    answer = authorize(app, iss=smart_ehr.iss, launch=smart_ehr.launch(patient="p-1"))
    assert answer.status_code == 502
    assert not smart_ehr.authorize_requests


def test_a_tampered_session_cookie_opens_nothing(smart_app, smart_ehr, assess):
    assessment = assess(client_id="p-1")
    value = _session(smart_app, smart_ehr, "p-1")
    payload, expires, signature = value.split(".")
    for forged in (
        f"{payload}.{int(expires) + 3600}.{signature}",  # a longer life
        f"{payload[:-2]}AA.{expires}.{signature}",  # another context
        f"{payload}.{expires}.{'0' * 64}",
    ):
        answer = smart_app.get(f"/reports/{assessment}", headers=_with_cookie(forged))
        assert answer.status_code == 401


def test_a_confidential_client_signs_its_token_request(
    start_smart_app, smart_ehr, assess, tmp_path
):
    key_file = tmp_path / "smart-key.pem"
    key_file.write_bytes(pem(rsa_key()))
    registration = {"iss": smart_ehr.iss, "client_id": CLIENT_ID, "clinics": ["north"],
                    "private_key_file": str(key_file)}  # fmt: skip
    app = start_smart_app(smart_clients=[registration])
    answer = app.get("/smart/jwks.json")
    assert answer.status_code == 200, answer.text
    (published,) = answer.json()["keys"]
    assert "d" not in published and published["alg"] == "RS384"
    smart_ehr.client_key = published  # what the EHR is given when it registers us
    assessment = assess(client_id="p-1")

    callback = round_trip(app, smart_ehr, launch=smart_ehr.launch(patient="p-1"))
    assert callback.status_code == 302, callback.text
    assert callback.headers["location"].endswith(f"/reports/{assessment}")
    exchange = smart_ehr.token_requests[-1]
    assert exchange["client_assertion_type"].endswith(":client-assertion-type:jwt-bearer")
    header = jwt.get_unverified_header(exchange["client_assertion"])
    assert header["alg"] == "RS384" and header["kid"] == smart_ehr.client_key["kid"]

    smart_ehr.client_key = public_jwk(rsa_key(), smart_ehr.client_key["kid"])  # not our key
    refused = round_trip(app, smart_ehr, launch=smart_ehr.launch(patient="p-1"))
    assert refused.status_code == 403 and _no_session(refused)


def test_the_application_log_names_no_patient_code_or_token(smart_app, smart_ehr, assess, caplog):
    patient = "p-secret-4711"
    assess(client_id=patient)
    smart_ehr.id_token_claims = {"fhirUser": "Practitioner/pr-secret-99"}
    callback = round_trip(smart_app, smart_ehr, launch=smart_ehr.launch(patient=patient))
    value, _ = session_cookie(callback)
    smart_app.cookies.clear()
    page = smart_app.get(callback.headers["location"], headers=_with_cookie(value))
    assert page.status_code == 200
    code = parse_qs(urlsplit(str(callback.request.url)).query)["code"][0]
    logged = "\n".join(repr(vars(record)) for record in caplog.records)
    assert "SMART session opened" in logged
    for secret in (patient, "pr-secret-99", code, value, smart_ehr.token_requests[-1]["code"]):
        assert secret not in logged


def test_a_public_client_publishes_no_key(smart_app):
    assert smart_app.get("/smart/jwks.json").json() == {"keys": []}


def test_a_callback_reaching_another_worker_completes_the_launch(
    start_smart_app, smart_ehr, assess, audit_url
):
    # Two workers (or replicas) on one audit database: the state is stored there, not in
    # the memory of the worker that started the launch; each is taken once by either.
    first, second = (
        start_smart_app(database_url=audit_url),
        start_smart_app(database_url=audit_url),
    )
    latest = assess(client_id="p-1", app=first)
    started = authorize(first, iss=smart_ehr.iss, launch=smart_ehr.launch(patient="p-1"))
    authorized = httpx.get(started.headers["location"], follow_redirects=False, timeout=10)
    cookie = {"Cookie": started.headers["set-cookie"].split(";", 1)[0]}
    callback = second.get(authorized.headers["location"], headers=cookie, follow_redirects=False)
    assert callback.status_code == 302 and callback.headers["location"].endswith(latest)
    replayed = first.get(authorized.headers["location"], headers=cookie, follow_redirects=False)
    assert replayed.status_code == 400


def test_a_client_key_gone_since_start_up_fails_the_launch_not_the_service(
    start_smart_app, smart_ehr, assess, tmp_path
):
    key_file = tmp_path / "smart-key.pem"
    key_file.write_bytes(pem(rsa_key()))
    registration = {"iss": smart_ehr.iss, "client_id": CLIENT_ID, "clinics": ["north"],
                    "private_key_file": str(key_file)}  # fmt: skip
    app = start_smart_app(smart_clients=[registration])
    assess(client_id="p-1")
    key_file.unlink()
    callback = round_trip(app, smart_ehr, launch=smart_ehr.launch(patient="p-1"))
    assert callback.status_code == 502 and _no_session(callback)
    assert not smart_ehr.token_requests  # nothing was sent without the assertion
    assert app.get("/smart/jwks.json").json() == {"keys": []}
