"""The monitoring of the compose deployment (deploy/monitoring): the alert rules pass `promtool check rules` and
their own `promtool test rules` cases; a real Prometheus with those rules scrapes the running test stack and
evaluates every rule without error; every metric a rule or a dashboard panel reads is one the services export."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from devstack.postgres import free_port
from devstack.processes import Child, wait_until
from devstack.stack import SERVICES, Stack

ROOT = Path(__file__).resolve().parents[1]
MONITORING = ROOT / "deploy/monitoring"
RULES = MONITORING / "rules/timebank.yml"
DASHBOARDS = sorted((MONITORING / "grafana/dashboards").glob("*.json"))
PROCESSES = ["gateway", *SERVICES]


def _tool(name: str) -> str:
    found = shutil.which(name)
    assert found, f"{name} is missing: `make test` installs Debian's prometheus package"
    return found


def _promtool(*args: str, cwd: Path = MONITORING) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_tool("promtool"), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_the_rules_are_valid_and_their_unit_tests_pass():
    checked = _promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = _promtool("test", "rules", "timebank.test.yml", cwd=RULES.parent)
    assert tested.returncode == 0 and "SUCCESS" in tested.stdout, tested.stdout + tested.stderr


def test_the_prometheus_configuration_is_valid_and_scrapes_every_process(tmp_path: Path):
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for job in config["scrape_configs"]:
        [sd] = job["dns_sd_configs"]
        name = job["job_name"]
        assert sd["names"] == [name] and sd["type"] == "A"  # every replica of the service
        assert str(sd["port"]) == compose[name]["environment"][f"{name.upper()}_PORT"]
    assert sorted(job["job_name"] for job in config["scrape_configs"]) == sorted(PROCESSES)
    mounts = compose["prometheus"]["volumes"]
    assert "./deploy/monitoring/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in mounts
    assert "./deploy/monitoring/rules:/etc/prometheus/rules:ro" in mounts
    # promtool reads the rule files the configuration names: here, from this checkout.
    config["rule_files"] = [str(RULES)]
    local = tmp_path / "prometheus.yml"
    local.write_text(yaml.safe_dump(config))
    checked = _promtool("check", "config", str(local))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_grafana_is_provisioned_with_the_dashboards_on_the_prometheus_datasource():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["grafana"]
    assert "./deploy/monitoring/grafana/provisioning:/etc/grafana/provisioning:ro" in compose["volumes"]
    provider = yaml.safe_load((MONITORING / "grafana/provisioning/dashboards/timebank.yml").read_text())
    [folder] = [p["options"]["path"] for p in provider["providers"]]
    assert f"./deploy/monitoring/grafana/dashboards:{folder}:ro" in compose["volumes"]
    datasources = yaml.safe_load((MONITORING / "grafana/provisioning/datasources/prometheus.yml").read_text())
    [source] = datasources["datasources"]
    assert DASHBOARDS
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        assert dashboard["panels"], path.name
        for panel in dashboard["panels"]:
            assert panel["datasource"]["uid"] == source["uid"], panel["title"]
            assert panel["targets"] and all(target["expr"] for target in panel["targets"]), panel["title"]


def _expressions() -> list[str]:
    rules = [rule["expr"] for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]
    panels = [
        target["expr"]
        for path in DASHBOARDS
        for panel in json.loads(path.read_text())["panels"]
        for target in panel["targets"]
    ]
    return rules + panels


def _metric_names(expression: str) -> set[str]:
    """The series names an expression reads (label matchers, grouping clauses and functions taken out)."""
    bare = re.sub(r"\{[^}]*\}", "", expression)
    bare = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", bare)
    bare = re.sub(r"\[[^\]]*\]", "", bare)
    names = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", bare))
    functions = {"histogram_quantile", "rate", "increase", "sum", "max", "min", "avg", "count", "or", "and", "up"}
    return {name for name in names if name not in functions}


def _exported(stack: Stack) -> set[str]:
    """Every series name the processes expose, including those no sample has reached yet (a labelled counter)."""
    names: set[str] = set()
    for process in PROCESSES:
        text = httpx.get(stack.url(process) + "/metrics", timeout=10).text
        for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, flags=re.M):
            names.add(name)
            if kind == "histogram":
                names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
            if kind == "counter":
                names.add(name if name.endswith("_total") else f"{name}_total")
    return names


def test_every_metric_a_rule_or_panel_reads_is_exported(stack: Stack):
    exported = _exported(stack)
    for expression in _expressions():
        missing = _metric_names(expression) - exported
        assert not missing, f"{missing} in {expression!r} is exported by no process"


@pytest.fixture(scope="module")
def prometheus(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Prometheus itself, scraping the test stack every second with the deployment's rules."""
    home = tmp_path_factory.mktemp("prometheus")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {"job_name": process, "static_configs": [{"targets": [f"127.0.0.1:{stack.ports.of(process)}"]}]}
            for process in PROCESSES
        ],
    }
    (home / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    server = Child(
        "prometheus",
        [
            _tool("prometheus"),
            f"--config.file={home / 'prometheus.yml'}",
            f"--storage.tsdb.path={home / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stack.log_dir / "prometheus.log",
    )
    server.start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: httpx.get(base + "/-/ready", timeout=2).status_code == 200, timeout=30, what="prometheus")
        yield base
    finally:
        server.stop()


def test_prometheus_scrapes_every_process_and_evaluates_every_rule(prometheus: str):
    def every_target_up() -> bool:
        targets = httpx.get(prometheus + "/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
        return len(targets) == len(PROCESSES) and all(t["health"] == "up" for t in targets)

    wait_until(every_target_up, timeout=30, interval=0.5, what="every target up")

    def every_rule_evaluated() -> list[dict] | None:
        groups = httpx.get(prometheus + "/api/v1/rules", timeout=5).json()["data"]["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        return rules if rules and all(rule.get("lastEvaluation", "").startswith("20") for rule in rules) else None

    wait_until(lambda: every_rule_evaluated() is not None, timeout=30, interval=0.5, what="every rule evaluated")
    rules = every_rule_evaluated()
    assert rules is not None
    assert {rule["name"] for rule in rules} == {
        rule["alert"] for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]
    }
    assert all(rule["health"] == "ok" for rule in rules), [(r["name"], r.get("lastError")) for r in rules]
    # A healthy test stack raises no critical alert (a slow SOS path, a stuck outbox, a target down).
    firing = [rule["name"] for rule in rules if rule["state"] == "firing" and rule["labels"]["severity"] == "critical"]
    assert not firing, firing
