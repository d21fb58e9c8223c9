"""A recording played back through the seam: links that open, speak and die as recorded, REST answered as recorded.

:class:`RecordedFrames` is the :class:`~exchange.sources.FrameSource` of a replay: the session's n-th connection
attempt gets the links of the recording's n-th attempt; each opens at its recorded time (or is refused with the
recorded reason), delivers its recorded frames, raw, at their recorded receive times (their ``wall_ms`` is the
receive time the session is told), and dies when the recording says its connection closed, with the reason the
live session gave. The link runs no heartbeat of its own: whether a pong came in time was decided live, and the
recorded close carries that verdict. A control request (subscribe, auth) is given the ``req_id`` the live session
used for the same request on that connection, so the recorded reply answers it through the same path as live.

:class:`RecordedRest` is a :data:`~exchange.bybit.rest_transport.Wire`: the REST client's own retries, parsing and
clock measurement run on the recorded replies (matched by method and path in order, the one with the same query
preferred), each answered no earlier than it arrived live.

Time is the recording's: run on :func:`exchange.recording.clock.recording_loop` with the clock of
:func:`exchange.recording.clock.recording_clock`, and at max speed an hour replays in what its processing takes.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from multidict import CIMultiDict, CIMultiDictProxy

from exchange.bybit.protocol import FrameKind, classify
from exchange.bybit.rest_replies import Reply
from exchange.bybit.rest_transport import WireFailure
from exchange.recording.clock import advance
from exchange.recording.format import clean_query
from exchange.recording.reader import RecordingReader
from exchange.retry import Backoff
from exchange.sources import FrameHandler, LinkDead, LinkSpec

__all__ = [
    "Recording",
    "RecordedFrames",
    "RecordedLink",
    "RecordedRest",
    "RecordedTicks",
    "Replay",
    "RecordingUnreadable",
    "recorded_settings",
    "replay",
]

NO_BACKOFF = Backoff(initial_s=0.0, cap_s=0.0, burst=1_000_000_000)
"""A replay's reconnects wait for nothing of their own: the next recorded connection opens when it opened live (a
jittered wait of the replay's own, longer than live's, would hand the new connection's frames over late)."""
ORDER_STEP_S = 1e-5  # records within one millisecond are played this far apart, in the file's order
QUERY_LOOKAHEAD = 8  # recorded replies of one path looked through for the same query before taking the next
SESSION_CLOSES = ("stopped", "closed by Fluxum")
"""Reasons of closes the session makes on its own (a stop, a step that failed): a replayed session reaches them by
itself, so the link does not die of them."""


class RecordingUnreadable(Exception):
    """The file is no recording (no header line, an unknown format): ``str()`` is the one line to show."""


@dataclass
class RecordedConnection:
    """One recorded WebSocket connection: when it opened, what it received and sent, how it ended."""

    link: str
    conn: int
    opened_s: float
    frames: list[tuple[float, int, str | bytes]] = field(default_factory=list)  # (at, wall_ms, data)
    sent: list[dict[str, Any]] = field(default_factory=list)
    close: dict[str, Any] | None = None


@dataclass
class Attempt:
    """One connection attempt of the session (a ``Connecting`` state): the links it opened, those refused."""

    opens: dict[str, RecordedConnection] = field(default_factory=dict)
    refused: dict[str, tuple[float, str]] = field(default_factory=dict)
    connected: bool = False


@dataclass
class Recording:
    """A whole recording, read into memory by :meth:`load` and grouped for playing back."""

    header: dict[str, Any]
    attempts: list[Attempt]
    rest: list[dict[str, Any]]
    states: list[dict[str, Any]]
    start_ms: int
    stop_s: float
    frames: int
    ticks: list[float] = field(default_factory=list)  # the session's maintenance ticks
    rejected: int = 0  # lines the reader could not read

    @classmethod
    def load(cls, path: Path) -> Recording:
        reader = RecordingReader(path)
        records = iter(reader)
        header = next(records, None)
        if header is None or header.get("type") != "header":
            raise RecordingUnreadable(f"{path.name}: not a Fluxum recording (no header line)")
        if header.get("format") != 1:
            raise RecordingUnreadable(f"{path.name}: recording format {header.get('format')!r} is not known")
        loader = _Loader(header)
        for record in records:
            loader.take(record)
        return loader.recording(reader.rejected)


class _Loader:
    def __init__(self, header: dict[str, Any]) -> None:
        self.header = header
        self.attempts: list[Attempt] = []
        self.connections: dict[int, RecordedConnection] = {}
        self.rest: list[dict[str, Any]] = []
        self.states: list[dict[str, Any]] = []
        self.stop_s: float | None = None
        self.last_s = _whole(header.get("start_ms")) / 1000.0
        self.ticks: list[float] = []
        self.frames = 0

    def at(self, record: dict[str, Any]) -> float:
        """When a record happened: its ``wall_ms`` (the time the session read, so a replay reads the same), a few
        microseconds on (so that ``int(clock() * 1000)`` is that millisecond, whatever the float arithmetic), and
        after the record before it when not later, so the file's order (what happened first within
        one millisecond: a reply, then the request it let go) is the order played back."""
        self.last_s = max(_whole(record.get("wall_ms")) / 1000.0 + ORDER_STEP_S / 2, self.last_s + ORDER_STEP_S)
        return self.last_s

    def take(self, record: dict[str, Any]) -> None:
        kind = record.get("type")
        if kind in ("header", "rotated", "dropped"):
            return
        at = self.at(record)
        if kind == "tick":
            self.ticks.append(at)
        elif kind == "frame":
            connection = self.connections.get(_whole(record.get("conn")))
            data = _frame_data(record)
            if connection is not None and data is not None:
                connection.frames.append((at, _whole(record.get("wall_ms")), data))
                self.frames += 1
        elif kind == "sent":
            connection = self.connections.get(_whole(record.get("conn")))
            if connection is not None and isinstance(record.get("payload"), dict):
                connection.sent.append(record["payload"])
        elif kind == "open":
            self._opened(record, at)
        elif kind == "close":
            self._closed(record, at)
        elif kind == "rest":
            self.rest.append({**record, "at": at, "attempt": len(self.attempts) - 1})
        elif kind == "state":
            self._state(record, at)

    def _opened(self, record: dict[str, Any], at: float) -> None:
        link, conn = str(record.get("link")), _whole(record.get("conn"))
        connection = RecordedConnection(link, conn, at)
        self.connections[conn] = connection
        if not self.attempts:
            self.attempts.append(Attempt())
        self.attempts[-1].opens.setdefault(link, connection)

    def _closed(self, record: dict[str, Any], at: float) -> None:
        connection = self.connections.get(_whole(record.get("conn")))
        if connection is not None and connection.close is None:
            connection.close = {**record, "at": at}
        if record.get("reason") == "stopped" and self.stop_s is None:
            self.stop_s = at

    def _state(self, record: dict[str, Any], at: float) -> None:
        self.states.append(record)
        state, reason = record.get("state"), str(record.get("reason") or "")
        if state == "Connecting":
            self.attempts.append(Attempt())
        elif state == "Connected" and self.attempts:
            self.attempts[-1].connected = True
        elif state in ("Reconnecting", "Failed") and self.attempts and not self.attempts[-1].connected:
            attempt = self.attempts[-1]
            for link in ("public", "private"):
                if reason.startswith(f"{link}: ") and link not in attempt.opens:
                    attempt.refused.setdefault(link, (at, reason))
        elif state == "Disconnected" and reason == "stopped" and self.stop_s is None:
            self.stop_s = at

    def recording(self, rejected: int) -> Recording:
        start = _whole(self.header.get("start_ms"))
        return Recording(
            header=self.header,
            attempts=self.attempts,
            rest=self.rest,
            states=self.states,
            start_ms=start,
            stop_s=self.stop_s if self.stop_s is not None else self.last_s,
            ticks=self.ticks,
            frames=self.frames,
            rejected=rejected,
        )


def _whole(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _frame_data(record: dict[str, Any]) -> str | bytes | None:
    text = record.get("text")
    if isinstance(text, str):
        return text
    try:
        return base64.b64decode(str(record.get("binary")), validate=True)
    except (binascii.Error, ValueError):
        return None


async def _until(clock: Callable[[], float], at: float) -> None:
    """Wait until the recording's clock reaches ``at`` (at once when it has)."""
    delay = at - clock()
    if delay > 0:
        await asyncio.sleep(delay)


@dataclass
class ReplayFigures:
    """What did not go as recorded: a send with no recorded counterpart, a REST call the recording lacks."""

    unmatched_requests: int = 0
    unmatched_rest: int = 0
    rest_out_of_order: int = 0
    rest_skipped: int = 0  # recorded replies of an attempt the replay left before asking for them


class RecordedFrames:
    """The :class:`~exchange.sources.FrameSource` of a replay: attempt by attempt, the recorded connections."""

    def __init__(self, recording: Recording, clock: Callable[[], float]) -> None:
        self.recording = recording
        self._clock = clock
        self._attempt = -1
        self.figures = ReplayFigures()

    @property
    def attempt(self) -> int:
        """The connection attempt under way (0 the first), as the recording numbers them."""
        return self._attempt

    def link(
        self, spec: LinkSpec, on_frame: FrameHandler, *, on_rejected: Callable[[], None] | None = None
    ) -> RecordedLink:
        if spec.name == "public":  # the session opens its public link first in every attempt
            self._attempt += 1
        attempts = self.recording.attempts
        attempt = attempts[self._attempt] if 0 <= self._attempt < len(attempts) else None
        return RecordedLink(spec.name, attempt, on_frame, self._clock, self.figures, on_rejected=on_rejected)


class RecordedLink:
    """One link of a replay (a :class:`~exchange.sources.FrameLink`): open, speak and die as recorded."""

    def __init__(
        self,
        name: str,
        attempt: Attempt | None,
        on_frame: FrameHandler,
        clock: Callable[[], float],
        figures: ReplayFigures,
        *,
        on_rejected: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self._recorded = None if attempt is None else attempt.opens.get(name)
        self._refused = None if attempt is None else attempt.refused.get(name)
        self._on_frame = on_frame
        self._on_rejected = on_rejected
        self._clock = clock
        self._figures = figures
        self.connection = 0 if self._recorded is None else self._recorded.conn
        self.frames = 0
        self.rejected = 0
        self._opened = False
        self._closed = asyncio.Event()
        self._next = 0  # the next recorded frame to deliver
        self._delivered: asyncio.Future[None] | None = None  # every recorded frame handed over
        self._timer: asyncio.TimerHandle | None = None
        self._sent_index = 0
        self._acks: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._last_frame_s: float | None = None
        sent = [] if self._recorded is None else self._recorded.sent
        self._unasked = {p["req_id"] for p in sent if p.get("op") != "ping" and isinstance(p.get("req_id"), str)}
        self._early: dict[str, dict[str, Any]] = {}  # replies come before this replay asked (same moment live)

    @property
    def open_(self) -> bool:
        return self._opened and not self._closed.is_set()

    async def open(self) -> None:
        recorded, refused = self._recorded, self._refused
        if refused is not None and (recorded is None or refused[0] < recorded.opened_s):
            await _until(self._clock, refused[0])
            raise LinkDead(refused[1])
        if recorded is None:  # the recording has no such connection: wait for the session to give up on it
            await self._closed.wait()
            raise LinkDead(f"{self.name}: closed")
        await _until(self._clock, recorded.opened_s)
        if self._closed.is_set():
            raise LinkDead(f"{self.name}: closed")
        self._opened = True
        self._last_frame_s = self._clock()

    async def run(self) -> None:
        """Deliver the recorded frames at their times, then die as recorded (or wait to be closed)."""
        recorded = self._recorded
        if recorded is None or not self._opened:
            raise LinkDead(f"{self.name}: not open")
        self._delivered = asyncio.get_running_loop().create_future()
        self._deliver()
        try:
            await self._delivered
            death = _death(self.name, recorded.close)
            if death is None:
                await self._closed.wait()
                raise LinkDead(f"{self.name}: closed")
            assert recorded.close is not None
            await _until(self._clock, float(recorded.close["at"]))
            silent = self._last_frame_s if "silent" in death else None
            raise LinkDead(death, silent_since=silent)
        finally:
            if self._timer is not None:
                self._timer.cancel()
            self._fail_acks()

    def _deliver(self) -> None:
        """Hand over every frame whose time has come, then call back at the next one's: one loop callback per
        moment of the recording, no task woken per frame."""
        self._timer = None
        recorded, delivered = self._recorded, self._delivered
        if recorded is None or delivered is None or delivered.done():
            return
        frames, clock, loop = recorded.frames, self._clock, asyncio.get_running_loop()
        try:
            now = clock()
            while self._next < len(frames):
                at, wall_ms, data = frames[self._next]
                if at > now and at > (now := clock()):
                    if not advance(loop, at - now):
                        self._timer = loop.call_later(at - now, self._deliver)
                        return
                    now = clock()
                self._next += 1
                self._take(data, wall_ms)
        except Exception as error:  # a bug in a frame handler: the session's watch of the link says so
            delivered.set_exception(error)
            return
        delivered.set_result(None)

    async def close(self, reason: str = "closed by Fluxum") -> None:
        """Closed by the session: first the frames this connection still received live before it closed, which
        the live session read while it tore down (a replay tears down in no time)."""
        if self._closed.is_set():
            return
        self._closed.set()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        frames = [] if self._recorded is None or not self._opened else self._recorded.frames
        while self._next < len(frames):
            _, wall_ms, data = frames[self._next]
            self._next += 1
            self._take(data, wall_ms)
        self._fail_acks()

    async def send(self, payload: dict[str, Any]) -> None:
        if not self.open_:
            raise LinkDead(f"{self.name}: closed")

    async def request(self, payload: dict[str, Any], timeout: float) -> dict[str, Any]:
        """The request gets the live ``req_id`` of the same op on this connection: the recorded reply echoes it."""
        op = str(payload.get("op", ""))
        req_id = self._recorded_req_id(op) or f"replay-{op}-{self._sent_index}"
        payload["req_id"] = req_id
        self._unasked.discard(req_id)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._acks[req_id] = future
        try:
            await self.send(payload)
            if req_id in self._early:
                return self._early.pop(req_id)
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            raise LinkDead(f"{self.name}: no reply to {op} within {timeout:g} s") from None
        finally:
            self._acks.pop(req_id, None)

    def current_rtt_ms(self, now: float) -> float | None:
        return None  # the heartbeat was live's; a replay measures no round trip

    def _recorded_req_id(self, op: str) -> str | None:
        sent = [] if self._recorded is None else self._recorded.sent
        while self._sent_index < len(sent):
            payload = sent[self._sent_index]
            self._sent_index += 1
            req_id = payload.get("req_id")
            if payload.get("op") == op and isinstance(req_id, str):
                return req_id
        self._figures.unmatched_requests += 1
        return None

    def _take(self, data: str | bytes, wall_ms: int) -> None:
        """One recorded frame, read as :meth:`exchange.bybit.ws.WsLink._handle_text` reads a live one."""
        self._last_frame_s = wall_ms / 1000.0
        if isinstance(data, bytes):
            self.rejected += 1
            return
        try:
            frame = orjson.loads(data)
        except orjson.JSONDecodeError:
            frame = None
        if not isinstance(frame, dict):
            self.rejected += 1
            if self._on_rejected is not None:
                self._on_rejected()
            return
        self.frames += 1
        kind = classify(frame)
        if kind is FrameKind.PONG:
            return
        if kind in (FrameKind.SUBSCRIBE, FrameKind.AUTH):
            req_id = frame.get("req_id")
            future = self._acks.get(req_id) if isinstance(req_id, str) else None
            if future is not None and not future.done():
                future.set_result(frame)
                return
            if (
                isinstance(req_id, str) and req_id in self._unasked
            ):  # live asked for it already: it waits for this replay's request
                self._early[req_id] = frame
                return
        self._on_frame(frame, wall_ms)

    def _fail_acks(self) -> None:
        for future in self._acks.values():
            if not future.done():
                future.set_exception(LinkDead(f"{self.name}: closed while waiting for a reply"))
        self._acks.clear()


def _death(name: str, close: dict[str, Any] | None) -> str | None:
    """The reason the live session lost this connection, as its link told it; None when the session closed it
    on its own (a stop, a failed step) or the recording ends with it open."""
    if close is None:
        return None
    by, reason, code = close.get("by"), str(close.get("reason") or ""), close.get("code")
    if by == "exchange":
        return f"{name}: closed by server" + (f" (code {code})" if code else "")
    if by == "transport":
        return f"{name}: {reason}"
    if reason in SESSION_CLOSES or reason.startswith("account down"):
        return None
    return reason


class RecordedTicks:
    """The session's maintenance ticks (:class:`~exchange.sources.Ticks`) at the recorded moments: marks,
    staleness and resync retries are decided on the tick, so they are decided on the same frames as live. A
    recording without ticks (or past its last) ticks every ``interval`` of recorded time."""

    def __init__(self, ticks: list[float], clock: Callable[[], float]) -> None:
        self._ticks = ticks
        self._next = 0
        self._clock = clock

    async def wait(self, interval: float) -> None:
        now = self._clock()
        ticks = self._ticks
        while self._next < len(ticks) and ticks[self._next] <= now + ORDER_STEP_S / 2:
            self._next += 1
        if self._next >= len(ticks):
            await asyncio.sleep(interval)
            return
        at = ticks[self._next]
        self._next += 1
        await asyncio.sleep(at - now)


class RecordedRest:
    """A :data:`~exchange.bybit.rest_transport.Wire` answering each request with its recorded reply."""

    def __init__(
        self,
        recording: Recording,
        clock: Callable[[], float],
        figures: ReplayFigures,
        attempt: Callable[[], int] = lambda: 0,
    ) -> None:
        """``attempt``: the connection attempt under way; replies recorded in earlier ones are not this one's."""
        self._clock = clock
        self._figures = figures
        self._attempt = attempt
        self._routes: dict[tuple[str, str], deque[dict[str, Any]]] = {}
        for record in recording.rest:
            self._routes.setdefault((str(record.get("method")), str(record.get("path"))), deque()).append(record)

    async def __call__(self, method: str, path: str, query: str, body: bytes | None) -> Reply:
        queue = self._routes.get((method, path))
        attempt = self._attempt()
        while queue and _whole(queue[0].get("attempt")) < attempt:
            queue.popleft()  # live asked for it in an attempt this replay left earlier
            self._figures.rest_skipped += 1
        if not queue:
            self._figures.unmatched_rest += 1
            raise WireFailure(f"{method} {path} is not in the recording", maybe_sent=False)
        record = self._pick(queue, clean_query(query))
        await _until(self._clock, float(record["at"]))
        status = record.get("status")
        if not isinstance(status, int):
            raise WireFailure(str(record.get("error") or "no reply"))
        kept = record.get("headers")
        headers: dict[str, Any] = kept if isinstance(kept, dict) else {}
        return Reply(
            status,
            CIMultiDictProxy(CIMultiDict({str(k): str(v) for k, v in headers.items()})),
            str(record.get("reply") or "").encode(),
            _whole(record.get("sent_ms")) / 1000.0,
            _whole(record.get("wall_ms")) / 1000.0,
        )

    def _pick(self, queue: deque[dict[str, Any]], query: str) -> dict[str, Any]:
        for index in range(min(QUERY_LOOKAHEAD, len(queue))):
            if queue[index].get("query") == query:
                record = queue[index]
                del queue[index]
                if index:
                    self._figures.rest_out_of_order += 1
                return record
        self._figures.rest_out_of_order += 1
        return queue.popleft()


def recorded_settings(recording: Recording, base: Any) -> Any:
    """``base`` (:class:`~exchange.config.Settings`) as the recorded session had them: its category, symbols,
    depth, and a stand-in key when it watched an account (nothing is signed for anyone)."""
    from exchange.config import Endpoints
    from exchange.secrets import Credentials, Secret

    header = recording.header
    symbols = header.get("symbols")
    private = header.get("private") is True
    return dataclasses.replace(
        base,
        endpoints=Endpoints.for_base_url("http://recording.invalid"),
        credentials=Credentials("replay-key", Secret("replay-secret")) if private else None,
        symbols=tuple(str(s) for s in symbols) if isinstance(symbols, list) and symbols else base.symbols,
        category=str(header.get("category") or base.category),
        depth=header.get("depth") if isinstance(header.get("depth"), int) else base.depth,
    )


@dataclass
class Replay:
    """A session driven by a recording, ready to :meth:`run`: the same session, books, ledger and account."""

    recording: Recording
    session: Any  # exchange.session.Session
    frames: RecordedFrames
    clock: Callable[[], float]

    @property
    def figures(self) -> ReplayFigures:
        return self.frames.figures

    async def run(self) -> None:
        """Play the recording through the session until the recorded stop (or the session fails as it did)."""
        restart = getattr(self.clock, "restart", None)
        if restart is not None:  # the recording starts now, not when the replay began to be set up
            restart()
        stopper = asyncio.create_task(self._stop_when_recorded())
        try:
            await self.session.run()
        finally:
            stopper.cancel()

    async def _stop_when_recorded(self) -> None:
        await _until(self.clock, self.recording.stop_s)
        await self.session.stop()


def replay(
    recording: Recording,
    settings: Any,
    *,
    clock: Callable[[], float],
    hub: Any = None,
    journal: Any = None,
    backoff: Any = None,
    timeouts: Any = None,
) -> Replay:
    """The session of ``recording`` on the running loop (see :func:`exchange.recording.clock.recording_clock`):
    ``settings`` as :func:`recorded_settings` made them, ``journal`` a fresh one (a replay journals its fills)."""
    from exchange.bybit.rest import RestClient
    from exchange.session import Session

    frames = RecordedFrames(recording, clock)
    rest = RestClient(
        settings.endpoints,
        settings.credentials,
        clock=clock,
        sleep=_no_wait,
        wire=RecordedRest(recording, clock, frames.figures, lambda: frames.attempt),
    )
    session = Session(
        settings,
        hub=hub,
        journal=journal,
        rest=rest,
        frames=frames,
        ticks=RecordedTicks(recording.ticks, clock),
        clock=clock,
        backoff=backoff if backoff is not None else NO_BACKOFF,
        timeouts=timeouts if timeouts is not None else recorded_timeouts(recording),
    )
    environment = recording.header.get("environment")
    if isinstance(environment, str):
        session.desk.environment = environment
    return Replay(recording, session, frames, clock)


def recorded_timeouts(recording: Recording) -> Any:
    """The session's :class:`~exchange.retry.Timeouts` as the header keeps them (the defaults for a field it does
    not, or cannot be read): a replay's deadlines are the live session's."""
    from exchange.retry import Timeouts

    kept = recording.header.get("timeouts")
    known = {f.name for f in dataclasses.fields(Timeouts)}
    fields = {k: v for k, v in kept.items() if k in known} if isinstance(kept, dict) else {}
    try:
        return Timeouts(**fields)
    except (TypeError, ValueError):
        return Timeouts()


async def _no_wait(seconds: float) -> None:
    """A REST resend's wait in a replay: the recorded reply to the resend comes when it came."""
    await asyncio.sleep(0)
