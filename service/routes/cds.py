"""CDS Hooks 2.0: discovery, the patient-view service, and card feedback."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["CDS Hooks"])
