"""CDS Hooks: cards issued, feedback on them, and the replay store of EHR token ids.

Revision ID: 0002
Revises: 0001
Create Date: 2026-06-01

As in 0001, types and names are spelled out rather than imported from ``tables.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the card, feedback and token-id tables with their indexes."""
    op.create_table(
        "cds_cards",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("service_id", sa.String(64), nullable=False),
        sa.Column("assessment_id", sa.String(36), nullable=False),
        sa.Column("iss", sa.String(), nullable=False),
        sa.Column("indicator", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cds_cards")),
        sa.ForeignKeyConstraint(
            ["assessment_id"],
            ["assessments.id"],
            name=op.f("fk_cds_cards_assessment_id_assessments"),
        ),
    )
    op.create_index(op.f("ix_cds_cards_created_at"), "cds_cards", ["created_at"])

    op.create_table(
        "cds_feedback",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("service_id", sa.String(64), nullable=False),
        sa.Column("card_uuid", sa.String(36), nullable=False),
        sa.Column("assessment_id", sa.String(36), nullable=False),
        sa.Column("iss", sa.String(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("outcome_timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("override_system", sa.String(), nullable=True),
        sa.Column("override_code", sa.String(), nullable=True),
        sa.Column("user_comment", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cds_feedback")),
        sa.ForeignKeyConstraint(
            ["card_uuid"], ["cds_cards.id"], name=op.f("fk_cds_feedback_card_uuid_cds_cards")
        ),
        sa.ForeignKeyConstraint(
            ["assessment_id"],
            ["assessments.id"],
            name=op.f("fk_cds_feedback_assessment_id_assessments"),
        ),
        sa.CheckConstraint(
            "outcome IN ('accepted', 'overridden')", name=op.f("ck_cds_feedback_outcome")
        ),
    )
    op.create_index(op.f("ix_cds_feedback_created_at"), "cds_feedback", ["created_at"])
    op.create_index(op.f("ix_cds_feedback_card_uuid"), "cds_feedback", ["card_uuid"])
    op.create_index(
        op.f("ix_cds_feedback_service_id_created_at"),
        "cds_feedback",
        ["service_id", "created_at"],
    )

    op.create_table(
        "cds_token_ids",
        sa.Column("iss", sa.String(), nullable=False),
        sa.Column("jti", sa.String(256), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("iss", "jti", name=op.f("pk_cds_token_ids")),
    )
    op.create_index(op.f("ix_cds_token_ids_expires_at"), "cds_token_ids", ["expires_at"])


def downgrade() -> None:
    """Drop the CDS Hooks tables (feedback first: it refers to the cards)."""
    op.drop_table("cds_token_ids")
    op.drop_table("cds_feedback")
    op.drop_table("cds_cards")
