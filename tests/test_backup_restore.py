"""Backups and the documented restore (README "Backup and restore"), with the very scripts the compose `backup`
service runs (deploy/backup), here driving the embedded PostgreSQL's own client tools.

A stack of its own is backed up while in use; its ledger is then lost and restored from the snapshot, its
consumers are set back to the snapshot's time (`consumers-rewind`), and what happened after the snapshot comes
back from the broker. `ledger verify` and `audit verify-trail` pass on the restored databases. A damaged archive
is refused before anything is created, and only the newest snapshots are kept.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from devstack import scenario
from devstack.postgres import bin_dir
from devstack.pytest_plugin import isolated_stack, login
from devstack.stack import SERVICES, Stack

ROOT = Path(__file__).resolve().parents[1]
BACKUP = ROOT / "deploy/backup/backup.sh"
RESTORE = ROOT / "deploy/backup/restore.sh"


@pytest.fixture(scope="module")
def own_stack() -> Iterator[Stack]:
    with isolated_stack("timebank-restore-") as stack:
        yield stack


def _libpq_env(stack: Stack) -> dict[str, str]:
    """What backup.sh and restore.sh read: libpq's own variables, and the server's client tools on PATH."""
    server = make_url(stack.database_url["ledger"])
    tools = str(bin_dir()) if bin_dir().is_dir() else ""
    return {
        **os.environ,
        "PATH": os.pathsep.join(filter(None, [tools, os.environ["PATH"]])),
        "PGHOST": server.host or "127.0.0.1",
        "PGPORT": str(server.port or 5432),
        "PGUSER": server.username or "postgres",
        "PGPASSWORD": server.password or "",
    }


def _database(stack: Stack, service: str) -> str:
    name = make_url(stack.database_url[service]).database
    assert name is not None
    return name


def _run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)


def _cli(stack: Stack, service: str, *argv: str, database_url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **stack.service_env(service)}
    if database_url is not None:
        env[f"{service.upper()}_DATABASE_URL"] = database_url
    return _run([sys.executable, "-m", service, *argv], env)


async def _scalar(url: str, sql: str, **params: object) -> object:
    engine = create_async_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(text(sql), params)).scalar()
    finally:
        await engine.dispose()


def _snapshots(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


async def test_a_lost_ledger_is_restored_from_a_snapshot_and_catches_up_from_the_broker(own_stack, tmp_path):
    stack, env = own_stack, _libpq_env(own_stack)
    backups = tmp_path / "backups"
    for old in ("20200101T000000Z", "20200102T000000Z"):  # two earlier snapshots; with BACKUP_KEEP=2 one stays
        (backups / old).mkdir(parents=True)
        (backups / old / "SHA256SUMS").write_text("")
    ledger_url = stack.database_url["ledger"]

    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=10) as client:
        elder = await scenario.elder_with_coins(client, 600, timeout=120)  # a fresh stack, a loaded machine
        await scenario.until(
            lambda: _scalar(stack.database_url["audit"], "SELECT count(*) FROM audit_log"), what="audit records"
        )

        env_backup = {
            **env,
            "BACKUP_DIR": str(backups),
            "BACKUP_KEEP": "2",
            "BACKUP_DATABASES": " ".join(_database(stack, service) for service in SERVICES),
        }
        made = await asyncio.to_thread(_run, ["sh", str(BACKUP), "once"], env_backup)
        assert made.returncode == 0, made.stdout + made.stderr
        kept = _snapshots(backups)
        assert kept[0] == "20200102T000000Z" and len(kept) == 2, kept  # pruned to the newest two, nothing partial
        snapshot = backups / kept[1]
        sums = (snapshot / "SHA256SUMS").read_text().splitlines()
        assert sorted(line.split()[1] for line in sums) == sorted(f"{_database(stack, s)}.dump" for s in SERVICES)

        # After the snapshot: a new person registers, and the ledger opens their accounts.
        late = (await login(client, f"after-backup-{uuid.uuid4().hex}"))["person_id"]
        owned = "SELECT count(*) FROM accounts WHERE kind = 'person' AND owner_person_id = :p"
        assert await scenario.until(lambda: _scalar(ledger_url, owned, p=late), what="the late accounts") == 4

    # The ledger's database is lost: the service stops, the damaged database is put aside, the snapshot restored.
    ledger_db = _database(stack, "ledger")
    stack.children["ledger"].stop()
    psql = ["psql", "-v", "ON_ERROR_STOP=1", "-d", "postgres", "-c"]
    renamed = _run([*psql, f'ALTER DATABASE "{ledger_db}" RENAME TO "{ledger_db}_damaged"'], env)
    assert renamed.returncode == 0, renamed.stderr
    restored = _run(["sh", str(RESTORE), str(snapshot), ledger_db], env)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert await _scalar(ledger_url, owned, p=late) == 0  # the snapshot predates the late registration

    rewound = _cli(stack, "ledger", "consumers-rewind", "--to", snapshot.name)
    assert rewound.returncode == 0, rewound.stdout + rewound.stderr
    stack.children["ledger"].start()
    stack.wait_ready("ledger", timeout=90)
    assert await scenario.until(lambda: _scalar(ledger_url, owned, p=late), what="the late accounts again") == 4
    balance = "SELECT sum(balance) FROM accounts WHERE kind = 'person' AND owner_person_id = :p"
    assert await _scalar(ledger_url, balance, p=elder.person_id) == 600
    verified = _cli(stack, "ledger", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr

    # Every other database restores too, next to the live one; the audit trail's hash chain holds on its copy.
    for service in ("identity", "matching", "aed", "audit"):
        copy = f"{_database(stack, service)}_restored"
        done = _run(["sh", str(RESTORE), str(snapshot), _database(stack, service), copy], env)
        assert done.returncode == 0, done.stdout + done.stderr
    audit_copy = stack.database_url["audit"] + "_restored"
    assert await _scalar(audit_copy, "SELECT count(*) FROM audit_log"), "the copy holds the trail"
    trail = _cli(stack, "audit", "verify-trail", database_url=audit_copy)
    assert trail.returncode == 0 and trail.stdout.startswith("ok:"), trail.stdout + trail.stderr

    # A damaged archive is refused before a database is created.
    damaged = tmp_path / "damaged"
    shutil.copytree(snapshot, damaged)
    archive = damaged / f"{ledger_db}.dump"
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))
    refused = _run(["sh", str(RESTORE), str(damaged), ledger_db, f"{ledger_db}_never"], env)
    assert refused.returncode != 0 and "does not match its checksum" in refused.stderr, refused.stderr
    exists = "SELECT count(*) FROM pg_database WHERE datname = :name"
    assert await _scalar(stack.database_url["identity"], exists, name=f"{ledger_db}_never") == 0
    # Nor does a restore ever write over a database that exists.
    over = _run(["sh", str(RESTORE), str(snapshot), ledger_db], env)
    assert over.returncode != 0 and "already exists" in over.stderr, over.stderr
