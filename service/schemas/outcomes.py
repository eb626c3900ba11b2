"""Outcome reports: how an episode ended, from the record system."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from features.vocabulary import TERMINATIONS
from service.schemas._problems import problem, raise_problems
from service.schemas._strict import PlausibleDate

Termination = Literal[TERMINATIONS]


class OutcomeReport(BaseModel):
    """How a client's episode ended (data contract: termination and end_date)."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "client_id": "c-001",
                    "clinic_id": "north",
                    "termination": "dropout",
                    "end_date": "2026-03-23",
                }
            ]
        },
    )

    client_id: str = Field(min_length=1, max_length=128)
    clinic_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="The clinic of the episode (api.md revision 2); may be left out when the "
        "token belongs to exactly one clinic.",
    )
    termination: Termination
    end_date: PlausibleDate | None = Field(
        default=None, description="Last day of the episode; must be empty exactly when ongoing."
    )

    @model_validator(mode="after")
    def _end_date_matches_termination(self) -> OutcomeReport:
        if self.termination == "ongoing" and self.end_date is not None:
            message = "end_date must be empty while the episode is ongoing"
        elif self.termination != "ongoing" and self.end_date is None:
            message = f"end_date is required when termination is {self.termination!r}"
        else:
            return self
        raise_problems(
            type(self).__name__,
            [problem(("end_date",), "end_date_termination", message, self.end_date)],
        )
        return self


class OutcomeRecorded(BaseModel):
    """The stored report."""

    outcome_id: str
    recorded_at: datetime
    client_id: str
    clinic_id: str
    termination: Termination
    end_date: date | None
