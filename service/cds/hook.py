"""One ``patient-view`` call: gather the record, score it, record and return the card.

Data first from prefetch, then from the EHR's FHIR server for whatever prefetch lacked
(:class:`~service.cds.fetch.FhirUnavailableError`, answered 412, when neither can supply it).
The record becomes the JSON API's request through the FHIR mapping
(:func:`service.fhir.inbound.read_resources`) and is scored and audited by
:meth:`service.recording.Recorder.score_and_record`, like every other assessment. A record that
cannot be scored (no sessions yet, a measure out of range, another patient's data) gets no
card: the reason is logged (FHIR paths only, never values) and the EHR shows nothing.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from service.audit import AuditUnavailableError
from service.audit.cds import CdsRecords
from service.cds.auth import EhrCaller
from service.cds.cards import card_for
from service.cds.fetch import FhirReader, FhirUnavailableError
from service.cds.prefetch import OPTIONAL, PREFETCH, read_prefetched, render
from service.cds.schemas import CardsOut, HookRequest
from service.errors import ApiError
from service.fhir.inbound import read_resources
from service.fhir.issues import FhirInputError
from service.lifecycle import ServedModel
from service.observability import ServiceMetrics
from service.recording import Recorder, audit_unavailable
from service.reports.links import (
    LinkSigner,
    caseload_query,
    model_card_subject,
    report_subject,
)
from service.schemas import AssessmentRequest, AssessmentResponse
from service.settings import ServiceSettings

_log = logging.getLogger(__name__)
_ISSUES_LOGGED = 10


async def gather_record(
    body: HookRequest,
    *,
    timeout: float,
    caller: EhrCaller | None = None,
    allow_private: bool = False,
) -> list[dict[str, Any]]:
    """The patient's resources: the usable prefetch, plus what had to be fetched.

    The FHIR server is read only when it is one of the calling issuer's (``caller``), and
    never at a private, loopback or link-local address unless ``allow_private``: otherwise
    any holder of an EHR JWT could make this service fetch what it chooses (SSRF).

    Raises:
        FhirUnavailableError: Prefetch is incomplete and the FHIR server cannot fill the gap
            (none given, no token lent, not allowed, or it failed).
    """
    prefetch = body.prefetch or {}
    resources: list[dict[str, Any]] = []
    queries, continuations, missing = [], [], []
    fhir_access = body.fhirServer is not None and body.fhirAuthorization is not None
    for key, template in PREFETCH.items():
        answer = read_prefetched(prefetch[key]) if key in prefetch else None
        if answer is None:
            if key in OPTIONAL and not fhir_access:
                continue  # data we can do without, and no server to ask for it
            missing.append(key)
            queries.append(render(template, patient_id=body.context.patientId))
            continue
        resources.extend(answer.resources)
        if answer.next_url is not None:
            continuations.append(answer.next_url)
    _log.info(
        "gathering the record",
        extra={"event": "cds_record", "fetched": missing, "pages_to_follow": len(continuations)},
    )
    if not queries and not continuations:
        return resources
    if body.fhirServer is None or body.fhirAuthorization is None:
        raise FhirUnavailableError("prefetch is incomplete and no FHIR server access was given")
    if caller is not None and not caller.allows_fhir_server(body.fhirServer):
        raise FhirUnavailableError("fhirServer is not one of the issuer's FHIR servers")
    token = body.fhirAuthorization.access_token.get_secret_value()
    reader = FhirReader(body.fhirServer, token, timeout=timeout, allow_private=allow_private)
    return resources + await reader.collect(queries, continuations)


class CardIssuer:
    """Scores a gathered record and issues its card, recorded before it is answered."""

    def __init__(
        self,
        *,
        recorder: Recorder,
        cards: CdsRecords,
        metrics: ServiceMetrics,
        settings: ServiceSettings,
        links: LinkSigner,
    ) -> None:
        self._recorder = recorder
        self._cards = cards
        self._metrics = metrics
        self._settings = settings
        self._links = links

    def assess_and_issue(
        self,
        resources: list[dict[str, Any]],
        *,
        body: HookRequest,
        service_id: str,
        caller: EhrCaller,
        served: ServedModel,
    ) -> CardsOut:
        """Score the record and answer its card, recorded first (blocking: run it in a thread).

        Raises:
            service.errors.ApiError: 503 when the audit store did not commit.
        """
        patient_id = body.context.patientId
        if any(
            r.get("resourceType") == "Patient" and r.get("id") != patient_id for r in resources
        ):
            _log.warning(
                "the record holds a Patient other than the one opened; no card",
                extra={"event": "cds_unscorable", "hook_instance": body.hookInstance},
            )
            return CardsOut(cards=[])
        try:
            # An issuer (or tenant) of one clinic need not name it in the record.
            only = next(iter(caller.clinics)) if len(caller.clinics) == 1 else None
            episode = read_resources(resources, default_clinic=only)
        except FhirInputError as error:
            _log.info(
                "the record cannot be scored; no card",
                extra={
                    "event": "cds_unscorable",
                    "hook_instance": body.hookInstance,
                    "issues": len(error.issues),
                    "paths": [issue.path for issue in error.issues[:_ISSUES_LOGGED]],
                },
            )
            return CardsOut(cards=[])
        request = episode.request
        if request.client.clinic_id not in caller.clinics:
            # A record system may send only its own clinics' records (configured per issuer
            # and tenant); anything else would write into another clinic's audit trail.
            _log.warning(
                "the record names a clinic the issuer does not speak for; refused",
                extra={"event": "cds_clinic_refused", "iss": caller.iss},
            )
            raise ApiError(403, "forbidden", "the record names a clinic this issuer may not send")
        (assessment,) = self._recorder.score_and_record(
            [request], served, [episode.warnings], caller=caller.name
        )
        assessment_clinic = request.client.clinic_id
        report_url, model_card_url = self._card_links(assessment)
        card = card_for(
            assessment,
            card_uuid=str(uuid.uuid4()),
            report_url=report_url,
            model_card_url=model_card_url,
            low_risk_card=self._settings.cds_low_risk_card,
            moderate_risk_card=self._settings.cds_moderate_risk_card,
            caseload_url=self._caseload_link(request, practitioner=body.context.userId),
        )
        if card is None:
            return CardsOut(cards=[])
        try:
            self._cards.record_card(
                card_uuid=card.uuid,
                assessment_id=assessment.assessment_id,
                service_id=service_id,
                iss=caller.iss,
                indicator=card.indicator,
                clinic_id=assessment_clinic,
                caller=caller.name,
            )
        except AuditUnavailableError as error:
            raise audit_unavailable(self._metrics, error) from error
        return CardsOut(cards=[card])

    def _card_links(self, assessment: AssessmentResponse) -> tuple[str, str]:
        """The card's links to the clinician report and to the model card.

        The clinician pages open without an API token only through a short-lived signed
        link (:mod:`service.reports.links`), which is what a card must carry: a clinician
        following it from the record has no token of ours. Links to pages elsewhere
        (configured) are not signed.
        """
        settings = self._settings
        version = assessment.model.version
        report = settings.report_url(assessment.assessment_id)
        model_card = settings.model_card_link(version)
        report = _with_query(report, self._links.query(report_subject(assessment.assessment_id)))
        if settings.model_card_url is None:
            model_card = _with_query(model_card, self._links.query(model_card_subject(version)))
        return report, model_card

    def _caseload_link(self, request: AssessmentRequest, *, practitioner: str) -> str:
        """A signed link to the caseload of the client's therapist, naming the practitioner
        the record system says has the record open (its JWT vouches for the call), who may
        then act on the alerts there."""
        query = caseload_query(
            self._links,
            clinic_id=request.client.clinic_id,
            therapist_id=request.client.therapist_id,
            practitioner=practitioner,
        )
        return f"{self._settings.public_base_url}/caseload?{query}"


def _with_query(url: str, query: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{query}"
