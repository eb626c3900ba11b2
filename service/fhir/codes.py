"""The code systems and codes the FHIR mapping reads and writes (documented in docs/fhir.md).

Questionnaire totals with a LOINC code are read by LOINC; the others, and the outcomes and
the model, use one local code system of ours (:data:`OUR_SYSTEM`). Every measure maps to a
sessions column of the data contract, so ranges come from :mod:`features.instruments`.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from features.instruments import INSTRUMENTS, SELF_HARM_ITEM

LOINC = "http://loinc.org"
#: Our one local code system: measures without a LOINC total code, outcomes and the model.
OUR_SYSTEM = "https://dropout-risk.org/fhir/CodeSystem/measures"
#: Identifier system of assessment ids (the audit store's key).
ASSESSMENT_ID_SYSTEM = "https://dropout-risk.org/fhir/sid/assessment-id"
ALERT_ID_SYSTEM = "https://dropout-risk.org/fhir/sid/alert-id"
ALERT_KIND_SYSTEM = "https://dropout-risk.org/fhir/CodeSystem/alert-kinds"
FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"
RISK_PROBABILITY = "http://terminology.hl7.org/CodeSystem/risk-probability"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
UCUM = "http://unitsofmeasure.org"

_STRUCTURE = "https://dropout-risk.org/fhir/StructureDefinition"
#: Patient extension, ``valueCode`` in the contract's primary_concern categories.
PRIMARY_CONCERN_URL = f"{_STRUCTURE}/primary-concern"
#: Patient extension, ``valueBoolean``: treated for the same problem before.
PRIOR_TREATMENT_URL = f"{_STRUCTURE}/prior-treatment"
#: Extension on RiskAssessment.prediction: the probability's Venn-Abers interval as a
#: valueRange of 0-1 fractions (R4 allows probabilityDecimal or probabilityRange, not both,
#: and the point probability stays the decimal; docs/fhir.md).
PROBABILITY_INTERVAL_URL = f"{_STRUCTURE}/probability-interval"


@dataclass(frozen=True, slots=True)
class MeasureCode:
    """How one questionnaire total is coded in FHIR.

    Attributes:
        column: the sessions column of the data contract.
        system: code system URL.
        code: code in ``system``.
        display: display name sent and documented.
    """

    column: str
    system: str
    code: str
    display: str

    @property
    def label(self) -> str:
        """The instrument's clinical name (from :mod:`features.instruments`)."""
        if self.column == SELF_HARM_ITEM:
            return "PHQ-9 item 9"
        return INSTRUMENTS[self.column].label


MEASURES: tuple[MeasureCode, ...] = (
    MeasureCode(
        "phq9",
        LOINC,
        "44261-6",
        "Patient Health Questionnaire 9 item (PHQ-9) total score [Reported]",
    ),
    MeasureCode(
        "gad7",
        LOINC,
        "70274-6",
        "Generalized anxiety disorder 7 item (GAD-7) total score [Reported.PHQ]",
    ),
    # PHQ-9 item 9 (data contract revision 2) as an item-level Observation: it feeds the
    # self-harm safety signal. LOINC 44260-8 (loinc.org; shared/research/next.md).
    MeasureCode(
        SELF_HARM_ITEM,
        LOINC,
        "44260-8",
        "Thoughts that you would be better off dead, or of hurting yourself in some way",
    ),
    MeasureCode("srs", OUR_SYSTEM, "srs", "Session Rating Scale (SRS) total score"),
    MeasureCode("ors", OUR_SYSTEM, "ors", "Outcome Rating Scale (ORS) total score"),
    MeasureCode("oq45", OUR_SYSTEM, "oq45", "Outcome Questionnaire-45.2 (OQ-45.2) total score"),
    MeasureCode(
        "wai_client",
        OUR_SYSTEM,
        "wai-client",
        "Working Alliance Inventory short revised (WAI-SR), client form, mean item score",
    ),
    MeasureCode(
        "wai_therapist",
        OUR_SYSTEM,
        "wai-therapist",
        "Working Alliance Inventory short revised (WAI-SR), therapist form, mean item score",
    ),
)
#: Measures by (system, code), as read from ``Observation.code.coding``.
MEASURE_BY_CODING: MappingProxyType[tuple[str, str], MeasureCode] = MappingProxyType(
    {(m.system, m.code): m for m in MEASURES}
)
MEASURE_BY_COLUMN: MappingProxyType[str, MeasureCode] = MappingProxyType(
    {m.column: m for m in MEASURES}
)

#: The two predicted outcomes: (code in OUR_SYSTEM, display), by response field.
OUTCOMES: MappingProxyType[str, tuple[str, str]] = MappingProxyType(
    {
        "dropout": ("dropout", "Dropout: client ends therapy without agreement"),
        "poor_outcome": (
            "poor-outcome",
            "Poor outcome: no reliable recovery, or reliable deterioration for a client who "
            "starts below the clinical range",
        ),
    }
)
#: RiskAssessment.code (type of assessment) per outcome: (code in OUR_SYSTEM, display).
ASSESSMENT_TYPES: MappingProxyType[str, tuple[str, str]] = MappingProxyType(
    {
        "dropout": ("dropout-risk", "Psychotherapy dropout risk"),
        "poor_outcome": ("poor-outcome-risk", "Psychotherapy poor-outcome risk"),
    }
)
#: Our risk levels are the HL7 risk-probability codes of the same name.
RISK_LEVEL_DISPLAY: MappingProxyType[str, str] = MappingProxyType(
    {"low": "Low likelihood", "moderate": "Moderate likelihood", "high": "High likelihood"}
)

#: Patient.gender (administrative-gender) -> the contract's gender.
GENDER: MappingProxyType[str, str] = MappingProxyType(
    {"female": "female", "male": "male", "other": "nonbinary", "unknown": "unknown"}
)
