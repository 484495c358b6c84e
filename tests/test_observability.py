"""Request and trace ids across HTTP and events, JSON logs, metrics, and the DLQ replay command."""

import json
import os
import secrets
import subprocess
import sys

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from servicekit.events import CloudEvent


async def test_trace_follows_a_login_into_both_services_events(gateway, helpers, sql):
    trace_id = secrets.token_hex(16)
    response = await gateway.post(
        "/api/v1/auth/wechat-login",
        json={"code": f"dev-{secrets.token_hex(6)}"},
        headers={"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01", "X-Request-ID": "trace-test-0001"},
    )
    assert response.headers["x-request-id"] == "trace-test-0001"
    person = response.json()["person_id"]
    registered = CloudEvent.model_validate_json(
        await sql["identity"].scalar("SELECT payload FROM outbox WHERE key = :p", p=person)
    )
    assert registered.traceparent.split("-")[1] == trace_id

    opened_payload = await helpers.eventually(
        lambda: sql["ledger"].scalar(
            "SELECT payload FROM outbox WHERE payload::jsonb -> 'data' ->> 'owner_person_id' = :p", p=person
        )
    )
    assert CloudEvent.model_validate_json(opened_payload).traceparent.split("-")[1] == trace_id


async def test_logs_are_json_lines_carrying_the_request_id(stack, gateway):
    await gateway.get("/api/v1/nothing", headers={"X-Request-ID": "log-test-00042"})
    lines = [
        json.loads(line) for line in (stack.log_dir / "gateway.log").read_text().splitlines() if line.startswith("{")
    ]
    mine = [line for line in lines if line.get("request_id") == "log-test-00042"]
    assert mine and mine[-1]["service"] == "gateway" and mine[-1]["status"] == 404


async def test_every_process_serves_health_readiness_and_metrics(stack, gateway, helpers):
    await helpers.login(gateway)  # a registration, so the ledger's consumer has applied something
    async with httpx.AsyncClient(timeout=10) as client:
        for name in ("gateway", "identity", "ledger", "matching", "aed", "audit"):
            base = stack.url(name)
            assert (await client.get(base + "/healthz")).json() == {"status": "ok"}
            ready = await client.get(base + "/readyz")
            assert ready.status_code == 200, (name, ready.text)
            metrics = (await client.get(base + "/metrics")).text
            assert "http_requests_total" in metrics
            if name != "gateway":
                assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}
        applied = 'consumer_events_applied_total{consumer="ledger",type="timebank.identity.person.registered"}'

        async def ledger_applied() -> str | None:
            text = (await client.get(stack.url("ledger") + "/metrics")).text
            return text if applied in text else None

        ledger_metrics = await helpers.eventually(ledger_applied)
        assert ledger_metrics, applied
        lags = [
            sample
            for family in text_string_to_metric_families(ledger_metrics)
            if family.name == "consumer_lag_records"
            for sample in family.samples
        ]
        assert lags and all(sample.value >= 0 and sample.labels["partition"].isdigit() for sample in lags), lags


@pytest.mark.parametrize("service", ["identity", "ledger", "matching", "aed", "audit"])
def test_every_consuming_service_replays_its_dead_letters(stack, service):
    result = subprocess.run(
        [sys.executable, "-m", service, "dlq-replay", "--idle-timeout-ms", "1000"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **stack.service_env(service)},
    )
    assert result.returncode == 0, result.stderr
    assert "consumes no events" not in result.stdout
    assert ": 0 applied, 0 still failing" in result.stdout, result.stdout


def _requests_by_route(metrics: str) -> dict[tuple[str, str], float]:
    return {
        (sample.labels["route"], sample.labels["status"]): sample.value
        for family in text_string_to_metric_families(metrics)
        if family.name == "http_requests"
        for sample in family.samples
        if sample.name == "http_requests_total"
    }


async def test_the_gateway_labels_each_call_by_the_route_template_that_answered_it(stack, gateway, helpers):
    person = await helpers.login(gateway)
    headers = {"Authorization": f"Bearer {person['access_token']}"}
    missing = "00000000-0000-4000-8000-00000000dead"
    answered = await gateway.get(f"/api/v1/requests/{missing}", headers=headers)
    assert answered.status_code == 404
    assert "x-route-template" not in answered.headers  # for the gateway's metrics, not for clients
    refused = await gateway.get(f"/api/v1/requests/{missing}")  # no token: the gateway answers itself
    assert refused.status_code == 401
    async with httpx.AsyncClient(timeout=10) as client:
        counted = _requests_by_route((await client.get(stack.gateway_url + "/metrics")).text)
    assert counted.get(("/api/v1/requests/{request_id}", "404"), 0) >= 1, counted
    assert counted.get(("/api/v1/requests/…", "401"), 0) >= 1, counted
    assert not any(route == "/{path:path}" for route, _ in counted), counted
