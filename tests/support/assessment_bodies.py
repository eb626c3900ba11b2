"""Assessment request bodies for tests and benches: the api.md example, and a pool of
synthetic clients cut after 1 to 5 sessions with the feature rows the model sees for them."""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import pandas as pd

WINDOW = 5  # sessions the model predicts from (its last landmark)


def example_request() -> dict[str, Any]:
    """The example client of api.md, as a fresh JSON body."""
    from service.schemas import AssessmentRequest

    return copy.deepcopy(AssessmentRequest.model_config["json_schema_extra"]["examples"][0])


def request_pool(size: int, seed: int) -> tuple[list[dict[str, Any]], list[list[float | None]]]:
    """Assessment bodies (the api.md example, then synthetic clients) and their feature rows."""
    from features.contract import validate_extract
    from features.engineering import compute_features
    from features.history import HistoryBatch
    from features.instruments import MEASURE_COLUMNS
    from service.schemas import AssessmentRequest
    from training.synth import simulate_cohort

    bodies = [example_request()]
    simulated = simulate_cohort(n_clients=4 * size, seed=seed)
    report = validate_extract(simulated.clients, simulated.sessions)
    sessions_of = {
        client_id: group.sort_values("session_number").to_dict("records")
        for client_id, group in report.sessions.groupby("client_id")
    }
    rng = np.random.default_rng(seed)
    for client in report.clients.to_dict("records"):
        if len(bodies) == size:
            break
        sessions = sessions_of.get(client["client_id"], [])
        if not sessions:
            continue
        keep = int(rng.integers(1, min(len(sessions), WINDOW) + 1))
        prior = client["prior_treatment"]
        bodies.append(
            {
                "client": {
                    "client_id": str(client["client_id"]),
                    "clinic_id": str(client["clinic_id"]),
                    "therapist_id": str(client["therapist_id"]),
                    "intake_date": client["intake_date"].date().isoformat(),
                    "age": int(client["age"]),
                    "gender": str(client["gender"]),
                    "primary_concern": str(client["primary_concern"]),
                    "prior_treatment": None if pd.isna(prior) else bool(prior),
                },
                "sessions": [
                    {
                        "session_number": int(session["session_number"]),
                        "session_date": session["session_date"].date().isoformat(),
                        "attended": bool(session["attended"]),
                        **{
                            m: _number(session[m])
                            for m in MEASURE_COLUMNS
                            if _number(session[m]) is not None
                        },
                    }
                    for session in sessions[:keep]
                ],
            }
        )
    rows = []
    for body in bodies:
        request = AssessmentRequest.model_validate(body)  # the contract, as the server checks it
        history = HistoryBatch.from_records(
            request.client.model_dump(),
            [session.model_dump() for session in request.sessions],
            as_of_session=min(len(request.sessions), WINDOW),
            window=WINDOW,
        )
        (row,) = compute_features(history)
        rows.append([None if math.isnan(value) else float(value) for value in row])
    return bodies, rows


def _number(value: Any) -> float | int | None:
    """A measure as JSON wants it: None when missing, int for whole-number instruments."""
    if pd.isna(value):
        return None
    return int(value) if isinstance(value, int | np.integer) else float(value)
