"""SMART App Launch: the launches under way (state, issuer, PKCE verifier), single use.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06

As in 0001, types and names are spelled out rather than imported from ``tables.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the table of launches under way."""
    op.create_table(
        "smart_launches",
        sa.Column("state", sa.String(64), nullable=False),
        sa.Column("iss", sa.String(), nullable=False),
        sa.Column("code_verifier", sa.String(128), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("state", name=op.f("pk_smart_launches")),
    )
    op.create_index(op.f("ix_smart_launches_expires_at"), "smart_launches", ["expires_at"])


def downgrade() -> None:
    """Drop it (launches under way are lost)."""
    op.drop_table("smart_launches")
