"""Request and response models of risk assessments (shared/spec/api.md).

The request carries the data contract's client row and sessions; the contract's rules are
checked here with pydantic (per request: no pandas, no pandera), with every range and
category taken from the same places the pandera models use (:mod:`features.instruments`,
:mod:`features.schemas`), so the two cannot drift apart.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from features.instruments import (
    INSTRUMENTS,
    SELF_HARM_ITEM,
    SELF_HARM_ITEM_OF,
    SELF_HARM_ITEM_RANGE,
    SESSION_SCORE_COLUMNS,
)
from features.vocabulary import GENDERS, PRIMARY_CONCERNS, RISK_LEVELS
from service.schemas._problems import problem, raise_problems
from service.schemas._strict import JsonBoolean, JsonNumber, PlausibleDate

Gender = Literal[GENDERS]
Concern = Literal[PRIMARY_CONCERNS]
RiskLevel = Literal[RISK_LEVELS]
#: Appointments per request; far beyond any episode, small enough to bound the work.
MAX_SESSIONS = 200
#: Appointments of one client on one date (data contract, revision 2): a double session at
#: most; more is a duplicated or mistyped record.
MAX_SESSIONS_PER_DATE = 2


def _score(measure: str, kind: type) -> object:
    instrument = INSTRUMENTS[measure]
    return Annotated[
        Annotated[kind, JsonNumber] | None,
        Field(
            default=None,
            ge=instrument.low,
            le=instrument.high,
            description=f"{instrument.label}, {instrument.low:g} to {instrument.high:g}",
            allow_inf_nan=False,
        ),
    ]


class ClientIn(BaseModel):
    """The client row of the data contract (termination and end date are not known yet)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    client_id: str = Field(min_length=1, max_length=128)
    clinic_id: str = Field(min_length=1, max_length=128)
    therapist_id: str = Field(min_length=1, max_length=128)
    intake_date: PlausibleDate
    age: Annotated[int, JsonNumber] = Field(ge=16, le=100)
    gender: Gender
    primary_concern: Concern
    prior_treatment: Annotated[bool, JsonBoolean] | None = None


class SessionIn(BaseModel):
    """One scheduled appointment, attended or not."""

    model_config = ConfigDict(extra="forbid")

    session_number: Annotated[int, JsonNumber] = Field(ge=1, le=MAX_SESSIONS)
    session_date: PlausibleDate
    attended: Annotated[bool, JsonBoolean]
    wai_client: _score("wai_client", float)  # type: ignore[valid-type]
    wai_therapist: _score("wai_therapist", float)  # type: ignore[valid-type]
    srs: _score("srs", float)  # type: ignore[valid-type]
    ors: _score("ors", float)  # type: ignore[valid-type]
    oq45: _score("oq45", int)  # type: ignore[valid-type]
    phq9: _score("phq9", int)  # type: ignore[valid-type]
    gad7: _score("gad7", int)  # type: ignore[valid-type]
    phq9_item9: Annotated[int, JsonNumber] | None = Field(
        default=None,
        ge=SELF_HARM_ITEM_RANGE[0],
        le=SELF_HARM_ITEM_RANGE[1],
        description="PHQ-9 item 9 (thoughts that you would be better off dead, or of hurting "
        "yourself), 0 to 3; not above phq9. Feeds the self-harm safety signal.",
    )

    @model_validator(mode="after")
    def _item_within_its_total(self) -> SessionIn:
        total = getattr(self, SELF_HARM_ITEM_OF)
        if self.phq9_item9 is not None and total is not None and self.phq9_item9 > total:
            raise_problems(
                type(self).__name__,
                [
                    problem(
                        (SELF_HARM_ITEM,),
                        "item_above_total",
                        "phq9_item9 must not be above the PHQ-9 total (phq9)",
                        self.phq9_item9,
                    )
                ],
            )
        return self

    @model_validator(mode="after")
    def _missed_session_has_no_measures(self) -> SessionIn:
        if not self.attended:
            recorded = [m for m in SESSION_SCORE_COLUMNS if getattr(self, m) is not None]
            if recorded:
                raise_problems(
                    type(self).__name__,
                    [
                        problem(
                            (measure,),
                            "measure_on_missed_session",
                            "attended is false (a missed session), so this must be empty",
                            getattr(self, measure),
                        )
                        for measure in recorded
                    ],
                )
        return self


class AssessmentRequest(BaseModel):
    """A client and its sessions so far, as the data contract defines them."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "client": {
                        "client_id": "c-001",
                        "clinic_id": "north",
                        "therapist_id": "t-07",
                        "intake_date": "2026-03-02",
                        "age": 34,
                        "gender": "female",
                        "primary_concern": "depression",
                        "prior_treatment": False,
                    },
                    "sessions": [
                        {
                            "session_number": 1,
                            "session_date": "2026-03-02",
                            "attended": True,
                            "wai_client": 3.4,
                            "wai_therapist": 3.9,
                            "srs": 33,
                            "phq9": 18,
                            "gad7": 12,
                        },
                        {"session_number": 2, "session_date": "2026-03-09", "attended": False},
                    ],
                }
            ]
        },
    )

    client: ClientIn
    sessions: list[SessionIn] = Field(min_length=1, max_length=MAX_SESSIONS)

    @model_validator(mode="after")
    def _sessions_follow_the_contract(self) -> AssessmentRequest:
        problems = []
        previous = self.client.intake_date
        on_date: dict[date, int] = {}
        for index, session in enumerate(self.sessions):
            if session.session_number != index + 1:
                problems.append(
                    problem(
                        ("sessions", index, "session_number"),
                        "session_order",
                        "session_number must run 1, 2, 3, ... in order, with no gaps or "
                        f"repeats: expected {index + 1} here",
                        session.session_number,
                    )
                )
            if session.session_date < self.client.intake_date:
                problems.append(
                    problem(
                        ("sessions", index, "session_date"),
                        "session_before_intake",
                        "session_date is before the client's intake_date",
                        session.session_date.isoformat(),
                    )
                )
            elif session.session_date < previous:
                problems.append(
                    problem(
                        ("sessions", index, "session_date"),
                        "session_date_order",
                        "session_date is before the previous session's date",
                        session.session_date.isoformat(),
                    )
                )
            previous = max(previous, session.session_date)
            # Counted as the sessions are read: one pass, whatever the number of sessions.
            on_date[session.session_date] = on_date.get(session.session_date, 0) + 1
            if on_date[session.session_date] == MAX_SESSIONS_PER_DATE + 1:
                problems.append(
                    problem(
                        ("sessions", index, "session_date"),
                        "too_many_on_one_date",
                        f"more than {MAX_SESSIONS_PER_DATE} appointments on "
                        f"{session.session_date.isoformat()}",
                        session.session_date.isoformat(),
                    )
                )
        raise_problems(type(self).__name__, problems)
        return self


#: A non-finite number is refused when an answer is built: JSON cannot carry it, and the
#: answer's own JSON is what is sent and stored (pydantic would write it as null).
_FINITE = ConfigDict(allow_inf_nan=False)


class FactorOut(BaseModel):
    """One contribution to a client's estimate, in the clinician's words."""

    model_config = _FINITE

    feature: str = Field(description="Clinical concept, e.g. client_alliance, attendance.")
    label: str = Field(description="What was seen, in a few words.")
    value: str = Field(description="The values behind it.")
    effect: float = Field(description="Signed contribution on the probability scale.")
    direction: Literal["raises", "lowers"]
    text: str = Field(description="One sentence a clinician can act on.")


class ExplanationOut(BaseModel):
    """The whole explanation of one estimate: it sums exactly to the probability."""

    model_config = _FINITE

    base_probability: float = Field(
        description="The model's estimate before this client's data (its bias)."
    )
    concepts: dict[str, float] = Field(
        description="Every clinical concept's contribution, probability scale (signed)."
    )
    data_gaps: float = Field(
        description="The contribution of the measures never recorded (see data_gaps): part "
        "of the sum, never listed as a clinical factor."
    )


class OutcomeRiskOut(BaseModel):
    """One outcome's calibrated estimate."""

    model_config = _FINITE

    probability: float = Field(ge=0, le=1, description="Calibrated: 0.3 = about 3 in 10.")
    probability_interval: tuple[float, float] = Field(
        description="The range the model can honestly claim for this client (inductive "
        "Venn-Abers: one end is a calibrated probability when the client is like the "
        "calibration clients); it contains `probability`."
    )
    risk_level: RiskLevel
    outcome: str = Field(
        description="The outcome in the clinician's words for this client: dropout; no "
        "reliable recovery; or, for a client whose first scores were below the clinical "
        "range, reliable deterioration (data contract, labels revision 2)."
    )
    risk_level_meaning: str | None = Field(
        default=None,
        description="What this risk level has meant on the model's held-out clients.",
    )
    base_rate: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Share of the model's training clients with this outcome: the average.",
    )
    factors: list[FactorOut]
    explanation: ExplanationOut


class SignalOut(BaseModel):
    """A rule-based clinical flag reported beside the score."""

    code: str
    text: str


class ModelOut(BaseModel):
    """The model version that made an assessment."""

    name: str
    version: str
    trained_at: str | None = None


class AssessmentResponse(BaseModel):
    """Both risks, their factors and the clinical signals for one client."""

    assessment_id: str
    client_id: str
    as_of_session: int
    model: ModelOut
    dropout: OutcomeRiskOut
    poor_outcome: OutcomeRiskOut
    signals: list[SignalOut] = Field(description="Rule-based clinical signals, safety first.")
    data_gaps: list[str] = Field(
        description="What has not been recorded so far (measures, previous treatment): its "
        "contribution is in each outcome's explanation, never among the factors."
    )
    warnings: list[str]
