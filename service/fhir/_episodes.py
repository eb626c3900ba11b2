"""The episode's intake date: the start of its EpisodeOfCare, else the first session's date.

Which EpisodeOfCare (docs/fhir.md, "The client row"): of the Patient's EpisodeOfCare
resources that are not ``cancelled`` or ``entered-in-error`` and have a ``period.start``,
those the sessions' Encounters name in ``Encounter.episodeOfCare`` if any do, else all of
them; of these, the latest one that starts on or before the first session (the current
episode: an earlier one is a past episode of care). When none qualifies, the intake date is
the first session's date, as without an EpisodeOfCare.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from service.fhir._resources import Located, ReferenceIndex, day_and_time, refers_to
from service.fhir._sessions import Visit

#: EpisodeOfCare statuses of an episode that never took place.
_NOT_AN_EPISODE = frozenset({"cancelled", "entered-in-error"})


def intake_of(
    episodes: Sequence[Located], visits: Sequence[Visit], patient: Located, index: ReferenceIndex
) -> tuple[date, str] | None:
    """The intake date and the FHIR path it came from, when an EpisodeOfCare gives it."""
    if not episodes or not visits:
        return None
    named = {
        id(found)
        for visit in visits
        if visit.source.kind == "Encounter"
        for reference in visit.source.model.episodeOfCare or ()
        if (found := index.resolve(reference)) is not None
    }
    candidates = []
    for episode in episodes:
        model = episode.model
        if model.status in _NOT_AN_EPISODE or not refers_to(model.patient, patient, index):
            continue
        start = day_and_time(model.period.start) if model.period and model.period.start else None
        if start is None:
            continue
        candidates.append((start[0], episode))
    if named:
        candidates = [(day, episode) for day, episode in candidates if id(episode) in named]
    first_session = visits[0].day
    current = [(day, episode) for day, episode in candidates if day <= first_session]
    if not current:
        return None
    day, episode = max(current, key=lambda pair: pair[0])
    return day, f"{episode.path}.period.start"
