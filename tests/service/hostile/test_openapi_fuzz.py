"""Property-based fuzzing of every operation in the service's own OpenAPI document.

Schemathesis generates requests from the document, valid ones and ones that break it, and
sends them to the app in-process. Every answer must not be a server error, must have a
status the operation documents, the media type documented for it, and a body matching the
documented schema. Operations that take our API tokens are called with a token of every
scope; CDS Hooks operations take a record system's JWT, which no fuzzer can forge, so they
are fuzzed without one and must refuse as documented.

Schemathesis' own pytest integration (``from_fixture``) does not run under this pytest, so
each operation's strategies are driven with Hypothesis directly. Bounded for CI:
``MAX_EXAMPLES`` cases per operation, the same cases on every run.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.operations import OPERATIONS, label

MAX_EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def api_schema(registry, make_settings, tmp_path) -> Iterator[schemathesis.BaseSchema]:
    """The app's own OpenAPI document, read from the app as a client would."""
    from service.app import create_app

    app = create_app(
        make_settings(
            tracking_uri=registry.tracking_uri,
            database_url=f"sqlite:///{tmp_path / 'audit.db'}",
            # Refusing record-system calls is expected here, not an attack to stop.
            auth_failures_per_minute=10_000,
        )
    )
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    # Schemathesis started the app's lifespan on first use and keeps it: stop it here.
    asgi.shutdown_lifespans()


@pytest.mark.parametrize(
    ("method", "path"), sorted(OPERATIONS), ids=[label(m, p) for m, p in sorted(OPERATIONS)]
)
def test_every_operation_answers_as_documented(api_schema, tokens, method, path):
    operation = api_schema[path][method.upper()]
    needs = OPERATIONS[method, path][1]
    # Our token for our endpoints; nothing for the record system's (and the open ones).
    headers = tokens.header() if needs not in ("ehr", "open") else {}
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @given(case=cases)
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,  # the same cases on every run: a CI failure reproduces locally
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        database=None,
    )
    def fuzz(case: schemathesis.Case) -> None:
        answer = case.call_and_validate(headers=headers, checks=CHECKS)
        if needs == "ehr":
            # Refused: FastAPI parses the JSON before the JWT check runs, so a body that
            # is not JSON is refused first (400/422); anything else gets the bare 401.
            assert answer.status_code in (400, 401, 422), answer.text

    fuzz()
