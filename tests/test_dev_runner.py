"""`make run`'s runner: starts everything, serves through the gateway, restarts a child that crashes (the rest
keep running), and Ctrl-C — even when the runner was started with SIGINT ignored, as from a script's
background job — leaves no process behind within 10 s."""

import os
import random
import signal
import subprocess
import sys
import threading
import time

import httpx
import psutil

from devstack.objectstore import LOG_NAME
from devstack.postgres import free_port, port_is_free


def _free_base() -> int:
    """Below the kernel's ephemeral range (from 32768), where an outgoing connection could take a port between
    this check and the child's bind (devstack.postgres.free_port)."""
    for _ in range(50):
        base = random.randrange(20000, 32000 - 92)
        if all(port_is_free(base + offset) for offset in (0, 1, 2, 3, 4, 5, 90, 91, 92)):
            return base
    raise RuntimeError("no free port range")


class Output:
    """The runner's output, read by a thread so waiting for a line never blocks the test on a silent pipe."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        threading.Thread(target=lambda: self.lines.extend(iter(stream.readline, "")), daemon=True).start()

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return
            time.sleep(0.2)
        raise AssertionError(f"no {text!r} in:\n{''.join(self.lines)}")


def _child(runner: psutil.Process, argv_part: str) -> psutil.Process:
    return next(p for p in runner.children(recursive=True) if argv_part in " ".join(p.cmdline()))


def _free_pair() -> int:
    """A port whose next one is free too: the broker's store listens beside the broker."""
    for _ in range(50):
        port = free_port()
        if port_is_free(port + 1):
            return port
    raise RuntimeError("no free pair of ports")


def test_runner_supervises_its_children_and_ctrl_c_stops_every_process(tmp_path):
    base = _free_base()
    runner = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devstack",
            "up",
            "--data-dir",
            str(tmp_path / "data"),
            "--port-base",
            str(base),
            "--pg-port",
            str(free_port()),
            "--kafka-port",
            str(_free_pair()),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )  # as a background job inherits it
    output = Output(runner.stdout)
    gateway = f"http://127.0.0.1:{base}"
    try:
        output.wait_for("Press Ctrl-C", timeout=120)
        assert (
            len(psutil.Process(runner.pid).children(recursive=True)) >= 8
        )  # postgres, tansu and its store, fake WeChat, five services, gateway

        login = httpx.post(f"{gateway}/api/v1/auth/wechat-login", json={"code": "dev-runner"}, timeout=10)
        assert login.status_code == 200
        token = httpx.post(
            f"{gateway}/api/v1/auth/token",
            timeout=10,
            data={"grant_type": "password", "username": "auditor", "password": "demo-password-2026"},
        )
        assert token.status_code == 200, "demo staff are seeded"
        assert (tmp_path / "data" / "postgres" / "PG_VERSION").exists(), "data is kept under the data folder"
        assert b".batch" in (tmp_path / "data" / "broker" / LOG_NAME).read_bytes(), "so is the broker's log"

        os.kill(_child(psutil.Process(runner.pid), "-m ledger").pid, signal.SIGKILL)  # a crash, not a stop
        output.wait_for("ledger exited", timeout=10)
        output.wait_for("ledger restarted", timeout=15)
        assert runner.poll() is None, "the runner keeps the rest of the stack running"
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        deadline = time.monotonic() + 60
        while httpx.get(f"{gateway}/api/v1/accounts/me", headers=headers, timeout=10).status_code != 200:
            assert time.monotonic() < deadline, "the restarted ledger serves again"
            time.sleep(0.5)
    finally:
        descendants = psutil.Process(runner.pid).children(recursive=True)  # the restarted ledger among them
        runner.send_signal(signal.SIGINT)
        stopped_at = time.monotonic()
        runner.wait(30)
    assert runner.returncode == 0, "".join(output.lines)
    everything = [p for p in descendants if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    while everything and time.monotonic() - stopped_at < 10:
        time.sleep(0.2)
        everything = [p for p in everything if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert everything == [], "Ctrl-C leaves nothing running within 10 s"
    assert time.monotonic() - stopped_at < 10
