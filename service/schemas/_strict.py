"""Strict input at the edge: numbers and booleans as JSON sends them, dates a person could mean.

Pydantic's lax mode would read ``"phq9": "18"`` as 18 and ``"attended": "yes"`` as true: a
record system that sends strings has a bug we should report, not guess around. A JSON
number stays acceptable in either spelling (``18`` or ``18.0``, as numpy-converted JSON
writes it), and a float where an integer is due is still checked to be whole by pydantic.
Dates follow the data contract's revision 2: not before 1900, not more than a day ahead.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator
from pydantic_core import PydanticCustomError

EARLIEST_DATE = date(1900, 1, 1)
"""The earliest plausible intake, session or end date (data contract, revision 2)."""


def _json_number(value: Any) -> Any:
    if isinstance(value, str | bool):
        raise PydanticCustomError(
            "number_type", "must be a JSON number, not {kind}", {"kind": type(value).__name__}
        )
    return value


def _json_boolean(value: Any) -> Any:
    if isinstance(value, str) or (isinstance(value, int | float) and not isinstance(value, bool)):
        raise PydanticCustomError(
            "bool_type", "must be a JSON boolean (true or false), not {kind}",
            {"kind": type(value).__name__},
        )  # fmt: skip
    return value


def _plausible(value: date) -> date:
    latest = date.today() + timedelta(days=1)
    if not EARLIEST_DATE <= value <= latest:
        raise PydanticCustomError(
            "implausible_date",
            "must be between {earliest} and {latest} (one day ahead at most)",
            {"earliest": EARLIEST_DATE.isoformat(), "latest": latest.isoformat()},
        )
    return value


JsonNumber = BeforeValidator(_json_number)
"""Refuses strings and booleans where a number is due (put it in an ``Annotated``)."""
JsonBoolean = BeforeValidator(_json_boolean)
"""Refuses strings and numbers where a boolean is due."""
PlausibleDate = Annotated[date, AfterValidator(_plausible)]
"""A date not before 1900 and not more than a day in the future."""
