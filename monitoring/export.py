"""Contract tables from the audit store: what record systems sent, and how episodes ended.

Every assessment the service makes is stored with its request, the data contract's client
row and sessions so far; every outcome report is stored with its termination and end date.
:func:`reconstruct_extract` turns the two streams back into a clients and a sessions table
that ``dropout-risk train`` reads, so a clinic can retrain on its own clients. It is pure
(no database, no files): it reads any iterables of :mod:`monitoring.records`, once, holding only
the latest request and the latest outcome per client, never the records themselves.

Rules, per client (the assessment record's ``client_id``):

* **Latest view.** The request with the most sessions is the record system's latest view
  of the episode; among requests with as many sessions, the most recently stored one wins
  (it may correct an earlier score). A later request with fewer sessions (a re-sent early
  landmark) does not shorten the episode. The client row comes from the same request.
* **Latest outcome.** The most recently stored outcome report wins, so a corrected report
  replaces the first. A client with no report is ``ongoing`` with no end date.
* **Contradictions are reported, never fixed.** A client is left out of the tables, and
  listed in :attr:`Reconstruction.left_out` with the rule and the reason, when its requests
  name different clinics or intake dates (another episode or a corrected intake: which one
  cannot be told), its outcome's end date is before its intake or before its last session,
  or its stored request cannot be read. An outcome report of a client never assessed is
  listed too (there is no client row to export).

Known limitation: sessions after a client's last assessment were never sent to the
service, so the exported episode ends at the last scored session. The labels derived from
it (``features.labels.derive_labels``) use the measures up to that session: a poor outcome
is judged from the first to the last *scored* measure, not the last one the clinic recorded.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import pandas as pd

from features.contract import ContractReport, validate_extract
from features.schemas import CLIENT_COLUMNS, SESSION_COLUMNS, ClientsSchema, SessionsSchema
from features.vocabulary import TERMINATIONS
from monitoring.records import StoredAssessment, StoredOutcome

_CLIENT_FIELDS = CLIENT_COLUMNS[: CLIENT_COLUMNS.index("termination")]  # what a request holds
_EPISODE_KEYS = ("clinic_id", "intake_date")  # what must agree across a client's requests


class ExportError(RuntimeError):
    """The reconstructed tables break the data contract: a bug, never the data's fault."""

    def __init__(self, report: ContractReport) -> None:
        super().__init__(f"the exported tables would break the contract: {report.summary()}")
        self.report = report


@dataclass(frozen=True)
class LeftOut:
    """A client left out of the export, and why.

    Attributes:
        client_id: The client.
        rule: Short name of the rule broken, e.g. ``end_before_last_session``.
        reason: One sentence naming the fields and values.
    """

    client_id: str
    rule: str
    reason: str


@dataclass(frozen=True)
class Reconstruction:
    """Contract tables rebuilt from audit records, and what was left out.

    Attributes:
        clients: One row per exported client, contract columns and dtypes, by ``client_id``.
        sessions: Their sessions, contract columns and dtypes, by client and session number.
        left_out: Clients not exported, by ``client_id``, each with its reason.
        assessments_read: Assessment records read.
        outcomes_read: Outcome records read.
    """

    clients: pd.DataFrame = field(repr=False)
    sessions: pd.DataFrame = field(repr=False)
    left_out: tuple[LeftOut, ...]
    assessments_read: int
    outcomes_read: int

    def terminations(self) -> dict[str, int]:
        """Exported clients by termination, in the contract's order (zeros included)."""
        counts = self.clients["termination"].value_counts()
        return {name: int(counts.get(name, 0)) for name in TERMINATIONS}

    def report(self) -> dict[str, Any]:
        """The export report as a JSON document: counts and every client left out."""
        return {
            "assessments_read": self.assessments_read,
            "outcomes_read": self.outcomes_read,
            "clients": len(self.clients),
            "sessions": len(self.sessions),
            "terminations": self.terminations(),
            "left_out": [vars(entry) for entry in self.left_out],
            "left_out_by_rule": dict(Counter(entry.rule for entry in self.left_out)),
        }


@dataclass
class _Episode:
    """The latest view of one client's episode while the assessments stream past."""

    request: Mapping[str, Any] | None
    created_at: datetime
    sessions: int
    identity: tuple[Any, ...]
    problem: LeftOut | None = None


def reconstruct_extract(
    *,
    assessments: Iterable[StoredAssessment],
    outcomes: Iterable[StoredOutcome],
) -> Reconstruction:
    """Rebuild the contract's clients and sessions tables from stored records.

    Args:
        assessments: Stored assessments (``client_id``, ``created_at``, ``request`` as the
            service stores it: ``{"client": {...}, "sessions": [...]}`` in contract columns).
        outcomes: Stored outcome reports (``client_id``, ``termination``, ``end_date``,
            ``created_at``).

    Returns:
        The tables, typed as :func:`features.contract.read_extract` types them, and the
        clients left out with their reasons (see the module's rules).

    Raises:
        ExportError: The rebuilt tables break the data contract: a bug in these rules or in
            the service's request checks, so nothing may be written from them.
    """
    episodes, assessments_read = _latest_views(assessments)
    reports, outcomes_read = _latest_outcomes(outcomes)
    client_rows: list[dict[str, Any]] = []
    session_rows: list[dict[str, Any]] = []
    left_out: list[LeftOut] = []
    for client_id in sorted(episodes.keys() | reports.keys()):
        rows = _episode_rows(
            client_id, episode=episodes.get(client_id), outcome=reports.get(client_id)
        )
        if isinstance(rows, LeftOut):
            left_out.append(rows)
            continue
        client_rows.append(rows[0])
        session_rows.extend(rows[1])
    if client_rows:
        checked = validate_extract(
            pd.DataFrame(client_rows, columns=list(CLIENT_COLUMNS)),
            pd.DataFrame(session_rows, columns=list(SESSION_COLUMNS)),
        )
        if not checked.ok:
            raise ExportError(checked)
        clients, sessions = checked.clients, checked.sessions
    else:  # nothing to check (and the contract's reader needs at least one client row)
        clients = ClientsSchema.empty()[list(CLIENT_COLUMNS)]
        sessions = SessionsSchema.empty()[list(SESSION_COLUMNS)]
    return Reconstruction(
        clients=clients,
        sessions=sessions,
        left_out=tuple(left_out),
        assessments_read=assessments_read,
        outcomes_read=outcomes_read,
    )


def _latest_views(
    assessments: Iterable[StoredAssessment],
) -> tuple[dict[str, _Episode], int]:
    """Per client, the request with the most sessions (the latest of those), in one pass."""
    episodes: dict[str, _Episode] = {}
    read = 0
    for record in assessments:
        read += 1
        client_id = str(record.client_id)
        try:
            request = record.request
            identity = tuple(request["client"][key] for key in _EPISODE_KEYS)
            sessions = len(request["sessions"])
        except (KeyError, TypeError) as error:
            problem = LeftOut(client_id, "unreadable", f"a stored request has no {error}")
            episodes[client_id] = _Episode(None, record.created_at, 0, (), problem)
            continue
        known = episodes.get(client_id)
        if known is None:
            episodes[client_id] = _Episode(request, record.created_at, sessions, identity)
        elif known.problem is not None:
            continue
        elif identity != known.identity:
            known.problem = _disagreement(client_id, first=known.identity, then=identity)
            known.request = None  # nothing of it will be exported
        elif (sessions, record.created_at) >= (known.sessions, known.created_at):
            known.request, known.created_at, known.sessions = request, record.created_at, sessions
    return episodes, read


def _latest_outcomes(
    outcomes: Iterable[StoredOutcome],
) -> tuple[dict[str, StoredOutcome], int]:
    """Per client, the most recently stored outcome report (a correction replaces the first)."""
    latest: dict[str, StoredOutcome] = {}
    read = 0
    for record in outcomes:
        read += 1
        known = latest.get(str(record.client_id))
        if known is None or record.created_at >= known.created_at:
            latest[str(record.client_id)] = record
    return latest, read


def _episode_rows(
    client_id: str, *, episode: _Episode | None, outcome: StoredOutcome | None
) -> tuple[dict[str, Any], list[dict[str, Any]]] | LeftOut:
    """The client row and session rows of one episode, or why it is left out."""
    if episode is None:
        return LeftOut(
            client_id,
            "no_assessment",
            "an outcome was reported but no assessment was stored: no client row to export",
        )
    if episode.problem is not None:
        return episode.problem
    try:
        client = episode.request["client"]
        row = {name: client.get(name) for name in _CLIENT_FIELDS} | {"client_id": client_id}
        sessions = [
            {"client_id": client_id} | {name: session.get(name) for name in SESSION_COLUMNS[1:]}
            for session in episode.request["sessions"]
        ]
        intake = _day(row["intake_date"])
        last_session = max((_day(s["session_date"]) for s in sessions), default=intake)
        termination = "ongoing" if outcome is None else outcome.termination
        end = None if outcome is None or outcome.end_date is None else _day(outcome.end_date)
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        reason = f"a stored request or outcome cannot be read: {error}"
        return LeftOut(client_id, "unreadable", reason)
    problem = _ending_problem(termination=termination, end=end, intake=intake)
    if problem is None and end is not None and end < last_session:
        problem = (
            "end_before_last_session",
            f"the reported end_date {end} is before session {len(sessions)}'s "
            f"session_date {last_session}",
        )
    if problem is not None:
        return LeftOut(client_id, *problem)
    row["termination"] = termination
    row["end_date"] = None if end is None else end.isoformat()
    return row, sessions


def _ending_problem(*, termination: str, end: date | None, intake: date) -> tuple[str, str] | None:
    """The rule and reason an outcome report contradicts the contract by, if it does."""
    if termination not in TERMINATIONS:
        return "outcome_invalid", f"the reported termination {termination!r} is not a contract one"
    if (end is None) != (termination == "ongoing"):
        return "outcome_invalid", f"the reported end_date {end} contradicts {termination!r}"
    if end is not None and end < intake:
        return "end_before_intake", f"the reported end_date {end} is before intake_date {intake}"
    return None


def _day(value: object) -> date:
    """A date from a stored value: a date, a datetime (its day) or ISO 8601 text."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _disagreement(client_id: str, *, first: tuple[Any, ...], then: tuple[Any, ...]) -> LeftOut:
    """Why a client whose requests name different clinics or intake dates is left out."""
    differing = [
        f"{key} {old!r} then {new!r}"
        for key, old, new in zip(_EPISODE_KEYS, first, then, strict=True)
        if old != new
    ]
    reason = "its assessment requests disagree on " + ", ".join(differing)
    return LeftOut(
        client_id,
        "requests_disagree",
        reason + " (another episode, or a correction: which one cannot be told)",
    )
