"""Caseload bodies for tests and screenshots: clients of two therapists, some at risk."""

from __future__ import annotations

import copy
from datetime import date, timedelta
from typing import Any

from tests.support.assessment_bodies import example_request


def client_body(
    client_id: str,
    *,
    therapist_id: str,
    clinic_id: str = "north",
    sessions: int = 3,
    safety: bool = False,
    struggling: bool = False,
    missed_last: int = 0,
) -> dict[str, Any]:
    """An assessment body of one client after ``sessions`` sessions.

    Args:
        client_id: The client.
        therapist_id: The client's therapist.
        clinic_id: The client's clinic.
        sessions: Sessions so far (the last ``missed_last`` of them missed).
        safety: Whether PHQ-9 item 9 is endorsed at the latest attended session.
        struggling: Severe, worsening symptoms and a falling alliance (a high-risk client).
        missed_last: How many of the latest appointments were missed in a row.
    """
    body = copy.deepcopy(example_request())
    body["client"] |= {"client_id": client_id, "therapist_id": therapist_id}
    body["client"]["clinic_id"] = clinic_id
    start = date.fromisoformat(body["client"]["intake_date"])
    rows = []
    attended_until = sessions - missed_last
    for number in range(1, sessions + 1):
        row: dict[str, Any] = {
            "session_number": number,
            "session_date": (start + timedelta(days=7 * (number - 1))).isoformat(),
            "attended": number <= attended_until,
        }
        if row["attended"]:
            if struggling:
                row |= {
                    "wai_client": max(1.0, 3.2 - 0.7 * number),
                    "wai_therapist": max(1.0, 3.0 - 0.6 * number),
                    "srs": max(10, 30 - 6 * number),
                    "phq9": min(27, 19 + 3 * number),
                    "gad7": min(21, 14 + 2 * number),
                }
            else:
                row |= {
                    "wai_client": 4.5,
                    "wai_therapist": 4.4,
                    "srs": 38,
                    "phq9": max(3, 12 - 2 * number),
                    "gad7": max(2, 9 - 2 * number),
                }
            if safety and number == attended_until:
                row["phq9_item9"] = 2
        rows.append(row)
    body["sessions"] = rows
    return body


def save_clinic_tokens(url: str, clinics: dict[str, list[str]]) -> dict[str, str]:
    """Store a token of every scope per name, of the given clinics; the tokens by name."""
    from service.audit import AuditStore
    from service.security import Scope, new_token

    tokens = {}
    with AuditStore.open(url) as store:
        for name, of in clinics.items():
            token, entry = new_token(name=name, scopes=set(Scope), clinics=of)
            store.api_tokens.save(entry)
            tokens[name] = token
    return tokens


def busy_caseload(
    *, clinic_id: str = "north", per_therapist: int = 15, later: int = 0
) -> list[dict[str, Any]]:
    """Bodies of two therapists' clients ("t-a", "t-b"): in each, one with a safety
    signal (the 4th), three struggling (the 2nd, 6th, 9th), one who missed the last two;
    ``later`` sessions after the first call's."""
    bodies = []
    for therapist in ("t-a", "t-b"):
        for number in range(per_therapist):
            bodies.append(
                client_body(
                    f"{clinic_id}-{therapist}-{number:02d}",
                    therapist_id=therapist,
                    clinic_id=clinic_id,
                    sessions=3 + number % 4 + later,
                    safety=number == 3,
                    struggling=number in (1, 5, 8),
                    missed_last=2 if number == 11 else 0,
                )
            )
    return bodies
