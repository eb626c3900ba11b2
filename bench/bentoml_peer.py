"""BentoML as a peer in bench/bench_service.py: the dropout booster alone, bare.

BentoML is installed in an environment of its own, outside the project's lock (the issue's
set-up: BentoML 1.4, one worker), with the XGBoost release of the project's lock::

    python3 -m venv /tmp/bento-env
    /tmp/bento-env/bin/pip install "bentoml>=1.4,<1.5" xgboost==3.2.0

and named with ``bench/bench_service.py --bentoml-python /tmp/bento-env/bin/python``. The
service below is what a data scientist writes from BentoML's quick-start: a class that
loads the booster once and a ``predict`` endpoint that returns its raw, uncalibrated
probabilities for JSON feature rows (``{"features": [[...]]}``). As for MLServer, a missing
value is sent as -1 (JSON has no NaN; XGBoost walks the same number of trees either way).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

PATH = "/predict"
READY_PATH = "/readyz"
_SERVICE = """\
import os

import bentoml
import numpy as np
import xgboost as xgb


ACCESS_LOG = os.environ.get("DROPOUT_BOOSTER_ACCESS_LOG") == "1"


@bentoml.service(workers=1, logging={"access": {"enabled": ACCESS_LOG}})
class DropoutBooster:
    def __init__(self) -> None:
        self.booster = xgb.Booster(model_file=os.environ["DROPOUT_BOOSTER"])

    @bentoml.api
    def predict(self, features: list[list[float]]) -> list[float]:
        rows = np.asarray(features, dtype=np.float32)
        return self.booster.inplace_predict(rows).tolist()
"""


def write_service(directory: Path) -> Path:
    """The BentoML service file in ``directory`` (created); returns the directory."""
    directory.mkdir(parents=True)
    (directory / "service.py").write_text(_SERVICE)
    return directory


def command(python: str, directory: Path, *, port: int) -> list[str]:
    """The command line serving ``directory``'s service with the environment's BentoML."""
    return [
        str(Path(python).parent / "bentoml"), "serve", "service:DropoutBooster",
        "--working-dir", str(directory), "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip


def environment(booster_path: Path, *, access_log: bool) -> dict[str, str]:
    """The server's environment: this one's, without BentoML settings, naming the booster,
    with a line per request or none (as the other servers log, by the bench's
    ``--log-level``), and no usage tracking (the bench runs offline)."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith("BENTOML")}
    return kept | {
        "DROPOUT_BOOSTER": str(booster_path),
        "DROPOUT_BOOSTER_ACCESS_LOG": "1" if access_log else "0",
        "BENTOML_DO_NOT_TRACK": "True",
    }


def body(row: list[float | None]) -> dict:
    """The request of one feature row (missing values as -1: no NaN in JSON)."""
    return {"features": [[-1.0 if v is None or math.isnan(v) else float(v) for v in row]]}
