"""The instrument facts: ranges, cut-offs and reliable change values, each with its source.

This is the one table of instrument facts in the code base. The data contract, the labels,
the simulator, the feature function and the clinical signals all read from here, so a
corrected fact is corrected everywhere at once.

Sources are those collected in ``shared/research/domain.md``; a value marked
"(memory, unverified)" there is marked the same way here.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

#: 1.96 * sqrt(2): turns a reliable change index into the standard error of one administration
#: (Jacobson & Truax 1991, SEM = RCI / (1.96 * sqrt 2)).
_RCI_TO_SEM = 2.7718585822512662


@dataclass(frozen=True, slots=True)
class Instrument:
    """Facts about one session measure, as the data contract names it.

    Attributes:
        column: column name in the sessions table (data contract).
        label: the name a clinician knows it by.
        kind: ``"alliance"`` (relationship process) or ``"symptom"`` (outcome measure).
        low: lowest possible score.
        high: highest possible score.
        integer: whether the contract requires whole numbers.
        higher_is_better: True when a higher score means a stronger alliance or better
            functioning; False for distress measures (PHQ-9, GAD-7, OQ-45.2).
        clinical_cutoff: the score that separates the clinical from the non-clinical range
            (for alliance measures, the concern threshold). Scores on the "worse" side of it
            are of concern; ``None`` where no cut-off is established.
        reliable_change: the change in score that measurement error alone would produce in
            fewer than 5% of cases (reliable change index); ``None`` where not established.
        healthy_level: a typical score of people not in treatment, used as the asymptote of
            the expected recovery curve; ``None`` for alliance measures.
        rupture_drop: for alliance measures, the session-to-session fall that counts as an
            alliance rupture; ``None`` for symptom measures.
        severe_cutoff: for symptom measures, the score from which symptoms are severe (on the
            "worse" side, inclusive); ``None`` where not established.
        source: where these facts come from.
    """

    column: str
    label: str
    kind: Literal["alliance", "symptom"]
    low: float
    high: float
    integer: bool
    higher_is_better: bool
    clinical_cutoff: float | None
    reliable_change: float | None
    healthy_level: float | None
    source: str
    rupture_drop: float | None = None
    severe_cutoff: float | None = None

    @property
    def measurement_sem(self) -> float | None:
        """Standard error of measurement of one administration, derived from the RCI."""
        if self.reliable_change is None:
            return None
        return self.reliable_change / _RCI_TO_SEM

    def improvement(self, first: float, last: float) -> float:
        """Signed change from ``first`` to ``last``, positive when the client got better."""
        return (last - first) if self.higher_is_better else (first - last)

    def in_severe_range(self, score: float) -> bool:
        """Whether ``score`` lies in the severe range (at or beyond :attr:`severe_cutoff`)."""
        if self.severe_cutoff is None:
            return False
        if self.higher_is_better:
            return score <= self.severe_cutoff
        return score >= self.severe_cutoff

    def in_concern_range(self, score: float) -> bool:
        """Whether ``score`` lies on the concerning side of the clinical cut-off."""
        if self.clinical_cutoff is None:
            return False
        if self.higher_is_better:
            return score < self.clinical_cutoff
        return score >= self.clinical_cutoff


WAI_CLIENT = Instrument(
    column="wai_client",
    label="Client-rated alliance (WAI-SR)",
    kind="alliance",
    low=1.0,
    high=5.0,
    integer=False,
    higher_is_better=True,
    clinical_cutoff=None,
    reliable_change=None,
    healthy_level=None,
    source=(
        "Hatcher & Gillaspy 2006, Psychother Res (12 items rated 1-5; contract stores the item "
        "mean). No published cut-off: Rivet's bands are a vendor convention. Rupture: a fall of "
        "0.5 item points, about 1 SD of scores (the 1-2 SD session-to-session criterion of "
        "Stiles et al. 2004 / Strauss et al. 2006, PMC3320522)."
    ),
    rupture_drop=0.5,
)
WAI_THERAPIST = Instrument(
    column="wai_therapist",
    label="Therapist-rated alliance (WAI-SR-T)",
    kind="alliance",
    low=1.0,
    high=5.0,
    integer=False,
    higher_is_better=True,
    clinical_cutoff=None,
    reliable_change=None,
    healthy_level=None,
    source=(
        "Hatcher, Lindqvist & Falkenström 2019, Psychother Res 30:706-717 (therapist form). "
        "Rupture: a fall of 0.5 item points, as for the client form."
    ),
    rupture_drop=0.5,
)
SRS = Instrument(
    column="srs",
    label="Session Rating Scale",
    kind="alliance",
    low=0.0,
    high=40.0,
    integer=False,
    higher_is_better=True,
    clinical_cutoff=36.0,
    reliable_change=None,
    healthy_level=None,
    source=(
        "Duncan et al. 2003, J Brief Therapy 3(1):3-12 (4 items 0-10); cut-off: below 36 is an "
        "alliance concern (OpenFIT KA-01028; cauceos.com glossary). Rupture: a fall of 3 points, "
        "about 1 SD of scores; OpenFIT's 1-point rule is within measurement noise (test-retest "
        ".54-.70, SRS review 2020)."
    ),
    rupture_drop=3.0,
)
ORS = Instrument(
    column="ors",
    label="Outcome Rating Scale",
    kind="symptom",
    low=0.0,
    high=40.0,
    integer=False,
    higher_is_better=True,
    clinical_cutoff=25.0,
    reliable_change=5.0,
    healthy_level=32.0,
    source=(
        "Miller et al. 2003, J Brief Therapy 2(2):91-100; adult cut-off 25 (OpenFIT KA-01031); "
        "reliable change about 5 (memory, unverified); healthy level: above the cut-off "
        "(assumption for the expected recovery curve); severe: 10 or below (clinical review "
        "of this project, issue 23; ORS scores under 10 are rare in outpatients)."
    ),
    severe_cutoff=10.0,
)
OQ45 = Instrument(
    column="oq45",
    label="OQ-45.2",
    kind="symptom",
    low=0.0,
    high=180.0,
    integer=True,
    higher_is_better=False,
    clinical_cutoff=64.0,
    reliable_change=14.0,
    healthy_level=45.0,
    source=(
        "Lambert et al. 2004, OQ-45.2 Administration and Scoring Manual; RCI 14 "
        "(oqmeasures.com/faqs); total cut-off 63/64 (memory, unverified); healthy level: "
        "community mean about 45 (memory, unverified); severe: 105 or more (the clinical "
        "review of this project, issue 23; no published band found, unverified)."
    ),
    severe_cutoff=105.0,
)
PHQ9 = Instrument(
    column="phq9",
    label="PHQ-9",
    kind="symptom",
    low=0.0,
    high=27.0,
    integer=True,
    higher_is_better=False,
    clinical_cutoff=10.0,
    reliable_change=6.0,
    healthy_level=4.0,
    source=(
        "Kroenke, Spitzer & Williams 2001, J Gen Intern Med 16:606-613; caseness >= 10 and "
        "reliable change 6 (NHS Talking Therapies; McMillan et al. 2010); healthy level: "
        "minimal band 0-4; severe: 20-27 (Kroenke et al. 2001)."
    ),
    severe_cutoff=20.0,
)
GAD7 = Instrument(
    column="gad7",
    label="GAD-7",
    kind="symptom",
    low=0.0,
    high=21.0,
    integer=True,
    higher_is_better=False,
    clinical_cutoff=8.0,
    reliable_change=4.0,
    healthy_level=3.0,
    source=(
        "Spitzer et al. 2006, Arch Intern Med 166:1092-1097; caseness >= 8 and reliable "
        "change 4 (NHS Talking Therapies, PMC8411661); healthy level: minimal band 0-4; "
        "severe: 15-21 (Spitzer et al. 2006)."
    ),
    severe_cutoff=15.0,
)

#: Every session measure of the data contract, in contract column order.
INSTRUMENTS: MappingProxyType[str, Instrument] = MappingProxyType(
    {i.column: i for i in (WAI_CLIENT, WAI_THERAPIST, SRS, ORS, OQ45, PHQ9, GAD7)}
)
#: Session measures by column name, in contract order.
MEASURE_COLUMNS: tuple[str, ...] = tuple(INSTRUMENTS)
ALLIANCE_MEASURES: tuple[str, ...] = tuple(
    c for c, i in INSTRUMENTS.items() if i.kind == "alliance"
)
SYMPTOM_MEASURES: tuple[str, ...] = tuple(c for c, i in INSTRUMENTS.items() if i.kind == "symptom")

#: The order in which the poor_outcome label picks its outcome measure (data contract):
#: PHQ-9 and GAD-7 together, else OQ-45.2, else ORS.
OUTCOME_MEASURE_ORDER: tuple[tuple[str, ...], ...] = (("phq9", "gad7"), ("oq45",), ("ors",))

#: PHQ-9 item 9 ("thoughts that you would be better off dead, or of hurting yourself in some
#: way"), 0-3, as its own optional column (data contract revision 2). It is not a model
#: input: it feeds the self-harm safety signal only, which measurement-based-care platforms
#: raise whenever the item is endorsed (Blueprint, Modern Health, Total Brain; domain.md 1.4).
SELF_HARM_ITEM = "phq9_item9"
#: The PHQ-9 item's answer range and the total it must not exceed.
SELF_HARM_ITEM_RANGE = (0, 3)
SELF_HARM_ITEM_OF = "phq9"
#: Every score of a session row: the measures, then the item; a missed session has none.
SESSION_SCORE_COLUMNS: tuple[str, ...] = (*MEASURE_COLUMNS, SELF_HARM_ITEM)
