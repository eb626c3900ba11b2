"""Records of several clinics read together: client ids qualified by their clinic.

Clinics number their clients independently, so two clinics' "c-001" are two people. When
records of more than one clinic are read together (an operator's export), each client id
becomes ``<clinic>/<client>`` in the records and their stored requests, so the export keeps
them apart; the records of one clinic keep their ids unchanged.
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
    """The records, with client ids qualified by clinic when they span several clinics."""
    clinics = {a.clinic_id for a in assessments} | {o.clinic_id for o in outcomes}
    if len(clinics) <= 1:
        return list(assessments), list(outcomes)
    return [_assessment(a) for a in assessments], [
        dataclasses.replace(o, client_id=f"{o.clinic_id}/{o.client_id}") for o in outcomes
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
