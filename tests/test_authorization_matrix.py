"""Who may call what: every endpoint every service serves, for every kind of caller, straight at the
service (each verifies the token itself; the gateway's own check is tested in test_authentication).

The endpoint list comes from the services' OpenAPI (their real route tables): an endpoint without an
entry in MATRIX fails the test. "Allowed" means the caller passes the endpoint's gate — anything but 401
or 403 (a made-up id then gives 404, a deliberately empty body 422); "denied" means 401 without a token
and 403 with the wrong one.
"""

import re
import uuid

import httpx
import pytest

from devstack import people
from gateway.routes import DEFAULT_PREFIXES

SERVICES = ["identity", "ledger", "matching", "aed", "audit"]
CALLERS = [
    "anonymous",
    "person",
    "city_admin",
    "auditor",
    "district_officer",
    "institution_operator",
    "aed_owner",
    "partner_volunteer_beijing",
    "partner_120",
]
SIGNED_IN = frozenset(CALLERS) - {"anonymous"}
EVERYONE = frozenset(CALLERS)
PERSON = frozenset({"person"})
OFFICER = frozenset({"district_officer"})
OVERSEERS = frozenset({"district_officer", "city_admin", "auditor"})
AUDIT_READERS = frozenset({"auditor", "city_admin"})
OPERATOR = frozenset({"institution_operator"})
PEOPLE_AND_STAFF = frozenset({"person", "city_admin", "auditor", "district_officer", "institution_operator"})
PARTNERS = frozenset({"partner_volunteer_beijing", "partner_120"})
ID = str(uuid.UUID(int=12345))
# Endpoints whose credential is the staff console's refresh cookie (none of these callers holds one).
COOKIE_GATED = {("POST", "/api/v1/auth/console/refresh")}


def _resident_number() -> str:
    return people.resident_number(1950)


# (method, path) -> (allowed callers, JSON body or None, query)
MATRIX: dict[tuple[str, str], tuple[frozenset[str], object, dict]] = {
    ("GET", "/healthz"): (EVERYONE, None, {}),
    ("GET", "/readyz"): (EVERYONE, None, {}),
    ("POST", "/api/v1/auth/wechat-login"): (EVERYONE, {}, {}),
    ("POST", "/api/v1/auth/token"): (EVERYONE, None, {}),
    ("POST", "/api/v1/auth/refresh"): (EVERYONE, {}, {}),
    ("GET", "/.well-known/jwks.json"): (EVERYONE, None, {}),
    ("POST", "/api/v1/auth/console/sign-in"): (EVERYONE, {}, {}),
    ("POST", "/api/v1/auth/console/refresh"): (frozenset(), None, {}),  # its gate is the refresh cookie
    ("POST", "/api/v1/auth/console/sign-out"): (EVERYONE, None, {}),  # ends the cookie's sign-in, if any
    ("GET", "/api/v1/people"): (OVERSEERS | OPERATOR, None, {"q": _resident_number()}),
    ("GET", "/api/v1/people/export"): (OVERSEERS, None, {"format": "csv"}),
    ("GET", "/api/v1/accounts/milestones/export"): (OVERSEERS, None, {"format": "csv"}),
    ("GET", "/api/v1/accounts/liability/export"): (OVERSEERS, None, {"format": "csv"}),
    ("GET", "/api/v1/aeds/coverage/export"): (frozenset({"city_admin", "district_officer"}), None, {}),
    ("GET", "/api/v1/aeds/registry/export"): (frozenset({"city_admin", "district_officer", "aed_owner"}), None, {}),
    ("GET", "/api/v1/alerts/export"): (OVERSEERS, None, {}),
    ("GET", "/api/v1/watchlist/export"): (frozenset({"auditor"}), None, {}),
    ("GET", "/api/v1/sanctions/export"): (
        frozenset({"auditor", "city_admin", "district_officer", "institution_operator"}),
        None,
        {},
    ),
    ("GET", "/api/v1/requests/elders/{elder_id}"): (OVERSEERS | OPERATOR, None, {}),
    ("GET", "/api/v1/requests/queue/export"): (frozenset({"district_officer", "institution_operator"}), None, {}),
    ("GET", "/api/v1/requests/statistics/export"): (OVERSEERS, None, {"format": "csv"}),
    ("GET", "/api/v1/incidents/open"): (frozenset({"city_admin", "district_officer"}), None, {}),
    ("GET", "/api/v1/incidents/board"): (frozenset({"city_admin", "district_officer"}), None, {"max_s": 5}),
    ("GET", "/api/v1/people/{person_id}"): (OVERSEERS | OPERATOR, None, {}),
    ("POST", "/api/v1/auth/act-for"): (OPERATOR, {}, {}),
    ("POST", "/api/v1/auth/sign-out"): (SIGNED_IN - PARTNERS, {"everywhere": True}, {}),
    ("GET", "/api/v1/me"): (SIGNED_IN, None, {}),
    ("POST", "/api/v1/me/real-name"): (PERSON, lambda: {"name": "张三", "id_number": _resident_number()}, {}),
    ("GET", "/api/v1/people/{person_id}/real-name"): (AUDIT_READERS, None, {"purpose": "核查虚假服务记录"}),
    ("POST", "/api/v1/me/real-name/claims"): (PERSON, lambda: {"name": "张三", "id_number": _resident_number()}, {}),
    ("GET", "/api/v1/me/real-name/claims"): (PERSON, None, {}),
    ("GET", "/api/v1/real-name-claims"): (frozenset({"district_officer", "city_admin"}), None, {}),
    ("POST", "/api/v1/real-name-claims/{claim_id}/decision"): (
        frozenset({"district_officer", "city_admin"}),
        {"decision": "reject", "evidence": "查验原件"},
        {},
    ),
    ("PUT", "/api/v1/me/phone"): (PERSON, {"phone": "13912345678"}, {}),
    ("POST", "/api/v1/me/phone/verification"): (PERSON, {"code": "000000"}, {}),
    ("PUT", "/api/v1/me/residence"): (PERSON, {"district": "110105", "permanent_resident": True}, {}),
    ("POST", "/api/v1/people/{person_id}/special-groups"): (OFFICER, {}, {}),
    ("GET", "/api/v1/people/{person_id}/special-groups"): (OVERSEERS, None, {}),
    ("POST", "/api/v1/people/{person_id}/training"): (OPERATOR, {}, {}),
    ("POST", "/api/v1/people"): (OPERATOR, {}, {}),
    ("POST", "/api/v1/people/{person_id}/qualifications"): (OPERATOR, {}, {}),
    ("POST", "/api/v1/people/{person_id}/qualifications/{qualification_id}/revoke"): (
        frozenset({"institution_operator", "district_officer", "city_admin"}),
        {"reason": "证书吊销"},
        {},
    ),
    ("GET", "/api/v1/people/{person_id}/qualifications"): (OVERSEERS | OPERATOR, None, {}),
    ("GET", "/api/v1/me/qualifications"): (PERSON, None, {}),
    ("GET", "/api/v1/me/data/identity"): (PERSON, None, {}),
    ("POST", "/api/v1/me/closure"): (PERSON, {}, {}),  # an empty body: 422, nobody's account closes here
    ("GET", "/api/v1/me/closure"): (PERSON, None, {}),
    ("POST", "/api/v1/me/closure/withdrawal"): (PERSON, None, {}),
    ("GET", "/api/v1/me/data/ledger"): (PERSON, None, {}),
    ("GET", "/api/v1/me/data/matching"): (PERSON, None, {}),
    ("GET", "/api/v1/me/data/aed"): (PERSON, None, {}),
    # the institution operator who took a follow-up about the person (a fact identity holds; nobody here has)
    ("GET", "/api/v1/people/{person_id}/contact"): (frozenset(), None, {"follow_up": ID}),
    ("GET", "/api/v1/kinships"): (PERSON, None, {}),
    ("POST", "/api/v1/kinships"): (PERSON, {"relative_id": ID, "relation": "parent"}, {}),
    ("POST", "/api/v1/kinships/{link_id}/confirm"): (SIGNED_IN, None, {}),  # who may: checked on the link (404 here)
    ("POST", "/api/v1/kinships/{link_id}/revoke"): (SIGNED_IN, {"reason": "登记错误"}, {}),
    ("POST", "/api/v1/guardianships"): (PERSON, {"minor_id": ID}, {}),
    ("POST", "/api/v1/guardianships/{guardianship_id}/confirm"): (SIGNED_IN, None, {}),
    ("POST", "/api/v1/guardianships/{guardianship_id}/revoke"): (SIGNED_IN, {"reason": "监护变更"}, {}),
    ("PUT", "/partner/v1/volunteers/{person_id}/insurance"): (frozenset({"partner_volunteer_beijing"}), {}, {}),
    ("GET", "/api/v1/me/insurance"): (PERSON, None, {}),
    ("GET", "/api/v1/me/inbox"): (PERSON, None, {}),
    ("GET", "/api/v1/me/inbox/unread-count"): (PERSON, None, {}),
    ("POST", "/api/v1/me/inbox/{message_id}/read"): (PERSON, None, {}),
    ("POST", "/api/v1/me/inbox/read-all"): (PERSON, None, {}),
    ("GET", "/api/v1/guardianships"): (PERSON, None, {}),
    ("GET", "/api/v1/sanctions"): (
        frozenset({"auditor", "city_admin", "district_officer", "institution_operator"}),
        None,
        {},
    ),
    ("POST", "/api/v1/sanctions/{sanction_id}/lift"): (frozenset({"auditor"}), {"reason": "复核后撤销"}, {}),
    ("POST", "/api/v1/people/{person_id}/suspension"): (AUDIT_READERS, {"reason": "账户被盗用"}, {}),
    ("POST", "/api/v1/people/{person_id}/suspension/lift"): (AUDIT_READERS, {"reason": "已核实本人"}, {}),
    ("POST", "/api/v1/staff/{staff_id}/suspension"): (frozenset({"city_admin"}), {"reason": "离职"}, {}),
    ("POST", "/api/v1/staff/{staff_id}/suspension/lift"): (frozenset({"city_admin"}), {"reason": "复职"}, {}),
    ("POST", "/api/v1/institutions"): (OFFICER, {}, {}),
    ("POST", "/api/v1/people/{person_id}/residence-check"): (OFFICER, {}, {}),
    ("GET", "/api/v1/institutions"): (OVERSEERS, None, {}),
    ("GET", "/api/v1/accounts/me"): (PERSON, None, {}),
    ("GET", "/api/v1/accounts/me/entries"): (PERSON, None, {}),
    ("GET", "/api/v1/accounts/liability"): (OVERSEERS, None, {}),
    ("GET", "/api/v1/accounts/issuance"): (OVERSEERS, None, {}),
    ("GET", "/api/v1/accounts/milestones"): (OVERSEERS, None, {}),
    ("GET", "/api/v1/accounts/{person_id}"): (OVERSEERS, None, {}),
    ("GET", "/api/v1/accounts/{person_id}/entries"): (OVERSEERS, None, {}),
    ("POST", "/api/v1/gifts"): (PERSON, {"to_person_id": ID, "amount": 1}, {}),
    ("POST", "/api/v1/donations"): (PERSON, {"amount": 1}, {}),
    ("POST", "/api/v1/grants"): (OFFICER, {}, {}),
    ("POST", "/api/v1/welfare-allocations"): (OFFICER, {}, {}),
    ("GET", "/api/v1/service-catalog"): (SIGNED_IN, None, {}),
    ("POST", "/api/v1/service-catalog/items"): (OFFICER, {}, {}),
    ("PATCH", "/api/v1/service-catalog/items/{item_id}"): (OFFICER, None, {}),
    ("POST", "/api/v1/service-catalog/items/{item_id}/retire"): (OFFICER, None, {}),
    ("POST", "/api/v1/requests"): (PERSON | OPERATOR, {}, {}),
    # Eligible volunteers only (a fact matching holds; none of these callers is one): 403 for all.
    ("GET", "/api/v1/requests"): (frozenset(), None, {"near": "39.92,116.44"}),
    ("GET", "/api/v1/requests/queue"): (frozenset(PEOPLE_AND_STAFF - PERSON), None, {}),
    ("GET", "/api/v1/requests/mine"): (PERSON, None, {}),
    ("PATCH", "/api/v1/requests/{request_id}"): (PERSON | OPERATOR, {"notes": "请带上老花镜"}, {}),
    ("GET", "/api/v1/requests/{request_id}"): (PEOPLE_AND_STAFF, None, {}),
    ("POST", "/api/v1/requests/{request_id}/review"): (OFFICER | OPERATOR, {"decision": "approve"}, {}),
    # eligible volunteers only (identity's projection), which none of these callers is
    ("POST", "/api/v1/requests/{request_id}/booking"): (frozenset(), None, {}),
    ("POST", "/api/v1/requests/{request_id}/check-in"): (PERSON | OPERATOR, {}, {}),
    ("POST", "/api/v1/requests/{request_id}/check-out"): (PERSON | OPERATOR, {}, {}),
    ("POST", "/api/v1/requests/{request_id}/rating"): (PERSON | OPERATOR, {"score": 5}, {}),
    ("POST", "/api/v1/requests/{request_id}/cancel"): (PEOPLE_AND_STAFF, {"reason": "临时有事"}, {}),
    ("GET", "/api/v1/requests/statistics"): (OVERSEERS, None, {}),
    ("GET", "/api/v1/follow-ups"): (OVERSEERS | OPERATOR, None, {}),
    ("GET", "/api/v1/follow-ups/{follow_up_id}"): (OVERSEERS | OPERATOR, None, {}),
    ("POST", "/api/v1/follow-ups/{follow_up_id}/assignment"): (OPERATOR, None, {}),
    ("POST", "/api/v1/follow-ups/{follow_up_id}/release"): (OFFICER | OPERATOR, None, {}),
    ("POST", "/api/v1/follow-ups/{follow_up_id}/close"): (OFFICER | OPERATOR, {"outcome": "已电话回访"}, {}),
    ("GET", "/api/v1/volunteers/me/record"): (PERSON, None, {}),
    ("GET", "/api/v1/volunteers/{person_id}/record"): (OVERSEERS, None, {}),
    ("GET", "/partner/v1/service-records"): (frozenset({"partner_volunteer_beijing"}), None, {}),
    ("GET", "/partner/v1/service-records/signing-keys"): (frozenset({"partner_volunteer_beijing"}), None, {}),
    ("GET", "/partner/v1/service-records/{request_id}"): (frozenset({"partner_volunteer_beijing"}), None, {}),
    ("GET", "/api/v1/alerts"): (OVERSEERS, None, {}),
    ("GET", "/api/v1/alerts/{alert_id}"): (OVERSEERS, None, {}),
    ("POST", "/api/v1/alerts/{alert_id}/decision"): (
        frozenset({"auditor"}),
        {"decision": "dismiss", "note": "无异常"},
        {},
    ),
    ("GET", "/api/v1/watchlist"): (frozenset({"auditor"}), None, {}),
    ("GET", "/api/v1/audit-log"): (frozenset({"auditor"}), None, {"subject": ID}),
    ("GET", "/api/v1/audit-log/verification"): (frozenset({"auditor"}), None, {}),
    ("GET", "/api/v1/aeds"): (EVERYONE, None, {"near": "39.9,116.4"}),
    ("GET", "/api/v1/aeds/coverage"): (frozenset({"city_admin", "district_officer"}), None, {}),
    ("GET", "/api/v1/aeds/around"): (
        frozenset({"partner_120", "city_admin", "district_officer"}),
        None,
        {"near": "39.9,116.4"},
    ),
    ("POST", "/api/v1/aeds/organisations"): (frozenset({"city_admin", "district_officer"}), {}, {}),
    ("POST", "/api/v1/aeds/organisations/{organisation_id}/staff"): (
        frozenset({"city_admin", "district_officer"}),
        {},
        {},
    ),
    ("POST", "/api/v1/aeds/import"): (frozenset({"city_admin", "district_officer", "aed_owner"}), None, {}),
    ("GET", "/api/v1/aeds/registry"): (frozenset({"city_admin", "district_officer", "aed_owner"}), None, {}),
    ("POST", "/api/v1/aeds"): (frozenset({"city_admin", "district_officer", "aed_owner"}), {}, {}),
    ("GET", "/api/v1/aeds/{aed_id}"): (frozenset({"city_admin", "district_officer", "aed_owner"}), None, {}),
    ("PATCH", "/api/v1/aeds/{aed_id}"): (frozenset({"city_admin", "district_officer", "aed_owner"}), None, {}),
    ("PUT", "/api/v1/responders/me/duty"): (PERSON, {"on_duty": False}, {}),
    ("GET", "/api/v1/responders/me/alerts"): (PERSON, None, {}),
    ("GET", "/api/v1/incidents/mine"): (PERSON, None, {}),
    ("POST", "/api/v1/incidents"): (frozenset({"person", "partner_120"}), {}, {}),
    ("GET", "/api/v1/incidents/{incident_id}"): (SIGNED_IN, None, {}),  # who may: checked on the incident (404 here)
    ("POST", "/api/v1/incidents/{incident_id}/responses"): (PERSON, {"accept": True}, {}),
    ("POST", "/api/v1/incidents/{incident_id}/seen"): (PERSON, None, {}),
    ("POST", "/api/v1/incidents/{incident_id}/arrival"): (PERSON, {}, {}),
    ("POST", "/api/v1/incidents/{incident_id}/withdrawal"): (PERSON, {"reason": "临时有事"}, {}),
    ("POST", "/api/v1/incidents/{incident_id}/cancel"): (PERSON, {"reason": "误报"}, {}),
    ("POST", "/api/v1/incidents/{incident_id}/updates"): (
        frozenset({"partner_120", "city_admin", "district_officer"}),
        {"status": "ambulance_dispatched"},
        {},
    ),
    ("POST", "/api/v1/incidents/{incident_id}/close"): (
        frozenset({"partner_120", "city_admin", "district_officer"}),
        {"status": "transported"},
        {},
    ),
    ("POST", "/api/v1/aeds/{aed_id}/inspections"): (frozenset({"city_admin", "district_officer", "aed_owner"}), {}, {}),
}


async def _tokens(gateway, helpers) -> dict[str, dict]:
    async def partner(client_id: str) -> dict:
        response = await gateway.post(
            "/api/v1/auth/token",
            data={"grant_type": "client_credentials"},
            auth=(client_id, "demo-partner-secret-2026"),
        )
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    person = await helpers.login(gateway)
    return {
        "anonymous": {},
        "person": {"Authorization": f"Bearer {person['access_token']}"},
        "city_admin": await helpers.staff_headers(gateway, "admin"),
        "auditor": await helpers.staff_headers(gateway, "auditor"),
        "district_officer": await helpers.staff_headers(gateway, "officer-110105"),
        "institution_operator": await helpers.staff_headers(gateway, "institution"),
        "aed_owner": await helpers.staff_headers(gateway, "school"),
        "partner_volunteer_beijing": await partner("volunteer-beijing"),
        "partner_120": await partner("emergency-120"),
    }


async def _endpoints(stack) -> list[tuple[str, str, str]]:
    found = []
    async with httpx.AsyncClient() as client:
        for service in SERVICES:
            spec = (await client.get(stack.url(service) + "/openapi.json")).json()
            found += [(service, method.upper(), path) for path, ops in spec["paths"].items() for method in ops]
    return found


async def test_every_endpoint_has_an_entry_and_is_routed_to_its_service(stack):
    endpoints = await _endpoints(stack)
    missing = [(m, p) for _, m, p in endpoints if (m, p) not in MATRIX]
    assert missing == [], f"endpoints without an authorisation entry: {missing}"
    for service, _, path in endpoints:
        if path in ("/healthz", "/readyz"):
            continue  # each process's own; the gateway answers its own
        assert any(path.startswith(prefix) for prefix in DEFAULT_PREFIXES[service]), (
            f"{path} is not routed to {service}"
        )


@pytest.mark.parametrize("caller", CALLERS)
async def test_each_caller_passes_exactly_the_gates_the_matrix_allows(stack, gateway, helpers, caller):
    tokens = await _tokens(gateway, helpers)
    wrong = []
    async with httpx.AsyncClient(timeout=10) as client:
        for service, method, path in await _endpoints(stack):
            allowed, body, query = MATRIX[(method, path)]
            url = stack.url(service) + re.sub(r"\{[^}]+\}", ID, path)  # every path parameter is an id
            headers = tokens[caller] | {"Idempotency-Key": uuid.uuid4().hex}
            json_body = body() if callable(body) else body
            response = await client.request(
                method, url, headers=headers, params=query, json=json_body if method in ("POST", "PUT") else None
            )
            expected = "allowed" if caller in allowed else ("401" if caller == "anonymous" else "403")
            if (method, path) in COOKIE_GATED:
                expected = "401"  # a bearer token is not the console's refresh cookie
            got = "allowed" if response.status_code not in (401, 403) else str(response.status_code)
            if got != expected:
                wrong.append(f"{method} {path}: expected {expected}, got {response.status_code} {response.text[:120]}")
    assert wrong == []
