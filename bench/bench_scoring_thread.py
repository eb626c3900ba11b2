"""Benchmark of a service worker's scoring thread, in process: score, then commit.

What `AssessmentBatcher` runs on its scoring thread for each micro-batch, without the HTTP
stack: `Recorder.score_each` (features, both boosters' TreeSHAP, factor sentences, signals,
the answers) then `Recorder.record_each` (the audit rows and the alerts they raise, one
committed transaction), for batches of one request (an idle server) and of 16 (16 busy
connections). The requests are the pool `bench/bench_service.py` sends (the api.md example
and synthetic clients cut after 1 to 5 sessions), taken in turn; the model is the champion
of the given store, on the threads `dropout-risk serve` would give it on this machine
(batches from 4 requests on up to 2, with OpenMP's passive wait). Prints microseconds per
request, the best of ``--repeats`` runs, into a fresh audit database:

    uv run python bench/bench_scoring_thread.py --tracking-uri sqlite:///data/mlflow.db
    uv run python bench/bench_scoring_thread.py --tracking-uri sqlite:///data/mlflow.db \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.machine import machine_line

POOL_SIZE = 50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracking-uri", required=True, help="store with a champion")
    parser.add_argument(
        "--database-url", help="audit database (default: SQLite in a temporary directory)"
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 16], help="batch sizes")
    parser.add_argument("--requests", type=int, default=3000, help="per size and repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=12, help="of the requests' clients")
    options = parser.parse_args()

    from cli.service_commands import scoring_environment

    workers = 1
    for name, value in scoring_environment(workers).items():  # as serve, before XGBoost loads
        os.environ.setdefault(name, value)

    from models.registry_store import RegistryLocation, alias_version, download_model
    from service.audit import AuditStore
    from service.lifecycle import THREADED_BATCH_ROWS, ServedModel
    from service.observability import ServiceMetrics
    from service.recording import Recorder, Scoring
    from service.schemas import AssessmentRequest
    from tests.support.assessment_bodies import request_pool

    load_before = os.getloadavg()
    location = RegistryLocation(mlflow_tracking_uri=options.tracking_uri)
    version = alias_version(location)
    if version is None:
        raise SystemExit(f"no champion in {options.tracking_uri}")
    model = download_model(location, version)
    threads = int(os.environ["DROPOUT_RISK_SCORING_THREADS"])
    model.use_threads(threads, from_rows=THREADED_BATCH_ROWS)
    served = ServedModel(
        model=model, name=location.model_name, version=version, alias="champion",
        loaded_at=datetime.now(UTC),
    )  # fmt: skip
    bodies, _ = request_pool(POOL_SIZE, options.seed)
    requests = [AssessmentRequest.model_validate(body) for body in bodies]

    with tempfile.TemporaryDirectory(prefix="bench-scoring-thread-") as scratch:
        url = options.database_url or f"sqlite:///{Path(scratch) / 'audit.db'}"
        with AuditStore.open(url) as store:
            recorder = Recorder(audit=store, metrics=ServiceMetrics(), factors=5)

            def run(size: int, batches: int) -> tuple[float, float]:
                """Mean seconds per request of scoring and of recording."""
                scored, recorded = [], []
                for batch in range(batches):
                    scorings = [
                        Scoring(request=requests[(batch * size + i) % len(requests)])
                        for i in range(size)
                    ]
                    started = time.perf_counter()
                    answers = recorder.score_each(scorings, served)
                    middle = time.perf_counter()
                    recorder.record_each(scorings, answers, served)
                    scored.append(middle - started)
                    recorded.append(time.perf_counter() - middle)
                return statistics.mean(scored) / size, statistics.mean(recorded) / size

            for size in options.sizes:  # warm-up: caches, the first alerts, the pool
                run(size, max(1, 300 // size))
            gc.freeze()  # as a serving worker settles its heap (service/heap.py)
            rows = []
            for size in options.sizes:
                runs = [
                    run(size, max(1, options.requests // size)) for _ in range(options.repeats)
                ]
                score, record = min(runs, key=sum)
                rows.append((size, score, record))

    print(machine_line(load_before, os.getloadavg()))
    store_name = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    print(
        f"model version {version}; audit store {store_name}; scoring threads {threads} from "
        f"{THREADED_BATCH_ROWS} requests (OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}); "
        f"best of {options.repeats} runs of {options.requests} requests per size\n"
    )
    print("| batch | score us/request | record us/request | total us/request |")
    print("| ---: | ---: | ---: | ---: |")
    for size, score, record in rows:
        total = score + record
        print(f"| {size} | {score * 1e6:,.0f} | {record * 1e6:,.0f} | {total * 1e6:,.0f} |")


if __name__ == "__main__":
    main()
