"""Every staff list can leave as a file (CSV or XLSX), made by the service that owns the list from the same
query, within the same scope, and each export is on the audit trail: who, which list, which filters, how many."""

from __future__ import annotations

import csv
import io
import json
import secrets
import zipfile

from devstack import scenario
from devstack.people import resident_number

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def test_an_officer_exports_the_people_of_their_district_and_the_export_is_audited(gateway, helpers, sql):
    person = await scenario.sign_in(gateway, f"export-{secrets.token_hex(6)}")
    number = resident_number(1939, region="110105")
    verified = await gateway.post(
        "/api/v1/me/real-name", headers=person.headers, json={"name": "吴秀兰", "id_number": number}
    )
    assert verified.status_code == 200, verified.text
    residence = {"district": "110105", "permanent_resident": True}
    assert (await gateway.put("/api/v1/me/residence", headers=person.headers, json=residence)).status_code == 200
    officer = await scenario.staff(gateway, "officer-110105")

    as_csv = await gateway.get("/api/v1/people/export", headers=officer, params={"format": "csv", "q": number})
    assert as_csv.status_code == 200, as_csv.text
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in as_csv.headers["content-disposition"]
    table = list(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert table[0][:3] == ["姓名", "身份证号", "手机号"]
    assert table[1][:2] == ["吴**", number[:6] + "********" + number[-4:]] and len(table) == 2
    assert number not in as_csv.text and "吴秀兰" not in as_csv.text

    whole = await gateway.get("/api/v1/people/export", headers=officer)  # XLSX, the whole district
    assert whole.status_code == 200 and whole.headers["content-type"] == XLSX
    with zipfile.ZipFile(io.BytesIO(whole.content)) as book:
        strings = book.read("xl/sharedStrings.xml").decode()
    assert "吴**" in strings and "朝阳" in strings and "海淀" not in strings

    other = await gateway.get("/api/v1/people/export", headers=officer, params={"district": "110108"})
    assert other.status_code == 403
    assert (await gateway.get("/api/v1/people/export", headers=person.headers)).status_code == 403
    bad = await gateway.get("/api/v1/people/export", headers=officer, params={"format": "pdf"})
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")

    officer_id = (await gateway.get("/api/v1/me", headers=officer)).json()["id"]

    wanted = {("people", "csv", "id_number"), ("people", "xlsx", None)}

    async def audited():
        rows = await sql["audit"].rows(
            "SELECT payload FROM audit_log WHERE type = 'timebank.identity.list.exported' AND actor = :a", a=officer_id
        )
        found = [json.loads(r.payload) for r in rows]
        seen = {(e["list_name"], e["format"], e["filters"].get("q_kind")) for e in found}
        return found if wanted <= seen else None

    exported = await helpers.eventually(audited, timeout=30)
    assert exported, "the exports are not on the audit trail"
    assert all(e["exporter_roles"] == ["district_officer"] for e in exported)


async def test_the_registry_alerts_milestones_and_statistics_leave_as_files_too(gateway, helpers, sql):
    admin = await scenario.staff(gateway, "admin")
    auditor = await scenario.staff(gateway, "auditor")
    for path, headers, title in (
        ("/api/v1/aeds/registry/export", admin, "序列号"),
        ("/api/v1/alerts/export", auditor, "级别"),
        ("/api/v1/accounts/milestones/export", admin, "人员编号"),
        ("/api/v1/requests/statistics/export", auditor, "所在区"),
        ("/api/v1/sanctions/export", auditor, "处罚"),
        ("/api/v1/watchlist/export", auditor, "对象类型"),
        ("/api/v1/requests/queue/export", await scenario.staff(gateway, "institution"), "服务类别"),
    ):
        answer = await gateway.get(path, headers=headers, params={"format": "csv"})
        assert answer.status_code == 200, (path, answer.text)
        assert answer.content.decode("utf-8-sig").split(",")[0] == title, path
    school = await scenario.staff(gateway, "school")
    assert (await gateway.get("/api/v1/alerts/export", headers=school)).status_code == 403

    async def audited():
        rows = await sql["audit"].rows(
            "SELECT DISTINCT type FROM audit_log WHERE type LIKE 'timebank.%%.list.exported'"
        )
        return {r.type for r in rows} >= {
            "timebank.aed.list.exported",
            "timebank.audit.list.exported",
            "timebank.ledger.list.exported",
            "timebank.matching.list.exported",
        }

    assert await helpers.eventually(audited, timeout=30)


async def test_the_two_summaries_coins_by_district_and_aed_coverage_leave_as_files_in_scope(gateway, helpers, sql):
    """The coins each district granted and its residents still hold (by origin), and AED coverage by district
    and by school: an officer's file holds their district alone, and each export is on the audit trail."""
    elder = await scenario.elder_with_coins(gateway, 90)  # 朝阳: 1.5 coins granted
    officer = await scenario.staff(gateway, "officer-110105")
    coins = await gateway.get("/api/v1/accounts/liability/export", headers=officer, params={"format": "csv"})
    assert coins.status_code == 200, coins.text
    table = list(csv.reader(io.StringIO(coins.content.decode("utf-8-sig"))))
    assert table[0][:2] == ["区", "政府累计赠予（时间币）"] and table[0][-1] == "未兑换合计"
    assert [row[0] for row in table[1:]] == ["朝阳"]
    issued, granted_outstanding = float(table[1][1]), float(table[1][4])
    assert issued >= 1.5 and granted_outstanding >= 1.5
    assert float(table[1][-1]) == sum(float(v) for v in table[1][2:6])
    account = (await gateway.get(f"/api/v1/accounts/{elder.person_id}", headers=officer)).json()
    assert account["balance"] == 90
    other = await gateway.get("/api/v1/accounts/liability/export", headers=officer, params={"district": "110108"})
    assert other.status_code == 403
    admin = await scenario.staff(gateway, "admin")
    city = await gateway.get("/api/v1/accounts/liability/export", headers=admin)
    assert city.status_code == 200 and city.headers["content-type"] == XLSX

    by_district = await gateway.get("/api/v1/aeds/coverage/export", headers=officer, params={"format": "csv"})
    assert by_district.status_code == 200, by_district.text
    rows = list(csv.reader(io.StringIO(by_district.content.decode("utf-8-sig"))))
    assert rows[0] == ["区", "常住人口", "AED台数", "每千人台数", "达标尚需台数", "低于标准"]
    assert [r[0] for r in rows[1:]] == ["朝阳"] and int(rows[1][1]) > 0
    shown = (await gateway.get("/api/v1/aeds/coverage", headers=officer)).json()["districts"][0]
    assert int(rows[1][2]) == shown["devices"] and int(rows[1][4]) == shown["needed_for_standard"]
    schools = await gateway.get(
        "/api/v1/aeds/coverage/export", headers=admin, params={"format": "csv", "table": "organisations"}
    )
    assert schools.status_code == 200
    assert schools.content.decode("utf-8-sig").startswith("单位,类型,所在区,人数")
    assert (
        await gateway.get("/api/v1/aeds/coverage/export", headers=officer, params={"district": "110108"})
    ).status_code == 403
    school = await scenario.staff(gateway, "school")
    assert (await gateway.get("/api/v1/aeds/coverage/export", headers=school)).status_code == 403
    assert (await gateway.get("/api/v1/accounts/liability/export", headers=school)).status_code == 403

    officer_id = (await gateway.get("/api/v1/me", headers=officer)).json()["id"]

    async def audited():
        rows = await sql["audit"].rows(
            "SELECT payload FROM audit_log WHERE type LIKE 'timebank.%%.list.exported' AND actor = :a", a=officer_id
        )
        return {json.loads(r.payload)["list_name"] for r in rows} >= {"coin-summary", "aed-coverage"}

    assert await helpers.eventually(audited, timeout=30)
