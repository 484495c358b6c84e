"""`make run`'s runner: starts everything, serves through the gateway, and Ctrl-C leaves no process behind."""
import os
import random
import signal
import subprocess
import sys
import time

import httpx
import psutil

from devstack.postgres import free_port, port_is_free


def _free_base() -> int:
    for _ in range(50):
        base = random.randrange(20000, 40000)
        if all(port_is_free(base + offset) for offset in (0, 1, 2, 3, 4, 5, 90)):
            return base
    raise RuntimeError("no free port range")


def test_runner_starts_the_stack_and_ctrl_c_stops_every_process(tmp_path):
    base = _free_base()
    runner = subprocess.Popen(
        [sys.executable, "-m", "devstack", "up", "--data-dir", str(tmp_path / "data"), "--port-base", str(base),
         "--pg-port", str(free_port()), "--kafka-port", str(free_port())],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    output = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = runner.stdout.readline()
            output.append(line)
            if "Press Ctrl-C" in line or runner.poll() is not None:
                break
        assert "Press Ctrl-C" in "".join(output), "".join(output)
        descendants = psutil.Process(runner.pid).children(recursive=True)
        assert len(descendants) >= 8  # postgres, tansu, fake WeChat, five services, gateway

        login = httpx.post(f"http://127.0.0.1:{base}/api/v1/auth/wechat-login", json={"code": "dev-runner"}, timeout=10)
        assert login.status_code == 200
        token = httpx.post(f"http://127.0.0.1:{base}/api/v1/auth/token", timeout=10, data={
            "grant_type": "password", "username": "auditor", "password": "demo-password-2026"})
        assert token.status_code == 200, "demo staff are seeded"
        assert (tmp_path / "data" / "postgres" / "PG_VERSION").exists(), "data is kept under the data folder"
    finally:
        runner.send_signal(signal.SIGINT)
        runner.wait(60)
    assert runner.returncode == 0
    time.sleep(0.5)
    assert [p for p in descendants if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []
