"""The caseload page in a real browser: a busy clinic, safety first, alerts acted on by
keyboard, axe-core without serious or critical violations.

Two therapists' clients are scored over HTTP; therapist A's caseload is opened through a
signed link naming a practitioner, as a record-system card would open it. Screenshots of
the busy caseload and of a safety alert's checklist go to ``tests/artifacts/`` (the docs'
copies in ``docs/screenshots/`` are taken from there).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.expected_conditions import staleness_of
from selenium.webdriver.support.ui import WebDriverWait

from service.reports.links import LinkSigner, caseload_query
from tests.support.caseload import busy_caseload
from tests.support.servers import running_server

pytestmark = [pytest.mark.browser, pytest.mark.server]

LINK_SECRET = "browser-caseload-link-secret-of-32-bytes-or-more"
PROTOCOL = "Call the duty clinician on extension 100, then follow the clinic's risk protocol."
SEVERE = {"serious", "critical"}
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


@pytest.fixture(scope="module")
def server(registry, tokens, tmp_path_factory):
    with running_server(
        directory=tmp_path_factory.mktemp("caseload-server"),
        tracking_uri=registry.tracking_uri,
        database_url=f"sqlite:///{tmp_path_factory.mktemp('caseload-audit') / 'audit.db'}",
        tokens=tokens.entries,
        extra_environment={
            "DROPOUT_RISK_REPORT_LINK_SECRET": LINK_SECRET,
            "DROPOUT_RISK_SAFETY_PROTOCOL": PROTOCOL,
        },
    ) as running:
        bodies = busy_caseload(per_therapist=12)
        again = ("-00", "-01", "-05", "-07", "-10")
        later = [
            body
            for body in busy_caseload(per_therapist=12, later=1)
            if body["client"]["client_id"].endswith(again)
        ]
        for batch in (bodies, later):
            answer = running.http.post(
                "/v1/risk-assessments/batch", json={"assessments": batch}, headers=tokens.header()
            )
            assert answer.status_code == 200, answer.text
        yield running


def _link(therapist_id: str | None = "t-a") -> str:
    signer = LinkSigner(LINK_SECRET.encode())
    return caseload_query(
        signer, clinic_id="north", therapist_id=therapist_id, practitioner="dr-lee"
    )


def _severe_violations(browser, axe_source) -> list:
    browser.execute_script(axe_source)
    violations = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations));"
    )
    return [(v["id"], v["impact"], v["help"]) for v in violations if v["impact"] in SEVERE]


def test_a_busy_caseload_puts_safety_first(server, browser, axe_source, screenshot):
    browser.get(f"{server.base_url}/caseload?{_link()}")
    rows = browser.find_elements(By.CSS_SELECTOR, "li.client")
    assert len(rows) == 12
    assert "north-t-a-03" in rows[0].text and "Safety first" in rows[0].text
    assert PROTOCOL in rows[0].text  # the operator's words, shown open, first
    assert all("north-t-b" not in row.text for row in rows)
    rising = next(row for row in rows if "north-t-a-05" in row.text)
    assert "since the last assessment" in rising.text  # direction in words, not colour
    assert "Over sessions:" in rising.text and "→" in rising.text
    assert _severe_violations(browser, axe_source) == []
    path = screenshot()
    assert path.exists()


def test_an_alert_is_acknowledged_by_keyboard(server, browser, axe_source, screenshot):
    browser.get(f"{server.base_url}/caseload?{_link()}")
    safety = browser.find_element(By.CSS_SELECTOR, "li.urgency-safety section.alert")
    ARTIFACTS.mkdir(exist_ok=True)
    safety.screenshot(str(ARTIFACTS / "caseload-alert-checklist.png"))
    note = safety.find_element(By.CSS_SELECTOR, "input[name=note]")
    focusable = browser.execute_script(
        "return [...document.querySelectorAll('button, input:not([type=hidden]), a, summary')]"
        ".every(e => e.tabIndex >= 0);"
    )
    assert focusable
    note.send_keys("Rang her; safety plan agreed.", Keys.ENTER)  # Enter submits: Acknowledge
    WebDriverWait(browser, 10).until(staleness_of(note))
    page = browser.find_element(By.TAG_NAME, "body").text
    assert "acknowledged by dr-lee: Rang her; safety plan agreed." in page, page[:300]
    clinic = f"{server.base_url}/caseload?{_link(None)}"
    browser.get(clinic)
    assert "Alerts per therapist" in browser.find_element(By.TAG_NAME, "main").text
    assert _severe_violations(browser, axe_source) == []
    screenshot("-clinic")
