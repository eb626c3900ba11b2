"""FHIR R4: score a client sent as a FHIR Bundle, answer with RiskAssessments."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["FHIR R4"])
