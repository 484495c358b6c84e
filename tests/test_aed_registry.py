"""The AED registry through the gateway: owners and districts keep their devices, the public lookup shows
only devices usable now (status, expiry, access, opening hours across midnight and weekdays in Beijing
time), bulk import is all-or-nothing and idempotent, coverage against 2 per 1,000, consumables announced."""

import base64
import json
import random
import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from devstack import scenario

BEIJING = ZoneInfo("Asia/Shanghai")
FAR_FUTURE = (date.today() + timedelta(days=700)).isoformat()


def _spot() -> dict:
    """A place of this test's own, so other tests' devices never come nearer."""
    return {"lat": round(random.uniform(39.75, 40.05), 5), "lon": round(random.uniform(116.20, 116.60), 5)}


def _device(spot: dict, **fields) -> dict:
    return {
        "serial": f"T-{uuid.uuid4().hex[:10]}",
        "name": "教学楼一层大厅",
        "position": spot,
        "address": "海淀区学院路1号",
        "district": "110108",
        "indoor": True,
        "floor": "1",
        "access_directions": "正门进入右手边",
        "access": "public",
        "opening_hours": "24/7",
        "battery_expires_on": FAR_FUTURE,
        "adult_pads_expires_on": FAR_FUTURE,
        "child_pads_expires_on": FAR_FUTURE,
        "kiosk_with_first_aid_kit": True,
        **fields,
    }


def _subject(headers: dict) -> str:
    payload = headers["Authorization"].split()[1].split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"]


async def _school(gateway, *, headcount: int = 1000) -> tuple[str, dict, dict]:
    officer = await scenario.staff(gateway, "officer-110108")
    created = await gateway.post(
        "/api/v1/aeds/organisations",
        headers=officer,
        json={
            "name": f"第{uuid.uuid4().hex[:6]}中学",
            "kind": "primary_secondary_school",
            "district": "110108",
            "headcount": headcount,
        },
    )
    assert created.status_code == 201, created.text
    school = await scenario.staff(gateway, "school")
    added = await gateway.post(
        f"/api/v1/aeds/organisations/{created.json()['id']}/staff", headers=officer, json={"staff_id": _subject(school)}
    )
    assert added.status_code == 200, added.text
    return created.json()["id"], school, officer


async def _nearby(gateway, spot: dict, **params) -> list[str]:
    response = await gateway.get("/api/v1/aeds", params={"near": f"{spot['lat']},{spot['lon']}", "limit": 20, **params})
    assert response.status_code == 200, response.text
    return [d["id"] for d in response.json()]


async def test_owners_keep_their_devices_and_the_lookup_shows_only_usable_ones(stack, gateway, clock):
    organisation, school, officer = await _school(gateway)
    spot = _spot()
    registered = await gateway.post("/api/v1/aeds", headers=school, json=_device(spot, organisation_id=organisation))
    assert registered.status_code == 201, registered.text
    aed = registered.json()["id"]
    assert (await gateway.post("/api/v1/aeds", headers=school, json=_device(spot))).status_code == 403  # not theirs
    chaoyang = await scenario.staff(gateway, "officer-110105")
    assert (await gateway.patch(f"/api/v1/aeds/{aed}", headers=chaoyang, json={"floor": "2"})).status_code == 403
    duplicate = await gateway.post(
        "/api/v1/aeds",
        headers=school,
        json=_device(spot, organisation_id=organisation, serial=registered.json()["serial"]),
    )
    assert duplicate.status_code == 409

    found = (await gateway.get("/api/v1/aeds", params={"near": f"{spot['lat']},{spot['lon']}"})).json()  # no token
    hit = next(d for d in found if d["id"] == aed)
    assert hit["distance_m"] == 0 and hit["floor"] == "1" and hit["access_directions"] == "正门进入右手边"
    assert hit["position_gcj02"]["lon"] > hit["position"]["lon"]  # GCJ-02 sits east of WGS-84 in Beijing

    async def shown(**fields) -> bool:
        changed = await gateway.patch(f"/api/v1/aeds/{aed}", headers=school, json=fields)
        assert changed.status_code == 200, changed.text
        return aed in await _nearby(gateway, spot)

    assert not await shown(status="out_of_service")
    assert await shown(status="working")
    assert not await shown(battery_expires_on=(date.today() - timedelta(days=1)).isoformat())
    assert await shown(battery_expires_on=FAR_FUTURE)
    assert not await shown(access="staff")
    assert await shown(access="public")

    record = (await gateway.get(f"/api/v1/aeds/{aed}", headers=officer)).json()
    assert [h["action"] for h in record["history"]][:2] == ["registered", "changed"]
    assert record["history"][1]["changes"] == {"status": ["working", "out_of_service"]}


async def test_opening_hours_in_beijing_time_across_midnight_and_weekdays(stack, gateway, clock):
    organisation, school, _ = await _school(gateway)
    spot = _spot()
    office = (
        await gateway.post(
            "/api/v1/aeds",
            headers=school,
            json=_device(spot, organisation_id=organisation, opening_hours="Mo-Fr 08:00-18:00; PH off"),
        )
    ).json()["id"]
    night = (
        await gateway.post(
            "/api/v1/aeds",
            headers=school,
            json=_device(spot, organisation_id=organisation, opening_hours="Fr-Sa 22:00-02:00"),
        )
    ).json()["id"]

    # 2026-12-04 is a Friday, 2026-12-05 a Saturday, 2026-12-06 a Sunday; 2027-01-01 a public holiday (Friday).
    expectations = [
        (datetime(2026, 12, 4, 10, 0), {office}),  # Friday morning: the office only
        (datetime(2026, 12, 4, 19, 0), set()),  # Friday evening: neither
        (datetime(2026, 12, 4, 23, 0), {night}),  # Friday night
        (datetime(2026, 12, 5, 1, 30), {night}),  # early Saturday: still Friday's night hours
        (datetime(2026, 12, 5, 10, 0), set()),  # Saturday morning: office closed at weekends
        (datetime(2026, 12, 6, 1, 30), {night}),  # early Sunday: Saturday's night hours
        (datetime(2026, 12, 7, 1, 30), set()),  # early Monday: Sunday has no night hours
        (datetime(2027, 1, 1, 10, 0), set()),  # a public holiday: "PH off"
    ]
    for local, expected in expectations:
        clock.travel_to(local.replace(tzinfo=BEIJING))
        shown = set(await _nearby(gateway, spot)) & {office, night}
        assert shown == expected, f"at {local:%a %H:%M}"
        assert set(await _nearby(gateway, spot, open_now="false")) >= {office, night}


async def test_import_is_all_or_nothing_with_row_numbers_and_re_import_changes_nothing(stack, gateway, sql):
    admin = await scenario.staff(gateway, "admin")
    spot = _spot()
    header = "serial,name,lat,lon,address,district,indoor,access,opening_hours,battery_expires_on,adult_pads_expires_on"
    serials = [f"K-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    good = [
        f"{s},校园急救一体机{n},{spot['lat']},{spot['lon']},海淀区某校,110108,是,public,24/7,{FAR_FUTURE},{FAR_FUTURE}"
        for n, s in enumerate(serials)
    ]
    bad = [
        good[0],
        f"{serials[1]},坏行,91,116.3,海淀区某校,110108,是,public,24/7,{FAR_FUTURE},{FAR_FUTURE}",
        f"{serials[2]},坏行,{spot['lat']},{spot['lon']},海淀区某校,999999,是,public,Mon 8-18,,",
    ]
    csv = {"content-type": "text/csv"}
    before = await sql["aed"].scalar("SELECT count(*) FROM aeds")
    refused = await gateway.post("/api/v1/aeds/import", headers=admin | csv, content="\n".join([header, *bad]).encode())
    assert refused.status_code == 422 and refused.json()["type"].endswith("/import-rejected")
    rows = {(e["row"], (e["field"] or "").split(".")[0]) for e in refused.json()["errors"]}
    assert {(3, "position"), (4, "district"), (4, "opening_hours")} <= rows and not any(r == 2 for r, _ in rows)
    assert await sql["aed"].scalar("SELECT count(*) FROM aeds") == before

    first = await gateway.post("/api/v1/aeds/import", headers=admin | csv, content="\n".join([header, *good]).encode())
    assert first.status_code == 200, first.text
    assert (first.json()["created"], first.json()["unchanged"]) == (3, 0)
    again = await gateway.post("/api/v1/aeds/import", headers=admin | csv, content="\n".join([header, *good]).encode())
    assert (again.json()["created"], again.json()["updated"], again.json()["unchanged"]) == (0, 0, 3)
    history = await sql["aed"].scalar(
        "SELECT count(*) FROM aed_history h JOIN aeds a ON a.id = h.aed_id WHERE a.serial = ANY(:s)", s=serials
    )
    assert history == 3  # one entry each, from the first import

    as_json = [
        {
            "serial": serials[0],
            "name": "校园急救一体机0（更名）",
            "position": spot,
            "address": "海淀区某校",
            "district": "110108",
            "indoor": True,
            "access": "public",
            "opening_hours": "24/7",
            "battery_expires_on": FAR_FUTURE,
            "adult_pads_expires_on": FAR_FUTURE,
        }
    ]
    changed = await gateway.post(
        "/api/v1/aeds/import",
        headers=admin | {"content-type": "application/json"},
        content=json.dumps({"devices": as_json}).encode(),
    )
    assert changed.status_code == 200 and changed.json()["updated"] == 1, changed.text
    # Owner staff import their organisation's devices only, and cannot take over a registered one by its serial.
    organisation, school, _ = await _school(gateway)
    theirs = f"K-{uuid.uuid4().hex[:8]}"
    own = f"{theirs},校园急救一体机,{spot['lat']},{spot['lon']},海淀区某校,110108,是,public,24/7,{FAR_FUTURE},{FAR_FUTURE}"
    with_owner = header + ",organisation_id"
    refused = await gateway.post(
        "/api/v1/aeds/import",
        headers=school | csv,
        content="\n".join([with_owner, own + f",{organisation}", good[1] + f",{organisation}", own + ","]).encode(),
    )
    assert refused.status_code == 422, refused.text
    problems = {(e["row"], e["field"]) for e in refused.json()["errors"]}
    assert {(3, "serial"), (4, "organisation_id")} <= problems and 2 not in {row for row, _ in problems}, problems
    accepted = await gateway.post(
        "/api/v1/aeds/import", headers=school | csv, content="\n".join([with_owner, own + f",{organisation}"]).encode()
    )
    assert accepted.status_code == 200 and accepted.json()["created"] == 1, accepted.text


async def test_an_import_of_the_documented_maximum_answers_and_a_larger_one_is_refused(stack, gateway, sql):
    """5,000 rows (the documented maximum) are stored in one answer — well inside the gateway's timeout, so a
    client never sees a 504 for an import that commits later — and the same file again changes nothing."""
    admin = await scenario.staff(gateway, "admin")
    csv = {"content-type": "text/csv"}
    tag = uuid.uuid4().hex[:8]
    header = "serial,name,lat,lon,address,district,indoor,access,opening_hours,status"

    def file(rows: int, name: str) -> bytes:  # 怀柔, out of service: no other test's lookup meets them
        return "\n".join(
            [
                header,
                *(
                    f"M-{tag}-{n:05d},{name}{n},{40.30 + n % 70 * 0.001:.4f},{116.60 + n // 70 * 0.001:.4f},"
                    f"怀柔区某校,110116,true,public,Mo-Fr 07:30-18:00,out_of_service"
                    for n in range(rows)
                ),
            ]
        ).encode()

    assert (
        await gateway.post("/api/v1/aeds/import", headers=admin | csv, content=file(5001, "校园"))
    ).status_code == 422
    first = await gateway.post("/api/v1/aeds/import", headers=admin | csv, content=file(5000, "校园"))
    assert first.status_code == 200, first.text
    assert (first.json()["created"], len(first.json()["rows"])) == (5000, 5000)
    assert [r["row"] for r in first.json()["rows"]] == list(range(2, 5002))
    mine = "SELECT count(*) FROM {} x JOIN aeds a ON a.id = x.{} WHERE a.serial LIKE :s"
    like = f"M-{tag}-%"
    assert await sql["aed"].scalar(mine.format("aed_hours", "aed_id"), s=like) == 5 * 5000  # Mo-Fr, each
    assert (
        await sql["aed"].scalar(
            "SELECT count(*) FROM outbox o JOIN aeds a ON o.key = a.id::text WHERE "
            "o.event_type = 'timebank.aed.device.registered' AND a.serial LIKE :s",
            s=like,
        )
        == 5000
    )

    again = await gateway.post("/api/v1/aeds/import", headers=admin | csv, content=file(5000, "校园"))
    assert (again.json()["created"], again.json()["updated"], again.json()["unchanged"]) == (0, 0, 5000)
    renamed = await gateway.post("/api/v1/aeds/import", headers=admin | csv, content=file(5000, "学校"))
    assert (renamed.json()["updated"], renamed.json()["unchanged"]) == (5000, 0)
    assert await sql["aed"].scalar(mine.format("aed_history", "aed_id"), s=like) == 2 * 5000


async def test_the_documented_import_example_imports(stack, gateway):
    spec = (await gateway.get("/openapi.json")).json()
    example = spec["paths"]["/api/v1/aeds/import"]["post"]["requestBody"]["content"]["text/csv"]["example"]
    answer = await gateway.post(
        "/api/v1/aeds/import",
        headers=await scenario.staff(gateway, "admin") | {"content-type": "text/csv"},
        content=example.encode(),
    )
    assert answer.status_code == 200, answer.text


async def test_coverage_against_two_per_thousand(stack, gateway):
    organisation, school, officer = await _school(gateway, headcount=1500)
    spot = _spot()
    for _ in range(2):
        assert (
            await gateway.post("/api/v1/aeds", headers=school, json=_device(spot, organisation_id=organisation))
        ).status_code == 201
    report = (await gateway.get("/api/v1/aeds/coverage", headers=officer)).json()
    mine = next(o for o in report["organisations"] if str(o["id"]) == organisation)
    assert (mine["devices"], mine["per_1000"], mine["needed_for_standard"], mine["below_standard"]) == (
        2,
        1.3333,
        1,
        True,
    )
    assert organisation in [str(o) for o in report["organisations_below"]]
    haidian = report["districts"][0]
    assert haidian["district"] == "110108" and haidian["below_standard"] and "110108" in report["districts_below"]
    assert (await gateway.get("/api/v1/aeds/coverage?district=110105", headers=officer)).status_code == 403


async def test_expiring_consumables_are_announced_once(stack, gateway, sql, helpers):
    organisation, school, _ = await _school(gateway)
    soon = (date.today() + timedelta(days=10)).isoformat()
    aed = (
        await gateway.post(
            "/api/v1/aeds",
            headers=school,
            json=_device(_spot(), organisation_id=organisation, adult_pads_expires_on=soon),
        )
    ).json()["id"]
    count = "SELECT count(*) FROM outbox WHERE event_type = 'timebank.aed.consumables.expiring' AND key = :k"

    async def announced():
        return await sql["aed"].scalar(count, k=aed)

    assert await helpers.eventually(announced, timeout=15) == 1
    inspected = await gateway.post(
        f"/api/v1/aeds/{aed}/inspections",
        headers=school,
        json={"inspected_on": date.today().isoformat(), "result": "ok", "adult_pads_expires_on": FAR_FUTURE},
    )
    assert inspected.status_code == 201 and inspected.json()["adult_pads_expires_on"] == FAR_FUTURE
    assert inspected.json()["last_inspected_on"] == date.today().isoformat()
    assert await sql["aed"].scalar(count, k=aed) == 1  # announced once, and no more once replaced


async def test_120_reads_every_registered_device_around_a_point_with_why_it_is_not_usable(stack, gateway):
    """The public lookup leaves unusable devices out; 120 sees them too, flagged, to send a bystander to the
    nearest one that works, or tell them why the nearest one would not. Removed devices are gone for both."""
    admin = await scenario.staff(gateway, "admin")
    spot = _spot()
    today = datetime.now(BEIJING).date()  # the services' clock is the real one outside `clock` tests
    yesterday = (today - timedelta(days=1)).isoformat()

    def metres_north(metres: int) -> dict:
        return {"lat": round(spot["lat"] + metres / 111_000, 6), "lon": spot["lon"]}

    kinds = {
        "usable": {},
        "out_of_service": {"status": "out_of_service"},
        "battery_expired": {"battery_expires_on": yesterday},
        "closed_today": {"closures": [today.isoformat()]},
        "removed": {},
    }
    ids = {}
    for n, (kind, fields) in enumerate(kinds.items()):
        made = await gateway.post("/api/v1/aeds", headers=admin, json=_device(metres_north(60 * n), **fields))
        assert made.status_code == 201, (kind, made.text)
        ids[kind] = made.json()["id"]
    removed = await gateway.patch(f"/api/v1/aeds/{ids['removed']}", headers=admin, json={"status": "removed"})
    assert removed.status_code == 200, removed.text

    partner = await scenario.partner(gateway, "emergency-120")
    query = {"near": f"{spot['lat']},{spot['lon']}", "radius_m": 500}
    around = await gateway.get("/api/v1/aeds/around", headers=partner, params=query)
    assert around.status_code == 200, around.text
    seen = {d["id"]: d for d in around.json()}
    assert [d["id"] for d in around.json() if d["id"] in ids.values()] == [
        ids[k] for k in ("usable", "out_of_service", "battery_expired", "closed_today")
    ], "nearest first, the removed one left out"
    assert seen[ids["usable"]]["usable_now"] and seen[ids["usable"]]["not_usable_because"] == []
    assert seen[ids["out_of_service"]]["not_usable_because"] == ["not_working"]
    assert seen[ids["battery_expired"]]["not_usable_because"] == ["battery_expired"]
    assert seen[ids["closed_today"]]["not_usable_because"] == ["closed_now"]
    assert not any(seen[ids[k]]["usable_now"] for k in ("out_of_service", "battery_expired", "closed_today"))

    public = set(await _nearby(gateway, spot))
    assert ids["usable"] in public and not public & {ids[k] for k in kinds if k != "usable"}
    person = await scenario.resident(gateway, born=1980)
    assert (await gateway.get("/api/v1/aeds/around", headers=person.headers, params=query)).status_code == 403
