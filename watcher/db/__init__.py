"""The one package that owns the SQLite state: schema and migrations, studies and their source
records, events and the outbox, positions and quarantine, the worker lease, the run lock.
Nothing else touches SQLite.

``Store`` is the single entry point; each module adds one area's reads and writes.
"""

from __future__ import annotations

from .abandoned import AbandonedMixin
from .connection import StoreBase
from .corrections import CorrectionsMixin
from .delivered import DeliveredMixin
from .joins import JoinsMixin
from .lease import LeaseMixin
from .lock import RunLockMixin
from .outbox import DigestsMixin, OutboxMixin
from .positions import Position, PositionsMixin
from .renames import RenamesMixin
from .routes import RoutesMixin
from .schema import MIGRATIONS
from .search import SearchHit, SearchMixin
from .studies import RecordsMixin, SavedRecord, StudiesMixin, content_hash
from .study_ids import StudyIdsMixin
from .typed_reads import TypedReadsMixin


class Store(StoreBase, RunLockMixin, StudyIdsMixin, RecordsMixin, StudiesMixin, OutboxMixin,
            RoutesMixin, RenamesMixin, DigestsMixin, PositionsMixin, LeaseMixin, AbandonedMixin,
            CorrectionsMixin, TypedReadsMixin, DeliveredMixin, SearchMixin, JoinsMixin):
    """Open (creating and migrating as needed) the watcher database at *path*."""


__all__ = ["MIGRATIONS", "Position", "SavedRecord", "SearchHit", "Store", "content_hash"]
