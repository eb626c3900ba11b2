"""The audit store: every assessment served and every outcome reported, committed durably.

A write method returns only after its transaction has committed (on SQLite with
``synchronous=FULL``, i.e. on disk); any failure raises :class:`AuditUnavailableError`, so a
caller that answers only after a successful return never acknowledges a lost record.
Each call uses its own short session, so one store serves FastAPI's threadpool.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine, Select, exists, select
from sqlalchemy.exc import SQLAlchemyError

from features.vocabulary import OUTCOMES, TERMINATIONS
from monitoring.records import StoredAssessment, StoredOutcome
from service.audit.access import ApiTokenStore, ReadLog
from service.audit.alerts import AlertStore, raise_in
from service.audit.cds import CdsRecords
from service.audit.database import STREAM_BATCH, AuditDatabase, insert_rows
from service.audit.engine import create_audit_engine
from service.audit.erasure import Eraser
from service.audit.migrate import upgrade_database
from service.audit.records import (
    AuditUnavailableError,
    CanonicalText,
    JsonText,
    NewAlert,
    NewAssessment,
    ScorePoint,
    StoredAlert,
    canonical_json,
    input_sha256,
    record_values,
)
from service.audit.records import unavailable as _unavailable
from service.audit.records import uuid_text as _uuid_text
from service.audit.smart_launches import SmartLaunchStore
from service.audit.tables import AssessmentRow, OutcomeRow
from service.audit.token_ids import TokenIdStore

DEFAULT_AUDIT_URL = "sqlite:///data/audit.db"
"""Where the service keeps its audit records unless DATABASE_URL says otherwise."""

_IDS_PER_QUERY = 500
"""Ids bound in one ``IN (...)``: far below SQLite's and PostgreSQL's limits on parameters."""


class AuditStore:
    """Writes and reads audit records in one relational database (SQLite or PostgreSQL).

    Assessments and outcome reports are its own; the CDS Hooks records are in
    :attr:`cards` (cards issued and clinicians' feedback) and :attr:`token_ids` (the EHR
    JWT replay store), the SMART launches under way in :attr:`smart_launches`, the alerts in
    :attr:`alerts`; all share its database.
    """

    def __init__(self, *, engine: Engine) -> None:
        """Use ``engine`` as it is; :meth:`open` is the usual way in (it also migrates).

        Args:
            engine: An engine from :func:`service.audit.engine.create_audit_engine` whose
                database is at the current schema revision.
        """
        self._database = AuditDatabase(engine)
        self.cards = CdsRecords(self._database)
        self.token_ids = TokenIdStore(self._database)
        self.smart_launches = SmartLaunchStore(self._database)
        self.api_tokens = ApiTokenStore(self._database)
        self.reads = ReadLog(self._database)
        self.eraser = Eraser(self._database)
        self.alerts = AlertStore(self._database)

    @classmethod
    def open(cls, url: str) -> AuditStore:
        """Connect to the audit database at ``url`` and migrate it to the current schema.

        Args:
            url: A SQLAlchemy URL, e.g. :data:`DEFAULT_AUDIT_URL` or
                ``postgresql+psycopg://user@host:5432/dbname``.

        Returns:
            A store ready for use; call :meth:`close` when done.

        Raises:
            ValueError: ``url`` names an in-memory SQLite database.
            AuditUnavailableError: The database cannot be created, reached or migrated.
        """
        try:
            engine = create_audit_engine(url)
        except OSError as error:
            raise AuditUnavailableError(
                f"cannot create the audit database's directory: {error.strerror}"
            ) from error
        try:
            upgrade_database(engine)
        except SQLAlchemyError as error:
            engine.dispose()
            raise _unavailable("open and migrate the audit database", error) from error
        return cls(engine=engine)

    def close(self) -> None:
        """Close every pooled connection; the store must not be used afterwards."""
        self._database.close()

    def __enter__(self) -> AuditStore:
        return self

    def __exit__(self, *_exc_info: object) -> None:
        self.close()

    def ping(self) -> bool:
        """Whether the database answers a trivial query now (for the readiness probe)."""
        return self._database.ping()

    def record_assessment(
        self,
        *,
        assessment_id: str,
        client_id: str,
        as_of_session: int,
        model_name: str,
        model_version: str,
        request: dict[str, Any],
        response: dict[str, Any],
        caller: str = "unknown",
    ) -> StoredAssessment:
        """Commit one assessment; only then may its response be sent.

        Args:
            assessment_id: The assessment's UUID, as returned to the caller.
            client_id: The client scored.
            as_of_session: The last session the score took into account.
            model_name: Registered name of the scoring model.
            model_version: Registered version of the scoring model.
            request: The request body, JSON-compatible (e.g. ``model_dump(mode="json")``).
            response: The response body, JSON-compatible.

        Returns:
            The committed record (holding the ``request`` and ``response`` given).

        Raises:
            ValueError: The id is not a UUID, or a body is not a JSON document.
            AuditUnavailableError: The record was not committed.
        """
        (record,) = self.record_assessments(
            [
                NewAssessment(
                    assessment_id=assessment_id,
                    client_id=client_id,
                    as_of_session=as_of_session,
                    model_name=model_name,
                    model_version=model_version,
                    request=request,
                    response=response,
                    caller=caller,
                )
            ]
        )
        return record

    def record_assessments(self, assessments: Sequence[NewAssessment]) -> list[StoredAssessment]:
        """Commit several assessments in one transaction: all are stored, or none is.

        Raises:
            ValueError: An id is not a UUID, or a body is not a JSON document.
            AuditUnavailableError: Nothing was committed.
        """
        return self._commit(assessments, alerts=())[0]

    def record_with_alerts(
        self, assessments: Sequence[NewAssessment], alerts: Sequence[NewAlert]
    ) -> list[StoredAlert]:
        """Commit several assessments and the ``alerts`` they raise in one transaction: all
        are stored, or none is, so a client is never left recorded but unflagged.

        Returns:
            The alerts raised now (those an active alert already covers are not).

        Raises:
            ValueError: An id is not a UUID, or a body is not a JSON document.
            AuditUnavailableError: Nothing was committed.
        """
        return self._commit(assessments, alerts=alerts)[1]

    def _commit(
        self, assessments: Sequence[NewAssessment], *, alerts: Sequence[NewAlert]
    ) -> tuple[list[StoredAssessment], list[StoredAlert]]:
        created_at = datetime.now(UTC)
        records, rows = [], []
        for new in assessments:
            # Serialised once, before anything is written: here, which refuses a request or
            # response JSON cannot hold, or by the caller (a response's `response_json`,
            # whose model refused it), and the same texts are hashed and stored.
            request_text = CanonicalText(canonical_json(new.request))
            response_text = (
                JsonText(new.response_json)
                if new.response_json is not None
                else CanonicalText(canonical_json(new.response))
            )
            record = StoredAssessment(
                assessment_id=_uuid_text(new.assessment_id),
                created_at=created_at,
                client_id=new.client_id,
                as_of_session=new.as_of_session,
                model_name=new.model_name,
                model_version=new.model_version,
                input_sha256=input_sha256(request_text),
                request=new.request,
                response=new.response,
                clinic_id=_clinic_of(new.request),
                caller=new.caller,
            )
            records.append(record)
            rows.append(
                record_values(record) | {"request": request_text, "response": response_text}
            )
        what = "the assessment" if len(records) == 1 else f"{len(records)} assessments"
        with self._database.writing_rows(f"commit {what}") as connection:
            insert_rows(connection, AssessmentRow, rows)
            raised = raise_in(connection, alerts)
        return records, raised

    def get_assessment(
        self, assessment_id: str, *, clinics: frozenset[str] | None = None
    ) -> StoredAssessment | None:
        """The stored assessment with this id (any UUID spelling), None when there is none
        or when it belongs to a clinic not in ``clinics`` (None: any clinic).

        Raises:
            AuditUnavailableError: The database could not be read.
        """
        try:
            key = _uuid_text(assessment_id)
        except ValueError:
            return None  # never stored: only UUIDs are
        with self._database.reading("read the assessment") as session:
            row = session.get(AssessmentRow, key)
            if row is None or (clinics is not None and row.clinic_id not in clinics):
                return None  # another clinic's record is not revealed to exist
            return row.to_record()

    def has_assessed(self, *, clinic_id: str, client_id: str) -> bool:
        """Whether any assessment of this clinic's client is stored.

        Raises:
            AuditUnavailableError: The database could not be read.
        """
        query = (
            select(AssessmentRow.assessment_id)
            .where(AssessmentRow.clinic_id == clinic_id, AssessmentRow.client_id == client_id)
            .limit(1)
        )
        with self._database.reading("read the client's assessments") as session:
            return session.scalar(query) is not None

    def latest_assessment_id(self, *, client_id: str, clinics: frozenset[str]) -> str | None:
        """The id of the newest assessment of ``client_id`` in one of ``clinics``; None when
        there is none (a client of another clinic is not revealed to exist).

        Raises:
            AuditUnavailableError: The database could not be read.
        """
        query = (
            select(AssessmentRow.assessment_id)
            .where(
                AssessmentRow.client_id == client_id,
                AssessmentRow.clinic_id.in_(sorted(clinics)),
            )
            .order_by(AssessmentRow.created_at.desc(), AssessmentRow.assessment_id.desc())
            .limit(1)
        )
        with self._database.reading("read the client's latest assessment") as session:
            return session.scalar(query)

    def record_outcome(
        self,
        *,
        client_id: str,
        termination: str,
        end_date: date | None,
        reported_by: str | None,
        clinic_id: str = "unknown",
    ) -> StoredOutcome:
        """Commit a report of how a client's episode ended.

        Args:
            clinic_id: The clinic of the episode (outcomes are keyed by clinic and client).
            client_id: The client whose episode it is.
            termination: One of :data:`~service.audit.records.TERMINATIONS`.
            end_date: Last day of the episode; None exactly when it is ``ongoing``.
            reported_by: Name of the reporting API token, None when unknown.

        Returns:
            The committed record, with its new id.

        Raises:
            ValueError: Unknown termination, or an end date that contradicts it.
            AuditUnavailableError: The record was not committed.
        """
        if termination not in TERMINATIONS:
            raise ValueError(f"termination must be one of {', '.join(TERMINATIONS)}")
        if (end_date is None) != (termination == "ongoing"):
            raise ValueError("end_date must be given, except for an ongoing episode")
        record = StoredOutcome(
            outcome_id=str(uuid.uuid4()),
            created_at=datetime.now(UTC),
            client_id=client_id,
            termination=termination,
            end_date=end_date,
            reported_by=reported_by,
            clinic_id=clinic_id,
        )
        self._database.insert(OutcomeRow, [record_values(record)], what="the outcome")
        return record

    def assessments(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        model_version: str | None = None,
        client_id: str | None = None,
        clinics: frozenset[str] | None = None,
    ) -> Iterator[StoredAssessment]:
        """Stored assessments, oldest first, optionally narrowed.

        Args:
            since: Only those created at or after this (timezone-aware) time.
            until: Only those created before this (timezone-aware) time.
            model_version: Only those scored by this model version.
            client_id: Only those of this client.
            clinics: Only those of these clinics (None: every clinic).

        Yields:
            Records in ``created_at`` order, fetched in batches as iteration proceeds.

        Raises:
            ValueError: A naive ``since`` or ``until`` (on the first ``next``).
            AuditUnavailableError: The database could not be read.
        """
        query = _narrowed(AssessmentRow, since=since, until=until)
        if model_version is not None:
            query = query.where(AssessmentRow.model_version == model_version)
        if client_id is not None:
            query = query.where(AssessmentRow.client_id == client_id)
        if clinics is not None:
            query = query.where(AssessmentRow.clinic_id.in_(sorted(clinics)))
        return self._database.stream(query, what="audit records")

    def open_episode_points(
        self, *, clinics: frozenset[str] | None = None
    ) -> Iterator[ScorePoint]:
        """The assessments of every open episode of ``clinics`` (None: every clinic), oldest
        first, each as a :class:`ScorePoint`: what a caseload lists.

        An episode ends with a reported outcome other than ``ongoing``: an assessment
        recorded at or before such a report of its client belongs to an ended episode and is
        left out (a client assessed after it has a new episode). The database leaves those
        out and reads the probabilities out of the stored answers, so that the whole
        history of a clinic is neither sent nor decoded (bench/bench_caseload.py).

        Yields:
            Points in ``created_at`` order, fetched in batches as iteration proceeds.

        Raises:
            AuditUnavailableError: The database could not be read.
        """
        ended = exists().where(
            OutcomeRow.clinic_id == AssessmentRow.clinic_id,
            OutcomeRow.client_id == AssessmentRow.client_id,
            OutcomeRow.termination != "ongoing",
            OutcomeRow.created_at >= AssessmentRow.created_at,
        )
        query = (
            _narrowed(AssessmentRow, since=None, until=None)
            .with_only_columns(
                AssessmentRow.assessment_id,
                AssessmentRow.clinic_id,
                AssessmentRow.client_id,
                AssessmentRow.created_at,
                AssessmentRow.as_of_session,
                *(_probability(outcome) for outcome in OUTCOMES),
            )
            .where(~ended)
        )
        if clinics is not None:
            query = query.where(AssessmentRow.clinic_id.in_(sorted(clinics)))
        with self._database.reading("read the open episodes' scores") as session:
            for row in session.execute(query.execution_options(yield_per=STREAM_BATCH)):
                yield ScorePoint(*row)

    def assessments_with_ids(
        self, assessment_ids: Sequence[str], *, clinics: frozenset[str] | None
    ) -> list[StoredAssessment]:
        """The stored assessments with these ids, whole, of ``clinics`` only (None: any
        clinic); those no longer stored, or another clinic's, are left out, in no particular
        order.

        Raises:
            AuditUnavailableError: The database could not be read.
        """
        records = []
        for batch in _id_batches(assessment_ids):
            query = select(AssessmentRow).where(AssessmentRow.assessment_id.in_(batch))
            if clinics is not None:
                query = query.where(AssessmentRow.clinic_id.in_(sorted(clinics)))
            with self._database.reading("read audit records") as session:
                records.extend(row.to_record() for row in session.scalars(query))
        return records

    def assessment_ids(self, *, since: datetime, until: datetime) -> set[str]:
        """The ids of every assessment created in [since, until) (timezone-aware), of
        every clinic: what a periodic check reads to learn what is new and what is gone.

        Raises:
            ValueError: A naive ``since`` or ``until``.
            AuditUnavailableError: The database could not be read.
        """
        query = _narrowed(AssessmentRow, since=since, until=until)
        query = query.with_only_columns(AssessmentRow.assessment_id)
        with self._database.reading("read audit record ids") as session:
            return set(session.scalars(query))

    def assessment_scores(self, assessment_ids: Sequence[str]) -> Iterator[StoredAssessment]:
        """The stored assessments with these ids (those still stored), for monitoring:
        each ``response`` holds only each outcome's ``probability`` and ``risk_level``.

        The database extracts those four values, so the 5 KB response document, which
        decoding in Python would make most of a monitoring check's cost, is never read.

        Raises:
            AuditUnavailableError: The database could not be read.
        """
        scores = [
            column
            for outcome in OUTCOMES
            for column in (
                _probability(outcome),
                AssessmentRow.response[(outcome, "risk_level")].as_string(),
            )
        ]
        names = [f.name for f in dataclasses.fields(StoredAssessment) if f.name != "response"]
        columns = [getattr(AssessmentRow, name) for name in names]
        for batch in _id_batches(assessment_ids):
            query = select(*columns, *scores).where(AssessmentRow.assessment_id.in_(batch))
            with self._database.reading("read audit records") as session:
                rows = session.execute(query).all()
            for row in rows:
                values = iter(row[len(columns) :])
                response = {
                    outcome: {"probability": next(values), "risk_level": next(values)}
                    for outcome in OUTCOMES
                }
                stored = zip(names, row[: len(columns)], strict=True)
                yield StoredAssessment(**dict(stored), response=response)

    def outcomes(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        client_id: str | None = None,
        clinics: frozenset[str] | None = None,
    ) -> Iterator[StoredOutcome]:
        """Stored outcome reports, oldest first, narrowed as in :meth:`assessments`."""
        query = _narrowed(OutcomeRow, since=since, until=until)
        if client_id is not None:
            query = query.where(OutcomeRow.client_id == client_id)
        if clinics is not None:
            query = query.where(OutcomeRow.clinic_id.in_(sorted(clinics)))
        return self._database.stream(query, what="audit records")


def _probability(outcome: str) -> Any:
    """The stored answer's probability of ``outcome``, read by the database (a float)."""
    return AssessmentRow.response[(outcome, "probability")].as_float()


def _id_batches(assessment_ids: Sequence[str]) -> Iterator[list[str]]:
    """``assessment_ids`` in sorted batches of at most :data:`_IDS_PER_QUERY` (one query's
    bound parameters)."""
    for start in range(0, len(assessment_ids), _IDS_PER_QUERY):
        yield sorted(assessment_ids[start : start + _IDS_PER_QUERY])


def _clinic_of(request: dict[str, Any]) -> str:
    """The clinic a request names (``client.clinic_id``), which owns the assessment."""
    client = request.get("client") if isinstance(request, dict) else None
    clinic = client.get("clinic_id") if isinstance(client, dict) else None
    return str(clinic) if clinic else "unknown"


def _narrowed(
    table: type[AssessmentRow] | type[OutcomeRow],
    *,
    since: datetime | None,
    until: datetime | None,
) -> Select[Any]:
    """All rows of ``table`` created in the window [since, until), in time order."""
    for bound in (since, until):
        if bound is not None and bound.utcoffset() is None:
            raise ValueError("since and until must be timezone-aware")
    query = select(table)
    if since is not None:
        query = query.where(table.created_at >= since)
    if until is not None:
        query = query.where(table.created_at < until)
    # The key breaks ties between records of the same microsecond, so the order is stable.
    key = table.assessment_id if table is AssessmentRow else table.outcome_id
    return query.order_by(table.created_at, key)
