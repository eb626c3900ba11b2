"""What a simulated cohort achieves on the generator targets of domain.md, and the ranges.

Each check is computed from the extract as a data scientist would see it (labels from
:func:`features.labels.derive_labels`; the discrimination checks with the project's own
features and estimators), except the rupture-consequence checks, which need the
simulator's latent rupture events. Ranges are those of domain.md section "Implications for
a synthetic-data generator" (cited as "target N"), widened only where the source gives a
point value. One module per family of targets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from training.synth.targets.alliance import (
    alliance_dropout_checks,
    alliance_level_checks,
    alliance_outcome_checks,
    rupture_checks,
)
from training.synth.targets.check import TargetCheck
from training.synth.targets.discrimination import discrimination_checks
from training.synth.targets.episodes import attendance_checks, episode_checks, predictor_checks
from training.synth.targets.extract import Extract
from training.synth.targets.measurement import reliability_checks
from training.synth.targets.outcomes import (
    completer_outcome_checks,
    deterioration_signal_checks,
    intake_checks,
    trajectory_checks,
)
from training.synth.targets.therapists import therapist_checks

if TYPE_CHECKING:
    from training.synth.tables import Cohort

__all__ = ["TargetCheck", "achieved_targets"]


def achieved_targets(cohort: Cohort, *, fit_models: bool = True) -> list[TargetCheck]:
    """Every generator target of domain.md, as achieved by ``cohort``.

    Args:
        cohort: a simulated cohort (a few thousand clients or more; 20,000 gives stable
            values).
        fit_models: whether to include the discrimination targets (12 and 13), which fit
            logistic regressions and boosted trees and take most of the time.

    Returns:
        One :class:`TargetCheck` per target, in domain.md order.
    """
    extract = Extract.build(cohort)
    return [
        *episode_checks(extract=extract),
        *alliance_dropout_checks(extract=extract),
        *alliance_outcome_checks(extract=extract),
        *trajectory_checks(extract=extract),
        *completer_outcome_checks(extract=extract),
        *intake_checks(extract=extract),
        *alliance_level_checks(extract=extract),
        *rupture_checks(extract=extract, latent=cohort.latent),
        *reliability_checks(extract=extract),
        *predictor_checks(extract=extract),
        *(discrimination_checks(cohort=cohort) if fit_models else []),
        *therapist_checks(extract=extract),
        *attendance_checks(extract=extract),
        *deterioration_signal_checks(extract=extract),
    ]
