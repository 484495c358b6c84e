"""Every service acts on its own clock (servicekit.clock), which tests move: with time moved ten days ahead, a
registration is stamped ten days ahead in identity's event and its data, in the ledger's answering event, and
in the audit trail — no service mixes in the wall clock. Tokens still live on the real clock."""

from datetime import UTC, datetime, timedelta

from devstack.pytest_plugin import FAST_RECOVERY, plan_stack
from devstack.stack import SERVICES
from servicekit.events import CloudEvent

AHEAD = timedelta(days=10)


async def test_a_moved_clock_moves_every_services_times(stack, gateway, helpers, sql, clock):
    clock.advance(hours=AHEAD.total_seconds() / 3600)
    floor = datetime.now(UTC) + AHEAD - timedelta(minutes=5)
    person = await helpers.login(gateway)
    pid = person["person_id"]

    registered = CloudEvent.model_validate_json(
        await sql["identity"].scalar(
            "SELECT payload FROM outbox WHERE key = :p AND event_type = 'timebank.identity.person.registered'", p=pid
        )
    )
    assert registered.time >= floor
    assert datetime.fromisoformat(registered.data["registered_at"]) >= floor

    async def ledger_event():
        return await sql["ledger"].scalar("SELECT payload FROM outbox WHERE key = :p ORDER BY id LIMIT 1", p=pid)

    opened = CloudEvent.model_validate_json(await helpers.eventually(ledger_event, timeout=30))
    assert opened.time >= floor

    async def trail():
        return await sql["audit"].rows("SELECT type, occurred_at FROM audit_log WHERE subject = :p", p=pid)

    records = await helpers.eventually(trail, timeout=30)
    assert records and all(at >= floor for _, at in records)

    me = await gateway.get("/api/v1/me", headers={"Authorization": f"Bearer {person['access_token']}"})
    assert me.status_code == 200  # the token, issued on the real clock, is still valid ten days "later"


def test_only_the_tests_stack_has_a_clock_to_move_and_a_faster_pace(infra):
    """Benchmarks run the stack at the deployed pace: what they measure must be what runs in production, which
    refuses a clock file (and would read it on every `now()`) and keeps every setting's default (the consumer
    groups' timing is compose's: test_deployment_files)."""
    tests, deployed = plan_stack(infra, pace="tests"), plan_stack(infra, pace="deployed")
    for name in SERVICES:
        prefix = f"{name.upper()}_"
        assert f"{prefix}CLOCK_FILE" in tests.service_env(name)
        assert f"{prefix}CONSUMER_RETRY_BACKOFF_S" in tests.service_env(name)
        leaked = {
            key for key in deployed.service_env(name) if key.removeprefix(prefix) in {"CLOCK_FILE", *FAST_RECOVERY}
        }
        assert not leaked, f"{name} runs tests-only settings in a benchmark: {leaked}"
