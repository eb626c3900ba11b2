"""Batch assessments: many clients in one call, one result or one error per client."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, WithJsonSchema

from service.errors import ErrorOut
from service.schemas.assessments import AssessmentRequest, AssessmentResponse

# Items are validated one by one in the route, so one bad client does not fail the others;
# the OpenAPI document still describes each item as an AssessmentRequest.
_RequestItems = Annotated[
    list[dict[str, Any]],
    WithJsonSchema(
        {
            "type": "array",
            "items": {"$ref": "#/components/schemas/AssessmentRequest"},
            "minItems": 1,
        }
    ),
]


class BatchRequest(BaseModel):
    """Clients to score, each as in ``POST /v1/risk-assessments``."""

    assessments: _RequestItems = Field(min_length=1)

    model_config = {
        "json_schema_extra": {
            "examples": [
                {"assessments": AssessmentRequest.model_config["json_schema_extra"]["examples"]}
            ]
        }
    }


class BatchItemOut(BaseModel):
    """The result for the client at ``index``: an assessment, or the error that stopped it."""

    index: int = Field(description="Position of the client in the request, from 0.")
    status: Literal["ok", "error"]
    assessment: AssessmentResponse | None = None
    error: ErrorOut | None = Field(
        default=None, description="Field paths are relative to this client's item."
    )


class BatchResponse(BaseModel):
    """One item per client of the request, in request order."""

    results: list[BatchItemOut]
    succeeded: int
    failed: int
