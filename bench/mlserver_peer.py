"""Seldon MLServer as a peer in bench/bench_service.py: the dropout booster alone, bare.

MLServer is installed in an environment of its own, outside the project's lock (the issue's
set-up: MLServer 1.7.1 with ``mlserver-xgboost``, uvloop 0.21, one process with
``parallel_workers: 0``)::

    uv venv /tmp/mlserver-env --python 3.11
    uv pip install --python /tmp/mlserver-env/bin/python \\
        mlserver==1.7.1 mlserver-xgboost==1.7.1 uvloop==0.21.0

and named with ``bench/bench_service.py --mlserver-python /tmp/mlserver-env/bin/python``.
It serves the registered version's dropout booster (its raw, uncalibrated probability) on
the same clients' feature rows, through the V2 inference protocol. V2 JSON has no NaN, so a
missing value is sent as -1 (a value no feature takes; XGBoost walks the same number of
trees either way, so the cost per request is the same).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

MODEL = "xgb"
PATH = f"/v2/models/{MODEL}/infer"


def write_repository(directory: Path, *, booster_path: Path, ports: tuple[int, int, int]) -> Path:
    """An MLServer model repository serving ``booster_path``; returns its directory.

    Args:
        directory: Where to write it (created).
        booster_path: The dropout booster, saved by XGBoost (``.ubj`` or ``.json``).
        ports: HTTP, gRPC and metrics ports.
    """
    model = directory / MODEL
    model.mkdir(parents=True)
    target = model / f"model{booster_path.suffix}"
    target.write_bytes(booster_path.read_bytes())
    (model / "model-settings.json").write_text(
        json.dumps(
            {
                "name": MODEL,
                "implementation": "mlserver_xgboost.XGBoostModel",
                "parameters": {"uri": f"./{target.name}"},
            }
        )
    )
    http, grpc, metrics = ports
    (directory / "settings.json").write_text(
        json.dumps(
            {
                "parallel_workers": 0,
                "http_port": http,
                "grpc_port": grpc,
                "metrics_port": metrics,
                "host": "127.0.0.1",
            }
        )
    )
    return directory


def command(python: str, repository: Path) -> list[str]:
    """The command line starting MLServer on ``repository`` with the environment's Python."""
    return [str(Path(python).parent / "mlserver"), "start", str(repository)]


def body(row: list[float | None]) -> dict:
    """The V2 inference request of one feature row (missing values as -1: no NaN in JSON)."""
    values = [-1.0 if value is None or math.isnan(value) else float(value) for value in row]
    return {"inputs": [{"name": "features", "shape": [1, len(values)], "datatype": "FP32",
                        "data": values}]}  # fmt: skip
