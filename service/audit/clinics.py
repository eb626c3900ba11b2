"""Records of several clinics read together: client ids qualified by their clinic.

Clinics number their clients independently, so two clinics' "c-001" are two people. When
records of more than one clinic are read together (an operator's export), a client id that
more than one clinic uses becomes ``<clinic>/<client>`` in the records and their stored
requests, so the export keeps them apart; ids used by one clinic only, and every id of a
one-clinic export, stay as the clinic wrote them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

from monitoring.records import StoredAssessment, StoredOutcome

_Record = TypeVar("_Record", StoredAssessment, StoredOutcome)


def qualified_records(
    assessments: Sequence[StoredAssessment], outcomes: Sequence[StoredOutcome]
) -> tuple[list[StoredAssessment], list[StoredOutcome]]:
    """The records, with the client ids that several clinics use qualified by clinic."""
    clinics_of: dict[str, set[str]] = {}
    for record in [*assessments, *outcomes]:
        clinics_of.setdefault(record.client_id, set()).add(record.clinic_id)
    shared = {client for client, clinics in clinics_of.items() if len(clinics) > 1}
    if not shared:
        return list(assessments), list(outcomes)
    return [_assessment(a) if a.client_id in shared else a for a in assessments], [
        dataclasses.replace(o, client_id=f"{o.clinic_id}/{o.client_id}")
        if o.client_id in shared
        else o
        for o in outcomes
    ]


def _assessment(record: StoredAssessment) -> StoredAssessment:
    client_id = f"{record.clinic_id}/{record.client_id}"
    request = dict(record.request)
    if isinstance(request.get("client"), dict):
        request["client"] = request["client"] | {"client_id": client_id}
    return dataclasses.replace(record, client_id=client_id, request=request)


def clinic_qualified(records: Iterable[_Record]) -> Iterator[_Record]:
    """The records one by one, each client id as ``<clinic>/<client>`` (stored bodies as
    they are): for reads spanning clinics that pair outcomes with assessments by client,
    such as monitoring, without holding every record in memory."""
    for record in records:
        yield dataclasses.replace(record, client_id=f"{record.clinic_id}/{record.client_id}")
