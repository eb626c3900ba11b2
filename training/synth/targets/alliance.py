"""Targets on the alliance: its link to dropout and outcome, its levels, and ruptures.

Targets 3, 4, 9 and 10 of domain.md. The rupture-consequence checks read the simulator's
latent rupture events (an observed-only detector would see weaker effects, because
ceiling effects hide many drops); everything else is computed from the extract.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.instruments import INSTRUMENTS
from training.synth.targets.check import TargetCheck
from training.synth.targets.extract import Extract
from training.synth.targets.statistics import cohen_d, correlation, early_mean, last_valid

__all__ = [
    "alliance_dropout_checks",
    "alliance_level_checks",
    "alliance_outcome_checks",
    "rupture_checks",
]

#: A rupture is a session-to-session drop in client-rated alliance of at least this many
#: between-client SDs (the looser of the 1-2 SD criteria in use, PMC3320522).
_RUPTURE_DROP_SD = 1.0


def alliance_dropout_checks(*, extract: Extract) -> list[TargetCheck]:
    """Target 3: early alliance separates dropouts from completers, equally by rater."""
    dropout = extract.dropout
    d = {}
    for column in ("wai_client", "wai_therapist", "srs"):
        early = early_mean(extract.scores[column])
        d[column] = cohen_d(early[dropout == 0], early[dropout == 1])
    source = "target 3: d = .55, no difference by rater (Sharf et al. 2010)"
    return [
        TargetCheck(
            "alliance-dropout d, client WAI-SR (sessions 1-3)", d["wai_client"], 0.40, 0.70, source
        ),
        TargetCheck(
            "alliance-dropout d, therapist WAI-SR (sessions 1-3)",
            d["wai_therapist"],
            0.40,
            0.70,
            source,
        ),
        TargetCheck("alliance-dropout d, SRS (sessions 1-3)", d["srs"], 0.35, 0.70, source),
        TargetCheck(
            "alliance-dropout d, client minus therapist rater",
            abs(d["wai_client"] - d["wai_therapist"]),
            0.0,
            0.15,
            source,
        ),
    ]


def alliance_outcome_checks(*, extract: Extract) -> list[TargetCheck]:
    """Target 4: alliance goes with improvement, both ways and one session apart."""
    alliance = extract.client_alliance()
    improvement, _ = extract.outcome_series()
    final = last_valid(improvement)
    ended = ~np.isnan(extract.dropout)
    r_outcome = correlation(early_mean(alliance)[ended], final[ended])
    # Lagged pairs over sessions 1-7: alliance at t with symptom change t -> t+1, and
    # symptom change up to t with alliance change t -> t+1 (Flückiger et al. 2020).
    window = min(7, alliance.shape[1])
    a_now, a_next = alliance[:, : window - 1], alliance[:, 1:window]
    s_now, s_next = improvement[:, : window - 1], improvement[:, 1:window]
    forward = correlation(a_now.ravel(), (s_next - s_now).ravel())
    backward = correlation(s_now.ravel(), (a_next - a_now).ravel())
    return [
        TargetCheck(
            "alliance-outcome r (early client alliance vs improvement)",
            r_outcome,
            0.20,
            0.36,
            "target 4: r = .28 (Flückiger et al. 2018)",
        ),
        TargetCheck(
            "lagged r: alliance -> next-session symptom change",
            forward,
            0.02,
            0.30,
            "target 4: reciprocal lagged effects (Flückiger et al. 2020)",
        ),
        TargetCheck(
            "lagged r: symptom improvement -> next-session alliance change",
            backward,
            0.02,
            0.30,
            "target 4: reciprocal lagged effects (Flückiger et al. 2020)",
        ),
    ]


def alliance_level_checks(*, extract: Extract) -> list[TargetCheck]:
    """Target 9: alliance ratings bunch near the ceiling; therapists rate lower."""
    srs = extract.scores["srs"]
    srs = srs[~np.isnan(srs)]
    client, therapist = extract.scores["wai_client"], extract.scores["wai_therapist"]
    both = ~np.isnan(client) & ~np.isnan(therapist)
    return [
        TargetCheck(
            "SRS administrations at or above 36",
            float(np.mean(srs >= INSTRUMENTS["srs"].clinical_cutoff)),
            0.60,
            0.90,
            "target 9: SRS mostly 36-40 (hiboop; OpenFIT)",
        ),
        TargetCheck(
            "client WAI-SR item mean",
            float(np.nanmean(client)),
            3.7,
            4.3,
            "target 9: item means ~4 of 5 (memory, unverified)",
        ),
        TargetCheck(
            "client minus therapist WAI-SR, g (same sessions)",
            cohen_d(client[both], therapist[both]),
            0.28,
            0.53,
            "target 9: g = 0.41 [0.28-0.53] (Lev Ari et al. 2025)",
        ),
        TargetCheck(
            "client-therapist WAI-SR agreement r (same sessions)",
            correlation(client[both], therapist[both]),
            0.20,
            0.50,
            "target 9: low within-dyad agreement (PMC3330579); r ~ .36 (Tryon 2007, memory)",
        ),
    ]


def rupture_checks(*, extract: Extract, latent: pd.DataFrame) -> list[TargetCheck]:
    """Target 10: how often ruptures show, and what repaired and unrepaired ones do."""
    alliance = extract.client_alliance()
    compact = np.take_along_axis(
        alliance, np.argsort(np.isnan(alliance), axis=1, kind="stable"), axis=1
    )
    count = np.sum(~np.isnan(compact), axis=1)
    drops = np.diff(compact, axis=1) <= -_RUPTURE_DROP_SD
    eligible = extract.completed & (count >= 5)
    ruptured = drops.any(axis=1)

    # Consequences, from the latent events: among clients booked for a sixth session, a
    # rupture by session 4 has been repaired or not by session 6.
    onset = latent["rupture_session"].to_numpy(dtype=float, na_value=np.nan)
    repaired = latent["rupture_repaired"].to_numpy(dtype=bool)
    reached = extract.booked[:, 5] if extract.booked.shape[1] > 5 else np.zeros(len(onset), bool)
    early = reached & (onset <= 4)
    groups = {
        "none": reached & ~(onset <= 6),
        "repaired": early & repaired,
        "unrepaired": early & ~repaired,
    }
    dropout = extract.dropout
    rate = {k: np.nanmean(dropout[v]) for k, v in groups.items()}
    improvement, _ = extract.outcome_series()
    final = last_valid(improvement)
    spread = np.nanstd(final[extract.completed])
    gain = {k: np.nanmean(final[v & extract.completed]) for k, v in groups.items()}
    source = "target 10: unrepaired ruptures worsen outcome and raise dropout (McLaughlin 2014)"
    return [
        TargetCheck(
            "completers with a rupture (client alliance drop >= 1 SD)",
            float(np.mean(ruptured[eligible])),
            0.35,
            0.60,
            "target 10: ~half of cases (Stevens 2007: 50%; McLaughlin 2014: 46%)",
        ),
        TargetCheck(
            "dropout after unrepaired rupture / no rupture",
            float(rate["unrepaired"] / rate["none"]),
            1.3,
            4.0,
            source,
        ),
        TargetCheck(
            "dropout after repaired rupture / no rupture",
            float(rate["repaired"] / rate["none"]),
            0.4,
            1.25,
            "target 10: repaired ruptures do not raise dropout (Safran et al. 2011)",
        ),
        TargetCheck(
            "improvement deficit after unrepaired rupture (SD)",
            float((gain["none"] - gain["unrepaired"]) / spread),
            0.20,
            0.80,
            source + "; beta = .45",
        ),
        TargetCheck(
            "improvement deficit after repaired rupture (SD)",
            float((gain["none"] - gain["repaired"]) / spread),
            -0.40,
            0.10,
            "target 10: resolved ruptures do as well or better (Eubanks et al. 2018)",
        ),
    ]
