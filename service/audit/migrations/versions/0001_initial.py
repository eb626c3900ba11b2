"""Assessments and outcomes.

Revision ID: 0001
Revises:
Create Date: 2026-05-01

Types and constraints are spelled out here rather than imported from ``tables.py``: a
migration must keep meaning what it meant when it first ran. Names are final (``op.f``), not
run through the naming convention again.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _document() -> sa.types.TypeEngine:
    """A JSON column, JSONB on PostgreSQL."""
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    """Create both tables and the indexes that client, window and version queries use."""
    op.create_table(
        "assessments",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("client_id", sa.String(), nullable=False),
        sa.Column("as_of_session", sa.Integer(), nullable=False),
        sa.Column("model_name", sa.String(), nullable=False),
        sa.Column("model_version", sa.String(), nullable=False),
        sa.Column("input_sha256", sa.String(64), nullable=False),
        sa.Column("request", _document(), nullable=False),
        sa.Column("response", _document(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessments")),
    )
    op.create_index(op.f("ix_assessments_created_at"), "assessments", ["created_at"])
    op.create_index(
        op.f("ix_assessments_client_id_created_at"), "assessments", ["client_id", "created_at"]
    )
    op.create_index(
        op.f("ix_assessments_model_version_created_at"),
        "assessments",
        ["model_version", "created_at"],
    )

    op.create_table(
        "outcomes",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("client_id", sa.String(), nullable=False),
        sa.Column("termination", sa.String(16), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("reported_by", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outcomes")),
        sa.CheckConstraint(
            "termination IN ('completed', 'dropout', 'referred', 'ongoing')",
            name=op.f("ck_outcomes_termination"),
        ),
        sa.CheckConstraint(
            "(termination = 'ongoing' AND end_date IS NULL)"
            " OR (termination <> 'ongoing' AND end_date IS NOT NULL)",
            name=op.f("ck_outcomes_end_date_unless_ongoing"),
        ),
    )
    op.create_index(op.f("ix_outcomes_created_at"), "outcomes", ["created_at"])
    op.create_index(
        op.f("ix_outcomes_client_id_created_at"), "outcomes", ["client_id", "created_at"]
    )


def downgrade() -> None:
    """Drop both tables (and with them every audit record)."""
    op.drop_table("outcomes")
    op.drop_table("assessments")
