"""Facts of age told to the other services on the day they become true — never a date they could be derived
from. `person.verified` says whether the person is an adult and of redemption age (60) when verified; this job
announces the rest from the stored days (`person.came-of-age`, `person.reached-redemption-age`), once each,
and grants on the 14th and the 18th birthday the roles that waited for them."""

from __future__ import annotations

from contracts.identity import PersonCameOfAge, PersonReachedRedemptionAge
from identity.db import age_facts as repo
from identity.domain import roles
from identity.domain.publish import publish
from identity.domain.real_name import BEIJING
from servicekit import clock
from servicekit.db import Database

_BATCH = 500
# flag -> (years before the counted birthday it becomes true, the event announcing it, why roles are looked at
# again on the day)
_DUE: dict[repo.Flag, tuple[int, type[PersonCameOfAge] | type[PersonReachedRedemptionAge] | None, str | None]] = {
    "volunteer_age_reached": (18 - roles.VOLUNTEER_MINIMUM_AGE, None, f"年满{roles.VOLUNTEER_MINIMUM_AGE}周岁"),
    "came_of_age_announced": (0, PersonCameOfAge, "年满18周岁"),
    "redemption_age_announced": (0, PersonReachedRedemptionAge, None),
}


async def announce_due(db: Database) -> int:
    """Announce the ages reached by today (Beijing time); returns how many. Replicas share the work (SKIP LOCKED)."""
    today = clock.now().astimezone(BEIJING).date()
    announced = 0
    for flag, (years_early, event, why) in _DUE.items():
        while True:
            async with db.transaction() as session:
                people = await repo.due(session, flag, years_early=years_early, today=today, limit=_BATCH)
                for person_id in people:
                    if event is not None:
                        await publish(session, event(person_id=person_id), subject=person_id, actor="system")
                    if why is not None:  # 14: volunteer with a guardian; 18: elder, and volunteer without one
                        await roles.refresh_roles(session, person_id, actor="system", why=why)
                if people:
                    await repo.mark(session, flag, people)
            announced += len(people)
            if len(people) < _BATCH:
                break
    return announced
