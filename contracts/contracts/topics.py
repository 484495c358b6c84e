from enum import StrEnum


class Topic(StrEnum):
    """One topic per producing service, keyed by aggregate id. Dead letters go to `<topic>.dlq`."""

    IDENTITY = "identity.events"
    LEDGER = "ledger.events"
    MATCHING = "matching.events"
    AED = "aed.events"
    AUDIT = "audit.events"


TOPICS = [t.value for t in Topic]
