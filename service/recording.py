"""Score and record: the one way an assessment is made, whichever API it is asked through.

The JSON API, FHIR and CDS Hooks all turn their input into :class:`AssessmentRequest`s and
call :meth:`Recorder.score_and_record`, which scores with one model version and commits
every assessment to the audit store before returning, so an answer is never sent
unrecorded; the alerts the assessments raise (:mod:`service.alerts.raising`) are committed
in the same transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from service.alerts.raising import alerts_for
from service.audit import AuditStore, AuditUnavailableError, NewAssessment
from service.errors import ApiError
from service.lifecycle import ServedModel
from service.observability import ServiceMetrics
from service.schemas import AssessmentRequest, AssessmentResponse
from service.scoring import assess_many

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Scoring:
    """One request to score, who asked for it, and the input mapping's warnings for it."""

    request: AssessmentRequest
    caller: str = "unknown"
    warnings: Sequence[str] = ()


class Recorder:
    """Scores requests and commits their assessments before anyone sees them."""

    def __init__(self, *, audit: AuditStore, metrics: ServiceMetrics, factors: int) -> None:
        """Record to ``audit``, count in ``metrics``; list ``factors`` factors per outcome."""
        self._audit = audit
        self._metrics = metrics
        self._factors = factors

    def score_and_record(
        self,
        requests: list[AssessmentRequest],
        served: ServedModel,
        warnings: Sequence[Sequence[str]] | None = None,
        *,
        caller: str = "unknown",
    ) -> list[AssessmentResponse]:
        """Score with ``served`` (one version for all); commit every assessment, then return.

        ``warnings`` (one list per request) are the input mapping's, added first to each
        answer's warnings (e.g. a FHIR total that a questionnaire response overrode).
        ``caller`` (a token's name, or an EHR's issuer and tenant) is stored with each
        assessment, so that a record can be traced to whoever asked for it.

        Raises:
            service.errors.ApiError: 503 ``audit_unavailable`` when the audit store did not
                commit (nothing is acknowledged).
        """
        extras = warnings if warnings is not None else [()] * len(requests)
        return self.score_and_record_each(
            [
                Scoring(request=request, caller=caller, warnings=extra)
                for request, extra in zip(requests, extras, strict=True)
            ],
            served,
        )

    def score_and_record_each(
        self, scorings: Sequence[Scoring], served: ServedModel
    ) -> list[AssessmentResponse]:
        """As :meth:`score_and_record`, each request with its own caller and warnings (the
        micro-batcher's requests come from different callers): one pass through the model,
        one transaction.

        Raises:
            service.errors.ApiError: 503 ``audit_unavailable`` when the audit store did not
                commit (nothing is acknowledged).
        """
        responses = self.score_each(scorings, served)
        self.record_each(scorings, responses, served)
        return responses

    def score_each(
        self, scorings: Sequence[Scoring], served: ServedModel
    ) -> list[AssessmentResponse]:
        """The answers to ``scorings`` (one pass through the model), not yet recorded: no
        answer may be sent before :meth:`record_each` has committed it."""
        responses = assess_many(
            served.model,
            [scoring.request for scoring in scorings],
            model_name=served.name,
            model_version=served.version,
            factors=self._factors,
        )
        return [
            response.model_copy(update={"warnings": [*scoring.warnings, *response.warnings]})
            if scoring.warnings
            else response
            for response, scoring in zip(responses, scorings, strict=True)
        ]

    def record_each(
        self,
        scorings: Sequence[Scoring],
        responses: Sequence[AssessmentResponse],
        served: ServedModel,
    ) -> None:
        """Commit the assessments and the alerts they raise, in one transaction.

        Raises:
            service.errors.ApiError: 503 ``audit_unavailable`` when the audit store did not
                commit (nothing is acknowledged).
        """
        requests = [scoring.request for scoring in scorings]
        try:
            raised = self._audit.record_with_alerts(
                [
                    NewAssessment(
                        assessment_id=response.assessment_id,
                        client_id=response.client_id,
                        as_of_session=response.as_of_session,
                        model_name=served.name,
                        model_version=served.version,
                        request=scoring.request.model_dump(mode="json"),
                        response=response.model_dump(mode="json"),
                        caller=scoring.caller,
                        # Serialised by its model (the text the caller gets), not again.
                        response_json=response.model_dump_json(),
                    )
                    for scoring, response in zip(scorings, responses, strict=True)
                ],
                alerts_for(requests=requests, responses=responses),
            )
        except AuditUnavailableError as error:
            raise audit_unavailable(self._metrics, error) from error
        for alert in raised:
            self._metrics.alerts_raised.labels(alert.kind).inc()
        for response in responses:
            self._metrics.assessments.labels("dropout", response.dropout.risk_level).inc()
            self._metrics.assessments.labels(
                "poor_outcome", response.poor_outcome.risk_level
            ).inc()


def audit_unavailable(metrics: ServiceMetrics, error: AuditUnavailableError) -> ApiError:
    """The 503 for an audit store that did not answer (counted and logged)."""
    metrics.audit_failures.inc()
    # The store's message names the failure, never the statement's parameters.
    _log.error(str(error), extra={"event": "audit_unavailable"})
    return ApiError(
        503,
        "audit_unavailable",
        "the audit store did not commit, so nothing was acknowledged; retry later",
        headers={"Retry-After": "5"},
    )
