"""No Docker engine runs here, so the compose file and Dockerfiles are checked by reading them."""

import ipaddress
import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ["identity", "ledger", "matching", "aed", "audit"]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_every_service_builds_has_a_health_check_and_its_database_and_broker():
    spec = compose()["services"]
    for name in [*SERVICES, "gateway"]:
        service = spec[name]
        dockerfile = ROOT / service["build"]["context"] / service["build"]["dockerfile"]
        assert dockerfile.is_file(), name
        assert service["healthcheck"]["test"], name
        env = service["environment"]
        if name == "gateway":
            assert all(f"GATEWAY_{s.upper()}_URL" in env for s in SERVICES)
            assert all(service["depends_on"][s]["condition"] == "service_healthy" for s in SERVICES)
            continue
        prefix = name.upper() + "_"
        assert env[prefix + "DATABASE_URL"].endswith(f"@postgres:5432/{name}")
        assert env[prefix + "KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert env[prefix + "MIGRATE_ON_START"] == "true"
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert service["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_the_benchmarks_deployed_pace_runs_the_consumer_groups_as_compose_deploys_them():
    """bench_stack's stack is "the system as deployed": its groups' heartbeat and session timeout are compose's."""
    from devstack.pytest_plugin import DEPLOYED_GROUP_TIMING

    spec = compose()["services"]
    for name in SERVICES:
        env = spec[name]["environment"]
        assert {key: env[f"{name.upper()}_{key}"] for key in DEPLOYED_GROUP_TIMING} == DEPLOYED_GROUP_TIMING, name


def test_infrastructure_is_postgres_18_and_kafka_in_kraft_mode_with_volumes():
    spec = compose()
    assert spec["services"]["postgres"]["image"].startswith("postgres:18")
    kafka = spec["services"]["kafka"]["environment"]
    assert "controller" in kafka["KAFKA_PROCESS_ROLES"] and "ZOOKEEPER" not in " ".join(kafka)
    assert {"postgres-data", "kafka-data"} <= spec["volumes"].keys()
    init = (ROOT / "deploy/postgres-init.sql").read_text()
    assert all(f"CREATE DATABASE {s};" in init for s in SERVICES)


def test_dockerfile_copies_paths_that_exist_for_every_image_and_runs_its_service():
    spec = compose()["services"]
    for name in [*SERVICES, "gateway"]:
        build = spec[name]["build"]
        args = build["args"]
        assert args["PACKAGE"] == name and (ROOT / args["SOURCE"] / name / "__main__.py").is_file()
        assert args["PORT"] == str(spec[name]["environment"][f"{name.upper()}_PORT"])
        text = (ROOT / build["context"] / build["dockerfile"]).read_text()
        for arg, value in args.items():
            text = text.replace("${" + arg + "}", value)
        for sources in re.findall(r"^COPY\s+(?!--from=)(.+)\s+\S+$", text, flags=re.M):
            for source in sources.split():
                assert (ROOT / source).exists(), f"{name}: the Dockerfile copies missing {source}"
        assert "HEALTHCHECK" in text and f"-m {name} serve" in text
        assert "PATH=/opt/venv/bin:$PATH" in text  # `docker compose run <service> python -m <service> …` (README)


def test_every_setting_in_compose_is_a_real_setting():
    from aed.settings import AedSettings
    from audit.settings import AuditSettings
    from gateway.settings import GatewaySettings
    from identity.settings import IdentitySettings
    from ledger.settings import LedgerSettings
    from matching.settings import MatchingSettings

    classes = {
        "identity": IdentitySettings,
        "ledger": LedgerSettings,
        "matching": MatchingSettings,
        "aed": AedSettings,
        "audit": AuditSettings,
        "gateway": GatewaySettings,
    }
    spec = compose()["services"]
    for name, cls in classes.items():
        prefix = name.upper() + "_"
        for key in spec[name]["environment"]:
            if key == "TIMEBANK_ENV":  # every service's `environment`, under one name
                assert "environment" in cls.model_fields, name
                continue
            assert key.startswith(prefix) and key[len(prefix) :].lower() in cls.model_fields, f"{name}: {key}"


def _mount(service: dict, target: str) -> str:
    """The host side of the volume `service` mounts at `target`."""
    for volume in service["volumes"]:
        source, _, rest = volume.rpartition(":" + target)
        if source and rest in ("", ":ro"):
            return source
    raise AssertionError(f"nothing is mounted at {target}")


def test_only_the_proxy_publishes_ports_so_every_other_service_can_run_as_replicas():
    spec = compose()
    services = spec["services"]
    public = [
        name
        for name, service in services.items()
        if any(not p.startswith("127.0.0.1:") for p in service.get("ports", []))
    ]
    assert public == ["proxy"]  # monitoring listens on the host's loopback only
    assert not any("container_name" in service for service in services.values())
    proxy = services["proxy"]
    assert sorted(port.rpartition(":")[2] for port in proxy["ports"]) == ["443", "80"]
    # The Caddyfile compose mounts is the one tests/test_tls_proxy.py runs in real Caddy.
    assert (ROOT / _mount(proxy, "/etc/caddy/Caddyfile")).resolve() == ROOT / "deploy/proxy/Caddyfile"
    assert _mount(proxy, "/certs").startswith("${TIMEBANK_TLS_DIR:?")
    assert proxy["depends_on"]["gateway"]["condition"] == "service_healthy"
    # The gateway believes the X-Forwarded-For of the proxy's fixed address only, inside the network's subnet.
    address = proxy["networks"]["default"]["ipv4_address"]
    subnet = spec["networks"]["default"]["ipam"]["config"][0]["subnet"]
    assert ipaddress.ip_address(address) in ipaddress.ip_network(subnet)
    assert json.loads(services["gateway"]["environment"]["GATEWAY_TRUSTED_PROXIES"]) == [address]


def test_backups_run_the_tested_script_with_the_servers_own_tools_for_every_database():
    services = compose()["services"]
    backup = services["backup"]
    assert backup["image"] == services["postgres"]["image"]  # pg_dump of the server's major version
    assert (ROOT / _mount(backup, "/backup")).resolve() == ROOT / "deploy/backup"
    assert backup["entrypoint"] == ["sh", "/backup/backup.sh"]  # tests/test_backup_restore.py runs it
    env = backup["environment"]
    assert env["PGHOST"] == "postgres" and env["PGUSER"] == services["postgres"]["environment"]["POSTGRES_USER"]
    init = (ROOT / "deploy/postgres-init.sql").read_text()
    assert sorted(env["BACKUP_DATABASES"].split()) == sorted(re.findall(r"CREATE DATABASE (\w+);", init))
    assert "/backups" in " ".join(backup["healthcheck"]["test"])
    assert backup["depends_on"]["postgres"]["condition"] == "service_healthy"
