"""The one package that owns the SQLite state: schema and migrations, studies and their source
records, events and the outbox, positions and quarantine, the worker lease. Nothing else
touches SQLite.

``Store`` is the single entry point; each module adds one area's reads and writes.
"""

from __future__ import annotations

from .abandoned import AbandonedMixin
from .connection import StoreBase
from .corrections import CorrectionsMixin
from .lease import LeaseMixin
from .outbox import OutboxMixin
from .positions import Position, PositionsMixin
from .schema import MIGRATIONS
from .studies import SavedRecord, StudiesMixin, content_hash
from .typed_reads import TypedReadsMixin


class Store(StoreBase, StudiesMixin, OutboxMixin, PositionsMixin, LeaseMixin, AbandonedMixin,
            CorrectionsMixin, TypedReadsMixin):
    """Open (creating and migrating as needed) the watcher database at *path*."""


__all__ = ["MIGRATIONS", "Position", "SavedRecord", "Store", "content_hash"]
