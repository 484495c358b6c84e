"""Operator CLI: `python -m identity serve|migrate|dlq-replay|create-staff|create-partner|seed-demo|…`."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
import uuid

from sqlalchemy.exc import DBAPIError

from identity.db import repository
from identity.db.sealed import SEALED
from identity.domain import staff
from identity.events import consumers
from identity.pii import PersonalDataCipher
from identity.settings import IdentitySettings
from servicekit.cli import Command, reseal_command, run_cli
from servicekit.db import Database


async def _in_transaction(settings: IdentitySettings, work):
    db = Database(settings.database_url, pool_size=1)
    try:
        async with db.transaction() as session:
            return await work(session)
    finally:
        await db.dispose()


def _create_staff(args: argparse.Namespace, settings: IdentitySettings) -> int:
    password = args.password or getpass.getpass("password: ")
    result = asyncio.run(
        _in_transaction(
            settings,
            lambda s: staff.create_staff(
                s,
                username=args.username,
                password=password,
                display_name=args.name or args.username,
                roles=args.role,
                district=args.district,
                created_by=f"cli:{getpass.getuser()}",
                institution_id=args.institution_id,
            ),
        )
    )
    print(f"staff user {result.username} ({', '.join(result.roles)}) id={result.id}")
    return 0


def _create_partner(args: argparse.Namespace, settings: IdentitySettings) -> int:
    client, secret = asyncio.run(
        _in_transaction(
            settings,
            lambda s: staff.create_partner_client(
                s, client_id=args.client_id, name=args.name, scopes=args.scope, created_by=f"cli:{getpass.getuser()}"
            ),
        )
    )
    print(f"partner client {client.client_id} scopes={' '.join(client.scopes)}")
    print(f"client_secret={secret}   (shown once; store it in the partner's secret manager)")
    return 0


def _seed_demo(args: argparse.Namespace, settings: IdentitySettings) -> int:
    if settings.environment != "dev":
        print(
            f"seed-demo creates accounts whose passwords are published: refused with TIMEBANK_ENV={settings.environment}"
        )
        return 1
    created = asyncio.run(_in_transaction(settings, staff.seed_demo))
    print(f"demo accounts created: {', '.join(created) if created else 'none (already present)'}")
    return 0


async def _no_demo_accounts(settings: IdentitySettings) -> list[str]:
    try:
        demo = await _in_transaction(settings, repository.demo_accounts)
    except (OSError, DBAPIError) as exc:
        return [f"the database could not be asked for demo accounts ({type(exc).__name__}: {exc})"]
    if not demo:
        return []
    return [f"the demo accounts ({', '.join(demo)}) can sign in with their published passwords: disable them"]


def _rotate_key(args: argparse.Namespace, settings: IdentitySettings) -> int:
    from identity.domain import keys

    old, new = asyncio.run(_in_transaction(settings, lambda s: keys.rotate_signing_key(s, settings)))
    print(f"signing key {new} is active; {old or 'no key'} retired (served in JWKS until its tokens expire)")
    return 0


def _index_names(args: argparse.Namespace, settings: IdentitySettings) -> int:
    from identity.domain import people_directory

    cipher, total = PersonalDataCipher(settings), 0
    while indexed := asyncio.run(_in_transaction(settings, lambda s: people_directory.index_names(s, cipher))):
        total += indexed
    print(f"{total} verified names indexed for the people directory; every name can now be found")
    return 0


def _staff_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--username", required=True)
    p.add_argument("--name")
    p.add_argument("--role", action="append", required=True, choices=sorted(staff.STAFF_ROLES))
    p.add_argument("--district", help="district code, e.g. 110105 (required for district_officer)")
    p.add_argument("--password", help="prompted for when omitted")
    p.add_argument("--institution-id", type=uuid.UUID, help="required for institution operators")


def _partner_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--client-id", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--scope", action="append", required=True, choices=sorted(staff.PARTNER_SCOPES))


def main() -> int:
    settings = IdentitySettings()
    return run_cli(
        settings=settings,
        app_factory="identity.main:create_app",
        consumers=consumers,
        commands={
            "create-staff": Command("create a staff user", _create_staff, _staff_args),
            "create-partner": Command(
                "create a partner (OAuth2 client-credentials) client", _create_partner, _partner_args
            ),
            "seed-demo": Command("create the documented demo staff and partner clients (dev only)", _seed_demo),
            "rotate-signing-key": Command("retire the active token signing key and start a new one", _rotate_key),
            "reseal-personal-data": reseal_command(PersonalDataCipher, SEALED),
            "index-names": Command("let staff find people verified before the directory existed by name", _index_names),
        },
        production_checks=_no_demo_accounts,
    )


if __name__ == "__main__":
    sys.exit(main())
