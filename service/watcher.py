"""The service watching itself: monitoring reports from its audit store, on demand and on a timer.

``GET /v1/monitoring`` asks :meth:`MonitoringWatcher.report` for any period. A background
thread runs :meth:`MonitoringWatcher.check` over the trailing ``monitoring.period_days`` every
``monitoring.interval_seconds``; its alerts show in ``/ready`` (details) and ``/metrics``
(``dropout_risk_monitoring_alerts`` by kind), so an alert reaches whoever watches either.
The check runs in every worker, beside serving: it keeps what it read in a ledger
(:class:`monitoring.ledger.AssessmentLedger`) and reads only the assessments stored since its
last check (ids first, then those records), so its cost follows the traffic of one interval,
not the whole period's records.
A check with a backlog (the first after a start reads the whole period) reads it a slice at a
time and pauses between slices, taking at most ``monitoring.catch_up_share`` of its thread's
time, so that serving in the same interpreter is slowed less, for longer.
The computations are :func:`monitoring.report.monitor`'s, the same as ``dropout-risk
monitor``'s; drift needs the training profile, which the service has for the model it serves.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from monitoring.alerts import ALERT_CODES, MonitoringAlert
from monitoring.ledger import AssessmentLedger
from monitoring.report import MonitoringReport, ledger_report, monitor
from service.audit import AuditStore, AuditUnavailableError
from service.audit.clinics import clinic_qualified
from service.lifecycle import ModelKeeper
from service.observability import ServiceMetrics
from service.periodic import PeriodicTask
from service.settings import ServiceSettings

_log = logging.getLogger(__name__)

_CATCH_UP_SLICE = 2_000
"""Records a check reads and featurises between two pauses while it catches up."""


class _CheckStopped(Exception):
    """The service is stopping: a check pausing in its catch-up ends there."""


@dataclass(frozen=True)
class MonitoringStatus:
    """The outcome of the last periodic check."""

    period_days: float
    checked_at: datetime | None = None
    alerts: list[MonitoringAlert] = field(default_factory=list)
    error: str | None = None


class MonitoringWatcher:
    """Monitoring reports of the service's own audit store, and the periodic check."""

    def __init__(
        self,
        *,
        settings: ServiceSettings,
        audit: AuditStore,
        keeper: ModelKeeper,
        metrics: ServiceMetrics,
    ) -> None:
        self._settings = settings
        self._audit = audit
        self._keeper = keeper
        self._metrics = metrics
        self._status = MonitoringStatus(period_days=settings.monitoring.period_days)
        self._ledger = AssessmentLedger()
        self._checking = threading.Lock()  # one check at a time owns the ledger
        self._stopping = threading.Event()
        self._task = PeriodicTask(
            "monitoring-check",
            self.check,
            interval_seconds=settings.monitoring.interval_seconds,
            on_error=self._check_failed,
        )

    @property
    def status(self) -> MonitoringStatus:
        """The last periodic check (replaced whole, so a reader sees one check)."""
        return self._status

    def report(
        self,
        *,
        since: datetime | None,
        until: datetime | None,
        window: timedelta | None,
        model_version: str | None = None,
        clinics: frozenset[str] | None = None,
    ) -> MonitoringReport:
        """The monitoring report of assessments created in [since, until), of ``clinics``
        only (None: every clinic, for an operator).

        Raises:
            AuditUnavailableError: The audit store could not be read.
        """
        assessments = self._audit.assessments(
            since=since, until=until, model_version=model_version, clinics=clinics
        )
        outcomes = self._audit.outcomes(clinics=clinics)
        if clinics is None or len(clinics) > 1:
            # Two clinics' "c-001" are two clients: outcomes pair by clinic and client.
            assessments, outcomes = clinic_qualified(assessments), clinic_qualified(outcomes)
        return monitor(
            assessments,
            outcomes,
            references=self._references(),
            since=since,
            until=until,
            window=window,
            thresholds=self._settings.monitoring.thresholds(),
        )

    def _references(self) -> dict[str, Any]:
        """The training profile of the version served (drift needs it)."""
        served = self._keeper.current
        if served is None:
            return {}
        return {served.version: served.model.metadata.get("reference")}

    def _period_report(self, *, since: datetime, until: datetime) -> MonitoringReport:
        """The report of [since, until) of every clinic, reading only what the ledger lacks.

        Raises:
            AuditUnavailableError: The audit store could not be read.
        """
        stored = self._audit.assessment_ids(since=since, until=until)
        self._ledger.keep_only(stored)
        self._read(self._ledger.wanted(stored))
        return ledger_report(
            self._ledger,
            clinic_qualified(self._audit.outcomes()),
            references=self._references(),
            since=since,
            until=until,
            thresholds=self._settings.monitoring.thresholds(),
            # Alerts judge point estimates: the intervals' bootstrap would double the cost.
            replicates=0,
        )

    def _read(self, wanted: list[str]) -> None:
        """Add the ``wanted`` records to the ledger, :data:`_CATCH_UP_SLICE` at a time,
        pausing after each slice but the last for as long as ``catch_up_share`` asks.

        Raises:
            AuditUnavailableError: The audit store could not be read.
            _CheckStopped: The service began stopping during a pause.
        """
        share = self._settings.monitoring.catch_up_share
        for start in range(0, len(wanted), _CATCH_UP_SLICE):
            began = time.monotonic()
            records = self._audit.assessment_scores(wanted[start : start + _CATCH_UP_SLICE])
            # Outcomes pair by clinic and client: two clinics' "c-001" are two clients.
            self._ledger.add(clinic_qualified(records))
            if start + _CATCH_UP_SLICE < len(wanted) and share < 1:
                pause = (time.monotonic() - began) * (1 - share) / share
                if self._stopping.wait(pause):
                    raise _CheckStopped

    def check(self) -> MonitoringStatus:
        """Monitor the trailing period now; publish its alerts to ``/ready`` and ``/metrics``."""
        with self._checking:
            return self._check()

    def _check(self) -> MonitoringStatus:
        now = datetime.now(UTC)
        period = self._settings.monitoring.period_days
        try:
            report = self._period_report(since=now - timedelta(days=period), until=now)
        except _CheckStopped:
            _log.info(
                "monitoring check stopped while catching up: the service is stopping",
                extra={"event": "monitoring_stopped"},
            )
            return self._status  # the last complete check stands; nothing half-read is shown
        except AuditUnavailableError as error:
            _log.warning(str(error), extra={"event": "monitoring_failed"})
            # What the ledger holds is not kept past a read that failed: a client erased
            # meanwhile would stay in this worker's memory until the store answered again.
            self._ledger = AssessmentLedger()
            self._status = MonitoringStatus(
                period_days=period,
                checked_at=self._status.checked_at,
                alerts=self._status.alerts,
                error=str(error),
            )
            return self._status
        self._status = MonitoringStatus(
            period_days=period, checked_at=report.generated_at, alerts=report.alerts
        )
        for code in ALERT_CODES:
            self._metrics.monitoring_alerts.labels(code).set(
                sum(alert.code == code for alert in report.alerts)
            )
        self._metrics.monitoring_checked.set(report.generated_at.timestamp())
        if report.alerts:
            _log.warning(
                f"{len(report.alerts)} monitoring alert(s): see /ready or GET /v1/monitoring",
                extra={
                    "event": "monitoring_alerts",
                    "codes": sorted({a.code for a in report.alerts}),
                },
            )
        return self._status

    def start(self) -> None:
        """Check now and then every ``monitoring.interval_seconds``, in a daemon thread."""
        self._stopping.clear()
        if self._settings.monitoring.interval_seconds > 0:
            self._task.start(first_delay_seconds=0.0)

    def stop(self) -> None:
        """Stop the periodic check (waits for a check in progress, which ends at its next
        pause if it is catching up)."""
        self._stopping.set()
        self._task.stop()

    def _check_failed(self, error: Exception) -> None:
        _log.error(
            "monitoring check failed",
            exc_info=error,
            extra={"event": "monitoring_failed"},
        )
        self._status = MonitoringStatus(
            period_days=self._status.period_days,
            checked_at=self._status.checked_at,
            alerts=self._status.alerts,
            error=f"the last check failed ({type(error).__name__}); see the log",
        )
