"""Write a contract extract (a ``synth`` cohort) as a FHIR Bulk Data export, for the tests and
the bench: NDJSON files named by resource type, one resource per line.

Each client becomes what :func:`tests.service.fhir.bundles.client_bundle` makes of it (the
Patient, an Encounter or a no-show Appointment per session, an Observation per score), plus
an EpisodeOfCare starting on the intake date; on every other client the PHQ-9 totals are
sent as QuestionnaireResponses whose nine items add up to the total (item 9 as recorded), as
record systems hold them. Clients are written one at a time (memory stays flat whatever the
cohort's size) and, with ``split``, each type is spread over ``Type.1.ndjson``,
``Type.2.ndjson``... as large exports are.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pandas as pd

from features.instruments import SELF_HARM_ITEM
from service.fhir.questionnaires import PHQ9
from tests.support.fhir_bundles import CLIENT_FIELDS, client_bundle
from tests.support.fhir_questionnaires import response as questionnaire_response

#: The resource types of an export, in the order a reader may meet them.
EXPORT_TYPES = (
    "Patient",
    "EpisodeOfCare",
    "Encounter",
    "Appointment",
    "Observation",
    "QuestionnaireResponse",
)


def _plain(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    if hasattr(value, "item"):
        return value.item()
    return value


def cases(clients: pd.DataFrame, sessions: pd.DataFrame) -> Iterator[tuple[dict, list[dict]]]:
    """Each client row (request fields) with its sessions in order, as plain dicts."""
    columns = [c for c in sessions.columns if c != "client_id"]
    ordered = sessions.sort_values(["client_id", "session_number"], kind="stable")
    by_client = dict(iter(ordered.groupby("client_id", sort=False)))  # GroupBy.keys is no method
    for client in clients[list(CLIENT_FIELDS)].to_dict("records"):
        rows = by_client[client["client_id"]][columns].to_dict("records")
        yield (
            {k: _plain(v) for k, v in client.items()},
            [{k: _plain(v) for k, v in row.items()} for row in rows],
        )


def phq9_items(total: int, item9: int) -> list[int] | None:
    """Nine PHQ-9 answers adding up to ``total`` with item 9 ``item9`` (None if impossible)."""
    rest = total - item9
    if not 0 <= rest <= 24:
        return None
    answers = [rest // 8 + (1 if n < rest % 8 else 0) for n in range(8)]
    return [*answers, item9]


def client_resources(client: dict, sessions: list[dict], *, responses: bool) -> list[dict]:
    """Every resource of one client, as a Bulk export holds them."""
    kept = [dict(session) for session in sessions]
    answered: list[tuple[int, list[int]]] = []
    if responses:
        for session in kept:
            total, item9 = session.get("phq9"), session.get(SELF_HARM_ITEM)
            if total is None or item9 is None or not session["attended"]:
                continue
            if (items := phq9_items(int(total), int(item9))) is not None:
                answered.append((session["session_number"], items))
                session["phq9"] = session[SELF_HARM_ITEM] = None
    bundle = client_bundle(client, kept, link="encounter", missed_as="alternate")
    resources = [entry["resource"] for entry in bundle["entry"]]
    client_id = client["client_id"]
    resources.append(
        {
            "resourceType": "EpisodeOfCare",
            "id": f"{client_id}-episode",
            "status": "active",
            "patient": {"reference": f"Patient/{client_id}"},
            "period": {"start": client["intake_date"]},
        }
    )
    by_number = {s["session_number"]: s for s in sessions}
    for number, items in answered:
        day = by_number[number]["session_date"]
        resources.append(
            questionnaire_response(
                f"{client_id}-s{number}-phq9",
                PHQ9,
                items,
                patient=f"Patient/{client_id}",
                encounter=f"Encounter/{client_id}-s{number}",
                authored=f"{day}T{9 + number % 8:02d}:30:00+01:00",
            )
        )
    return resources


def write_export(
    clients: pd.DataFrame,
    sessions: pd.DataFrame,
    directory: Path,
    *,
    split: int = 1,
) -> dict[str, int]:
    """Write the extract as a Bulk Data export in ``directory``; resources written by type.

    Args:
        clients: the clients table (a contract extract).
        sessions: its sessions table.
        directory: where the NDJSON files go (created).
        split: files per resource type (``Type.N.ndjson``, clients dealt round-robin);
            1 writes ``Type.ndjson``.
    """
    directory.mkdir(parents=True, exist_ok=True)
    counts = dict.fromkeys(EXPORT_TYPES, 0)
    with ExitStack() as stack:
        files = {
            (kind, part): stack.enter_context(
                (
                    directory / (f"{kind}.ndjson" if split == 1 else f"{kind}.{part + 1}.ndjson")
                ).open("w", encoding="utf-8")
            )
            for kind in EXPORT_TYPES
            for part in range(split)
        }
        for number, (client, rows) in enumerate(cases(clients, sessions)):
            for resource in client_resources(client, rows, responses=number % 2 == 1):
                kind = resource["resourceType"]
                files[(kind, number % split)].write(json.dumps(resource) + "\n")
                counts[kind] += 1
    return counts
