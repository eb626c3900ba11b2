"""Crash without loss: SIGKILL the server (supervisor and workers) in the middle of load.

Every assessment acknowledged with a 200 before the kill must be in the audit store, the
database must pass an integrity check, and the service must start again on the same data
directory and database and be ready (the time it took is printed).
"""

from __future__ import annotations

import pytest

from service.security import Scope, new_token
from tests.support.load import (
    RISK_PATH,
    BackgroundLoad,
    check_audit,
    encode_requests,
    integrity_check,
    request_bodies,
)
from tests.support.polling import wait_until
from tests.support.servers import start_server
from tests.support.tokens import bearer

pytestmark = [pytest.mark.server, pytest.mark.load]

CLIENTS = 8
ACKNOWLEDGED_BEFORE_KILL = 300


def test_a_sigkill_under_load_loses_no_acknowledged_assessment(
    registry, audit_url, backend, tmp_path, example_request
):
    token, entry = new_token(name="crash", scopes={Scope.RISK_WRITE}, all_clinics=True)
    launch = {
        "directory": tmp_path,
        "tracking_uri": registry.tracking_uri,
        "database_url": audit_url,
        "tokens": [entry],
        "workers": 2,
    }
    server = start_server(**launch)
    try:
        server.wait_until_ready()
        requests = encode_requests(server.port, request_bodies(), token)
        with BackgroundLoad(server.port, requests, clients=CLIENTS) as load:
            wait_until(
                lambda: load.result.ok >= ACKNOWLEDGED_BEFORE_KILL, timeout=120, what="answers"
            )
            server.kill()  # SIGKILL to the process group, mid-load
            # The clients see the connections die; let them try for a moment.
            wait_until(lambda: load.result.connect_failures > 0, timeout=30, what="refusals")
    finally:
        server.stop()
    result = load.result
    # Requests were in flight when the process died: the kill really cut the load.
    assert result.statuses[0] > 0, result.statuses
    assert set(result.statuses) <= {0, 200}, result.statuses

    # The state the crash left, before anything opens the database for writing.
    assert integrity_check(audit_url) == "ok"
    audit = check_audit(audit_url, result.acknowledged)
    assert not audit.missing, f"{len(audit.missing)} acknowledged assessments were lost"
    assert not audit.mismatched
    assert not audit.inconsistent
    # Records committed but whose answer the kill cut off may exist; never the reverse.
    assert audit.records == len(result.acknowledged) + len(audit.unacknowledged)

    restarted = start_server(**launch, log_name="restarted.log")
    try:
        ready_seconds = restarted.wait_until_ready(timeout=120)
        scored = restarted.http.post(RISK_PATH, json=example_request, headers=bearer(token))
        assert scored.status_code == 200, scored.text
    finally:
        restarted.stop()
    print(
        f"\n{backend}: {result.ok} acknowledged before the kill, {result.statuses[0]} cut off, "
        f"{len(audit.unacknowledged)} committed but unacknowledged; after the restart, "
        f"ready in {ready_seconds:.1f} s"
    )
    assert check_audit(audit_url, result.acknowledged).records == audit.records + 1
