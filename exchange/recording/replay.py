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

:class:`Playback` is what they all play from: the file read in order as the replay's clock reaches each record
(never the whole recording in memory), each record handed to whoever plays it.

Time is the recording's: run on :func:`exchange.recording.clock.recording_loop` with the clock of
:func:`exchange.recording.clock.recording_clock`, and at max speed an hour replays in what its processing takes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy

from exchange.bybit.rest_replies import Reply
from exchange.bybit.rest_transport import WireFailure
from exchange.bybit.ws import FrameReader
from exchange.events import LinkState, SessionState
from exchange.recording.clock import advancer
from exchange.recording.format import clean_query
from exchange.recording.opened import ORDER_STEP_S, UNTIMED, Recording, Timeline, frame_data, refused_links, whole
from exchange.retry import Backoff
from exchange.sources import FrameHandler, LinkDead, LinkSpec, RestExchange, Tick

__all__ = [
    "Playback",
    "RecordedFrames",
    "RecordedLink",
    "RecordedRest",
    "RecordedTicks",
    "Replay",
    "recorded_settings",
    "replay",
]

NO_BACKOFF = Backoff(initial_s=0.0, cap_s=0.0, burst=1_000_000_000)
"""A replay's reconnects wait for nothing of their own: the next recorded connection opens when it opened live (a
jittered wait of the replay's own, longer than live's, would hand the new connection's frames over late)."""
QUERY_LOOKAHEAD = 8  # recorded replies of one path looked through for the same query before taking the next
CONNECTION_WINDOW = 10_000  # frames kept for a recorded connection no replayed link plays yet
LOOKAHEAD = 20_000  # records read ahead of the clock for a link the session closed before its recorded close
ROUTE_WINDOW = 64  # recorded REST replies of one route kept for requests this replay has not made yet
SENT_WINDOW = 256  # live requests of one connection kept for requests this replay has not made yet
KEPT_ATTEMPTS = 2  # attempts back whose links' fates are kept for a replay that is behind
SESSION_CLOSES = ("stopped", "closed by Fluxum")
"""Reasons of closes the session makes on its own (a stop, a step that failed): a replayed session reaches them by
itself, so the link does not die of them."""


@dataclass
class ReplayFigures:
    """What did not go as recorded: a send with no recorded counterpart, a REST call the recording lacks; and what
    the replay held at once (:attr:`held_peak`, records read but not yet played: the memory it needs). A request
    asked with another query than live's (:attr:`rest_other_query`: a start time read off the clock a few
    milliseconds apart) is answered as live's was, and is no divergence."""

    unmatched_requests: int = 0
    unmatched_rest: int = 0
    rest_out_of_order: int = 0  # a later recorded reply of the route taken for having the same query
    rest_other_query: int = 0  # the next reply of the route taken for a request with another query (a time in it)
    rest_skipped: int = 0  # recorded replies of an attempt the replay left before asking for them
    frames_dropped: int = 0  # frames of a connection no replayed link took, past what is kept for one
    held_peak: int = 0

    def diverged(self) -> bool:
        """Whether the replay went where the recording did not."""
        return bool(
            self.unmatched_requests
            or self.unmatched_rest
            or self.rest_out_of_order
            or self.rest_skipped
            or self.frames_dropped
        )


@dataclass
class _Playing:
    """A recorded connection while the stream is inside it: frames kept for a replayed link not there yet,
    the live requests not yet given to a replayed one."""

    link: str
    conn: int
    attempt: int
    player: RecordedLink | None = None
    take: Callable[[str, int], None] | None = None  # the player's frame reader, called straight from the stream
    last_ms: int | None = None  # the last frame played (the session clock's ms)
    waiting: deque[tuple[str | bytes, int]] = field(default_factory=deque)  # (data, wall_ms)
    sent: dict[str, deque[str]] = field(default_factory=dict)  # op -> live req_ids no replayed request took yet
    unasked: set[str] = field(default_factory=set)  # the same req_ids, to know their replies
    closed: dict[str, Any] | None = None

    def keep_sent(self, op: str, req_id: str) -> None:
        if len(self.unasked) >= SENT_WINDOW:  # live asked for much this replay never does: keep the latest
            self.sent.clear()
            self.unasked.clear()
        self.sent.setdefault(op, deque()).append(req_id)
        self.unasked.add(req_id)

    def take_sent(self, op: str) -> str | None:
        ids = self.sent.get(op)
        if not ids:
            return None
        req_id = ids.popleft()
        self.unasked.discard(req_id)
        return req_id


@dataclass
class _Asked:
    """A REST request waiting for its recorded reply."""

    query: str
    attempt: int
    reply: asyncio.Future[dict[str, Any]]


class Playback:
    """The recording streamed in order as the replay's clock reaches each record, and handed to whoever plays it
    (links, the REST wire, the ticks, the stop): one loop callback per moment of the recording, no task per frame.
    What it holds at once is bounded: the records of one moment, a short look-ahead when a link closes before its
    recorded close, and per connection, route or op at most a window (the rest is counted, never kept)."""

    def __init__(self, recording: Recording, clock: Callable[[], float], figures: ReplayFigures) -> None:
        self.recording = recording
        self.figures = figures
        self._clock = clock
        self._records: Iterator[dict[str, Any]] | None = None
        self._timeline = Timeline(recording.start_ms)
        self._ahead: deque[tuple[float, dict[str, Any]]] = deque()  # read, not yet played, in the file's order
        self._timer: asyncio.Handle | None = None
        self.attempt = -1  # the recorded attempt the stream is in
        self._connected = False
        self._playing: dict[int, _Playing] = {}  # conn -> the connections open in the stream
        self._opened: dict[tuple[int, str], _Playing | tuple[float, str] | None] = {}  # recent attempts' fates
        self._links: dict[tuple[int, str], asyncio.Future[_Playing | tuple[float, str] | None]] = {}
        self._routes: dict[tuple[str, str], deque[dict[str, Any]]] = {}
        self._asked: dict[tuple[str, str], list[_Asked]] = {}
        self._tick: asyncio.Future[Tick] | None = None
        self._ready_in = -1  # the last recorded attempt whose session became Ready
        self._ready: dict[int, asyncio.Future[None]] = {}  # attempt -> a replayed session waiting to say Ready
        self.stopped: asyncio.Future[None] | None = None  # the recorded stop (or the end) was played
        self.ended = False
        self.frames = 0  # frames played

    def start(self) -> None:
        """Begin playing at the clock's now (the recording's start)."""
        loop = asyncio.get_running_loop()
        self.stopped = loop.create_future()
        self._records = self.recording.records()
        self._timer = loop.call_soon(self._play)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._end()

    # ------------------------------------------------------------------ the stream

    def _read(self) -> tuple[float, dict[str, Any]] | None:
        """The next record of the file and its time (:class:`Timeline`, inline: it runs once a record)."""
        records = self._records
        if records is None:
            return None
        for record in records:
            if record.get("type") not in UNTIMED:
                wall_ms = record.get("wall_ms")
                at = (wall_ms if wall_ms.__class__ is int else 0) / 1000.0 + ORDER_STEP_S / 2
                after = self._timeline.last_s + ORDER_STEP_S
                self._timeline.last_s = at = at if at > after else after
                return at, record
        self._records = None
        return None

    def _play(self) -> None:
        """Play every record whose time has come, then call back at the next one's."""
        self._timer = None
        loop = asyncio.get_running_loop()
        advance = advancer(loop)
        ahead, frame, other, timeline = self._ahead, self._frame, self._other, self._timeline
        now = self._clock()
        while True:
            if ahead:
                at, record = ahead.popleft()
            else:  # :meth:`_read`, written out: this runs once a record
                records = self._records
                following: dict[str, Any] | None = None if records is None else next(records, None)
                if following is None:
                    self._end()
                    return
                record = following
                if record.get("type") in UNTIMED:
                    continue
                wall_ms = record.get("wall_ms")
                at = (wall_ms if wall_ms.__class__ is int else 0) / 1000.0 + ORDER_STEP_S / 2
                after = timeline.last_s + ORDER_STEP_S
                timeline.last_s = at = at if at > after else after
            if at > now:
                if not advance(at - now):
                    ahead.appendleft((at, record))
                    self._timer = loop.call_later(at - self._clock(), self._play)
                    return
                now = at  # the loop jumped there: nothing else moves its time
            if record.get("type") == "frame":
                frame(record)
            else:
                other(at, record)
            if ahead is not self._ahead:  # a link's hand-over read ahead
                ahead = self._ahead

    def _frame(self, record: dict[str, Any]) -> None:
        playing = self._playing.get(record.get("conn"))  # type: ignore[arg-type]
        if playing is None:
            return
        text = record.get("text")
        wall_ms = record.get("wall_ms")
        if wall_ms.__class__ is not int:
            wall_ms = 0
        take = playing.take
        if take is not None and text.__class__ is str:  # the hot path: a text frame of a connection being played
            self.frames += 1
            playing.last_ms = wall_ms
            take(text, wall_ms)
            return
        data = text if text.__class__ is str else frame_data(record)
        if data is None:
            return
        self.frames += 1
        player = playing.player
        if player is not None:
            player.take(data, wall_ms)
        elif len(playing.waiting) < CONNECTION_WINDOW:
            playing.waiting.append((data, wall_ms))
            self._held(len(playing.waiting))
        else:
            self.figures.frames_dropped += 1

    def _other(self, at: float, record: dict[str, Any]) -> None:
        kind = record.get("type")
        if kind == "tick":
            self._ticked(at)
        elif kind == "sent":
            self._sent(record)
        elif kind == "open":
            self._open(record, at)
        elif kind == "close":
            self._closed(record, at)
        elif kind == "rest":  # a read before the first attempt (the runtime's own) is the first attempt's
            self._rest({**record, "at": at, "attempt": max(self.attempt, 0)})
        elif kind == "state":
            self._state(record, at)

    def _held(self, count: int) -> None:
        held = count + len(self._ahead)
        if held > self.figures.held_peak:
            self.figures.held_peak = held

    def _end(self) -> None:
        """The recording is over: whatever waits on it learns so."""
        if self.ended:
            return
        self.ended = True
        self._records = None
        for key in list(self._links):
            self._decide(key, None)
        self._ready_over(sys.maxsize)
        for asked in [a for waiting in self._asked.values() for a in waiting]:
            if not asked.reply.done():
                asked.reply.set_exception(LookupError("the recording ended first"))
        self._asked.clear()
        if self._tick is not None and not self._tick.done():
            self._tick.set_result(Tick(self._clock(), None))
        if self.stopped is not None and not self.stopped.done():
            self.stopped.set_result(None)

    # ------------------------------------------------------------------ connections

    def _state(self, record: dict[str, Any], at: float) -> None:
        state, reason = record.get("state"), str(record.get("reason") or "")
        if state == "Connecting":
            self._attempt_over(self.attempt + 1)
            self._ready_over(self.attempt + 1)
            self.attempt += 1
            self._connected = False
            for old in [key for key in self._opened if key[0] < self.attempt - KEPT_ATTEMPTS]:
                del self._opened[old]
        elif state == "Connected":
            self._connected = True
        elif state == "Ready":
            self._ready_in = self.attempt
            self._ready_over(self.attempt + 1)
        elif state in ("Reconnecting", "Failed") and not self._connected:
            opened = {link for (attempt, link) in self._opened if attempt == self.attempt}
            for link in refused_links(reason, opened):
                self._decide((self.attempt, link), (at, reason))
        elif state == "Disconnected" and reason == "stopped":
            self._stop()

    def _attempt_over(self, upto: int) -> None:
        """Links of the attempts before ``upto`` that the recording neither opened nor refused never will be."""
        for key in [key for key in self._links if key[0] < upto]:
            self._decide(key, None)

    def _ready_over(self, upto: int) -> None:
        """A replayed session waiting to say Ready in an attempt before ``upto`` may: the recorded one did, or
        never will."""
        for attempt in [a for a in self._ready if a < upto]:
            waiter = self._ready.pop(attempt)
            if not waiter.done():
                waiter.set_result(None)

    async def ready(self, attempt: int) -> None:
        """Until the recorded session became Ready in ``attempt`` (at once if it has, or never will)."""
        if self.ended or self._ready_in >= attempt or self.attempt > attempt:
            return
        waiter = self._ready.get(attempt)
        if waiter is None:
            waiter = self._ready[attempt] = asyncio.get_running_loop().create_future()
        await asyncio.shield(waiter)

    def _decide(self, key: tuple[int, str], fate: _Playing | tuple[float, str] | None) -> None:
        if key in self._opened and fate is None:
            return
        self._opened[key] = fate
        waiter = self._links.pop(key, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(fate)

    def _open(self, record: dict[str, Any], at: float) -> None:
        link, conn = str(record.get("link")), whole(record.get("conn"))
        if self.attempt < 0:
            self.attempt = 0
        playing = _Playing(link, conn, self.attempt)
        self._playing[conn] = playing
        if (self.attempt, link) not in self._opened:
            self._decide((self.attempt, link), playing)

    def _closed(self, record: dict[str, Any], at: float) -> None:
        if record.get("by") == "refused":  # a feed's link refused at its opening, in its own words
            self._decide((max(self.attempt, 0), str(record.get("link"))), (at, str(record.get("reason") or "")))
            return
        playing = self._playing.pop(whole(record.get("conn")), None)
        if playing is not None:
            playing.closed = record
            if playing.player is not None:
                playing.player.recorded_close(record)
        if record.get("reason") == "stopped":
            self._stop()

    def _stop(self) -> None:
        if self.stopped is not None and not self.stopped.done():
            self.stopped.set_result(None)

    async def fate(self, attempt: int, link: str) -> _Playing | tuple[float, str] | None:
        """How the recording's ``attempt`` went for ``link``: its connection, a refusal (when, why), or None (the
        recording has no such connection)."""
        key = (attempt, link)
        if key in self._opened:
            return self._opened[key]
        if self.ended or attempt < self.attempt - KEPT_ATTEMPTS:
            return None
        waiter = self._links.get(key)
        if waiter is None:
            waiter = self._links[key] = asyncio.get_running_loop().create_future()
        return await waiter

    def _sent(self, record: dict[str, Any]) -> None:
        playing = self._playing.get(whole(record.get("conn")))
        payload = record.get("payload")
        if playing is None or not isinstance(payload, dict):
            return
        op, req_id = str(payload.get("op", "")), payload.get("req_id")
        if op == "ping" or not isinstance(req_id, str):
            return
        player = playing.player
        if player is None or not player.asking(op, req_id):
            playing.keep_sent(op, req_id)

    def hand_over(self, conn: int) -> Iterator[tuple[str | bytes, int]]:
        """The frames recorded for ``conn`` up to its recorded close, read ahead of the clock (a replayed link the
        session closed first takes them at once, as the live one read them while it tore down); at most a
        window of records is read ahead for it."""
        taken: list[tuple[str | bytes, int]] = []
        kept: deque[tuple[float, dict[str, Any]]] = deque()
        closing = None
        for at, record in self._ahead:
            if closing is None and record.get("conn") == conn and record.get("type") == "frame":
                data = frame_data(record)
                if data is not None:
                    taken.append((data, whole(record.get("wall_ms"))))
                continue
            if closing is None and record.get("conn") == conn and record.get("type") == "close":
                closing = record
            kept.append((at, record))
        while closing is None and len(kept) < LOOKAHEAD and (item := self._read()) is not None:
            record = item[1]
            if record.get("conn") == conn and record.get("type") == "frame":
                data = frame_data(record)
                if data is not None:
                    taken.append((data, whole(record.get("wall_ms"))))
                continue
            if record.get("conn") == conn and record.get("type") == "close":
                closing = record
            kept.append(item)
        self._ahead = kept
        self._held(0)
        self.frames += len(taken)
        return iter(taken)

    # ------------------------------------------------------------------ REST and ticks

    def _rest(self, record: dict[str, Any]) -> None:
        route = (str(record.get("method")), str(record.get("path")))
        waiting = self._asked.get(route)
        while waiting:
            for asked in waiting:  # a stale one first: replies of an attempt the replay left are not its
                if asked.attempt > record["attempt"]:
                    self.figures.rest_skipped += 1
                    return
            chosen = next((a for a in waiting if a.query == record.get("query")), None)
            if chosen is None:
                chosen = waiting[0]
                self.figures.rest_other_query += 1
            waiting.remove(chosen)
            if not chosen.reply.done():
                chosen.reply.set_result(record)
                return
        queue = self._routes.setdefault(route, deque())
        if len(queue) >= ROUTE_WINDOW:
            queue.popleft()
            self.figures.rest_skipped += 1
        queue.append(record)

    async def rest_reply(self, method: str, path: str, query: str, attempt: int) -> dict[str, Any] | None:
        """The recorded reply to this request: one already played (the same query preferred among the next few),
        else the next of its route the recording plays; None when the recording has none for it."""
        route = (method, path)
        queue = self._routes.get(route)
        while queue and whole(queue[0].get("attempt")) < attempt:
            queue.popleft()  # live asked for it in an attempt this replay left earlier
            self.figures.rest_skipped += 1
        if queue:
            for index in range(min(QUERY_LOOKAHEAD, len(queue))):
                if queue[index].get("query") == query:
                    record = queue[index]
                    del queue[index]
                    if index:
                        self.figures.rest_out_of_order += 1
                    return record
            self.figures.rest_other_query += 1
            return queue.popleft()
        if self.ended:
            return None
        asked = _Asked(query, attempt, asyncio.get_running_loop().create_future())
        self._asked.setdefault(route, []).append(asked)
        try:
            return await asked.reply
        except LookupError:
            return None
        finally:
            waiting = self._asked.get(route)
            if waiting is not None and asked in waiting:
                waiting.remove(asked)

    def _ticked(self, at: float) -> None:
        waiter, self._tick = self._tick, None
        if waiter is None or waiter.done():
            return
        if not self._ahead and (following := self._read()) is not None:
            self._ahead.append(following)
        after = self._ahead[0][1] if self._ahead else {}
        waiter.set_result(Tick(at, after.get("type") == "state" and after.get("state") == "Connected"))

    async def tick(self) -> Tick | None:
        """The next recorded maintenance tick (None once the recording is over)."""
        if self.ended:
            return None
        self._tick = asyncio.get_running_loop().create_future()
        return await self._tick


class RecordedFrames:
    """The :class:`~exchange.sources.FrameSource` of a replay: attempt by attempt, the recorded connections.

    It is also the replayed session's :class:`~exchange.sources.Tap`, to count its attempts as the recording does
    (one per ``Connecting``: an attempt a 403 probe ends opens no link); told nothing, it counts the public
    links opened."""

    def __init__(self, recording: Recording, clock: Callable[[], float], playback: Playback | None = None) -> None:
        self.recording = recording
        self._clock = clock
        self._attempt = -1
        self._told = False
        self.figures = playback.figures if playback is not None else ReplayFigures()
        self.playback = playback if playback is not None else Playback(recording, clock, self.figures)

    @property
    def attempt(self) -> int:
        """The connection attempt under way (0 the first), as the recording numbers them."""
        return self._attempt

    def link(
        self, spec: LinkSpec, on_frame: FrameHandler, *, on_rejected: Callable[[], None] | None = None
    ) -> RecordedLink:
        if spec.name == "public" and not self._told:  # the session opens its public link first in every attempt
            self._attempt += 1
        return RecordedLink(spec.name, self._attempt, self.playback, on_frame, self._clock, on_rejected=on_rejected)

    def state_changed(self, state: SessionState) -> None:
        if state.kind is LinkState.CONNECTING:
            self._told = True
            self._attempt += 1

    def link_opened(self, link: str, connection: int, url: str) -> None:
        pass

    def frame_received(self, link: str, connection: int, text: str | bytes, received_ms: int) -> None:
        pass

    def frame_sent(self, link: str, connection: int, payload: Mapping[str, Any]) -> None:
        pass

    def link_closed(self, link: str, connection: int, code: int | None, reason: str, by: str) -> None:
        pass

    def rest_exchanged(self, exchange: RestExchange) -> None:
        pass

    def maintained(self, now: float) -> None:
        pass


class RecordedLink:
    """One link of a replay (a :class:`~exchange.sources.FrameLink`): open, speak and die as recorded."""

    def __init__(
        self,
        name: str,
        attempt: int,
        playback: Playback,
        on_frame: FrameHandler,
        clock: Callable[[], float],
        *,
        on_rejected: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self._attempt = attempt
        self._playback = playback
        self._figures = playback.figures
        self._clock = clock
        self._playing: _Playing | None = None
        self.connection = 0
        self.reader = FrameReader(name, on_frame, on_rejected=on_rejected, on_reply=self._early_reply)
        self._opened = False
        self._closed = asyncio.Event()
        self._death: asyncio.Future[LinkDead | None] | None = None
        self._asking: dict[str, deque[asyncio.Future[str]]] = {}  # op -> requests waiting for their live req_id
        self._early: dict[str, dict[str, Any]] = {}  # replies come before this replay asked (same moment live)

    @property
    def frames(self) -> int:
        return self.reader.frames

    @property
    def rejected(self) -> int:
        return self.reader.rejected

    @property
    def open_(self) -> bool:
        return self._opened and not self._closed.is_set()

    async def open(self) -> None:
        fate = await self._playback.fate(self._attempt, self.name)
        if isinstance(fate, tuple):
            raise LinkDead(fate[1])
        if fate is None:  # the recording has no such connection: wait for the session to give up on it
            await self._closed.wait()
            raise LinkDead(f"{self.name}: closed")
        if self._closed.is_set():
            raise LinkDead(f"{self.name}: closed")
        self._opened = True
        self._playing = fate
        self.connection = fate.conn
        self._death = asyncio.get_running_loop().create_future()
        fate.last_ms = int(self._clock() * 1000)
        fate.player, fate.take = self, self.reader.take
        waiting, fate.waiting = fate.waiting, deque()
        for data, wall_ms in waiting:  # what the connection received before this replay got to it
            self.take(data, wall_ms)
        if fate.closed is not None:
            self.recorded_close(fate.closed)

    async def run(self) -> None:
        """Play until the connection dies as recorded (or wait to be closed)."""
        if not self._opened or self._death is None:
            raise LinkDead(f"{self.name}: not open")
        try:
            death = await self._death
            if death is None:
                await self._closed.wait()
                raise LinkDead(f"{self.name}: closed")
            raise death
        finally:
            self._fail_acks()

    def recorded_close(self, close: dict[str, Any]) -> None:
        """The recording says this connection closed now: how the live session learnt it, if it did not close it."""
        death = self._death
        if death is None or death.done():
            return
        reason = _death(self.name, close)
        last = None if self._playing is None else self._playing.last_ms
        silent = last / 1000.0 if last is not None and reason is not None and "silent" in reason else None
        death.set_result(None if reason is None else LinkDead(reason, silent_since=silent))

    def take(self, data: str | bytes, wall_ms: int) -> None:
        """One recorded frame, read as the live link read it (:class:`exchange.bybit.ws.FrameReader`)."""
        if self._playing is not None:
            self._playing.last_ms = wall_ms
        if data.__class__ is str:
            self.reader.take(data, wall_ms)
        else:
            self.reader.take_binary()

    async def close(self, reason: str = "closed by Fluxum") -> None:
        """Closed by the session: first the frames this connection still received live before it closed, which
        the live session read while it tore down (a replay tears down in no time)."""
        if self._closed.is_set():
            return
        self._closed.set()
        playing, self._playing = self._playing, None
        if playing is not None and self._opened:
            playing.player = playing.take = None
            if playing.closed is None:
                for data, wall_ms in self._playback.hand_over(playing.conn):
                    self.take(data, wall_ms)
        if self._death is not None and not self._death.done():
            self._death.set_result(None)
        self._fail_acks()

    async def send(self, payload: dict[str, Any]) -> None:
        if not self.open_:
            raise LinkDead(f"{self.name}: closed")

    async def request(self, payload: dict[str, Any], timeout: float) -> dict[str, Any]:
        """The request takes the live ``req_id`` of the same op on this connection (now, or when the recording
        says live sent it): the recorded reply echoes it."""
        op = str(payload.get("op", ""))
        loop = asyncio.get_running_loop()
        try:
            await self.send(payload)
            async with asyncio.timeout(timeout):
                req_id = await self._req_id(op, loop)
                payload["req_id"] = req_id
                if req_id in self._early:
                    return self._early.pop(req_id)
                future: asyncio.Future[dict[str, Any]] = loop.create_future()
                self.reader.acks[req_id] = future
                try:
                    return await asyncio.shield(future)
                finally:
                    self.reader.acks.pop(req_id, None)
        except TimeoutError:
            raise LinkDead(f"{self.name}: no reply to {op} within {timeout:g} s") from None

    async def _req_id(self, op: str, loop: asyncio.AbstractEventLoop) -> str:
        req_id = None if self._playing is None else self._playing.take_sent(op)
        if req_id is not None:
            return req_id
        waiter: asyncio.Future[str] = loop.create_future()
        self._asking.setdefault(op, deque()).append(waiter)
        try:
            return await waiter
        finally:
            if not waiter.done():
                waiter.cancel()
                self._figures.unmatched_requests += 1

    def asking(self, op: str, req_id: str) -> bool:
        """The recording says live sent ``op`` with ``req_id`` now: the replay's oldest request of that op waiting
        for it takes it (True), else none waits (False: the connection keeps it for the next)."""
        waiting = self._asking.get(op)
        while waiting:
            waiter = waiting.popleft()
            if not waiter.done():
                waiter.set_result(req_id)
                return True
        return False

    def _early_reply(self, req_id: str, frame: dict[str, Any]) -> bool:
        """A reply to a live request this replay has not made yet (the same moment live): kept for it."""
        playing = self._playing
        if playing is None or req_id not in playing.unasked:
            return False
        if len(self._early) < SENT_WINDOW:
            self._early[req_id] = frame
        return True

    round_trip_to = "exchange"

    def current_rtt_ms(self, now: float) -> float | None:
        return None  # the heartbeat was live's; a replay measures no round trip

    def _fail_acks(self) -> None:
        self.reader.fail_acks(f"{self.name}: closed while waiting for a reply")
        for waiting in self._asking.values():
            for waiter in waiting:
                if not waiter.done():
                    waiter.cancel()
        self._asking.clear()


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
    if by == "feed":  # a relay feed's reason is whole: it names the feed's part that failed
        return reason
    if reason in SESSION_CLOSES or reason.startswith("account down"):
        return None
    return reason


class RecordedTicks:
    """The session's maintenance ticks (:class:`~exchange.sources.Ticks`) at the recorded moments: marks,
    staleness and resync retries are decided on the tick, so they are decided on the same frames as live, and
    whether a slow recovery step was named there is the recording's word. Past the recording's end it ticks every
    ``interval`` of the replay's time."""

    def __init__(self, playback: Playback, attempt: Callable[[], int] = lambda: 0) -> None:
        """``attempt``: the connection attempt under way, as the recording numbers them."""
        self._playback = playback
        self._attempt = attempt

    async def ready(self) -> None:
        await self._playback.ready(self._attempt())

    async def wait(self, interval: float) -> Tick | None:
        tick = await self._playback.tick()
        if tick is None or tick.named_step is None:
            await asyncio.sleep(interval)
            return None
        return tick


class RecordedRest:
    """A :data:`~exchange.bybit.rest_transport.Wire` answering each request with its recorded reply, as the
    recording plays it (never before it arrived live)."""

    def __init__(self, playback: Playback, attempt: Callable[[], int] = lambda: 0) -> None:
        """``attempt``: the connection attempt under way; replies recorded in earlier ones are not this one's."""
        self._playback = playback
        self._figures = playback.figures
        self._attempt = attempt

    async def __call__(self, method: str, path: str, query: str, body: bytes | None) -> Reply:
        record = await self._playback.rest_reply(method, path, clean_query(query), self._attempt())
        if record is None:
            self._figures.unmatched_rest += 1
            raise WireFailure(f"{method} {path} is not in the recording", maybe_sent=False)
        status = record.get("status")
        if not isinstance(status, int):
            raise WireFailure(str(record.get("error") or "no reply"))
        kept = record.get("headers")
        headers: dict[str, Any] = kept if isinstance(kept, dict) else {}
        return Reply(
            status,
            CIMultiDictProxy(CIMultiDict({str(k): str(v) for k, v in headers.items()})),
            str(record.get("reply") or "").encode(),
            whole(record.get("sent_ms")) / 1000.0,
            whole(record.get("wall_ms")) / 1000.0,
        )


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

    @property
    def playback(self) -> Playback:
        return self.frames.playback

    async def run(self) -> None:
        """Play the recording through the session until the recorded stop (or the session fails as it did)."""
        restart = getattr(self.clock, "restart", None)
        if restart is not None:  # the recording starts now, not when the replay began to be set up
            restart()
        playback = self.playback
        playback.start()
        stopper = asyncio.create_task(self._stop_when_recorded())
        try:
            await self.session.run()
        finally:
            stopper.cancel()
            playback.close()

    async def _stop_when_recorded(self) -> None:
        assert self.playback.stopped is not None
        await self.playback.stopped
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
        wire=RecordedRest(frames.playback, lambda: frames.attempt),
    )
    session = Session(
        settings,
        hub=hub,
        journal=journal,
        rest=rest,
        frames=frames,
        tap=frames,
        ticks=RecordedTicks(frames.playback, lambda: frames.attempt),
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
