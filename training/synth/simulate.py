"""Simulate a cohort: the setting once, then clients in blocks, then the tables.

Everything is vectorised over clients: the only Python loops run over session numbers.
"""

from __future__ import annotations

import numpy as np

from training.synth.clients import draw_clients
from training.synth.courses import latent_courses
from training.synth.endings import endings
from training.synth.observe import Block, observe
from training.synth.params import SimulationParams, check_params
from training.synth.setting import Setting, draw_setting
from training.synth.tables import Cohort, assemble_cohort

__all__ = ["simulate_cohort"]

#: Clients are simulated in blocks of this many so that memory stays bounded for large
#: cohorts. It is a constant (not a parameter) because the random streams depend on it.
_BLOCK_SIZE = 250_000


def simulate_cohort(
    *, n_clients: int, seed: int, params: SimulationParams | None = None
) -> Cohort:
    """Simulate a contract-valid extract of ``n_clients`` episodes.

    The same ``n_clients``, ``seed`` and ``params`` always give the same cohort.

    The oracle probabilities condition on everything the simulator draws before the
    episode's ending is decided: the latent traits, therapist and clinic effects, the
    latent symptom and alliance courses over all ``max_sessions`` appointments (with their
    ruptures and sudden gains), the planned length, which appointments the client would
    miss anyway and which measures would be missing. They integrate over the rest: the
    appointment-by-appointment leave or refer draws and each score's measurement error.
    ``dropout_probability`` is P(dropout | the episode ends as completed or dropout), i.e.
    the label's probability ignoring referral and censoring; ``poor_outcome_probability``
    is P(poor outcome | the episode ends with a poor-outcome label). Rounding and clipping
    of the final scores are approximated by a continuity correction.

    Args:
        n_clients: number of episodes (clients), at least 1.
        seed: seed of the random streams.
        params: simulation parameters; the defaults reproduce domain.md's targets.

    Returns:
        The cohort: clients, sessions, oracle and latent tables.

    Raises:
        ValueError: ``n_clients`` is below 1 or a parameter is out of range.
    """
    params = params or SimulationParams()
    check_params(params=params, n_clients=n_clients)
    streams = np.random.SeedSequence(seed).spawn(1 + -(-n_clients // _BLOCK_SIZE))
    setting = draw_setting(
        params=params, n_clients=n_clients, rng=np.random.default_rng(streams[0])
    )
    blocks = [
        _simulate_block(
            n=min(_BLOCK_SIZE, n_clients - start),
            rng=np.random.default_rng(stream),
            params=params,
            setting=setting,
        )
        for start, stream in zip(range(0, n_clients, _BLOCK_SIZE), streams[1:], strict=True)
    ]
    return assemble_cohort(blocks=blocks, setting=setting, n_clients=n_clients)


def _simulate_block(
    *, n: int, rng: np.random.Generator, params: SimulationParams, setting: Setting
) -> Block:
    """One block of ``n`` clients, from intake to the clinic's records, on one stream."""
    base = draw_clients(n=n, rng=rng, params=params, setting=setting)
    course = latent_courses(base=base, rng=rng, params=params, setting=setting)
    ending = endings(base=base, course=course, rng=rng, params=params, setting=setting)
    return observe(
        base=base, course=course, ending=ending, rng=rng, params=params, setting=setting
    )
