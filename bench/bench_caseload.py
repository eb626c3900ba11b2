"""Benchmark: reading a clinic's caseload, by how many assessments its audit store holds.

The caseload (``GET /v1/caseload`` and the caseload page) lists the open episodes of the
caller's clinics with each one's latest assessment, its risk trend and its alerts. Every
assessment is kept, so the store only grows: reading the caseload must not cost in
proportion to every document ever stored.

The store is filled with one clinic's ``clients`` clients, each assessed ``sessions`` times
(real answers of the registered model to the api.md example, their probabilities varied),
and three in four of their episodes reported as ended, as after some months of a clinic's
work; the planner's statistics are taken, as the database's own maintenance would have
done by then. Then :func:`service.caseload.read_caseload` is timed for the clinic. Each
cell is the best of ``--rounds`` reads, in milliseconds.

    uv run python bench/bench_caseload.py --tracking-uri sqlite:///data/mlflow.db
    uv run python bench/bench_caseload.py --tracking-uri sqlite:///data/mlflow.db \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import machine_line  # noqa: E402

#: (clients, assessments per client) of each row.
SIZES = ((200, 5), (200, 50), (2_000, 50))


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tracking-uri", required=True, help="MLflow store with a champion")
    parser.add_argument("--database-url", help="an empty database (default: a new SQLite file)")
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    load_before = os.getloadavg()
    answer = _real_answer(options.tracking_uri)
    rows = []
    for clients, sessions in SIZES:
        with tempfile.TemporaryDirectory() as directory:
            url = options.database_url or f"sqlite:///{directory}/audit.db"
            rows.append((clients, sessions, *_measure(url, answer, clients, sessions, options)))
    print(machine_line(load_before))
    print(f"audit store: {_dialect(options.database_url)}; best of {options.rounds} reads")
    print()
    print(
        "| clients | assessments each | assessments stored | open episodes | caseload read (ms) |"
    )
    print("| ---: | ---: | ---: | ---: | ---: |")
    for clients, sessions, stored, listed, millis in rows:
        print(f"| {clients:,} | {sessions} | {stored:,} | {listed:,} | {millis:,.0f} |")


def _dialect(url: str | None) -> str:
    return "SQLite (a new file)" if url is None else url.split(":", 1)[0]


def _real_answer(tracking_uri: str) -> dict:
    """The champion's answer to the api.md example, as the audit store keeps it."""
    from models.registry_store import RegistryLocation, download_model
    from service.schemas import AssessmentRequest
    from service.scoring import assess
    from tests.support.assessment_bodies import example_request
    from training.registry import champion_version
    from training.settings import TrainingSettings

    version = champion_version(TrainingSettings(mlflow_tracking_uri=tracking_uri))
    if version is None:
        raise SystemExit(f"no champion in {tracking_uri}")
    model = download_model(RegistryLocation(mlflow_tracking_uri=tracking_uri), version)
    request = AssessmentRequest.model_validate(example_request())
    response = assess(model, request, model_name="dropout-risk", model_version=version)
    return {"request": example_request(), "response": response.model_dump(mode="json")}


def _measure(
    url: str, answer: dict, clients: int, sessions: int, options: argparse.Namespace
) -> tuple[int, int, float]:
    from service.audit import AuditStore
    from service.audit.engine import create_audit_engine
    from service.audit.records import canonical_json, input_sha256
    from service.audit.tables import AssessmentRow, OutcomeRow
    from service.caseload import read_caseload

    audit = AuditStore.open(url)
    engine = create_audit_engine(url)
    try:
        with engine.begin() as connection:  # a database passed in is emptied first
            for table in ("alert_steps", "alerts", "outcomes", "assessments"):
                connection.exec_driver_sql(f"DELETE FROM {table}")
        rng = random.Random(clients * sessions)
        start = datetime(2026, 1, 5, tzinfo=UTC)
        assessments, outcomes = [], []
        for index in range(clients):
            client_id = f"client-{index:05d}"
            request = json.loads(json.dumps(answer["request"]))
            request["client"] |= {"client_id": client_id, "therapist_id": f"t-{index % 20}"}
            request_text = canonical_json(request)
            for session in range(1, sessions + 1):
                response = json.loads(json.dumps(answer["response"]))
                assessment_id = str(uuid.uuid4())
                response |= {"assessment_id": assessment_id, "client_id": client_id}
                for outcome in ("dropout", "poor_outcome"):
                    response[outcome]["probability"] = round(rng.random(), 4)
                created = start + timedelta(days=7 * session, minutes=index)
                assessments.append(
                    {
                        "id": assessment_id,
                        "created_at": created,
                        "client_id": client_id,
                        "as_of_session": min(session, 12),
                        "model_name": "dropout-risk",
                        "model_version": "1",
                        "input_sha256": input_sha256(request_text),
                        "request": request,
                        "response": response,
                        "clinic_id": "north",
                        "caller": "bench",
                    }
                )
            if index % 4:  # three in four episodes have ended
                outcomes.append(
                    {
                        "id": str(uuid.uuid4()),
                        "created_at": start + timedelta(days=7 * sessions + 1, minutes=index),
                        "client_id": client_id,
                        "clinic_id": "north",
                        "termination": "completed",
                        "end_date": (start + timedelta(days=7 * sessions + 1)).date(),
                        "reported_by": "bench",
                    }
                )
        with engine.begin() as connection:
            for begin in range(0, len(assessments), 5_000):
                connection.execute(
                    AssessmentRow.__table__.insert(), assessments[begin : begin + 5_000]
                )
            if outcomes:
                connection.execute(OutcomeRow.__table__.insert(), outcomes)
        with engine.begin() as connection:  # as the database's own statistics would be by now
            connection.exec_driver_sql("ANALYZE")
        best, listed = float("inf"), 0
        for _ in range(options.rounds):
            started = time.perf_counter()
            caseload = read_caseload(audit, clinics=frozenset({"north"}), therapist_id=None)
            best = min(best, time.perf_counter() - started)
            listed = len(caseload.entries)
        return len(assessments), listed, best * 1e3
    finally:
        engine.dispose()
        audit.close()


if __name__ == "__main__":
    main()
