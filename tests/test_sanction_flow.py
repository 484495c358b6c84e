"""Confirmed fraud end to end over Kafka: audit's sanction (produced here, as audit will) removes the
volunteer's recording rights in identity and reverses the coins of the false record in the ledger; an
auditor lifts it with a reason and the role comes back. Matching's events are produced here too."""

import uuid
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaProducer

from contracts.audit import SanctionApplied
from contracts.matching import RequestSubmitted, ServiceCompleted, ServiceParticipant
from contracts.topics import Topic
from devstack import people
from servicekit.events import build_event


def bearer(login: dict) -> dict:
    return {"Authorization": f"Bearer {login['access_token']}"}


def resident_number(born: str) -> str:
    return people.resident_number(int(born[:4]))


async def _verified_resident(gateway, helpers, born: str) -> dict:
    person = await helpers.login(gateway)
    assert (
        await gateway.post(
            "/api/v1/me/real-name", headers=bearer(person), json={"name": "周强", "id_number": resident_number(born)}
        )
    ).status_code == 200
    assert (
        await gateway.put(
            "/api/v1/me/residence", headers=bearer(person), json={"district": "110105", "permanent_resident": True}
        )
    ).status_code == 200
    return person


async def _produce(stack, topic: Topic, data, key) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap_servers, enable_idempotence=False)
    await producer.start()
    try:
        source = topic.value.split(".")[0]
        await producer.send_and_wait(
            topic.value, build_event(source=source, data=data, subject=str(key)).to_bytes(), key=str(key).encode()
        )
    finally:
        await producer.stop()


async def test_a_confirmed_sanction_revokes_recording_rights_and_reverses_the_coins(stack, gateway, helpers, sql):
    volunteer = await _verified_resident(gateway, helpers, "19900101")
    elder = await _verified_resident(gateway, helpers, "19460101")
    institution = await helpers.staff_headers(gateway, "institution")
    officer = await helpers.staff_headers(gateway, "officer-110105")
    auditor = await helpers.staff_headers(gateway, "auditor")
    await gateway.post(
        f"/api/v1/people/{volunteer['person_id']}/training",
        headers=institution,
        json={"kind": "volunteer", "completed_on": "2026-11-01"},
    )
    await gateway.post(
        f"/api/v1/people/{elder['person_id']}/special-groups",
        headers=officer,
        json={"categories": ["advanced_age"], "reason": "年满80周岁"},
    )

    async def granted():
        response = await gateway.post(
            "/api/v1/grants",
            headers=officer | {"Idempotency-Key": uuid.uuid4().hex},
            json={"person_id": elder["person_id"], "amount": 300, "reason": "高龄补贴"},
        )
        return response.status_code == 201

    assert await helpers.eventually(granted, timeout=30)

    request_id, elder_id, volunteer_id = uuid.uuid4(), uuid.UUID(elder["person_id"]), uuid.UUID(volunteer["person_id"])
    starts = datetime.now(UTC) + timedelta(hours=2)
    await _produce(
        stack,
        Topic.MATCHING,
        RequestSubmitted(
            request_id=request_id,
            elder_id=elder_id,
            district="110105",
            category="协助服务",
            estimated_minutes=60,
            starts_at=starts,
            ends_at=starts + timedelta(hours=1),
            submitted_by=str(elder_id),
            submitted_at=datetime.now(UTC),
        ),
        request_id,
    )
    held = "SELECT count(*) FROM holds WHERE request_id = :r"
    assert await helpers.eventually(lambda: sql["ledger"].scalar(held, r=request_id), timeout=30)
    await _produce(
        stack,
        Topic.MATCHING,
        ServiceCompleted(
            request_id=request_id,
            elder_id=elder_id,
            district="110105",
            completed_at=datetime.now(UTC),
            participants=[ServiceParticipant(volunteer_id=volunteer_id, minutes=60)],
        ),
        request_id,
    )

    async def balance(person) -> int:
        return (await gateway.get("/api/v1/accounts/me", headers=bearer(person))).json()["balance"]

    async def paid():
        return await balance(volunteer) == 60

    assert await helpers.eventually(paid, timeout=30)

    sanction_id = uuid.uuid4()
    await _produce(
        stack,
        Topic.AUDIT,
        SanctionApplied(
            sanction_id=sanction_id,
            alert_id=uuid.uuid4(),
            kind="volunteer_recording_revoked",
            person_id=volunteer_id,
            false_request_ids=[request_id],
            decided_by="auditor",
            note="回访确认服务未发生",
            decided_at=datetime.now(UTC),
        ),
        volunteer_id,
    )

    async def sanctioned():
        roles = (await gateway.get("/api/v1/me", headers=bearer(volunteer))).json()["roles"]
        return "volunteer" not in roles and await balance(volunteer) == 0

    assert await helpers.eventually(sanctioned, timeout=60), (
        (await gateway.get("/api/v1/me", headers=bearer(volunteer))).json()["roles"],
        await balance(volunteer),
    )
    assert await balance(elder) == 300
    listed = (await gateway.get(f"/api/v1/sanctions?person_id={volunteer_id}", headers=auditor)).json()["items"]
    assert [(s["id"], s["kind"], s["lifted_at"]) for s in listed] == [
        (str(sanction_id), "volunteer_recording_revoked", None)
    ]

    assert (
        await gateway.post(f"/api/v1/sanctions/{sanction_id}/lift", headers=officer, json={"reason": "复核后撤销"})
    ).status_code == 403
    lifted = await gateway.post(f"/api/v1/sanctions/{sanction_id}/lift", headers=auditor, json={"reason": "复核后撤销"})
    assert lifted.status_code == 200 and lifted.json()["lift_reason"] == "复核后撤销"
    assert "volunteer" in (await gateway.get("/api/v1/me", headers=bearer(volunteer))).json()["roles"]


async def test_an_institution_on_the_dishonesty_list_cannot_sign_its_operators_in(stack, gateway, helpers):
    import os
    import subprocess
    import sys

    officer = await helpers.staff_headers(gateway, "officer-110108")
    auditor = await helpers.staff_headers(gateway, "auditor")
    registered = await gateway.post(
        "/api/v1/institutions",
        headers=officer,
        json={
            "name": f"海淀区测试养老驿站-{uuid.uuid4().hex[:6]}",
            "subdistrict": "中关村街道",
            "confirmation_ref": "中关村-2026-17",
        },
    )
    assert registered.status_code == 201 and registered.json()["district"] == "110108"
    institution_id = registered.json()["id"]
    assert institution_id in [
        i["id"] for i in (await gateway.get("/api/v1/institutions", headers=officer)).json()["items"]
    ]
    assert (await gateway.get("/api/v1/institutions?district=110105", headers=officer)).status_code == 403

    username = f"operator-{uuid.uuid4().hex[:8]}"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "identity",
            "create-staff",
            "--username",
            username,
            "--role",
            "institution_operator",
            "--institution-id",
            institution_id,
            "--password",
            "operator-pass-2026",
        ],
        env={**os.environ, **stack.service_env("identity")},
        check=True,
        capture_output=True,
    )
    form = {"grant_type": "password", "username": username, "password": "operator-pass-2026"}
    assert (await gateway.post("/api/v1/auth/token", data=form)).status_code == 200

    sanction_id = uuid.uuid4()
    await _produce(
        stack,
        Topic.AUDIT,
        SanctionApplied(
            sanction_id=sanction_id,
            alert_id=uuid.uuid4(),
            kind="institution_listed",
            institution_id=uuid.UUID(institution_id),
            decided_by="auditor",
            note="多次代签虚假服务记录",
            decided_at=datetime.now(UTC),
        ),
        institution_id,
    )

    async def refused():
        response = await gateway.post("/api/v1/auth/token", data=form)
        return response if response.status_code == 403 else None

    denied = await helpers.eventually(refused, timeout=60)
    assert denied is not None and denied.json()["type"].endswith("/institution-not-in-good-standing")
    listed = [
        i
        for i in (await gateway.get("/api/v1/institutions", headers=officer)).json()["items"]
        if i["id"] == institution_id
    ]
    assert listed[0]["listed_at"] is not None

    await gateway.post(f"/api/v1/sanctions/{sanction_id}/lift", headers=auditor, json={"reason": "整改完成，复核通过"})
    assert (await gateway.post("/api/v1/auth/token", data=form)).status_code == 200
