"""TIMEBANK_ENV=production: every service refuses to start on what the repository ships for development — its
secrets and placeholders, a provider address that is a placeholder or this machine, a test clock — and identity
on the demo accounts; `seed-demo` refuses. What deploy/.env.example tells an operator to make passes, and
compose passes every such setting to its service."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from aed.settings import AedSettings
from audit.settings import AuditSettings
from identity.settings import IdentitySettings
from ledger.settings import LedgerSettings
from matching.settings import MatchingSettings
from servicekit.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[1]
SETTINGS: dict[str, type[ServiceSettings]] = {
    "identity": IdentitySettings,
    "ledger": LedgerSettings,
    "matching": MatchingSettings,
    "aed": AedSettings,
    "audit": AuditSettings,
}


def _key32() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def made_as_documented() -> dict[str, str]:
    """Every value deploy/.env.example asks for, made the way it says."""
    made = {}
    for name in re.findall(r"^([A-Z0-9_]+)=", (ROOT / "deploy/.env.example").read_text(), flags=re.M):
        if name.endswith("_KEYS"):
            made[name] = json.dumps({"2026-12": _key32()})
        elif name.endswith("_ACTIVE_KEY"):
            made[name] = "2026-12"
        elif name.endswith(("_KEY", "_SEED")):
            made[name] = _key32()
        elif name.endswith("_URL"):
            made[name] = {"IDENTITY_SMS_BASE_URL": "https://sms.tencentcloudapi.com"}.get(
                name, "https://120.example.cn/updates"
            )
        elif name == "IDENTITY_WECHAT_TEMPLATES":
            made[name] = json.dumps({"incident_alert": "Xk3-incident-alert"})
        elif name == "IDENTITY_SMS_TEMPLATES":
            made[name] = json.dumps({"incident_alert": {"id": "1937465", "params": ["time", "status"]}})
        else:
            made[name] = f"production-{name.lower()}"
    return made


def _run(service: str, command: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(tuple(f"{s.upper()}_" for s in SETTINGS))}
    return subprocess.run(
        [sys.executable, "-m", service, command],
        env={**clean, "TIMEBANK_ENV": "production", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


# What each service is started with besides the defaults, so that every kind of problem shows.
OFFENDING = {
    "identity": {"IDENTITY_WECHAT_BASE_URL": "http://127.0.0.1:8090", "IDENTITY_SMS_BASE_URL": "http://localhost:8092"},
    "ledger": {"LEDGER_CLOCK_FILE": "/tmp/clock"},
    "matching": {},
    "aed": {"AED_DISPATCH_WEBHOOK_URL": "http://127.0.0.1:9/updates"},
    "audit": {},
}


@pytest.mark.parametrize("service", list(SETTINGS))
def test_a_service_refuses_to_start_on_development_values(service):
    refused = _run(service, "serve", OFFENDING[service])
    assert refused.returncode == 1, refused.stdout + refused.stderr
    settings = SETTINGS[service]
    named = [settings().env_name(n) for n in settings.DEV_DEFAULTS] + list(OFFENDING[service])
    assert named, "every service has something to refuse here"
    for name in named:
        assert name in refused.stderr, (name, refused.stderr)


def test_what_the_operator_is_told_to_make_passes(monkeypatch):
    monkeypatch.setenv("TIMEBANK_ENV", "production")
    monkeypatch.setenv("AED_DISPATCH_WEBHOOK_URL", "https://120.example.cn/updates")  # the secret signs only then
    for service, settings in SETTINGS.items():
        if settings.DEV_DEFAULTS:
            assert settings().production_problems(), f"{service}'s defaults should not pass"
    for name, value in made_as_documented().items():
        monkeypatch.setenv(name, value)
    for service, settings in SETTINGS.items():
        assert settings().production_problems() == [], service


def test_seed_demo_refuses_outside_development():
    refused = _run(
        "identity", "seed-demo", {k: v for k, v in made_as_documented().items() if k.startswith("IDENTITY_")}
    )
    assert refused.returncode == 1 and "refused with TIMEBANK_ENV=production" in refused.stdout


def test_identity_refuses_to_serve_while_the_demo_accounts_can_sign_in(stack):
    env = {k: v for k, v in made_as_documented().items() if k.startswith("IDENTITY_")}
    env["IDENTITY_DATABASE_URL"] = stack.database_url["identity"]  # seeded by the test stack
    refused = _run("identity", "serve", env)
    assert refused.returncode == 1, refused.stderr
    assert "the demo accounts (" in refused.stderr and "admin" in refused.stderr and "emergency-120" in refused.stderr


def test_compose_runs_every_service_in_production_with_each_setting_from_the_env_file():
    spec = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    documented = set(re.findall(r"^([A-Z0-9_]+)=", (ROOT / "deploy/.env.example").read_text(), flags=re.M))
    for service, settings in SETTINGS.items():
        env = spec[service]["environment"]
        assert env["TIMEBANK_ENV"] == "production", service
        instance = settings()
        for name in (*settings.DEV_DEFAULTS, *settings.PROVIDER_URLS):
            variable = instance.env_name(name)
            if name in settings.PROVIDER_URLS and not env.get(variable, "$").startswith("$"):
                continue  # a public address compose names itself (WeChat's)
            assert variable in documented, f"{variable} is not in deploy/.env.example"
            assert env.get(variable, "").startswith("${" + variable), f"compose does not pass {variable} to {service}"
        for variable in (v for v in documented if v.startswith(service.upper() + "_")):
            assert variable in env, f"compose does not pass {variable} to {service}"
