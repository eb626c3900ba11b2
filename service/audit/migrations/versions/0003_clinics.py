"""Clinics: every stored row names its clinic and its caller; tokens, reads and tombstones.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06

Existing rows take their clinic from what was stored: an assessment from its request's
``client.clinic_id``; an outcome, a card or a feedback item from the client's or the card's
assessment (``unknown`` when there is none, which no token's clinics include, so such a row
is seen only by an operator). Their caller, never recorded before, becomes ``unknown``.
As in 0001, types and names are spelled out rather than imported from ``tables.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DOCUMENT = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    """Add clinic and caller columns (filled from the stored records), then the new tables."""
    postgres = op.get_bind().dialect.name == "postgresql"
    # NOT NULL with a default, which SQLite needs to add such a column (it cannot alter one
    # later); the values are filled in below, and PostgreSQL drops the default afterwards.
    for table in ("assessments", "outcomes", "cds_cards", "cds_feedback"):
        op.add_column(
            table,
            sa.Column("clinic_id", sa.String(128), nullable=False, server_default="unknown"),
        )
    for table in ("assessments", "cds_cards"):
        op.add_column(
            table, sa.Column("caller", sa.String(), nullable=False, server_default="unknown")
        )

    request_clinic = (
        "request->'client'->>'clinic_id'"
        if postgres
        else "json_extract(request, '$.client.clinic_id')"
    )
    op.execute(f"UPDATE assessments SET clinic_id = COALESCE({request_clinic}, 'unknown')")
    op.execute(
        "UPDATE outcomes SET clinic_id = COALESCE((SELECT a.clinic_id FROM assessments a"
        " WHERE a.client_id = outcomes.client_id ORDER BY a.created_at DESC LIMIT 1),"
        " 'unknown')"
    )
    for table in ("cds_cards", "cds_feedback"):
        op.execute(
            f"UPDATE {table} SET clinic_id = COALESCE((SELECT a.clinic_id FROM assessments a"
            f" WHERE a.id = {table}.assessment_id), 'unknown')"
        )
    op.execute("UPDATE assessments SET caller = 'unknown'")
    op.execute("UPDATE cds_cards SET caller = iss")

    if postgres:
        # The store, the only writer, always names both; a default would hide a bug there.
        for table in ("assessments", "outcomes", "cds_cards", "cds_feedback"):
            op.alter_column(table, "clinic_id", server_default=None)
        for table in ("assessments", "cds_cards"):
            op.alter_column(table, "caller", server_default=None)
    op.create_index(
        op.f("ix_assessments_clinic_id_client_id"), "assessments", ["clinic_id", "client_id"]
    )
    op.create_index(
        op.f("ix_outcomes_clinic_id_client_id"), "outcomes", ["clinic_id", "client_id"]
    )

    op.create_table(
        "api_tokens",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("scopes", _DOCUMENT, nullable=False),
        sa.Column("clinics", _DOCUMENT, nullable=False),
        sa.Column("all_clinics", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("sha256", name=op.f("uq_api_tokens_sha256")),
    )
    op.create_table(
        "reads",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("caller", sa.String(), nullable=False),
        sa.Column("what", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=True),
        sa.Column("clinic_id", sa.String(128), nullable=True),
        sa.Column("client_key", sa.String(128), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reads")),
    )
    op.create_index(op.f("ix_reads_read_at"), "reads", ["read_at"])
    op.create_index(op.f("ix_reads_clinic_id_client_key"), "reads", ["clinic_id", "client_key"])
    op.create_table(
        "tombstones",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("clinic_id", sa.String(128), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("erased_by", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("rows_removed", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tombstones")),
    )
    op.create_index(op.f("ix_tombstones_erased_at"), "tombstones", ["erased_at"])


def downgrade() -> None:
    """Drop the new tables and columns (clinic and caller are lost)."""
    op.drop_table("tombstones")
    op.drop_table("reads")
    op.drop_table("api_tokens")
    op.drop_index(op.f("ix_outcomes_clinic_id_client_id"), "outcomes")
    op.drop_index(op.f("ix_assessments_clinic_id_client_id"), "assessments")
    for table in ("assessments", "outcomes", "cds_cards", "cds_feedback"):
        op.drop_column(table, "clinic_id")
    for table in ("assessments", "cds_cards"):
        op.drop_column(table, "caller")
