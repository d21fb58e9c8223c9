"""One Bybit v5 WebSocket connection with its heartbeat: connect, send, receive, and notice death fast.

Liveness has two clocks, as Bybit's own guidance and nautilus_trader's client do:

* a JSON ``{"op":"ping"}`` every 20 s with a 10 s pong deadline (Bybit cuts quiet private streams otherwise);
* an idle probe: when *nothing at all* arrived for ``idle_probe_after`` seconds (a busy public book normally
  speaks every 20-100 ms), a ping goes out at once with a short deadline. A half-open link is then found in a few
  seconds, while a quiet but healthy stream answers the probe and is left alone.

A pong that never comes while frames keep arriving is not yet a dead link (an exchange may drop one control
reply, or have queued it behind a burst): the link is asked once more, with the short probe deadline, and only a
second missing pong, or silence, ends it. The same second ping goes out when nothing arrived for
``idle_probe_after`` since the later of the last frame and the outstanding ping, so a path that dies around a
regular ping is still found in about ``idle_probe_after + probe_timeout`` rather than at the long pong deadline,
and a pong lost just as the market goes quiet is asked for again rather than read as death.

aiohttp's transport-level heartbeat is on as well, so a dead TCP path is caught even if the JSON pong is late.
Frames are parsed with orjson; anything that is not a JSON object is counted and dropped, never raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson

from exchange.bybit.protocol import FrameKind, classify
from exchange.retry import describe
from exchange.sources import FrameHandler, LinkDead, LinkSpec, Tap

__all__ = ["BybitFrames", "FrameReader", "LinkDead", "WsLink"]

log = logging.getLogger(__name__)

WATCHDOG_TICK_S = 0.2
"""The heartbeat's resolution: a look at the link is never sooner after the last than this."""
WATCHDOG_REST_S = 1.0
"""The longest the heartbeat sleeps when nothing is due sooner (a ping sent meanwhile for a slow round trip
waits at most this long)."""
LOOP_HELD_S = 0.5  # a tick this much later than asked means the loop was blocked, not the link
LOOP_HELD_GRACE_S = 0.1
MAX_FRAME_BYTES = 4 * 1024 * 1024  # a 1000-level snapshot is ~60 kB; anything near this is hostile
SLOW_RTT_MS = 1000.0
"""A round trip over this is measured again after RTT_RECHECK_S, not a whole ping interval later: the bar shows
the link as it is, not a slow moment long past. A pong outstanding for longer than this (and twice the last round
trip) makes the last figure unknown: the round trip now is at least that wait."""
RTT_RECHECK_S = 2.0
SLOW_RTT_KEPT_S = RTT_RECHECK_S + SLOW_RTT_MS / 1000
"""A slow round trip describes the link until its recheck could have answered, no longer: past this with no new
pong the figure is dropped (the bar shows none rather than a slow moment long past)."""


class BybitFrames:
    """The live :class:`~exchange.sources.FrameSource`: Bybit's WebSockets over one aiohttp session, each link
    numbered in the order opened and told to ``tap`` (the recorder) as it speaks."""

    def __init__(
        self, http: aiohttp.ClientSession, *, clock: Callable[[], float] = time.time, tap: Tap | None = None
    ) -> None:
        self._http = http
        self._clock = clock
        self._tap = tap
        self._connections = 0

    def next_connection(self) -> int:
        """The next link's number: a source that opens some of the session's links itself (a relay feed) numbers
        them here too, so a recording's ``conn`` names one connection."""
        self._connections += 1
        return self._connections

    def link(self, spec: LinkSpec, on_frame: FrameHandler, *, on_rejected: Callable[[], None] | None = None) -> WsLink:
        connection = self.next_connection()
        return WsLink(
            spec.url,
            self._http,
            on_frame,
            name=spec.name,
            ping_interval=spec.ping_interval,
            pong_timeout=spec.pong_timeout,
            idle_probe_after=spec.idle_probe_after,
            probe_timeout=spec.probe_timeout,
            connect_timeout=spec.connect_timeout,
            clock=self._clock,
            on_rejected=on_rejected,
            connection=connection,
            tap=self._tap,
        )


class FrameReader:
    """What a link does with each inbound frame, live or recorded (one path, so a replay reads as live did): parse
    it, count and drop what is not a JSON object, then hand a pong to ``on_pong``, a subscribe or auth reply to the
    request waiting for its ``req_id`` (in :attr:`acks`), and everything else to ``on_frame``.

    ``on_reply``: a reply no request waits for yet is offered here first (True: kept, not passed on); a replay
    keeps the replies that came before it asked, at the same moment as live."""

    __slots__ = ("acks", "frames", "rejected", "_on_frame", "_on_pong", "_on_rejected", "_on_reply", "_name")

    def __init__(
        self,
        name: str,
        on_frame: FrameHandler,
        *,
        on_pong: Callable[[dict[str, Any]], None] | None = None,
        on_rejected: Callable[[], None] | None = None,
        on_reply: Callable[[str, dict[str, Any]], bool] | None = None,
    ) -> None:
        self._name = name
        self._on_frame = on_frame
        self._on_pong = on_pong
        self._on_rejected = on_rejected
        self._on_reply = on_reply
        self.acks: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.frames = 0  # read as JSON objects
        self.rejected = 0  # dropped unread

    def take(self, text: str, received_ms: int) -> None:
        """One text frame received at ``received_ms`` (the session clock's epoch ms)."""
        try:
            frame = orjson.loads(text)
        except orjson.JSONDecodeError:
            frame = None
            log.debug("%s: non-JSON frame dropped (%d bytes)", self._name, len(text))
        if frame.__class__ is not dict:
            self.rejected += 1
            if self._on_rejected is not None:
                self._on_rejected()
            return
        self.frames += 1
        if "topic" in frame:  # data: the classification's first answer, without a call per frame
            self._on_frame(frame, received_ms)
            return
        kind = classify(frame)
        if kind is FrameKind.PONG:
            if self._on_pong is not None:
                self._on_pong(frame)
            return
        if kind is FrameKind.SUBSCRIBE or kind is FrameKind.AUTH:
            req_id = frame.get("req_id")
            if isinstance(req_id, str):
                future = self.acks.get(req_id)
                if future is not None and not future.done():
                    future.set_result(frame)
                    return
                if self._on_reply is not None and self._on_reply(req_id, frame):
                    return
        self._on_frame(frame, received_ms)

    def take_binary(self) -> None:
        """A binary frame: Bybit sends none, so it is dropped unread."""
        self.rejected += 1

    def fail_acks(self, reason: str) -> None:
        """Every request still waiting for its reply learns the link is gone."""
        for future in self.acks.values():
            if not future.done():
                future.set_exception(LinkDead(reason))
        self.acks.clear()


class WsLink:
    """A Bybit WebSocket: ``open()``, then ``run()`` until the link dies (raises :class:`LinkDead`)."""

    def __init__(
        self,
        url: str,
        http: aiohttp.ClientSession,
        on_frame: FrameHandler,
        *,
        name: str,
        ping_interval: float = 20.0,
        pong_timeout: float = 10.0,
        idle_probe_after: float = 3.0,
        probe_timeout: float = 2.0,
        connect_timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
        on_rejected: Callable[[], None] | None = None,
        connection: int = 0,
        tap: Tap | None = None,
    ) -> None:
        """``on_rejected`` hears of every frame dropped here (not JSON, not an object): on the private link any one
        of them may have been an execution. ``tap`` hears every frame in and out, and the opening and closing."""
        self.url = url
        self.name = name
        self.connection = connection
        self._tap = tap
        self._close_told = False
        self._http = http
        self.reader = FrameReader(name, on_frame, on_pong=self._pong, on_rejected=on_rejected)
        self._ping_interval = ping_interval
        self._pong_timeout = pong_timeout
        self._idle_probe_after = idle_probe_after
        self._probe_timeout = probe_timeout
        self._connect_timeout = connect_timeout
        self._clock = clock
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._req_id = 0
        self._pings_sent: dict[str, float] = {}  # req_id -> when, of the pings not yet answered
        self._ping_deadline: float | None = None
        self._frames_at_ping = 0
        self._last_ping_at = 0.0
        self.lost_pongs = 0  # pings re-asked because their pong never came while frames did
        self.last_frame_at: float | None = None
        self.ping_rtt_ms: float | None = None
        self.ping_rtt_at: float | None = None  # when that round trip ended
        self._acks = self.reader.acks

    @property
    def frames(self) -> int:
        return self.reader.frames

    @property
    def rejected(self) -> int:
        return self.reader.rejected

    @property
    def open_(self) -> bool:
        return self._ws is not None and not self._ws.closed

    async def open(self) -> None:
        """Connect; raises :class:`LinkDead` with a short reason on failure."""
        try:
            self._ws = await asyncio.wait_for(
                self._http.ws_connect(
                    self.url,
                    heartbeat=self._ping_interval,
                    max_msg_size=MAX_FRAME_BYTES,
                    autoping=True,
                ),
                self._connect_timeout,
            )
        except TimeoutError:
            raise LinkDead(f"{self.name}: connect timed out") from None
        except aiohttp.WSServerHandshakeError as error:
            raise LinkDead(f"{self.name}: handshake refused (HTTP {error.status})") from None
        except (aiohttp.ClientError, OSError) as error:
            raise LinkDead(f"{self.name}: cannot connect ({describe(error, 120)})") from None
        if _redirected(self._ws):
            await self._ws.close()
            self._ws = None
            raise LinkDead(f"{self.name}: the handshake was redirected (Bybit never redirects): not followed")
        if self._tap is not None:
            self._tap.link_opened(self.name, self.connection, self.url)
        now = self._clock()
        self.last_frame_at = now
        self._pings_sent.clear()
        self._ping_deadline = None
        self._last_ping_at = now - self._ping_interval  # the first ping goes out at once: a round trip to show

    round_trip_to = "exchange"

    def current_rtt_ms(self, now: float) -> float | None:
        """The last round trip, while it still describes this link: open, measured within a ping interval and the
        probe deadline (the next pong is due by then), a slow one within :data:`SLOW_RTT_KEPT_S`, and no pong
        outstanding for longer than it could explain. A figure from a closed socket, or from a slow moment long
        past, is no figure."""
        rtt, at = self.ping_rtt_ms, self.ping_rtt_at
        if not self.open_ or rtt is None or at is None:
            return None
        kept = SLOW_RTT_KEPT_S if rtt > SLOW_RTT_MS else self._ping_interval + self._probe_timeout
        if now - at > kept:
            return None
        waiting_ms = (now - min(self._pings_sent.values())) * 1000.0 if self._pings_sent else 0.0
        return None if waiting_ms > max(SLOW_RTT_MS, 2 * rtt) else rtt

    def next_req_id(self, prefix: str = "") -> str:
        self._req_id += 1
        return f"{prefix}{self._req_id}"

    async def send(self, payload: dict[str, Any]) -> None:
        ws = self._ws
        if ws is None or ws.closed:
            raise LinkDead(f"{self.name}: closed")
        if self._tap is not None:
            self._tap.frame_sent(self.name, self.connection, payload)
        try:
            await ws.send_str(orjson.dumps(payload).decode())
        except (ConnectionResetError, aiohttp.ClientError, RuntimeError) as error:
            raise LinkDead(f"{self.name}: send failed ({describe(error, 120)})") from None

    async def request(self, payload: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send a control op with a ``req_id`` and wait for the reply that echoes it."""
        req_id = payload.setdefault("req_id", self.next_req_id(str(payload.get("op", ""))[:4]))
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._acks[req_id] = future
        try:
            await self.send(payload)
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            raise LinkDead(f"{self.name}: no reply to {payload.get('op')} within {timeout:g} s") from None
        finally:
            self._acks.pop(req_id, None)

    async def run(self) -> None:
        """Read frames and keep the heartbeat until the link dies; always raises :class:`LinkDead`."""
        ws = self._ws
        if ws is None:
            raise LinkDead(f"{self.name}: not open")
        watchdog = asyncio.create_task(self._watchdog(), name=f"{self.name}-watchdog")
        reader = asyncio.create_task(self._read(ws), name=f"{self.name}-reader")
        try:
            done, _ = await asyncio.wait({watchdog, reader}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # raises LinkDead (or a bug, which must surface)
            raise LinkDead(f"{self.name}: closed")
        finally:
            for task in (watchdog, reader):
                task.cancel()
            await asyncio.gather(watchdog, reader, return_exceptions=True)
            self._fail_acks()

    async def close(self, reason: str = "closed by Fluxum") -> None:
        ws, self._ws = self._ws, None
        self._fail_acks()
        if ws is not None:
            self._tell_close(ws.close_code if ws.closed else None, reason, "fluxum")
        if ws is not None and not ws.closed:
            with contextlib.suppress(TimeoutError, aiohttp.ClientError, OSError):
                await asyncio.wait_for(ws.close(), 2.0)

    # ------------------------------------------------------------------ internals

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while True:
            message = await ws.receive()
            if message.type is aiohttp.WSMsgType.TEXT:
                self._handle_text(message.data)
            elif message.type is aiohttp.WSMsgType.BINARY:
                if self._tap is not None:
                    self._tap.frame_received(self.name, self.connection, bytes(message.data), int(self._clock() * 1000))
                self.reader.take_binary()
            elif message.type in (
                aiohttp.WSMsgType.CLOSE,
                aiohttp.WSMsgType.CLOSING,
                aiohttp.WSMsgType.CLOSED,
            ):
                code = ws.close_code
                self._tell_close(code, str(message.extra or ""), "exchange")
                raise LinkDead(f"{self.name}: closed by server" + (f" (code {code})" if code else ""))
            elif message.type is aiohttp.WSMsgType.ERROR:
                # aiohttp puts the cause (a frame over max_msg_size, a protocol violation) in the message itself
                cause = message.data if isinstance(message.data, BaseException) else ws.exception()
                self._tell_close(ws.close_code, describe(cause or "transport error", 120), "transport")
                raise LinkDead(f"{self.name}: {describe(cause or 'transport error', 120)}")

    def _tell_close(self, code: int | None, reason: str, by: str) -> None:
        """Tell the tap how this connection ended, once: the first to see it knows who closed it."""
        if self._tap is not None and not self._close_told:
            self._close_told = True
            self._tap.link_closed(self.name, self.connection, code, reason, by)

    def _handle_text(self, text: str) -> None:
        now = self._clock()
        self.last_frame_at = now
        if self._tap is not None:
            self._tap.frame_received(self.name, self.connection, text, int(now * 1000))
        self.reader.take(text, int(now * 1000))

    def _pong(self, frame: dict[str, Any]) -> None:
        """A pong: the round trip of the ping it answers, and the heartbeat's deadline lifted."""
        now = self.last_frame_at if self.last_frame_at is not None else self._clock()
        req_id = frame.get("req_id")
        if isinstance(req_id, str):
            sent_at = self._pings_sent.get(req_id)
        else:  # a pong without a req_id answers the latest ping
            sent_at = max(self._pings_sent.values(), default=None)
        if sent_at is not None:
            self.ping_rtt_ms = (now - sent_at) * 1000.0
            self.ping_rtt_at = now
            if self.ping_rtt_ms > SLOW_RTT_MS:  # measure again soon: the next regular ping is far off
                self._last_ping_at = min(self._last_ping_at, now - self._ping_interval + RTT_RECHECK_S)
        self._pings_sent.clear()  # any pong proves the path both ways
        self._ping_deadline = None

    async def _watchdog(self) -> None:
        while True:
            started, nap = self._clock(), self.next_look_in()
            await asyncio.sleep(nap)
            if self._clock() - started > nap + LOOP_HELD_S:
                # The event loop itself was held up (a long synchronous step): a pong may be waiting in the
                # socket, and this tick ran first. Let the reader take what arrived before judging the link.
                await asyncio.sleep(LOOP_HELD_GRACE_S)
            await self.check_heartbeat()

    def next_look_in(self) -> float:
        """Seconds until :meth:`check_heartbeat` has something to do (a ping or a probe due, a pong's deadline),
        within ``WATCHDOG_TICK_S`` and ``WATCHDOG_REST_S``: a busy link wakes its watchdog once a second, not five
        times."""
        now = self._clock()
        heard = now if self.last_frame_at is None else self.last_frame_at
        if self._ping_deadline is None:
            due = min(self._last_ping_at + self._ping_interval, heard + self._idle_probe_after)
        else:
            due = min(self._ping_deadline, max(heard, self._last_ping_at) + self._idle_probe_after)
        return min(WATCHDOG_REST_S, max(WATCHDOG_TICK_S, due - now))

    async def check_heartbeat(self) -> None:
        """One look at the link (the watchdog's tick): send the ping that is due, or raise :class:`LinkDead`."""
        now = self._clock()
        idle = now - (now if self.last_frame_at is None else self.last_frame_at)
        if self._ping_deadline is None:
            if now - self._last_ping_at >= self._ping_interval:
                await self._ping(self._pong_timeout)
            elif idle >= self._idle_probe_after:
                await self._ping(self._probe_timeout)
            return
        overdue = now >= self._ping_deadline
        heard_since_ping = self.frames > self._frames_at_ping
        if overdue and not heard_since_ping:
            raise LinkDead(f"{self.name}: no pong (silent for {idle:.1f} s)", silent_since=self.last_frame_at)
        if overdue and len(self._pings_sent) >= 2:
            raise LinkDead(f"{self.name}: no pong to {len(self._pings_sent)} pings (frames still arriving)")
        if len(self._pings_sent) != 1:
            return
        # Quiet since the later of the last frame and the ping: the idle probe's measure, with a ping out.
        quiet = now - max(now if self.last_frame_at is None else self.last_frame_at, self._last_ping_at)
        if overdue or quiet >= self._idle_probe_after:
            if overdue:
                self.lost_pongs += 1
                log.info("%s: no pong within the deadline while frames arrive; asking again", self.name)
            await self._ping(self._probe_timeout)

    async def _ping(self, deadline: float) -> None:
        now = self._clock()
        req_id = self.next_req_id("ping")
        self._pings_sent[req_id] = now
        self._last_ping_at = now
        self._ping_deadline = now + deadline
        self._frames_at_ping = self.frames
        await self.send({"op": "ping", "req_id": req_id})

    def _fail_acks(self) -> None:
        self.reader.fail_acks(f"{self.name}: closed while waiting for a reply")


def _redirected(ws: aiohttp.ClientWebSocketResponse) -> bool:
    """Whether the handshake followed a redirect. ``ws_connect`` follows them and has no flag against it, and an
    auth sent on such a link would go to the host in ``Location`` (perhaps over plain ``ws://``)."""
    response = getattr(ws, "_response", None)
    return bool(getattr(response, "history", ()))
