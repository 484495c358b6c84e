"""The route table (path prefix → service, matching shared/API.md) and the public routes."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.settings import GatewaySettings

DEFAULT_PREFIXES: dict[str, list[str]] = {
    "identity": [
        "/api/v1/auth",
        "/.well-known/jwks.json",
        "/api/v1/me",
        "/api/v1/people",
        "/api/v1/kinships",
        "/api/v1/guardianships",
        "/api/v1/sanctions",
        "/api/v1/staff",
        "/api/v1/institutions",
        "/api/v1/real-name-claims",
        "/partner/v1/volunteers",
    ],
    "ledger": [
        "/api/v1/accounts",
        "/api/v1/gifts",
        "/api/v1/donations",
        "/api/v1/grants",
        "/api/v1/welfare-allocations",
        "/api/v1/me/data/ledger",
    ],
    "matching": [
        "/api/v1/service-catalog",
        "/api/v1/requests",
        "/api/v1/follow-ups",
        "/api/v1/volunteers",
        "/partner/v1/service-records",
        "/api/v1/me/data/matching",
    ],
    "aed": ["/api/v1/aeds", "/api/v1/responders", "/api/v1/incidents", "/api/v1/me/data/aed"],
    "audit": ["/api/v1/alerts", "/api/v1/watchlist", "/api/v1/audit-log"],
}

# (method, exact path) reachable without a token. Everything else needs a verified bearer token.
PUBLIC: frozenset[tuple[str, str]] = frozenset(
    {
        ("POST", "/api/v1/auth/wechat-login"),
        ("POST", "/api/v1/auth/token"),
        ("POST", "/api/v1/auth/refresh"),
        ("POST", "/api/v1/auth/console/sign-in"),
        ("POST", "/api/v1/auth/console/refresh"),
        ("POST", "/api/v1/auth/console/sign-out"),
        ("GET", "/.well-known/jwks.json"),
        ("GET", "/api/v1/aeds"),
    }
)
PUBLIC_LOOKUPS: frozenset[tuple[str, str]] = frozenset({("GET", "/api/v1/aeds")})


@dataclass(frozen=True)
class Route:
    prefix: str
    service: str
    base_url: str

    def matches(self, path: str) -> bool:
        return path == self.prefix or path.startswith(self.prefix.rstrip("/") + "/")


class RouteTable:
    def __init__(self, routes: list[Route]) -> None:
        self.routes = sorted(routes, key=lambda r: len(r.prefix), reverse=True)  # longest prefix first

    def resolve(self, path: str) -> Route | None:
        return next((r for r in self.routes if r.matches(path)), None)

    @property
    def services(self) -> dict[str, str]:
        return {r.service: r.base_url for r in self.routes}

    @classmethod
    def from_settings(cls, settings: GatewaySettings) -> RouteTable:
        bases = {name: getattr(settings, f"{name}_url").rstrip("/") for name in DEFAULT_PREFIXES}
        table = {prefix: service for service, prefixes in DEFAULT_PREFIXES.items() for prefix in prefixes}
        for extra in settings.routes:
            if extra["upstream"] not in bases:
                raise ValueError(f"route {extra['prefix']} names unknown upstream {extra['upstream']}")
            table[extra["prefix"]] = extra["upstream"]
        return cls([Route(prefix, service, bases[service]) for prefix, service in table.items()])


def is_public(method: str, path: str) -> bool:
    return (method, path.rstrip("/") or "/") in PUBLIC
