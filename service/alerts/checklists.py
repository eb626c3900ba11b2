"""Help keyed to the problem: a short checklist per alert kind, each with its sources.

Data only. The domains are those of the clinical support tools that improve outcomes for
clients who are not on track (OQ-Analyst's Assessment for Signal Clients: alliance,
motivation, social support, life events; the Trier Treatment Navigator's five fields, crisis
and suicidality first); outcome monitoring with such tools reaches g about 0.36-0.53, against
about 0.15 without (Psychotherapy Research 2023, doi 10.1080/10503307.2023.2181114). Each
item says no more than its source supports, as an option for the clinician, not an order.
For safety the service's own risk protocol comes first, in the operator's words; the
checklist adds nothing that could be read as replacing it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Checklist:
    """What may help with one kind of alert.

    Attributes:
        title: The problem, in the clinic's words.
        items: What to consider, in order.
        sources: Where each item comes from.
    """

    title: str
    items: tuple[str, ...]
    sources: tuple[str, ...]


_ROM_WITH_TOOLS = (
    "Routine outcome monitoring and feedback: research review and recommendations, "
    "Psychotherapy Research 2023, doi 10.1080/10503307.2023.2181114"
)
_TRIER = (
    "Trier Treatment Navigator, clinical support fields (Verhaltenstherapie 29(3):145; "
    "Hogrefe Z Klin Psychol Psychother, doi 10.1026/1616-3443/a000518)"
)
_ASC = (
    "Assessment for Signal Clients as a feedback tool, Psychother Res 2015 25(6):724-734, "
    "PMID 25751744"
)

SAFETY_NOTE = "The model's estimates do not replace your service's risk protocol; follow it first."
"""Printed under the protocol on every safety alert."""

CHECKLISTS: dict[str, Checklist] = {
    "safety": Checklist(
        title="Safety: thoughts of death or self-harm were reported",
        items=(
            "Follow up the answer with the client today: any answer above 0 on a critical "
            "item needs a clinician's follow-up.",
            "Record the risk assessment and what was agreed.",
        ),
        sources=(
            "OQ-45.2 scoring guidance: any non-zero answer on a critical item (suicide "
            "among them) needs follow-up",
            "Products that flag PHQ-9 item 9 let only staff clear the flag (Blueprint's "
            "high-risk flag, ebchelp.blueprint.ai 5776499)",
            _TRIER,
        ),
    ),
    "alliance_rupture": Checklist(
        title="Working alliance: a drop between sessions (a rupture)",
        items=(
            "Name the drop with the client.",
            "Explore together what changed in the work or the relationship.",
            "Repair: resolved ruptures go with better outcomes than unresolved ones.",
        ),
        sources=(
            "Safran, Muran & Eubanks-Carter 2011, Psychotherapy 48(1):80-87",
            "Eubanks, Muran & Safran 2018, Psychotherapy 55(4):508-519",
            "Chen et al. 2016: therapists' recognition of ruptures moderates change, "
            "doi 10.1080/10503307.2016.1227104",
        ),
    ),
    "missed_appointments": Checklist(
        title="Motivation and attendance: two appointments missed in a row",
        items=(
            "Reach out and ask about practical barriers to attending.",
            "Revisit the client's goals for therapy and their motivation for it.",
        ),
        sources=(
            _ASC,
            _TRIER,
            "Jankowsky, Zimmermann, Jaeger, Mestel & Schroeders 2024, Psychother Res, doi "
            "10.1080/10503307.2024.2411985: therapist-rated initial motivation among the "
            "strongest dropout predictors",
        ),
    ),
    "reliable_deterioration": Checklist(
        title="Symptoms off track: reliably worse than at the start",
        items=(
            "Review the treatment plan with the client.",
            "Consider stepping up care, or discussing the case in supervision.",
            "Ask about social support and recent stressful life events.",
        ),
        sources=(
            "Reliable deterioration: worse by at least the instrument's reliable change "
            "(Jacobson & Truax 1991; PHQ-9 6 and GAD-7 4 as in NHS Talking Therapies, "
            "OQ-45.2 14, ORS 5)",
            "Whipple et al. 2003, JCP 50(1):59-68: feedback with clinical support tools",
            _ASC,
            _ROM_WITH_TOOLS,
        ),
    ),
    "high_risk": Checklist(
        title="High estimated risk",
        items=(
            "Review the factors behind the estimate in the report.",
            "Check alliance and motivation with the client: together they mark one group "
            "of clients who are off track.",
            "Ask about social support and recent stressful life events: the other group.",
        ),
        sources=(_ASC, _TRIER, _ROM_WITH_TOOLS),
    ),
}
"""The checklist of each alert kind (:data:`service.audit.ALERT_KINDS`)."""
