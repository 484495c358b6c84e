"""The whole public API driven by an OpenAPI fuzzer (schemathesis), as a hostile or careless client would: every
operation of the gateway's merged document, with valid and invalid data, as each kind of caller (no token, a
person, each staff role, each partner). For every answer: no 5xx, every 4xx is `application/problem+json`,
the status is one the document lists, and the body conforms to the documented schema.

Bounded for CI by FUZZ_EXAMPLES (examples per operation and mode, default 12) and derandomised, so a run is
repeatable; FUZZ_EXAMPLES=200 FUZZ_SEED=<n> explores further by hand.
"""

from __future__ import annotations

import os
import uuid

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))
SEED = os.environ.get("FUZZ_SEED")
STAFF = ["admin", "auditor", "institution", "school", "officer-110105"]
PARTNERS = ["volunteer-beijing", "emergency-120"]


class NotAProblem(AssertionError):
    pass


def _problem_for_every_error(response) -> None:
    if response.status_code >= 400:
        content_type = response.headers.get("content-type", [""])
        content_type = content_type[0] if isinstance(content_type, list) else content_type
        if not content_type.startswith("application/problem+json"):
            raise NotAProblem(f"{response.status_code} answered as {content_type!r}: {response.text[:300]}")


@pytest.fixture(scope="module")
def callers(stack) -> dict[str, dict[str, str]]:
    """Bearer headers for each kind of caller (and none)."""
    found: dict[str, dict[str, str]] = {"anonymous": {}}
    with httpx.Client(base_url=stack.gateway_url, timeout=10) as client:
        person = client.post("/api/v1/auth/wechat-login", json={"code": f"dev-fuzz-{uuid.uuid4().hex[:8]}"})
        found["person"] = {"Authorization": f"Bearer {person.json()['access_token']}"}
        for username in STAFF:
            token = client.post(
                "/api/v1/auth/token",
                data={"grant_type": "password", "username": username, "password": "demo-password-2026"},
            )
            found[username] = {"Authorization": f"Bearer {token.json()['access_token']}"}
        for client_id in PARTNERS:
            token = client.post(
                "/api/v1/auth/token",
                data={"grant_type": "client_credentials"},
                auth=(client_id, "demo-partner-secret-2026"),
            )
            found[client_id] = {"Authorization": f"Bearer {token.json()['access_token']}"}
    return found


@pytest.fixture(scope="module")
def api(stack):
    schema = schemathesis.openapi.from_url(stack.gateway_url + "/openapi.json")
    return schema


def _streams(operation) -> bool:
    """An endless text/event-stream (the incidents board) answers nothing a fuzzer could wait for: its gate and
    its bad input are tested in tests/test_incident_board.py instead."""
    ok = operation.definition.raw.get("responses", {}).get("200", {})
    return "text/event-stream" in ok.get("content", {})


def _operations(api) -> list:
    return [op for op in (result.ok() for result in api.get_all_operations()) if not _streams(op)]


@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_fuzzing_every_operation_finds_nothing(stack, api, callers, mode):
    failures: list[str] = []
    generation_mode = schemathesis.GenerationMode(mode)
    roles = sorted(callers)
    for operation in _operations(api):

        @given(case=operation.as_strategy(generation_mode=generation_mode), role=st.sampled_from(roles))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=SEED is None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case, role):
            response = case.call(base_url=stack.gateway_url, headers=callers[role], timeout=30)
            _problem_for_every_error(response)
            case.validate_response(
                response,
                checks=[
                    not_a_server_error,
                    status_code_conformance,
                    content_type_conformance,
                    response_schema_conformance,
                ],
                headers=callers[role],
            )

        try:
            run()
        except Unsatisfiable:  # nothing to make invalid (no parameters, no body): the positive run covers it
            continue
        except (Exception, BaseExceptionGroup) as exc:  # keep going: one report lists every operation that failed
            failures.append(f"{operation.label} ({mode}): {str(exc)[:1500]}")
    assert not failures, f"{len(failures)} operations failed:\n\n" + "\n\n".join(failures)
