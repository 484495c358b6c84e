"""Facts of age told to the other services on the day they become true — never a date they could be derived
from. `person.verified` says whether the person is an adult and of redemption age (60) when verified; this job
announces the rest from the stored days (`person.came-of-age`, `person.reached-redemption-age`), once each,
and grants on the 14th and the 18th birthday the roles that waited for them."""

from __future__ import annotations

from sqlalchemy import text

from contracts.identity import PersonCameOfAge, PersonReachedRedemptionAge
from identity.domain import roles
from identity.domain.publish import publish
from identity.domain.real_name import BEIJING
from servicekit import clock
from servicekit.db import Database

_BATCH = 500
# flag -> (the day it becomes true, the event announcing it, why roles are looked at again on the day)
_DUE: dict[str, tuple[str, type[PersonCameOfAge] | type[PersonReachedRedemptionAge] | None, str | None]] = {
    "volunteer_age_reached": (
        f"(turns_18_on - interval '{18 - roles.VOLUNTEER_MINIMUM_AGE} years')::date",
        None,
        f"年满{roles.VOLUNTEER_MINIMUM_AGE}周岁",
    ),
    "came_of_age_announced": ("turns_18_on", PersonCameOfAge, "年满18周岁"),
    "redemption_age_announced": ("turns_60_on", PersonReachedRedemptionAge, None),
}


async def announce_due(db: Database) -> int:
    """Announce the ages reached by today (Beijing time); returns how many. Replicas share the work (SKIP LOCKED)."""
    today = clock.now().astimezone(BEIJING).date()
    announced = 0
    for flag, (day, event, why) in _DUE.items():
        while True:
            async with db.transaction() as session:
                people = (
                    (
                        await session.execute(
                            text(
                                f"SELECT person_id FROM real_names WHERE NOT {flag} AND {day} <= :today "
                                f"ORDER BY person_id LIMIT :n FOR UPDATE SKIP LOCKED"
                            ),
                            {"today": today, "n": _BATCH},
                        )
                    )
                    .scalars()
                    .all()
                )
                for person_id in people:
                    if event is not None:
                        await publish(session, event(person_id=person_id), subject=person_id, actor="system")
                    if why is not None:  # 14: volunteer with a guardian; 18: elder, and volunteer without one
                        await roles.refresh_roles(session, person_id, actor="system", why=why)
                if people:
                    await session.execute(
                        text(f"UPDATE real_names SET {flag} = true WHERE person_id = ANY(:p)"), {"p": list(people)}
                    )
            announced += len(people)
            if len(people) < _BATCH:
                break
    return announced
