"""The staff console in a real browser (Debian's Chromium driven by Playwright) against the real stack, through the
gateway that serves it: staff sign in with the keyboard, find people and act on them, review requests, and the
session keeps its refresh token where no script can read it. A screenshot of each page is kept as an artefact
(.data/artefacts/console/)."""

from __future__ import annotations

import asyncio
import re
import secrets
import shutil
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    ViewportSize,
    async_playwright,
    expect,
)

from devstack import scenario
from devstack.people import resident_number
from devstack.stack import Stack

ARTEFACTS = Path(__file__).resolve().parents[1] / ".data" / "artefacts" / "console"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# What the machine's probe found Chromium needs on a closed network (no background calls to Google's hosts).
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LAPTOP = ViewportSize(width=1366, height=768)
TABLET = ViewportSize(width=1024, height=768)
BEIJING = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        await launched.close()


class Console:
    """One staff member's browser tab on the console, with every page error and CSP report it caused."""

    def __init__(self, context: BrowserContext, page: Page, base: str) -> None:
        self.context, self.page, self.base = context, page, base
        self.problems: list[str] = []
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error.stack or error}"))
        page.on("console", self._console)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and "Failed to load resource" not in message.text:
            self.problems.append(f"console: {message.text}")

    async def sign_in(self, username: str) -> None:
        """With the keyboard only: the username field has the focus, Tab to the password, Enter to submit."""
        await self.page.goto(self.base + "/console/")
        await expect(self.page.get_by_role("heading", name="工作人员登录")).to_be_visible()
        await expect(self.page.get_by_role("textbox", name="用户名")).to_be_focused()
        await self.page.keyboard.type(username)
        await self.page.keyboard.press("Tab")
        await self.page.keyboard.type(scenario.PASSWORD)
        await self.page.keyboard.press("Enter")
        await expect(self.page.get_by_role("button", name="退出登录")).to_be_visible()

    async def shot(self, name: str) -> None:
        await self.page.screenshot(path=ARTEFACTS / f"{name}.png", full_page=True)


@pytest.fixture
async def console(browser: Browser, stack: Stack) -> AsyncIterator[Console]:
    context = await browser.new_context(viewport=LAPTOP, locale="zh-CN", timezone_id="Asia/Shanghai")
    context.set_default_timeout(15_000)
    tab = Console(context, await context.new_page(), stack.url("gateway"))
    yield tab
    await context.close()
    assert tab.problems == [], tab.problems  # no script error, no Content-Security-Policy violation


async def _elder(gateway: httpx.AsyncClient, born: int) -> tuple[scenario.Person, str]:
    number = resident_number(born, region="110105")
    person = await scenario.sign_in(gateway, f"console-{secrets.token_hex(6)}")
    verified = await gateway.post(
        "/api/v1/me/real-name", headers=person.headers, json={"name": "周桂兰", "id_number": number}
    )
    assert verified.status_code == 200, verified.text
    residence = {"district": "110105", "permanent_resident": True}
    assert (await gateway.put("/api/v1/me/residence", headers=person.headers, json=residence)).status_code == 200
    return person, number


async def test_an_officer_finds_an_elder_by_id_number_marks_them_and_grants_coins(console: Console, gateway):
    elder, number = await _elder(gateway, 1938)
    page = console.page
    await console.sign_in("officer-110105")
    await expect(page).to_have_url(console.base + "/console/people")
    await console.shot("people")

    # A mistyped number is caught before it is sent, with the reason.
    query = page.get_by_placeholder("姓名 / 手机号")
    await query.fill(number[:17] + ("0" if number[17] != "0" else "1"))
    await expect(page.get_by_role("alert")).to_contain_text("校验位错误")
    await query.fill(number)
    await query.press("Enter")
    results = page.locator("[data-test=people-results]")
    await expect(results.locator(".el-table__row")).to_have_count(1)
    await expect(results).to_contain_text(number[:6] + "********" + number[-4:])
    await expect(results).not_to_contain_text(number)

    # The same search leaves as a spreadsheet, named in Chinese (the export is audited by identity).
    await page.locator("[data-test=export]").click()
    async with page.expect_download() as downloading:
        await page.get_by_role("menuitem", name="导出 Excel（XLSX）").click()
    download = await downloading.value
    assert download.suggested_filename.startswith("人员名单-") and download.suggested_filename.endswith(".xlsx")
    await results.get_by_role("button", name="查看").click()

    await expect(page).to_have_url(console.base + f"/console/people/{elder.person_id}")
    await expect(page.locator("[data-test=person-title]")).to_contain_text("周*")
    await expect(page.locator("[data-test=special-groups]")).to_contain_text("未认定")
    await page.get_by_role("button", name="认定特殊老年群体").click()
    dialog = page.get_by_role("dialog", name="认定特殊老年群体")
    await dialog.get_by_text("高龄").click()
    await dialog.locator("input[name=reason]").fill("年满80周岁，经入户核实")
    await dialog.get_by_role("button", name="确定").click()
    await expect(page.locator("[data-test=special-groups]")).to_contain_text("高龄")

    # The ledger learns the category from identity's events a moment later: an officer who is early is told why,
    # and confirming again (the same operation: it cannot grant twice) goes through.
    await expect(page.locator("[data-test=account]")).to_be_visible()
    await page.get_by_role("button", name="发放政府赠予时间币").click()
    grant = page.get_by_role("dialog", name="发放政府赠予时间币")
    await grant.locator("input[name=grant-reason]").fill("高龄老人补贴")
    amount = grant.locator(".el-input-number input")
    await amount.fill("12")
    await amount.press("Tab")
    await expect(grant.locator("[data-test=grant-preview]")).to_contain_text("12")
    for _ in range(60):
        await grant.get_by_role("button", name="确定").click()
        try:
            await expect(grant).to_be_hidden(timeout=1_000)
            break
        except AssertionError:
            await expect(grant.get_by_role("alert")).to_be_visible()
    await expect(page.locator("[data-test=account]")).to_contain_text("12")
    await console.shot("person")

    officer = await scenario.staff(gateway, "officer-110105")
    account = (await gateway.get(f"/api/v1/accounts/{elder.person_id}", headers=officer)).json()
    assert account["balance"] == 12 * 60, account
    statement = await gateway.get(f"/api/v1/accounts/{elder.person_id}/entries", headers=officer)
    assert [(e["kind"], e["amount"]) for e in statement.json()["items"]] == [("grant", 720)]
    haidian = await scenario.staff(gateway, "officer-110108")
    assert (await gateway.get(f"/api/v1/accounts/{elder.person_id}/entries", headers=haidian)).status_code == 403
    await expect(page.locator("[data-test=statement]")).to_contain_text("政府赠予")
    await expect(page.locator("[data-test=statement]")).to_contain_text("+12")

    # The district's coins: what it granted (this grant among it) and what its residents hold, by origin.
    issued = (await gateway.get("/api/v1/accounts/issuance", headers=officer)).json()
    assert [d["district"] for d in issued["districts"]] == ["110105"] and issued["districts"][0]["issued"] >= 720
    assert issued["welfare_balance"] is None  # the city's account is not an officer's to see
    await page.get_by_role("menuitem", name="时间币").click()
    minutes = issued["districts"][0]["issued"]
    shown = str(minutes // 60) if minutes % 60 == 0 else f"{minutes / 60:.2f}"
    await expect(page.locator("[data-test=issued-total]")).to_contain_text(shown)
    await expect(page.locator("[data-test=liability]")).to_contain_text("朝阳区")
    await expect(page.locator("[data-test=liability]")).not_to_contain_text("海淀区")
    await console.shot("coins")
    await page.locator("[data-test=export-liability]").click()
    async with page.expect_download() as downloading:
        await page.get_by_role("menuitem", name="导出 CSV").click()
    summary = await downloading.value
    assert summary.suggested_filename.startswith("时间币发放与负债-") and summary.suggested_filename.endswith(".csv")
    assert "朝阳" in Path(await summary.path()).read_text(encoding="utf-8-sig")


async def test_an_institution_approves_a_request_from_its_queue(console: Console, gateway):
    elder = await scenario.elder_with_coins(gateway, 120)
    request_id = await scenario.request_awaiting_review(gateway, elder, hours_ahead=30, notes="需要有人陪伴聊天")

    page = console.page
    await console.sign_in("institution")
    await expect(page).to_have_url(console.base + "/console/review")
    queue = page.locator("[data-test=review-queue]")
    row = queue.locator(".el-table__row", has_text="需要有人陪伴聊天")
    await expect(row).to_have_count(1)
    await console.shot("review")
    await row.get_by_role("button", name="通过").click()
    dialog = page.get_by_role("dialog", name="通过")
    await dialog.locator("textarea[name=review-note]").fill("情况属实")
    await dialog.get_by_role("button", name="确定").click()
    await expect(row).to_have_count(0)

    state = (await gateway.get(f"/api/v1/requests/{request_id}", headers=elder.headers)).json()["state"]
    assert state == "open"


async def test_an_institution_registers_an_elder_offline_acts_for_them_and_records_training(console: Console):
    number = resident_number(1936, region="110105")
    page = console.page
    await console.sign_in("institution")
    await page.get_by_role("menuitem", name="线下登记").click()
    await page.locator("input[name=consent-ref]").fill(f"朝外-授权-{secrets.token_hex(3)}")
    await page.get_by_role("button", name="登记").click()
    await page.locator("input[name=real-name]").fill("陈淑珍")
    await page.locator("input[name=id-number]").fill(number[:17] + ("0" if number[17] != "0" else "1"))
    await expect(page.get_by_role("alert")).to_contain_text("校验位错误")
    await page.locator("input[name=id-number]").fill(number)
    await page.get_by_role("button", name="代办实名认证").click()
    await expect(page.locator("[data-test=offline-done]")).to_contain_text("登记完成")
    await console.shot("offline")
    await page.locator("[data-test=offline-done]").get_by_role("button", name="查看").click()
    await expect(page.locator("[data-test=person-title]")).to_contain_text("陈**")

    await page.get_by_role("button", name="记录培训").click()
    dialog = page.get_by_role("dialog", name="记录培训")
    await dialog.locator("input[name=completed-on]").fill("2026-11-20")
    await dialog.locator("input[name=completed-on]").press("Enter")
    await dialog.get_by_role("button", name="确定").click()
    await expect(page.get_by_text("志愿服务培训")).to_be_visible()

    # An institution finds the person in front of it by their full number; it never browses names.
    await page.get_by_role("menuitem", name="人员查询").click()
    query = page.get_by_placeholder("姓名 / 手机号")
    await query.fill("陈淑珍")
    await expect(page.locator(".people__invalid")).to_contain_text("完整的身份证号或手机号")
    await query.fill(number)
    await query.press("Enter")
    await expect(page.locator("[data-test=people-results] .el-table__row")).to_have_count(1)


async def _represented_elder(gateway: httpx.AsyncClient, minutes: int) -> str:
    """An elder the institution registered offline and verified for (代办), granted `minutes` by the office."""
    institution = await scenario.staff(gateway, "institution")
    consent = {"consent_ref": f"朝外-授权-{secrets.token_hex(3)}", "permanent_resident": True}
    made = await gateway.post("/api/v1/people", headers=institution, json=consent)
    assert made.status_code == 201, made.text
    person_id = made.json()["person_id"]
    acting = await gateway.post("/api/v1/auth/act-for", headers=institution, json={"person_id": person_id})
    assert acting.status_code == 200, acting.text
    as_elder = {"Authorization": f"Bearer {acting.json()['access_token']}"}
    real_name = {"name": "赵桂芝", "id_number": resident_number(1937, region="110105")}
    assert (await gateway.post("/api/v1/me/real-name", headers=as_elder, json=real_name)).status_code == 200
    await scenario.special_grant(gateway, person_id, minutes)
    return person_id


async def test_an_institution_publishes_a_need_for_an_elder_it_represents(console: Console, gateway):
    elder_id = await _represented_elder(gateway, 240)
    page = console.page
    await console.sign_in("institution")
    await page.goto(console.base + f"/console/people/{elder_id}")
    await expect(page.locator("[data-test=elder-requests]")).to_contain_text("暂无服务需求")
    await page.get_by_role("button", name="代发布需求").click()
    await expect(page.locator("[data-test=publish-title]")).to_contain_text("赵**")

    for field, choice in (("服务类别", "情感慰藉"), ("服务项目", "陪伴聊天")):
        await page.locator(".el-form-item", has_text=field).locator(".el-select__wrapper").click()
        await page.get_by_role("option", name=choice).click()
    await page.locator("input[name=address]").fill("朝阳区幸福里12号楼3单元")
    point = page.locator("input[name=point]")
    await point.fill("31.23, 121.47")  # 上海: not a place in Beijing
    await expect(page.get_by_text("坐标无法识别或不在北京市范围内")).to_be_visible()
    await point.fill("116.4497,39.9233")  # as 高德 copies it: lon,lat in GCJ-02
    await expect(page.get_by_text("坐标无法识别或不在北京市范围内")).to_be_hidden()
    start = (datetime.now(BEIJING) + timedelta(days=2)).replace(hour=10, minute=0)
    await page.locator("input[name=start]").fill(start.strftime("%Y-%m-%d %H:%M"))
    await page.locator("input[name=start]").press("Enter")
    minutes = page.locator(".el-form-item", has_text="时长（分钟）").locator("input")
    await minutes.fill("90")
    await minutes.press("Tab")
    await page.locator("textarea[name=notes]").fill("老人独居，希望有人陪伴聊天")
    await expect(page.locator("[data-test=publish-hold]")).to_contain_text("将冻结 1.50 时间币")
    await expect(page.locator("[data-test=publish-hold]")).to_contain_text("老人可用 4 时间币")
    await console.shot("publish-for")
    await page.get_by_role("button", name="提交需求").click()
    outcome = page.locator("[data-test=publish-outcome]")
    await expect(outcome).to_contain_text("需求已提交")
    await expect(outcome).to_contain_text("待审核")

    await outcome.get_by_role("button", name="返回人员页面").click()
    listed = page.locator("[data-test=elder-requests]")
    await expect(listed).to_contain_text("待审核")
    await expect(listed).to_contain_text("老人独居")

    # The request is the elder's, with the elder's coins held, and its history names who acted for whom.
    institution = await scenario.staff(gateway, "institution")
    found = (await gateway.get(f"/api/v1/requests/elders/{elder_id}", headers=institution)).json()["items"]
    assert len(found) == 1 and found[0]["elder_id"] == elder_id and found[0]["estimated_minutes"] == 90
    officer = await scenario.staff(gateway, "officer-110105")
    detail = (await gateway.get(f"/api/v1/requests/{found[0]['id']}", headers=officer)).json()
    assert detail["history"][0]["acting_for"] == elder_id
    assert detail["history"][0]["actor"] == (await gateway.get("/api/v1/me", headers=institution)).json()["id"]
    assert abs(detail["position"]["lat"] - 39.9233) > 0.0005, "the 高德 point was taken as GCJ-02 and stored as WGS-84"
    assert (await gateway.get(f"/api/v1/accounts/{elder_id}", headers=officer)).json()["held"] == 90


async def test_an_auditor_confirms_an_alert_and_sees_the_sanction(console: Console, gateway, helpers, clock):
    # A three-minute "service" raises an implausible-duration alert (as in tests/test_audit_flow.py).
    elder = await scenario.elder_with_coins(gateway, 300)
    volunteer = await scenario.volunteer(gateway)
    await scenario.known_volunteer(gateway, volunteer)
    request_id = await scenario.approved_request(gateway, elder, hours_ahead=1)
    assert (await gateway.post(f"/api/v1/requests/{request_id}/booking", headers=volunteer.headers)).status_code == 201
    clock.advance(minutes=59)
    place = {"position": scenario.PLACE}
    checked_in = await gateway.post(f"/api/v1/requests/{request_id}/check-in", headers=volunteer.headers, json=place)
    assert checked_in.status_code == 200, checked_in.text
    clock.advance(minutes=4)
    out = await gateway.post(f"/api/v1/requests/{request_id}/check-out", headers=volunteer.headers, json=place)
    assert out.status_code == 200, out.text
    auditor = await scenario.staff(gateway, "auditor")

    async def raised():
        alerts = await gateway.get("/api/v1/alerts", headers=auditor, params={"status": "open", "limit": 100})
        return next((a for a in alerts.json()["items"] if volunteer.person_id in a["people"]), None)

    alert = await helpers.eventually(raised, timeout=30)
    assert alert is not None

    page = console.page
    await console.sign_in("auditor")
    row = page.locator(f".alert-{alert['id']}")
    await expect(row).to_contain_text("服务时长异常")
    await row.locator(".el-table__expand-icon").click()
    await expect(page.locator("[data-test=evidence]").filter(has_text=request_id)).to_be_visible()
    await console.shot("fraud")
    await row.get_by_role("button", name="确认违规").click()
    dialog = page.get_by_role("dialog", name="确认违规")
    await dialog.locator("textarea[name=decision-note]").fill("电话回访：老人称志愿者未实际提供服务")
    await dialog.get_by_role("button", name="确定").click()
    await expect(page.get_by_text("已确认，处罚已生效")).to_be_visible()
    await expect(row).to_have_count(0)  # no longer open

    await page.get_by_role("tab", name="处罚").click()
    sanction = page.locator("[data-test=sanctions] .el-table__row", has_text=volunteer.person_id[:8])
    await expect(sanction).to_contain_text("取消服务记录资格")
    await expect(sanction).to_contain_text("生效中")

    await page.get_by_role("tab", name="审计日志").click()
    await page.locator("input[name=subject]").fill(request_id)
    await page.locator("input[name=subject]").press("Enter")
    await expect(page.get_by_text("service.completed").first).to_be_visible()
    await page.get_by_role("button", name="校验哈希链").click()
    await expect(page.locator("[data-test=verification]")).to_contain_text("哈希链完整")
    await console.shot("audit-trail")

    # The statistics of the city, by category and state (the services above among them).
    await page.get_by_role("menuitem", name="统计").click()
    await expect(page.locator("[data-test=stats-cards]")).to_contain_text("完成服务")
    await expect(page.locator("[data-test=stats-table]")).to_contain_text("情感慰藉")
    await console.shot("statistics")


async def test_school_staff_import_their_kiosks_and_see_them_on_the_map(console: Console, gateway, tmp_path):
    officer = await scenario.staff(gateway, "officer-110108")
    created = await gateway.post(
        "/api/v1/aeds/organisations",
        headers=officer,
        json={
            "name": f"海淀第{secrets.token_hex(3)}中学",
            "kind": "primary_secondary_school",
            "district": "110108",
            "headcount": 1800,
        },
    )
    assert created.status_code == 201, created.text
    organisation = created.json()["id"]
    school_token = await scenario.staff(gateway, "school")
    school_id = (await gateway.get("/api/v1/me", headers=school_token)).json()["id"]
    added = await gateway.post(
        f"/api/v1/aeds/organisations/{organisation}/staff", headers=officer, json={"staff_id": school_id}
    )
    assert added.status_code == 200, added.text

    header = "serial,name,lat,lon,address,district,indoor,access,opening_hours,status,organisation_id"
    serials = [f"SCH-{secrets.token_hex(4)}" for _ in range(3)]
    rows = [
        f"{serial},教学楼{n + 1}号急救一体机,{39.98 + n / 1000},{116.31 + n / 1000},海淀区某路{n + 1}号,110108,是,public,"
        f"Mo-Fr 07:30-18:00,working,{organisation}"
        for n, serial in enumerate(serials)
    ]
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([header, rows[0], rows[1].replace("110108", "110101")]), encoding="utf-8")
    good = tmp_path / "kiosks.csv"
    good.write_text("\n".join([header, *rows]), encoding="utf-8")

    page = console.page
    await console.sign_in("school")
    await expect(page).to_have_url(console.base + "/console/aeds")
    await page.get_by_role("tab", name="批量导入").click()
    chooser = page.locator("input[name=import-file]")

    # A file with a mistake imports nothing and says which row and why.
    await chooser.set_input_files(bad)
    await page.locator("[data-test=import-button]").click()
    errors = page.locator("[data-test=import-errors]")
    await expect(errors).to_contain_text("3")
    await expect(page.get_by_role("alert").first).to_contain_text("未导入任何设备")

    await chooser.set_input_files(good)
    await page.locator("[data-test=import-button]").click()
    await expect(page.locator("[data-test=import-result]")).to_contain_text("新增 3 台")
    await page.get_by_role("tab", name="设备登记").click()
    await expect(page.locator("[data-test=aed-map]")).to_have_attribute("data-drawn", "true")
    await expect(page.locator("[data-test=aed-map]")).to_have_attribute("aria-label", re.compile(r"标出 \d+ 台"))
    await console.shot("aeds-map")
    await page.locator(".el-radio-button", has_text="列表").click()
    table = page.locator("[data-test=aed-table]")
    for serial in serials:
        await expect(table).to_contain_text(serial)
    await table.locator(".el-table__row", has_text=serials[0]).get_by_role("link", name="查看").click()
    await expect(page.locator("[data-test=device-title]")).to_have_text("教学楼1号急救一体机")
    await console.shot("aed-device")


async def test_an_sos_appears_on_the_board_as_it_is_raised(console: Console, gateway):
    page = console.page
    await console.sign_in("officer-110105")
    await page.get_by_role("menuitem", name="急救看板").click()
    await expect(page.locator("[data-test=board-status]")).to_have_text("实时连接中")

    caller = await scenario.resident(gateway, born=1972)
    spot = {"lat": 39.93 + secrets.randbelow(1000) / 1e6, "lon": 116.47}
    responder = await scenario.responder(gateway)
    nearby = {"on_duty": True, "position": {"lat": spot["lat"] + 0.001, "lon": spot["lon"]}}  # ~110 m north
    for _ in range(150):  # svc-aed learns the responder role from identity's events
        if (await gateway.put("/api/v1/responders/me/duty", headers=responder.headers, json=nearby)).status_code == 200:
            break
        await asyncio.sleep(0.2)
    opened = await gateway.post(
        "/api/v1/incidents",
        headers=caller.headers,
        json={"position": spot, "district": "110105", "note": "商场一层有人倒地"},
    )
    assert opened.status_code == 201, opened.text
    card = page.locator(f".incident-{opened.json()['id']}")
    await expect(card).to_contain_text("商场一层有人倒地")
    await expect(card).to_contain_text("进行中")
    # The responder's alert, as far as it got: delivered to their phone, then accepted with an arrival estimate.
    await expect(card.locator(".el-table")).to_contain_text("已送达")
    accepted = await gateway.post(
        f"/api/v1/incidents/{opened.json()['id']}/responses", headers=responder.headers, json={"accept": True}
    )
    assert accepted.status_code == 200, accepted.text
    await expect(card.locator(".el-table")).to_contain_text("已接受")
    await expect(card.locator("[data-test=responder-eta]")).to_contain_text("秒后")
    await console.shot("incidents")

    officer = await scenario.staff(gateway, "officer-110105")
    closed = await gateway.post(
        f"/api/v1/incidents/{opened.json()['id']}/close", headers=officer, json={"status": "false_alarm"}
    )
    assert closed.status_code == 200, closed.text
    await expect(card).to_contain_text("已结束")


async def test_the_session_is_in_memory_and_an_httponly_cookie_and_ends_on_sign_out(console: Console, gateway):
    page = console.page
    await console.sign_in("auditor")
    await expect(page).to_have_url(console.base + "/console/fraud")  # where an auditor's work starts
    await page.get_by_role("menuitem", name="人员查询").click()
    served = await page.request.get(console.base + "/console/people")
    assert "script-src 'self'" in served.headers["content-security-policy"]

    # Nothing a script can read holds a credential.
    stored = await page.evaluate("JSON.stringify([localStorage, sessionStorage, document.cookie])")
    assert "eyJ" not in stored and "tb_console_refresh" not in stored, stored
    cookies = {c["name"]: c for c in await console.context.cookies()}
    refresh = cookies["tb_console_refresh"]
    assert refresh["httpOnly"] and refresh["sameSite"] == "Strict" and refresh["path"] == "/api/v1/auth/console"

    # A reload forgets the token; the cookie brings the sign-in back.
    await page.reload()
    await expect(page.get_by_role("button", name="退出登录")).to_be_visible()
    await expect(page.get_by_placeholder("姓名 / 手机号")).to_be_visible()

    # The tablet keeps the menu as icons and the page usable.
    await page.set_viewport_size(TABLET)
    await expect(page.locator(".el-menu--collapse")).to_be_visible()
    await console.shot("people-tablet")
    await page.set_viewport_size(LAPTOP)

    # English on request; Chinese is the default.
    await page.get_by_role("button", name="English").click()
    await expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    await page.get_by_role("button", name="中文").click()

    await page.get_by_role("button", name="退出登录").click()
    await expect(page.get_by_text("您已退出登录")).to_be_visible()
    assert "tb_console_refresh" not in {c["name"] for c in await console.context.cookies()}
    await page.goto(console.base + "/console/people")
    await expect(page.get_by_role("heading", name="工作人员登录")).to_be_visible()
    await console.shot("sign-in")


async def test_a_suspended_officer_is_signed_out_of_an_open_console(console: Console, gateway):
    admin = await scenario.staff(gateway, "admin")
    page = console.page
    await console.sign_in("officer-110119")
    me = await page.evaluate(
        "fetch('/api/v1/auth/console/refresh', {method: 'POST'}).then(r => r.json()).then(t => "
        "fetch('/api/v1/me', {headers: {Authorization: 'Bearer ' + t.access_token}})).then(r => r.json())"
    )
    suspended = await gateway.post(
        f"/api/v1/staff/{me['id']}/suspension", headers=admin, json={"reason": "离职交接期间暂停账号"}
    )
    assert suspended.status_code == 200, suspended.text
    try:
        await page.reload()  # the next renewal fails: back to the sign-in page, told why
        await expect(page.get_by_role("heading", name="工作人员登录")).to_be_visible()
    finally:
        lifted = await gateway.post(
            f"/api/v1/staff/{me['id']}/suspension/lift", headers=admin, json={"reason": "交接完成，恢复账号"}
        )
        assert lifted.status_code == 200, lifted.text


async def test_the_gateway_serves_the_console_files_and_nothing_beside_them(gateway):
    page = await gateway.get("/console/review")  # a route of the console: the page itself
    assert page.status_code == 200 and '<div id="app">' in page.text
    assert page.headers["cache-control"] == "no-cache"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    asset = next(part.split('"')[0] for part in page.text.split('src="')[1:] if part.startswith("/console/assets/"))
    script = await gateway.get(asset)
    assert script.status_code == 200 and "immutable" in script.headers["cache-control"]
    assert (await gateway.get("/console/assets/gone-1234.js")).status_code == 404  # never the page as a script
    for escape in ("/console/..%2f..%2fpyproject.toml", "/console/%2e%2e/%2e%2e/pyproject.toml"):
        outside = await gateway.get(escape)
        assert outside.status_code in (400, 404) or "[project]" not in outside.text, escape
    moved = await gateway.get("/console", follow_redirects=False)
    assert moved.status_code == 308 and moved.headers["location"] == "/console/"
