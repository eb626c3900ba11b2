"""Personal data: reads are logged and queryable by an admin; erasure leaves no trace of the
client but a tombstone and the read log's entries under the tombstone's id; retention
purges with the same tombstones."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from typer.testing import CliRunner

from cli.main import app as cli
from service.audit import AuditStore, NewFeedback
from service.audit.tables import AuditBase
from service.security import Scope

CLIENT, OTHER_CLIENT = "c-erase-me", "c-stays"


def _assess(api, tokens, example_request, client_id: str) -> str:
    body = copy.deepcopy(example_request)
    body["client"]["client_id"] = client_id
    answer = api.post("/v1/risk-assessments", json=body, headers=tokens.header())
    assert answer.status_code == 200, answer.text
    return answer.json()["assessment_id"]


def _every_row_as_text(store: AuditStore) -> dict[str, str]:
    """Each audit table's rows, as one text per table (to search for an identifier)."""
    texts = {}
    with store._database.reading("dump") as session:  # noqa: SLF001 - a test's look inside
        for table in AuditBase.metadata.sorted_tables:
            rows = session.execute(select(table)).all()
            texts[table.name] = repr([tuple(row) for row in rows])
    return texts


def test_erase_leaves_only_a_tombstone_and_the_re_keyed_read_log(
    audited_api, audit_url, tokens, example_request, tmp_path
):
    api = audited_api
    first = _assess(api, tokens, example_request, CLIENT)
    _assess(api, tokens, example_request, CLIENT)
    kept = _assess(api, tokens, example_request, OTHER_CLIENT)
    outcome = {"client_id": CLIENT, "clinic_id": "north", "termination": "ongoing"}
    assert api.post("/v1/outcomes", json=outcome, headers=tokens.header()).status_code == 201
    read = api.get(f"/v1/risk-assessments/{first}", headers=tokens.header(Scope.AUDIT_READ))
    assert read.status_code == 200
    assert api.get(f"/reports/{first}", headers=tokens.header(Scope.AUDIT_READ)).status_code == 200
    with AuditStore.open(audit_url) as store:
        card = str(uuid.uuid4())
        store.cards.record_card(card_uuid=card, assessment_id=first, service_id="s",
                                iss="ehr", indicator="info", clinic_id="north")  # fmt: skip
        store.cards.record_feedback(
            service_id="s",
            iss="ehr",
            feedback=[NewFeedback(card, "overridden", datetime.now(UTC), user_comment="x")],
        )

    reads = api.get(
        "/v1/audit/reads", params={"client_id": CLIENT}, headers=tokens.header(Scope.ADMIN)
    )
    assert reads.status_code == 200
    assert [(r["caller"], r["what"]) for r in reads.json()["reads"]] == [
        ("audit-read", "assessment"),
        ("audit-read", "report"),
    ]

    runner = CliRunner()
    erased = runner.invoke(
        cli,
        ["erase", "--client", CLIENT, "--clinic", "north", "--reason", "client's request",
         "--database-url", audit_url],
    )  # fmt: skip
    assert erased.exit_code == 0, erased.output
    tombstone = erased.stdout.split("tombstone ")[1].split()[0]

    with AuditStore.open(audit_url) as store:
        texts = _every_row_as_text(store)
        assert [name for name, text in texts.items() if CLIENT in text] == []
        assert kept in texts["assessments"]  # another client's records stay
        assert tombstone in texts["tombstones"] and "client's request" in texts["tombstones"]
        rekeyed = list(store.reads.entries(client_key=tombstone))
        assert [entry.what for entry in rekeyed] == ["assessment", "report"]

    again = runner.invoke(
        cli,
        ["erase", "--client", CLIENT, "--clinic", "north", "--reason", "twice",
         "--database-url", audit_url],
    )  # fmt: skip
    assert again.exit_code == 1 and "no record" in again.output

    out = tmp_path / "export"
    exported = runner.invoke(
        cli, ["export", "--out", str(out), "--database-url", audit_url, "--clinic", "north"]
    )
    assert exported.exit_code == 0, exported.output
    assert CLIENT not in (out / "clients.csv").read_text()
    assert CLIENT not in (out / "export-report.json").read_text()


def test_retention_purges_old_clients_with_tombstones(api, tokens, example_request, tmp_path):
    _assess(api, tokens, example_request, CLIENT)
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    with AuditStore.open(url) as store:
        assert store.eraser.purge_older_than(datetime.now(UTC) - timedelta(days=1)) == []
        (stone,) = store.eraser.purge_older_than(datetime.now(UTC) + timedelta(seconds=1))
        assert stone.reason == "retention"
        assert CLIENT not in repr(_every_row_as_text(store))


def test_a_clinic_token_sees_only_its_clinics_reads(api, tokens):
    answer = api.get("/v1/audit/reads", headers=tokens.header(Scope.AUDIT_READ))
    assert answer.status_code == 403


def test_error_bodies_never_carry_driver_or_registry_messages(api, tokens, monkeypatch):
    import dataclasses

    from sqlalchemy import create_engine

    from service.lifecycle import RegistryUnavailableError
    from service.watcher import MonitoringWatcher

    runtime = api.app.state.runtime
    unreachable = AuditStore(
        engine=create_engine(
            "postgresql+psycopg://postgres@127.0.0.1:1/none", connect_args={"connect_timeout": 2}
        )
    )
    watcher = MonitoringWatcher(
        settings=runtime.settings,
        audit=unreachable,
        keeper=runtime.keeper,
        metrics=runtime.metrics,
    )
    api.app.state.runtime = dataclasses.replace(runtime, audit=unreachable, monitoring=watcher)
    try:
        answer = api.get("/v1/monitoring", headers=tokens.header(Scope.AUDIT_READ))
        assert (answer.status_code, answer.json()["code"]) == (503, "audit_unavailable")
        assert "127.0.0.1" not in answer.text and "Error" not in answer.text
    finally:
        api.app.state.runtime = runtime

    def _broken() -> None:
        raise RegistryUnavailableError("OperationalError: sqlite:////srv/secret/mlflow.db")

    monkeypatch.setattr(runtime.keeper, "refresh", _broken)
    answer = api.post("/v1/models/reload", headers=tokens.header(Scope.ADMIN))
    assert answer.status_code == 503
    assert "secret" not in answer.text and "OperationalError" not in answer.text
