"""The one exception tree of ctas7-panel.

::

    Ctas7Error                 every error this package raises on purpose
    ├── ConfigError            a setting (env var or CLI flag) has a bad value
    ├── UsageError             a command line or API call is used wrongly (CLI exit 2)
    ├── EventError             an event envelope is malformed, oversize or mistyped
    ├── DatabaseError          a database cannot be reached or refuses an operation
    ├── StoreError             the event store cannot be opened, read or written
    │   └── StoreUnavailable   it cannot take writes now (locked, disk full, connection lost)
    ├── BusError               the bus cannot publish or deliver
    ├── SchemaError            introspection, generation or a schema-dependent task failed
    │   └── ArtifactError      a types file, hash cache or snapshot cannot be read or written
    └── DeliveryError          a target refused or failed an event

Messages are lowercase, name the offending field or value and say how to fix it.
Every boundary re-raises with ``raise ... from exc``.
"""

from __future__ import annotations


class Ctas7Error(Exception):
    """Root of every error raised on purpose by ctas7-panel."""


class ConfigError(Ctas7Error):
    """A setting has a bad value; the message names the variable and the accepted forms."""


class UsageError(Ctas7Error):
    """A command or call is used wrongly (exit code 2 on the command line)."""


class EventError(Ctas7Error):
    """An event is malformed. ``field`` names the offending field (dotted path) or is None."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class DatabaseError(Ctas7Error):
    """A database cannot be reached or refused an operation."""


class StoreError(Ctas7Error):
    """The event store cannot be opened, read or written."""


class StoreUnavailable(StoreError):
    """The store cannot take writes now, whatever is written (a lock held elsewhere, a full
    disk, a lost connection): try again later; no event is to blame."""


class BusError(Ctas7Error):
    """The bus cannot publish or deliver."""


class SchemaError(Ctas7Error):
    """Introspection, generation or a schema-dependent task failed."""


class ArtifactError(SchemaError):
    """A types file, hash cache or snapshot cannot be read or written."""


class DeliveryError(Ctas7Error):
    """A target refused or failed to apply an event."""
