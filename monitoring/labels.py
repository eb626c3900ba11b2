"""Realised labels for monitoring: how the assessed clients' episodes actually ended.

The same reconstruction as ``dropout-risk export`` and the same label rules as training
(:func:`features.labels.derive_labels`), so a realised AUROC in the monitoring report is the
one a retraining on the export would measure. Clients whose episode has not ended, was
referred, or is left out of the export for contradicting records have no label.
"""

from __future__ import annotations

from collections.abc import Iterable

from features.labels import derive_labels
from features.vocabulary import OUTCOMES
from monitoring.export import reconstruct_extract
from monitoring.records import StoredAssessment, StoredOutcome


def outcome_labels(
    latest: Iterable[StoredAssessment], outcomes: Iterable[StoredOutcome]
) -> dict[str, dict[str, float]]:
    """Per outcome, ``{client_id: 1.0 or 0.0}`` for every assessed client with a label.

    Args:
        latest: Each client's latest assessment (its most complete view of the episode).
        outcomes: Every stored outcome report.
    """
    rebuilt = reconstruct_extract(assessments=latest, outcomes=outcomes)
    if rebuilt.clients.empty:
        return {outcome: {} for outcome in OUTCOMES}
    labels = derive_labels(rebuilt.clients, rebuilt.sessions)
    return {
        outcome: {str(client): float(value) for client, value in labels[outcome].dropna().items()}
        for outcome in OUTCOMES
    }
