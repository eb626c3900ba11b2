"""Cross-field rules that report each failing field under its own path.

A model validator that raises ``ValueError`` is reported at the model's path only; raising a
``ValidationError`` built from these problems keeps a path per field
(``sessions[2].session_date``), which is what an integrator needs to fix the request.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError


def problem(
    location: tuple[str | int, ...], kind: str, message: str, value: object
) -> InitErrorDetails:
    """One failing field: where (relative to the model), which rule, what, the value seen."""
    return InitErrorDetails(type=PydanticCustomError(kind, message), loc=location, input=value)


def raise_problems(model: str, problems: Sequence[InitErrorDetails]) -> None:
    """Raise the problems as one validation error of ``model`` (nothing when there are none)."""
    if problems:
        raise ValidationError.from_exception_data(model, list(problems))
