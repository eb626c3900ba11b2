"""CDS Hooks 2.0 documents: discovery, hook requests (``patient-view``, ``appointment-book``,
``encounter-start``), cards, feedback.

Field names are the specification's (camelCase). Requests allow unknown members (the spec's
``extension`` and later additions); responses omit every optional member without a value,
as the spec requires ("implementers SHALL omit it"): serialise with ``exclude_none``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SecretStr, model_validator

#: A FHIR resource id (FHIR R4 ``id`` datatype).
FHIR_ID = r"^[A-Za-z0-9\-.]{1,64}$"
Indicator = Literal["info", "warning", "critical"]


class _Incoming(BaseModel):
    model_config = ConfigDict(extra="allow")


class _Outgoing(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- discovery ------------------------------------------------------------------------------


class ServiceOut(_Outgoing):
    """One CDS service as discovery lists it."""

    hook: str
    title: str
    description: str
    id: str
    prefetch: dict[str, str]
    usageRequirements: str | None = None


class DiscoveryOut(_Outgoing):
    """The discovery document: every service this server offers."""

    services: list[ServiceOut]


# --- the service call -----------------------------------------------------------------------


class FhirAuthorization(_Incoming):
    """The OAuth 2.0 token the EHR lends us for its FHIR server (never stored or logged)."""

    access_token: SecretStr = Field(min_length=1)
    token_type: Literal["Bearer", "bearer"]
    expires_in: int = Field(ge=0)
    scope: str
    subject: str
    patient: str | None = None


#: The hooks our services answer (service.cds.services).
Hook = Literal["patient-view", "appointment-book", "encounter-start"]


class HookContext(_Incoming):
    """A hook's context: who opened whose record, and for ``appointment-book`` and
    ``encounter-start`` the appointments being booked or the encounter starting."""

    userId: str = Field(min_length=1, max_length=256)
    patientId: str = Field(pattern=FHIR_ID)
    encounterId: str | None = Field(default=None, pattern=FHIR_ID)
    appointments: dict[str, Any] | None = Field(
        default=None, description="appointment-book: a Bundle of the Appointments being booked."
    )


PatientViewContext = HookContext


class HookRequest(_Incoming):
    """A hook call: the context, and the data prefetched or where to fetch it."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "hook": "patient-view",
                    "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
                    "fhirServer": "https://ehr.example.org/fhir",
                    "fhirAuthorization": {
                        "access_token": "opaque-token",
                        "token_type": "Bearer",
                        "expires_in": 300,
                        "scope": "user/Patient.read user/Observation.read",
                        "subject": "dropout-risk",
                    },
                    "context": {"userId": "Practitioner/t-07", "patientId": "c-001"},
                }
            ]
        },
    )

    hook: Hook
    hookInstance: str = Field(min_length=1, max_length=128)
    fhirServer: str | None = Field(default=None, max_length=2048)
    fhirAuthorization: FhirAuthorization | None = None
    context: HookContext
    prefetch: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _authorization_names_its_server(self) -> HookRequest:
        if self.fhirAuthorization is not None and self.fhirServer is None:
            raise ValueError("fhirServer is required when fhirAuthorization is given")
        return self

    @model_validator(mode="after")
    def _context_of_the_hook(self) -> HookRequest:
        if self.hook == "encounter-start" and self.context.encounterId is None:
            raise ValueError("context.encounterId is required by encounter-start")
        if self.hook == "appointment-book":
            appointments = self.context.appointments
            if appointments is None:
                raise ValueError("context.appointments is required by appointment-book")
            if appointments.get("resourceType") != "Bundle":
                raise ValueError("context.appointments must be a FHIR Bundle of Appointments")
        return self


# --- cards ----------------------------------------------------------------------------------


class CodingOut(_Outgoing):
    """A CDS Hooks Coding (the spec's trimmed type)."""

    system: str
    code: str
    display: str | None = None


class SourceOut(_Outgoing):
    """Where a card's guidance comes from."""

    label: str
    url: str | None = None
    topic: CodingOut | None = None


class LinkOut(_Outgoing):
    """A link shown on a card."""

    label: str
    url: str
    type: Literal["absolute", "smart"]


class CardOut(_Outgoing):
    """One card; ``summary`` is always under 140 characters."""

    uuid: str
    summary: str = Field(max_length=139)
    detail: str | None = None
    indicator: Indicator
    source: SourceOut
    overrideReasons: list[CodingOut] | None = None
    links: list[LinkOut] | None = None


class CardsOut(_Outgoing):
    """The answer to a service call; no card means no guidance."""

    cards: list[CardOut]


# --- feedback -------------------------------------------------------------------------------


class ReasonIn(_Incoming):
    """The coded reason a clinician chose (one of the card's ``overrideReasons``)."""

    system: str = Field(min_length=1, max_length=512)
    code: str = Field(min_length=1, max_length=128)
    display: str | None = None


class OverrideReasonIn(_Incoming):
    """Why a clinician overrode a card."""

    reason: ReasonIn | None = None
    userComment: str | None = Field(default=None, max_length=4000)


class FeedbackItemIn(_Incoming):
    """What a clinician did with one card."""

    card: str = Field(min_length=1, max_length=64)
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[dict[str, Any]] | None = None
    overrideReason: OverrideReasonIn | None = None
    outcomeTimestamp: AwareDatetime


class FeedbackIn(_Incoming):
    """A feedback call: one or more items."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "feedback": [
                        {
                            "card": "9368d37b-283f-44a0-93ea-547cebab93ed",
                            "outcome": "overridden",
                            "overrideReason": {
                                "reason": {
                                    "system": "https://dropout-risk.org/fhir/CodeSystem/"
                                    "cds-override-reason",
                                    "code": "already-addressed",
                                },
                                "userComment": "Discussed at the last session.",
                            },
                            "outcomeTimestamp": "2026-06-01T10:00:00Z",
                        }
                    ]
                }
            ]
        },
    )

    feedback: list[FeedbackItemIn] = Field(min_length=1, max_length=100)


class FeedbackStoredOut(_Outgoing):
    """How many feedback items were stored."""

    stored: int
