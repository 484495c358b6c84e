"""What every request to tell a person something carries. Identity delivers them all (it holds the WeChat
identities and the app's one access token); each publishing service names its own event and its templates
(`contracts.matching.NotificationRequested`, `contracts.aed.IncidentAlertRequested`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from contracts.base import EventData


class Notification(EventData):
    """A WeChat subscription message for one person. `data` holds the template's short fields (item, time,
    status, note) — never an address or a name. `notification_id` is derived from the cause, so a redelivered
    cause never makes a second message."""

    notification_id: uuid.UUID
    person_id: uuid.UUID
    template: str
    data: dict[str, str]
    page: str | None = None
    fallback: Literal["sms"] | None = None  # urgent: by SMS when WeChat cannot deliver
    channel: Literal["sms"] | None = None  # sms: by SMS only (an urgent message whose WeChat copy went unseen)
    requested_at: datetime
