"""The model serving: what it is, how good it was on held-out clients, and reloading it."""

from __future__ import annotations

import logging

from fastapi import APIRouter

from features.vocabulary import OUTCOMES
from models.risk_levels import level_meaning
from service.deps import Admin, KeeperDep, ModelReader, ServedModelDep
from service.errors import ApiError, ErrorOut
from service.lifecycle import ModelRefusedError, RegistryUnavailableError
from service.routes._responses import error_responses
from service.schemas.operations import (
    CurrentModelOut,
    LevelOut,
    OutcomeModelOut,
    RegistryOut,
    ReloadOut,
    ThresholdsOut,
)

_log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/models", tags=["models"])


@router.get("/current", responses=error_responses(401, 403, 429, 503), summary="The model serving")
def read_current_model(
    _caller: ModelReader, served: ServedModelDep, keeper: KeeperDep
) -> CurrentModelOut:
    """Its registered name, version and alias, held-out metrics, risk-level thresholds and
    model card, and the state of the registry. Scope `models:read`."""
    model = served.model
    outcomes = {}
    for outcome in OUTCOMES:
        outcome_model = model.outcome_model(outcome)
        thresholds = outcome_model.thresholds
        outcomes[outcome] = OutcomeModelOut(
            thresholds=ThresholdsOut(
                moderate=thresholds.moderate,
                high=thresholds.high,
                rule=thresholds.rule,
                levels={
                    level: LevelOut(
                        **{k: (None if v != v else v) for k, v in vars(summary).items()},
                        meaning=level_meaning(outcome, level, thresholds),
                    )
                    for level, summary in thresholds.levels.items()
                },
                base_rate=thresholds.base_rate,
            ),
            base_rate=outcome_model.base_rate,
            metrics=served.metrics.get(outcome, {}),
        )
    trained_at = model.metadata.get("trained_at")
    return CurrentModelOut(
        name=served.name,
        version=served.version,
        alias=served.alias,
        trained_at=None if trained_at is None else str(trained_at),
        loaded_at=served.loaded_at,
        run_id=served.run_id,
        max_landmark=model.max_landmark,
        gate=model.metadata.get("gate"),
        outcomes=outcomes,
        model_card=model.model_card,
        registry=RegistryOut(**vars(keeper.status)),
    )


@router.post(
    "/reload",
    responses=error_responses(401, 403, 429)
    | {
        503: {
            "model": ErrorOut,
            "description": "The registry could not be read (`registry_unavailable`); "
            "the service keeps its model.",
        }
    },
    summary="Follow the alias now",
)
def reload_model(_caller: Admin, keeper: KeeperDep) -> ReloadOut:
    """Check where the alias points and switch to that version if it moved, without waiting
    for the next poll; requests in flight finish on the version they started with.
    Scope `admin`."""
    before = keeper.current
    try:
        after = keeper.refresh()
    except ModelRefusedError as error:
        # Our own verdict on the version (which one, and why this code cannot serve it): the
        # admin who asked needs it to act, and it carries no host, path or driver text.
        _log.warning(str(error), extra={"event": "reload_failed"})
        raise ApiError(
            503, "registry_unavailable", f"{error}; the service keeps its model"
        ) from error
    except RegistryUnavailableError as error:
        # The registry's own message (hosts, paths, driver text) is for the log only.
        _log.warning(str(error), extra={"event": "reload_failed"})
        raise ApiError(
            503,
            "registry_unavailable",
            "the registry could not be read; the service keeps its model (see the log)",
        ) from error
    assert after is not None  # refresh either loads a model or raises
    previous = before.version if before else None
    return ReloadOut(
        previous_version=previous, version=after.version, switched=previous != after.version
    )
