"""Load without loss, the short CI version of ``bench/load_service.py`` (``make load``: 60 s).

Many concurrent clients against the real server with two workers, on each database: no
error, exactly one audit record for every 200 (each holding what the client was told), an
intact database, and no client id in the server's log.
"""

from __future__ import annotations

import pytest

from tests.support.load import load_run, markdown_table

pytestmark = [pytest.mark.server, pytest.mark.load]

SECONDS = 8.0
CLIENTS = 8
WORKERS = 2


def test_every_200_under_load_has_exactly_one_audit_record(registry, audit_url, backend, tmp_path):
    run = load_run(
        database=backend,
        database_url=audit_url,
        directory=tmp_path,
        tracking_uri=registry.tracking_uri,
        workers=WORKERS,
        clients=CLIENTS,
        seconds=SECONDS,
    )
    print(f"\n{markdown_table([run])}\nready {run.ready_seconds:.1f} s after start")
    load, audit = run.load, run.audit
    assert load.ok > CLIENTS  # every client got answers
    assert load.errors == 0, (load.statuses, load.connect_failures)
    assert load.duplicate_ids == 0
    assert audit.records == load.ok
    assert not audit.missing
    assert not audit.unacknowledged
    assert not audit.mismatched
    assert not audit.inconsistent
    assert run.integrity == "ok"
    assert run.leaks == 0  # client ids (zqload-...) never reach the log
