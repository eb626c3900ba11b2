"""Prometheus metrics of this process."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.deps import KeeperDep, MetricsDep, MetricsReader
from service.routes._responses import error_responses

router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {}}, "description": "Prometheus text format."},
        **error_responses(401, 403, 429),
    },
    summary="Prometheus metrics",
)
def read_metrics(_caller: MetricsReader, keeper: KeeperDep, metrics: MetricsDep) -> Response:
    """Requests, latency, assessments by risk level, audit failures, model version and
    registry reachability of this process (one per worker). Scope `metrics:read`."""
    served = keeper.current
    metrics.model_version.set(_numeric(served.version) if served else 0)
    metrics.registry_reachable.set(1 if keeper.status.reachable else 0)
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)


def _numeric(version: str) -> float:
    try:
        return float(version)
    except ValueError:
        return -1.0
