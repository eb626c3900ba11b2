"""Problems with FHIR input, each at a FHIRPath-like path, and the OperationOutcome naming them.

A record system that sends a bad Bundle needs every problem at once, each where it is
(``Bundle.entry[3].resource.valueQuantity.value``), so inbound mapping collects
:class:`FhirIssue` items and raises them together as one :class:`FhirInputError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

#: OperationOutcome issue types (R4 value set issue-type) that inbound mapping uses.
IssueCode = Literal["structure", "required", "value", "invalid", "not-supported", "too-costly"]
#: Pydantic error types that mean "an element is missing".
_MISSING = frozenset({"missing", "model_field_validation.missing"})


@dataclass(frozen=True, slots=True)
class FhirIssue:
    """One problem with the input.

    Attributes:
        path: where, as a FHIRPath-like expression (``Bundle.entry[0].resource.birthDate``);
            a contract path (``client.age``) when no FHIR element is to blame.
        message: what is wrong, for the person fixing the record system's export. Never
            quotes the value, which may be personal data.
        code: OperationOutcome issue type.
    """

    path: str
    message: str
    code: IssueCode = "invalid"


class FhirInputError(ValueError):
    """The input cannot be mapped to a contract request; ``issues`` says everything wrong."""

    def __init__(self, issues: Sequence[FhirIssue]) -> None:
        self.issues = list(issues)
        super().__init__(f"{len(self.issues)} problem(s) in the FHIR input")


def raise_issues(issues: Sequence[FhirIssue]) -> None:
    """Raise :class:`FhirInputError` with ``issues`` (nothing when there are none)."""
    if issues:
        raise FhirInputError(issues)


def element_path(base: str, location: Iterable[str | int]) -> str:
    """``base`` extended by a pydantic location: ``("participant", 0, "status")``."""
    path = base
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def model_issues(base: str, errors: Iterable[dict[str, Any]]) -> list[FhirIssue]:
    """Pydantic errors of a fhir.resources model validated at ``base`` as issues.

    The input value is left out on purpose: it may be a name, a date of birth or a score.
    """
    issues = []
    for error in errors:
        kind = str(error.get("type", ""))
        if kind in _MISSING:
            code: IssueCode = "required"
        elif kind == "extra_forbidden":
            code = "structure"
        else:
            code = "value"
        path = element_path(base, error.get("loc", ()))
        issues.append(FhirIssue(path, str(error.get("msg", "invalid")), code))
    return issues


def operation_outcome(issues: Sequence[FhirIssue]) -> dict[str, Any]:
    """An R4 OperationOutcome with one error issue per problem."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": issue.code,
                "diagnostics": issue.message,
                "expression": [issue.path],
            }
            for issue in issues
        ],
    }
