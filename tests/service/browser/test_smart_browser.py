"""A SMART launch in a real browser: Chromium opens ``/smart/launch`` of a real server
process, goes through the test authorization server on another site (``localhost`` beside
the service's ``127.0.0.1``) and lands on the patient's report; the session cookie, sent
by the browser itself through the cross-site redirects (``SameSite=Lax``), opens it again,
and no script can read it (``HttpOnly``)."""

from __future__ import annotations

import copy
import json
from urllib.parse import urlencode

import pytest
from selenium.webdriver.common.by import By

from tests.support.servers import running_server
from tests.support.smart_ehr import CLIENT_ID, SmartEhr, serve_smart_ehr

pytestmark = [pytest.mark.browser, pytest.mark.server]


def test_a_launch_in_a_browser_opens_the_report(
    registry, tokens, tmp_path, example_request, browser, screenshot
):
    with serve_smart_ehr(SmartEhr()) as ehr:
        ehr.base_url = ehr.base_url.replace("127.0.0.1", "localhost")  # another site
        clients = [{"iss": ehr.iss, "client_id": CLIENT_ID, "clinics": ["north"]}]
        with running_server(
            directory=tmp_path,
            tracking_uri=registry.tracking_uri,
            database_url=f"sqlite:///{tmp_path / 'audit.db'}",
            tokens=tokens.entries,
            extra_environment={
                "DROPOUT_RISK_SMART_CLIENTS": json.dumps(clients),
                "DROPOUT_RISK_ALLOW_PRIVATE_ADDRESSES": "true",  # the EHR is on loopback
            },
        ) as server:
            body = copy.deepcopy(example_request)
            body["client"]["client_id"] = "p-browser"
            answer = server.http.post("/v1/risk-assessments", json=body, headers=tokens.header())
            assessment_id = answer.json()["assessment_id"]

            browser.delete_all_cookies()
            query = urlencode({"iss": ehr.iss, "launch": ehr.launch(patient="p-browser")})
            browser.get(f"{server.base_url}/smart/launch?{query}")
            assert browser.current_url == f"{server.base_url}/reports/{assessment_id}"
            assert "Estimated risks" in browser.find_element(By.TAG_NAME, "main").text
            screenshot()
            assert "dropout-risk" not in browser.execute_script("return document.cookie")
            browser.get(f"{server.base_url}/reports/{assessment_id}")  # the cookie alone
            assert "Estimated risks" in browser.find_element(By.TAG_NAME, "main").text
            assert len(ehr.token_requests) == 1
