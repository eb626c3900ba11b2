"""Build FHIR Bundles (and the equivalent JSON API body) from contract rows, for the tests.

A record system's export is imitated with some variety: missed sessions as cancelled
Encounters or as no-show Appointments, integer totals as ``valueInteger`` or
``valueQuantity``, Observations linked by Encounter or only by date, and entries in any order.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, Literal

import pandas as pd

from features.instruments import INSTRUMENTS, SELF_HARM_ITEM, SESSION_SCORE_COLUMNS
from features.schemas import CLIENT_COLUMNS
from service.fhir.codes import (
    MEASURE_BY_COLUMN,
    PRIMARY_CONCERN_URL,
    PRIOR_TREATMENT_URL,
    UCUM,
)
from service.fhir.examples import AMBULATORY

#: The client row's columns known before the episode ends (what a request carries).
CLIENT_FIELDS = tuple(c for c in CLIENT_COLUMNS if c not in ("termination", "end_date"))
_FHIR_GENDER = {"female": "female", "male": "male", "nonbinary": "other", "unknown": "unknown"}

Row = dict[str, Any]


def _plain(value: Any) -> Any:
    """A pandas cell as plain JSON-able Python (dates as ISO text, missing as None)."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp | date):
        return value.date().isoformat() if isinstance(value, pd.Timestamp) else value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def cohort_cases(clients: pd.DataFrame, sessions: pd.DataFrame) -> list[tuple[Row, list[Row]]]:
    """Each client row with all its sessions, as plain dicts in session order."""
    by_client = {
        client_id: group.sort_values("session_number")
        for client_id, group in sessions.groupby("client_id", sort=False)
    }
    cases = []
    for _, client in clients.iterrows():
        rows = by_client[client["client_id"]]
        cases.append(
            (
                {f: _plain(client[f]) for f in CLIENT_FIELDS},
                [
                    {c: _plain(row[c]) for c in rows.columns if c != "client_id"}
                    for _, row in rows.iterrows()
                ],
            )
        )
    return cases


def json_request(client: Row, sessions: Sequence[Row]) -> dict[str, Any]:
    """The JSON API body of a client and its sessions (missing measures left out)."""
    return {
        "client": dict(client),
        "sessions": [
            {k: v for k, v in session.items() if k not in SESSION_SCORE_COLUMNS or v is not None}
            for session in sessions
        ],
    }


def client_bundle(
    client: Row,
    sessions: Sequence[Row],
    *,
    link: Literal["encounter", "date"] = "encounter",
    missed_as: Literal["encounter", "appointment", "alternate"] = "alternate",
    bundle_type: Literal["collection", "searchset"] = "collection",
    shuffle_seed: int | None = None,
) -> dict[str, Any]:
    """A Bundle of one client: Patient, a resource per session, an Observation per score."""
    client_id = client["client_id"]
    patient_ref = f"Patient/{client_id}"
    intake = date.fromisoformat(client["intake_date"])
    extension = [{"url": PRIMARY_CONCERN_URL, "valueCode": client["primary_concern"]}]
    if client["prior_treatment"] is not None:
        extension.append({"url": PRIOR_TREATMENT_URL, "valueBoolean": client["prior_treatment"]})
    resources: list[dict[str, Any]] = [
        {
            "resourceType": "Patient",
            "id": client_id,
            "extension": extension,
            "gender": _FHIR_GENDER[client["gender"]],
            # Born on 1 January: the age at intake is exactly the contract's age.
            "birthDate": date(intake.year - client["age"], 1, 1).isoformat(),
        }
    ]
    for session in sessions:
        number, day = session["session_number"], session["session_date"]
        start = f"{day}T{9 + number % 8:02d}:00:00+01:00"
        as_appointment = missed_as == "appointment" or (missed_as == "alternate" and number % 2)
        if not session["attended"] and as_appointment:
            resources.append(_no_show(client_id, number, start))
            continue
        encounter_id = f"{client_id}-s{number}"
        resources.append(
            {
                "resourceType": "Encounter",
                "id": encounter_id,
                "status": "finished" if session["attended"] else "cancelled",
                "class": AMBULATORY,
                "subject": {"reference": patient_ref},
                "participant": [
                    {"individual": {"reference": f"Practitioner/{client['therapist_id']}"}}
                ],
                "period": {"start": start},
                "serviceProvider": {"reference": f"Organization/{client['clinic_id']}"},
            }
        )
        for column in SESSION_SCORE_COLUMNS:
            value = session.get(column)
            if value is None:
                continue
            resources.append(
                observation(
                    f"{encounter_id}-{column.replace('_', '-')}",
                    column,
                    value,
                    subject=patient_ref,
                    encounter=f"Encounter/{encounter_id}" if link == "encounter" else None,
                    effective=start,
                    as_integer=column == SELF_HARM_ITEM
                    or (INSTRUMENTS[column].integer and number % 2 == 0),
                )
            )
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(resources)
    entries = [
        {"fullUrl": f"https://ehr.example.org/fhir/{r['resourceType']}/{r['id']}", "resource": r}
        for r in resources
    ]
    if bundle_type == "searchset":
        for entry in entries:
            entry["search"] = {"mode": "match"}
        return {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(entries),
            "entry": entries,
        }
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def observation(
    resource_id: str,
    column: str,
    value: float,
    *,
    subject: str,
    encounter: str | None,
    effective: str,
    as_integer: bool = False,
) -> dict[str, Any]:
    """An Observation of one questionnaire total."""
    measure = MEASURE_BY_COLUMN[column]
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": resource_id,
        "status": "final",
        "code": {"coding": [{"system": measure.system, "code": measure.code}]},
        "subject": {"reference": subject},
        "effectiveDateTime": effective,
    }
    if as_integer:
        resource["valueInteger"] = int(value)
    else:
        resource["valueQuantity"] = {"value": value, "system": UCUM, "code": "{score}"}
    if encounter is not None:
        resource["encounter"] = {"reference": encounter}
    return resource


def _no_show(client_id: str, number: int, start: str) -> dict[str, Any]:
    return {
        "resourceType": "Appointment",
        "id": f"{client_id}-a{number}",
        "status": "noshow",
        "start": start,
        "participant": [{"actor": {"reference": f"Patient/{client_id}"}, "status": "accepted"}],
    }


def entry_of(bundle: Mapping[str, Any], resource_type: str, number: int = 0) -> int:
    """The index in ``Bundle.entry`` of the ``number``-th resource of ``resource_type``."""
    found = [
        i for i, e in enumerate(bundle["entry"]) if e["resource"]["resourceType"] == resource_type
    ]
    return found[number]
