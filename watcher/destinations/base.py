"""What every destination kind is made of: its YAML options, its settings (the environment
variables it reads), its sender, and the spec that plugs them into the registry
(``destinations/__init__.py``).

A sender turns a Digest into one or more message parts (each naming the outbox items it
carries) and sends them one at a time; the core records each accepted part before sending the
next, so a failure part-way leaves only the unsent rest pending.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, Protocol, TextIO, runtime_checkable

from pydantic import Field, field_validator

from ..schedules import Schedule
from ..variables import EnvSettings, NoSettings
from ..yaml_base import Strict

if TYPE_CHECKING:
    from ..db.report_rows import InterruptedItem
    from ..digest import Digest


class DestinationOptions(Strict):
    """What every destination's YAML holds; each kind adds its own fields and checks. Secrets
    (tokens, passwords) never live here: only in the environment."""

    kind: str
    subject: str | None = None
    schedule: Schedule | None = None
    #: Send a digest with nothing new (a heartbeat). Default: the kind's SENDS_EMPTY (on for
    #: email, whose weekly message is also proof of life), or, for Slack (QUIET_HEARTBEAT), on
    #: for a schedule's digest only. A digest reporting a failure is always sent.
    send_empty: bool | None = None
    #: Items listed in one digest; the rest are summarised per condition and stay pending.
    max_items: int = Field(default=50, ge=1, le=5000)
    #: Names this destination had before (a name or a list): what is pending, sent and
    #: scheduled under an old name moves to this one, so a rename loses and repeats nothing.
    renamed_from: list[str] = []
    name: str = ""  # filled from the mapping key

    #: Whether a digest with nothing new is sent when the YAML does not say.
    SENDS_EMPTY: ClassVar[bool] = False
    #: Whether a quiet digest a schedule fires is sent when the YAML does not say: a short
    #: heartbeat, so a team reading only this destination can tell quiet from dead.
    QUIET_HEARTBEAT: ClassVar[bool] = False
    #: Fields that belong to other kinds -> their kind. The registry adds them (accepted only
    #: when empty) so that a field written under the wrong kind says whose it is.
    FOREIGN: ClassVar[dict[str, str]] = {}

    @field_validator("renamed_from", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        value = [value] if isinstance(value, str) else value
        # A name written twice is one old name, not one claimed by two destinations.
        return list(dict.fromkeys(value)) if isinstance(value, list) and all(
            isinstance(item, str) for item in value) else value

    @property
    def sends_empty(self) -> bool:
        return self.SENDS_EMPTY if self.send_empty is None else self.send_empty

    def sends_quiet(self, *, scheduled: bool) -> bool:
        """Whether a digest with nothing new goes out: as `send_empty` says, else the kind's
        default (a schedule's quiet Slack digest is a heartbeat; a hand-run one is not)."""
        if self.send_empty is not None:
            return self.send_empty
        return self.SENDS_EMPTY or (scheduled and self.QUIET_HEARTBEAT)

    def only_its_own_fields(self) -> DestinationOptions:
        """The registry's check, run after the kind's own: another kind's field is empty."""
        for name, owner in self.FOREIGN.items():
            if getattr(self, name):
                raise ValueError(f"{name!r} only applies to kind {owner}, not {self.kind}")
        return self


@dataclass
class Part:
    """One message of a digest: the outbox items it carries and what is sent."""

    outbox_ids: list[int]
    body: Any
    text: str = ""  # plain-text rendering (the fallback, and what a preview shows)
    meta: dict[str, Any] = field(default_factory=dict)


class Sender(Protocol):
    def prepare(self, digest: Digest) -> list[Part]:
        """Render the digest into the parts it is sent as (pure: nothing leaves yet)."""

    def send(self, part: Part) -> str | None:
        """Deliver one part; return its id at the destination (Slack ts, Message-ID) or None.
        Raise DeliveryError when the destination did not accept it."""


class Found(NamedTuple):
    """A message of an interrupted digest that the destination already holds."""

    digest_id: int
    part: int
    outbox_ids: list[int]
    ts: str
    channel_id: str


@runtime_checkable
class RecoversSent(Protocol):
    """A sender that can tell, after a killed process, which messages of an interrupted digest
    the destination already holds (Slack, by its messages' metadata). A sender declares it by
    subclassing; the core asks it before a new digest, so nothing is posted twice."""

    def recover(self, interrupted: list[InterruptedItem]) -> list[Found]:
        """Each row of *interrupted* is an item: its outbox ``id``, ``digest_id``, the digest's
        ``started``, and the ``channel_id``/``channel`` its messages went to. Raise when the
        check cannot run (the items then stay 'sending')."""


class Disabled(Exception):
    """The destination cannot send in this environment; its items stay pending."""


@dataclass(frozen=True)
class Context:
    """What every sender is handed by the core besides its options and its own settings."""

    #: Where the terminal prints (stdout for `run --once`, the log under serve).
    stream: TextIO
    #: WATCHER_HTTP_TIMEOUT: the limit on each connect, read or write of a network sender.
    timeout: float


def ready(settings: Any) -> str | None:
    """The ``missing`` check of a kind that needs nothing from the environment."""
    return None


@dataclass(frozen=True)
class DestinationSpec:
    """One destination kind, declared by its module and listed in the registry."""

    kind: str
    #: The YAML options model (``kind: Literal[...]``, its fields and checks).
    options: type[DestinationOptions]
    #: (options, its settings, the core's Context) -> the sender.
    factory: Callable[[Any, Any, Context], Sender]
    #: Its settings, read from the environment variables the class declares. Kinds sharing
    #: variables (the two Slack kinds) share the class, and so one value read once.
    settings: type[EnvSettings] = NoSettings
    #: What the environment lacks for this kind to send, given its settings (None: it can).
    missing: Callable[[Any], str | None] = ready
    #: The renderer hook: what `watcher digest DEST --preview FILE` writes (None: plain text).
    preview: Callable[[Digest, Any], str] | None = None


def needs(what: str, *values: Callable[[Any], Any]) -> Callable[[Any], str | None]:
    """A ``missing`` check: *what* is not set unless every value (of the settings) is."""
    return lambda settings: None if all(v(settings) for v in values) else f"{what} not set"
