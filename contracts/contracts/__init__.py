"""Event contracts: one typed payload per CloudEvents type, and the topic list.

Every payload class names its CloudEvents `TYPE` and schema `VERSION`. Adding a field is a new
VERSION; consumers must keep accepting every version still produced (see tests/test_contracts.py).
"""

from contracts.base import EventData, registry, schema_for
from contracts.topics import TOPICS, Topic

__all__ = ["TOPICS", "EventData", "Topic", "registry", "schema_for"]
