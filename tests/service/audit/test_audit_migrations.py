"""The packaged Alembic migrations: create the schema, are idempotent, match the models."""

from __future__ import annotations

import warnings

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from service.audit import AuditStore, database_revision, head_revision, upgrade_database
from service.audit.engine import create_audit_engine
from service.audit.migrate import downgrade_database
from service.audit.tables import AuditBase

AUDIT_TABLES = {
    "assessments",
    "outcomes",
    "cds_cards",
    "cds_feedback",
    "cds_token_ids",
    "api_tokens",
    "reads",
    "tombstones",
    "smart_launches",
    "alerts",
    "alert_steps",
}


def _tables(url: str) -> set[str]:
    engine = create_audit_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_creates_the_tables_and_is_idempotent(audit_url):
    assert database_revision(audit_url) is None
    upgrade_database(audit_url)
    upgrade_database(audit_url)  # a second run at head changes nothing and does not fail

    assert _tables(audit_url) == AUDIT_TABLES | {"alembic_version"}
    assert database_revision(audit_url) == head_revision()
    engine = create_audit_engine(audit_url)
    try:
        indexes = {ix["name"] for ix in inspect(engine).get_indexes("assessments")}
        checks = {ck["name"] for ck in inspect(engine).get_check_constraints("outcomes")}
    finally:
        engine.dispose()
    assert {
        "ix_assessments_created_at",
        "ix_assessments_client_id_created_at",
        "ix_assessments_model_version_created_at",
    } <= indexes
    assert checks == {"ck_outcomes_termination", "ck_outcomes_end_date_unless_ongoing"}


def test_migrated_schema_matches_the_models(audit_url):
    upgrade_database(audit_url)
    engine = create_audit_engine(audit_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            with warnings.catch_warnings():
                # Expression indexes cannot be reflected (SQLite): that one is tested by
                # test_alert_store's duplicate insert instead.
                warnings.filterwarnings("ignore", message=".*uq_alerts_open_problem")
                differences = compare_metadata(context, AuditBase.metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_downgrade_to_base_then_upgrade_again(audit_url):
    upgrade_database(audit_url)
    downgrade_database(audit_url, revision="base")
    assert _tables(audit_url) & AUDIT_TABLES == set()
    assert database_revision(audit_url) is None

    upgrade_database(audit_url)
    assert _tables(audit_url) >= AUDIT_TABLES


def test_open_migrates_an_empty_database(audit_url, assess):
    with AuditStore.open(audit_url) as store:
        assert database_revision(audit_url) == head_revision()
        assert store.get_assessment(assess(store).assessment_id) is not None
