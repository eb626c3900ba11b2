"""FHIR R4 out: an assessment as one RiskAssessment per outcome, in a collection Bundle.

Each RiskAssessment carries the calibrated probability as a 0-1 fraction
(``probabilityDecimal``), the risk level as an HL7 risk-probability code, the top factors as
its rationale and the Encounters and Observations used as its basis (docs/fhir.md). Every
resource is validated with the fhir.resources R4B model, and the invariants that model does
not check (ras-1, ras-2, bdl-1, bdl-2) are checked here, before anything is returned.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.riskassessment import RiskAssessment

from features.signals import SAFETY_SIGNALS
from service.fhir.codes import (
    ASSESSMENT_ID_SYSTEM,
    ASSESSMENT_TYPES,
    OUR_SYSTEM,
    OUTCOMES,
    PROBABILITY_INTERVAL_URL,
    RISK_LEVEL_DISPLAY,
    RISK_PROBABILITY,
)
from service.schemas import AssessmentResponse, OutcomeRiskOut

DECISION_SUPPORT = (
    "Decision support, not a diagnosis: the probability is a calibrated fraction from 0 to 1 "
    "(0.3 means about 3 in 10 similar clients had this outcome); weigh it with your own "
    "clinical judgement and the client's view."
)
_UCUM = "http://unitsofmeasure.org"


def risk_assessments(
    response: AssessmentResponse,
    *,
    patient_reference: str | dict[str, Any],
    basis_references: Sequence[dict[str, Any]] = (),
    occurrence: datetime,
) -> list[dict[str, Any]]:
    """One validated R4 RiskAssessment per outcome (dropout, then poor outcome).

    Args:
        response: the assessment, as the JSON API returns it.
        patient_reference: the Patient, as ``"Patient/123"`` or a Reference object.
        basis_references: References to the resources the assessment used.
        occurrence: when the assessment was made (timezone-aware).

    Returns:
        The resources as JSON objects, with ids derived from the assessment id (so the
        same assessment always yields the same ids).
    """
    subject = (
        {"reference": patient_reference}
        if isinstance(patient_reference, str)
        else dict(patient_reference)
    )
    model = response.model
    method_text = f"{model.name} model version {model.version}"
    resources = []
    for outcome, (outcome_code, outcome_display) in OUTCOMES.items():
        risk: OutcomeRiskOut = getattr(response, outcome)
        type_code, type_display = ASSESSMENT_TYPES[outcome]
        outcome_concept = _concept(OUR_SYSTEM, outcome_code, outcome_display)
        outcome_concept["text"] = risk.outcome[:1].upper() + risk.outcome[1:]  # this client's
        low, high = risk.probability_interval
        prediction = {
            "extension": [
                {
                    "url": PROBABILITY_INTERVAL_URL,
                    "valueRange": {"low": {"value": low}, "high": {"value": high}},
                }
            ],
            "outcome": outcome_concept,
            "probabilityDecimal": risk.probability,
            "qualitativeRisk": _concept(
                RISK_PROBABILITY, risk.risk_level, RISK_LEVEL_DISPLAY[risk.risk_level]
            ),
        }
        if risk.base_rate:
            # R4 relativeRisk: this client's risk over that of the model's training clients.
            prediction["relativeRisk"] = round(risk.probability / risk.base_rate, 2)
        if risk.factors:
            prediction["rationale"] = "Top factors: " + " ".join(f.text for f in risk.factors)
        resource = {
            "resourceType": "RiskAssessment",
            "id": str(uuid.uuid5(uuid.UUID(response.assessment_id), outcome)),
            "identifier": [{"system": ASSESSMENT_ID_SYSTEM, "value": response.assessment_id}],
            "status": "final",
            "code": _concept(OUR_SYSTEM, type_code, type_display),
            "method": {
                "coding": [
                    {
                        "system": OUR_SYSTEM,
                        "code": model.name,
                        "version": model.version,
                        "display": method_text,
                    }
                ],
                "text": method_text,
            },
            "subject": subject,
            "occurrenceDateTime": occurrence.isoformat(),
            "prediction": [prediction],
            "note": _notes(response),
        }
        if basis_references:
            resource["basis"] = [dict(reference) for reference in basis_references]
        _check(resource)
        resources.append(resource)
    return resources


def result_bundle(resources: Sequence[dict[str, Any]], *, timestamp: datetime) -> dict[str, Any]:
    """A validated ``collection`` Bundle of ``resources`` (each addressed by ``urn:uuid``)."""
    bundle = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "collection",
        "timestamp": timestamp.isoformat(),
        "entry": [
            {"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource}
            for resource in resources
        ],
    }
    Bundle.model_validate(bundle)
    problems = check_bundle_invariants(bundle)
    if problems:
        raise ValueError(f"produced an invalid Bundle: {problems}")
    return bundle


def check_ras_invariants(resource: dict[str, Any]) -> list[str]:
    """The RiskAssessment invariants fhir.resources does not check; empty when all hold.

    ras-1: ``probabilityRange`` low and high are percentages (UCUM ``%``), if present.
    ras-2: ``probabilityDecimal`` is at most 100; we send fractions, so we also require 0..1.
    """
    problems = []
    for number, prediction in enumerate(resource.get("prediction") or ()):
        where = f"RiskAssessment.prediction[{number}]"
        for end in ("low", "high"):
            quantity = (prediction.get("probabilityRange") or {}).get(end)
            if quantity is None:
                continue
            if quantity.get("code") != "%" or quantity.get("system") != _UCUM:
                problems.append(f"ras-1: {where}.probabilityRange.{end} must be a UCUM %")
            elif not 0 <= quantity.get("value", 0) <= 100:
                problems.append(f"ras-1: {where}.probabilityRange.{end} must be 0 to 100")
        probability = prediction.get("probabilityDecimal")
        if probability is not None and not 0 <= probability <= 1:
            problems.append(f"ras-2: {where}.probabilityDecimal must be a fraction 0 to 1")
    return problems


def check_bundle_invariants(bundle: dict[str, Any]) -> list[str]:
    """bdl-1 (``total`` only in a search or history) and bdl-2 (``entry.search`` in a search)."""
    problems = []
    searching = bundle.get("type") in ("searchset", "history")
    if "total" in bundle and not searching:
        problems.append("bdl-1: total only when a search or history")
    if bundle.get("type") != "searchset":
        for number, entry in enumerate(bundle.get("entry") or ()):
            if "search" in entry:
                problems.append(f"bdl-2: Bundle.entry[{number}].search only in a search")
    return problems


def _check(resource: dict[str, Any]) -> None:
    """Refuse to hand out a RiskAssessment that R4B or its invariants reject (a bug here)."""
    RiskAssessment.model_validate(resource)
    problems = check_ras_invariants(resource)
    if problems:
        raise ValueError(f"produced an invalid RiskAssessment: {problems}")


def _concept(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


def _notes(response: AssessmentResponse) -> list[dict[str, str]]:
    # Safety first: a safety signal leads, before anything the model says.
    notes = [
        {"text": f"Safety signal: {signal.text}"}
        for signal in response.signals
        if signal.code in SAFETY_SIGNALS
    ]
    notes.append({"text": DECISION_SUPPORT})
    others = [s for s in response.signals if s.code not in SAFETY_SIGNALS]
    if others:
        flags = " ".join(signal.text for signal in others)
        notes.append({"text": f"Clinical signals (rule-based, beside the model): {flags}"})
    if response.data_gaps:
        notes.append({"text": f"Not recorded so far: {', '.join(response.data_gaps)}."})
    notes.extend({"text": warning} for warning in response.warnings)
    return notes
