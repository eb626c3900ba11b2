"""Alerts: what a clinician is asked to respond to, and each step someone took on one.

Revision ID: 0005
Revises: 0004 (SMART launches)
Create Date: 2026-12-06

An alert is raised when an assessment is recorded (a safety signal, high risk, an alliance
rupture, reliable deterioration, two missed appointments in a row) and moves on from
``open`` to ``acknowledged`` and ``resolved``, or to ``dismissed`` with a reason. Each step
is a row of ``alert_steps`` (who, when, note), so the alert's history is kept, not only its
state. As in 0001, types and names are spelled out rather than imported from ``tables.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KINDS = (
    "safety",
    "high_risk",
    "alliance_rupture",
    "reliable_deterioration",
    "missed_appointments",
)
_STATES = ("open", "acknowledged", "resolved", "dismissed")


def _one_of(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def upgrade() -> None:
    """Create the alerts and their steps."""
    op.create_table(
        "alerts",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("clinic_id", sa.String(128), nullable=False),
        sa.Column("client_id", sa.String(), nullable=False),
        sa.Column("therapist_id", sa.String(128), nullable=False),
        sa.Column("assessment_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("acted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acted_by", sa.String(), nullable=True),
        sa.Column("note", sa.String(), nullable=True),
        sa.CheckConstraint(_one_of("kind", _KINDS), name=op.f("ck_alerts_kind")),
        sa.CheckConstraint(_one_of("state", _STATES), name=op.f("ck_alerts_state")),
        sa.ForeignKeyConstraint(
            ["assessment_id"], ["assessments.id"], name=op.f("fk_alerts_assessment_id_assessments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    op.create_index(op.f("ix_alerts_raised_at"), "alerts", ["raised_at"])
    op.create_index(op.f("ix_alerts_clinic_id_client_id"), "alerts", ["clinic_id", "client_id"])
    op.create_index(op.f("ix_alerts_clinic_id_state"), "alerts", ["clinic_id", "state"])
    # One open alert per problem, kept by the database too: replicas raising at once for
    # the same client cannot both insert (the store then skips the second). Open only: a
    # safety alert is raised again while the last one is acknowledged (records.py).
    is_open = sa.text("state = 'open'")
    op.create_index(
        "uq_alerts_open_problem",
        "alerts",
        ["clinic_id", "client_id", "kind", sa.text("coalesce(outcome, '')")],
        unique=True,
        sqlite_where=is_open,
        postgresql_where=is_open,
    )
    op.create_table(
        "alert_steps",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("alert_id", sa.String(36), nullable=False),
        sa.Column("clinic_id", sa.String(128), nullable=False),
        sa.Column("step", sa.String(16), nullable=False),
        sa.Column("acted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acted_by", sa.String(), nullable=False),
        sa.Column("note", sa.String(), nullable=True),
        sa.CheckConstraint(_one_of("step", _STATES[1:]), name=op.f("ck_alert_steps_step")),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name=op.f("fk_alert_steps_alert_id_alerts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_steps")),
    )
    op.create_index(op.f("ix_alert_steps_alert_id"), "alert_steps", ["alert_id"])


def downgrade() -> None:
    """Drop the alerts and their steps."""
    op.drop_table("alert_steps")
    op.drop_table("alerts")
