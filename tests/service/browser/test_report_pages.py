"""The clinician report in a real browser, served by a real server process.

A high-risk and a low-risk synthetic client are scored over HTTP; their report pages are
opened through signed links, as a record-system card would, and checked for the factor
sentences, both charts and a point per attended session; axe-core finds no serious or
critical accessibility violation; expired and tampered links are refused.
"""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest
from selenium.webdriver.common.by import By

from features.history import HistoryBatch
from service.reports.links import LinkSigner, report_subject
from service.schemas import AssessmentRequest
from tests.support.servers import running_server

pytestmark = [pytest.mark.browser, pytest.mark.server]

LINK_SECRET = "browser-test-link-secret-of-32-bytes-or-more"
SEVERE = {"serious", "critical"}


def _requests_of(cohort, count: int) -> list[dict]:
    """Contract-shaped requests of the first ``count`` synthetic clients, cut at session 5."""
    clients, sessions = cohort
    requests = []
    for client in clients.head(count).to_dict("records"):
        rows = sessions[sessions["client_id"] == client["client_id"]].head(5)
        body_sessions = []
        for row in rows.to_dict("records"):
            session = {"session_number": int(row["session_number"]),
                       "session_date": str(row["session_date"])[:10],
                       "attended": bool(row["attended"])}  # fmt: skip
            for measure in ("wai_client", "wai_therapist", "srs", "ors", "oq45", "phq9", "gad7"):
                value = row[measure]
                if value is not None and value == value:  # not NaN / NA
                    session[measure] = float(value)
            body_sessions.append(session)
        if not body_sessions:
            continue
        requests.append({
            "client": {"client_id": client["client_id"], "clinic_id": client["clinic_id"],
                       "therapist_id": client["therapist_id"],
                       "intake_date": str(client["intake_date"])[:10], "age": int(client["age"]),
                       "gender": client["gender"], "primary_concern": client["primary_concern"]},
            "sessions": body_sessions,
        })  # fmt: skip
    return requests


@pytest.fixture(scope="module")
def extremes(cohort, trained):
    """The synthetic clients with the highest and the lowest dropout estimate (of 300)."""
    scored = []
    for body in _requests_of(cohort, 300):
        request = AssessmentRequest.model_validate(body)
        history = HistoryBatch.from_records(
            request.client.model_dump(),
            (s.model_dump() for s in request.sessions),
            as_of_session=min(len(request.sessions), trained.model.max_landmark),
            window=trained.model.max_landmark,
        )
        (result,) = trained.model.assess(history, factors=0)
        scored.append((result.dropout.probability, body))
    scored.sort(key=lambda pair: pair[0])
    return {"high": scored[-1][1], "low": scored[0][1]}


@pytest.fixture(scope="module")
def server(registry, tokens, tmp_path_factory):
    with running_server(
        directory=tmp_path_factory.mktemp("browser-server"),
        tracking_uri=registry.tracking_uri,
        database_url=f"sqlite:///{tmp_path_factory.mktemp('browser-audit') / 'audit.db'}",
        tokens=tokens.entries,
        extra_environment={"DROPOUT_RISK_REPORT_LINK_SECRET": LINK_SECRET},
    ) as running:
        yield running


def _score(server, tokens, body) -> dict:
    answer = server.http.post("/v1/risk-assessments", json=body, headers=tokens.header())
    assert answer.status_code == 200, answer.text
    return answer.json()


def _signed(assessment_id: str, **options) -> str:
    return LinkSigner(LINK_SECRET.encode()).query(report_subject(assessment_id), **options)


@pytest.mark.parametrize("risk", ["high", "low"])
def test_the_report_page_shows_risks_factors_and_charts(
    server, tokens, extremes, browser, axe_source, screenshot, risk
):
    body = extremes[risk]
    assessment = _score(server, tokens, body)
    browser.get(f"{server.base_url}/reports/{assessment['assessment_id']}?"
                f"{_signed(assessment['assessment_id'])}")  # fmt: skip
    page = browser.find_element(By.TAG_NAME, "main").text
    for outcome in ("dropout", "poor_outcome"):
        percent = round(assessment[outcome]["probability"] * 100)
        assert f"{percent}%" in page
        for factor in assessment[outcome]["factors"]:
            assert factor["text"] in page
    level = assessment["dropout"]["risk_level"]
    assert f"{level} risk" in page
    charts = browser.find_elements(By.CSS_SELECTOR, "svg.chart")
    names = {chart.get_attribute("data-chart") for chart in charts}
    assert names & {"chart-phq9", "chart-gad7", "chart-oq45", "chart-ors"}, names
    assert names & {"chart-wai", "chart-srs"}, names
    as_of = assessment["as_of_session"]
    for chart in charts:
        measure = chart.get_attribute("data-chart").removeprefix("chart-")
        if measure == "wai":
            continue  # two series: counted through its measures below
        attended = [s for s in body["sessions"][:as_of] if s["attended"] and measure in s]
        assert len(chart.find_elements(By.CSS_SELECTOR, ".point")) == len(attended), measure
    screenshot()
    browser.execute_script(axe_source)
    violations = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations));"
    )
    severe = [(v["id"], v["impact"], v["help"]) for v in violations if v["impact"] in SEVERE]
    assert severe == []


def test_expired_and_tampered_links_are_refused(server, tokens, extremes, browser, screenshot):
    assessment_id = _score(server, tokens, extremes["low"])["assessment_id"]
    expired = _signed(assessment_id, lifetime_seconds=-10)
    good = parse_qs(_signed(assessment_id))
    tampered = f"expires={good['expires'][0]}&signature={'0' * 64}"
    other = _score(server, tokens, extremes["high"])["assessment_id"]
    for query, target in ((expired, assessment_id), (tampered, assessment_id),
                          (_signed(other), assessment_id)):  # fmt: skip
        url = f"/reports/{target}?{query}"
        assert server.http.get(url).status_code == 403
        browser.get(server.base_url + url)
        assert "cannot be shown" in browser.find_element(By.TAG_NAME, "h1").text
    screenshot()
    assert server.http.get(f"/reports/{assessment_id}").status_code == 401
    with_token = server.http.get(f"/reports/{assessment_id}", headers=tokens.header())
    assert with_token.status_code == 200 and "Early-warning report" in with_token.text
