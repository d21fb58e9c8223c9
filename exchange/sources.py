"""The seam between the session and where its data comes from: typed Protocols, no network library.

The session depends on these, never on a transport: a :class:`FrameSource` opens one :class:`FrameLink` per
WebSocket (Bybit's sockets live; a recording played back; a relay), a :class:`RestApi` answers the reads the
session makes (Bybit's REST client live; a recording's answers), and a :class:`Tap` hears what came in and went out,
in order, as it happened (the session recorder). Bybit's implementations are :class:`exchange.bybit.ws.BybitFrames`
and :class:`exchange.bybit.rest.RestClient`.

A link hands each inbound frame's raw text to the tap *before* parsing it, so a recording holds the exact bytes
the session read, and a recorded frame played back goes through the very same parsing.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from exchange.events import OpenOrder, PositionSnapshot, SessionState, WalletSnapshot

__all__ = [
    "FrameHandler",
    "FrameLink",
    "FrameSource",
    "LinkDead",
    "LinkSpec",
    "RateLimitStatus",
    "RejectedRecord",
    "RestApi",
    "RestExchange",
    "Tap",
    "Tick",
    "Ticks",
]

FrameHandler = Callable[[dict[str, Any], int], None]
"""Called with each data frame (parsed) and its receive time in the session clock's epoch ms."""


class LinkDead(Exception):
    """The connection is gone or silent; the session reconnects. ``str()`` is the reason shown to the user.

    ``silent_since``: for a link found dead of silence, when it was last heard from (the clock's seconds): the
    loss began there, seconds before it could be told from a quiet moment.
    """

    def __init__(self, reason: str, silent_since: float | None = None) -> None:
        super().__init__(reason)
        self.silent_since = silent_since


@dataclass(frozen=True)
class LinkSpec:
    """One link the session wants: where, its name (``public``, ``private``) and its heartbeat figures (s)."""

    url: str
    name: str
    ping_interval: float = 20.0
    pong_timeout: float = 10.0
    idle_probe_after: float = 3.0
    probe_timeout: float = 2.0
    connect_timeout: float = 10.0


class FrameLink(Protocol):
    """One WebSocket connection: ``open()``, then ``run()`` until it dies (always raises :class:`LinkDead`)."""

    @property
    def name(self) -> str: ...

    @property
    def connection(self) -> int:
        """This connection's number within the session (a recording's ``conn``)."""
        ...

    @property
    def open_(self) -> bool: ...

    @property
    def frames(self) -> int:
        """Frames read as JSON objects so far."""
        ...

    @property
    def rejected(self) -> int:
        """Frames dropped unread (not JSON, not an object)."""
        ...

    async def open(self) -> None: ...

    async def run(self) -> None: ...

    async def close(self, reason: str = "closed by Fluxum") -> None: ...

    async def send(self, payload: dict[str, Any]) -> None: ...

    async def request(self, payload: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send a control op and wait for the reply that echoes its ``req_id``."""
        ...

    def current_rtt_ms(self, now: float) -> float | None:
        """The heartbeat's last round trip while it still describes the link, else None."""
        ...

    @property
    def round_trip_to(self) -> str:
        """What :meth:`current_rtt_ms` measures the round trip to: ``exchange`` (its own socket), or what the link
        reads instead (``NATS``, a relay feed): the bar names it, never calling it the exchange's."""
        ...


class FrameSource(Protocol):
    """Opens the session's links: one :class:`FrameLink` per connection, numbered within the session."""

    def link(
        self, spec: LinkSpec, on_frame: FrameHandler, *, on_rejected: Callable[[], None] | None = None
    ) -> FrameLink: ...


@dataclass(frozen=True)
class RateLimitStatus:
    """Bybit's rate-limit headers from the latest reply of one path."""

    path: str
    limit: int | None
    remaining: int | None
    reset_ms: int | None


@dataclass(frozen=True)
class RejectedRecord:
    """One record of a listing that could not be read (a number out of range, a missing field): left out of the
    answer so the rest of the listing still counts; the session tells it and keeps its symbol as it was."""

    path: str
    symbol: str
    why: str


class RestApi(Protocol):
    """The REST reads the session makes, and what it reads of the client's clock and limits."""

    rejected_records: deque[RejectedRecord]
    """Records left out of the last listings; the session drains them."""

    @property
    def clock_offset_ms(self) -> float:
        """Exchange time minus local time, as last measured (0 before)."""
        ...

    @property
    def clock_error_ms(self) -> float:
        """How good that offset is (half the measuring round trip)."""
        ...

    @property
    def clock_synced(self) -> bool: ...

    @property
    def last_rate_limit(self) -> RateLimitStatus | None: ...

    async def sync_clock(self) -> float: ...

    async def server_time_ms(self) -> int:
        """One unsigned ``/v5/market/time``: the cheapest request, to learn whether a 403 cool-down is over."""
        ...

    def lift_cooldown(self) -> None:
        """Let the next request go despite a 403 cool-down (the trader asked to try now); a 403 again resumes
        the cool-down, longer."""
        ...

    async def instruments(self, category: str, symbol: str | None = None) -> list[dict[str, Any]]: ...

    async def wallet_balance(self, account_type: str = "UNIFIED") -> WalletSnapshot: ...

    async def positions(self, category: str) -> list[PositionSnapshot]: ...

    async def open_orders(self, category: str) -> list[OpenOrder]: ...

    async def executions(self, category: str, *, start_time_ms: int | None = None) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class RestExchange:
    """One HTTP request and what came back, as a recorder keeps it: never a header of the request (the key and
    the signature travel there), and of the reply only the rate-limit headers. ``status`` None: no reply
    (``error`` says why). Times are the local clock's epoch seconds."""

    method: str
    path: str
    query: str
    body: bytes | None
    status: int | None
    headers: Mapping[str, str]
    reply: bytes
    sent_s: float
    received_s: float
    error: str = ""


class Tap(Protocol):
    """Hears everything that crossed the seam, in order, on the event loop; must return at once."""

    def link_opened(self, link: str, connection: int, url: str) -> None: ...

    def frame_received(self, link: str, connection: int, text: str | bytes, received_ms: int) -> None:
        """An inbound frame exactly as read, before any parsing: text, or the bytes of a binary frame."""
        ...

    def frame_sent(self, link: str, connection: int, payload: Mapping[str, Any]) -> None: ...

    def link_closed(self, link: str, connection: int, code: int | None, reason: str, by: str) -> None:
        """``by``: ``exchange`` (a close frame), ``transport`` (an error) or ``fluxum`` (we closed it)."""
        ...

    def rest_exchanged(self, exchange: RestExchange) -> None: ...

    def state_changed(self, state: SessionState) -> None: ...

    def maintained(self, now: float) -> None:
        """The session's maintenance tick ran at ``now`` (the clock's seconds): marks, staleness and resync retries
        are decided there, so a replay runs its ticks at the recorded moments."""
        ...


@dataclass(frozen=True)
class Tick:
    """A maintenance tick a replay plays: when it ran live (the clock's seconds), and whether the live session
    named its slow recovery step there (None: decide by the clock). A step's length is the one decision of the
    tick that depends on how fast the session worked, so a replay takes it from the recording."""

    at: float
    named_step: bool | None


class Ticks(Protocol):
    """When the session's maintenance runs: every ``interval`` seconds live, at the recorded ticks in a replay."""

    async def wait(self, interval: float) -> Tick | None:
        """Until the next tick; what the recording says of it (None: nothing, live)."""
        ...

    async def ready(self) -> None:
        """Until the session, its recovery done, may say Ready: at once live; in a replay, when the recorded
        session did (its last replies came earlier than it could act on them, and a tick between saw it still
        recovering)."""
        ...
