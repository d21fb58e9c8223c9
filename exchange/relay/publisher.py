"""The relay: Bybit's public streams held once, published to NATS JetStream for every desk.

A public-only :class:`~exchange.session.Session` keeps the Bybit link as a desk does (heartbeat, resyncs,
reconnects); :class:`PublicTap` hands the relay every public data frame the moment it is read, before the session
applies it, so each frame goes out with its own per-subject sequence number (``Fluxum-Seq``) in the order Bybit
sent it. What a late joiner needs comes from the session's own books and tickers: a snapshot per topic every
second and as soon as a book is live again after a resync. The relay's heartbeat carries the session's state, so a
desk stops trusting the feed the moment the relay loses Bybit.

NATS is held apart from Bybit: a lost bus is reconnected with a backoff while the Bybit link stays up (frames that
cannot go out meanwhile are counted as dropped; a desk finds the gap in ``Fluxum-Seq`` and starts again from a
snapshot). Publishing never blocks ingest: frames wait in a bounded queue for the one task that writes to NATS.

One relay per environment and category: a relay listens to the link subject for :data:`LISTEN_FIRST_S` before
it publishes anything, and keeps listening. A heartbeat of another run that started first (its ``started_ms``,
then its run name, the lower wins) makes this one give way (:class:`RelayConflict`): a second relay started by
mistake refuses to start, and two started together settle on one, so desks never see two runs alternate. A
relay killed without a word beats no more: its successor starts after the listening.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg

from exchange.book import BookState
from exchange.events import BookStateChanged, LinkState, StateChanged
from exchange.printable import printable
from exchange.relay import bus
from exchange.relay.subjects import (
    MSG_ID_HEADER,
    RELAY_HEADER,
    SEQ_HEADER,
    FeedSubjects,
    book_snapshot_frame,
    ticker_snapshot_frame,
)
from exchange.retry import describe
from exchange.secrets import BusCredentials
from exchange.session import Session
from exchange.sources import FrameHandler, FrameLink, FrameSource, LinkSpec

__all__ = ["LISTEN_FIRST_S", "PublicTap", "Relay", "RelayConflict"]

log = logging.getLogger(__name__)

HEARTBEAT_S = 1.0
SNAPSHOT_S = 1.0
QUEUE_MAX = 50_000  # messages waiting for NATS; past it the oldest are dropped (and counted)
BUS_RETRY_S = (0.5, 5.0)  # first and longest wait between NATS connections
LISTEN_FIRST_S = 1.5 * HEARTBEAT_S  # a live relay on the same subjects beats within this: heard before publishing


class RelayConflict(Exception):
    """Another relay run, started first, publishes on the same subjects: this one gives way. ``str()`` is one
    line naming it."""


class PublicTap:
    """A :class:`~exchange.sources.FrameSource` that lets ``hear`` see every public data frame before the session
    does; the private link (none on a relay) passes untouched."""

    def __init__(self, inner: FrameSource, hear: FrameHandler) -> None:
        self._inner = inner
        self._hear = hear

    def link(
        self, spec: LinkSpec, on_frame: FrameHandler, *, on_rejected: Callable[[], None] | None = None
    ) -> FrameLink:
        if spec.name != "public":
            return self._inner.link(spec, on_frame, on_rejected=on_rejected)
        hear = self._hear

        def both(frame: dict[str, Any], received_ms: int) -> None:
            hear(frame, received_ms)
            on_frame(frame, received_ms)

        return self._inner.link(spec, both, on_rejected=on_rejected)


class Relay:
    """Publishes one session's public data to NATS (see the module's docstring). ``say(kind, text)`` hears what a
    person watching the relay should know: the bus up or down, and figures now and then."""

    def __init__(
        self,
        url: str,
        subjects: FeedSubjects,
        *,
        say: Callable[[str, str], None] = lambda kind, text: None,
        clock: Callable[[], float] = time.time,
        credentials: BusCredentials | None = None,
    ) -> None:
        self.session: Session | None = None  # given to run(); until then nothing is heard
        self.url = url
        self.credentials = credentials
        self.subjects = subjects
        self.relay_id = secrets.token_hex(6)  # this run's name: its sequence numbers start over
        self.started_ms = int(clock() * 1000)
        self.conflict: str | None = None  # why this relay gave way to another run, once it did
        self.counters: Counter[str] = Counter()
        self._say = say
        self._clock = clock
        self._seqs: Counter[str] = Counter()  # per topic, the last Fluxum-Seq given
        self._queue: deque[tuple[str, bytes, dict[str, str]]] = deque()
        self._ready = asyncio.Event()  # something waits in the queue
        self._client: Client | None = None
        self._stopped = False
        self._stop = asyncio.Event()

    # ------------------------------------------------------------------ what the session hears

    def hear(self, frame: dict[str, Any], received_ms: int) -> None:
        """A public data frame as Bybit sent it: numbered and queued for its subject."""
        topic = frame.get("topic")
        session = self.session
        if session is None or topic.__class__ is not str or topic not in session.market.topics:
            return  # a reply, or a topic nobody asked for: not the desks' business
        self._seqs[topic] += 1
        self._enqueue(self.subjects.data(topic), orjson.dumps(frame), self._seqs[topic])

    def _enqueue(self, subject: str, payload: bytes, seq: int) -> None:
        """Queue one message with its sequence (a snapshot's: the data subject's last it holds), this run's name
        and an id JetStream drops a repeat of."""
        if self._client is None:
            self.counters["dropped_bus_down"] += 1
            return
        if len(self._queue) >= QUEUE_MAX:
            self._queue.popleft()
            self.counters["dropped_queue_full"] += 1
        headers = {SEQ_HEADER: str(seq), RELAY_HEADER: self.relay_id, MSG_ID_HEADER: f"{self.relay_id}.{subject}.{seq}"}
        self._queue.append((subject, payload, headers))
        self._ready.set()

    # ------------------------------------------------------------------ snapshots and the heartbeat

    def tap(self, frames: FrameSource) -> PublicTap:
        """``frames`` with every public data frame heard here first: the frame source of the relay's session."""
        return PublicTap(frames, self.hear)

    def publish_snapshots(self, only: str | None = None) -> int:
        """Queue the snapshot of every live book and ticker (or of ``only``'s topics); returns how many (none while
        the bus is not held: the next connection starts with a snapshot of each)."""
        if self.session is None or self._client is None:
            return 0
        desk = self.session.desk
        ts = int(self._clock() * 1000)
        count = 0
        for topic in sorted(self.session.market.topics):
            if only is not None and not topic.endswith(f".{only}"):
                continue
            frame: dict[str, Any] | None = None
            if topic.startswith("orderbook."):
                book = desk.books.get(topic.rsplit(".", 1)[-1])
                if book is not None and book.topic == topic and book.state is BookState.SYNCED and book.u is not None:
                    stamp = {"u": book.u, "seq": book.seq, "ts": book.ts, "cts": book.cts}
                    frame = book_snapshot_frame(topic, book.symbol or "", book.bids(), book.asks(), stamp)
            elif topic.startswith("tickers."):
                symbol = topic[len("tickers.") :]
                fields = desk.tickers.get(symbol)
                if fields:
                    frame = ticker_snapshot_frame(symbol, fields, ts)
            if frame is None:
                continue
            self._enqueue(self.subjects.snapshot(topic), orjson.dumps(frame), self._seqs[topic])
            count += 1
        self.counters["snapshots"] += count
        return count

    def link_message(self) -> bytes:
        """The heartbeat: this run, the session's state (Ready or why not) and the topics carried."""
        assert self.session is not None
        state = self.session.state
        return orjson.dumps(
            {
                "relay": self.relay_id,
                "state": state.kind.value,
                "ready": state.kind is LinkState.READY,
                "reason": state.reason,
                "time_ms": int(self._clock() * 1000),
                "started_ms": self.started_ms,
                "topics": sorted(self.session.market.topics),
            }
        )

    def _beat(self) -> None:
        if self._client is None or self.session is None:
            return
        headers = {RELAY_HEADER: self.relay_id}
        self._queue.appendleft((self.subjects.link, self.link_message(), headers))  # ahead of a backlog
        self._ready.set()

    # ------------------------------------------------------------------ running

    async def run(self, session: Session) -> None:
        """Publish ``session``'s public data until :meth:`stop`: the bus loop, the heartbeat and snapshots, and
        what the session announces."""
        self.session = session
        tasks = [
            asyncio.create_task(self._hold_bus(), name="relay-bus"),
            asyncio.create_task(self._every(HEARTBEAT_S, self._beat), name="relay-heartbeat"),
            asyncio.create_task(self._every(SNAPSHOT_S, self.publish_snapshots), name="relay-snapshots"),
            asyncio.create_task(self._follow_session(), name="relay-session-events"),
        ]
        stopped = asyncio.create_task(self._stop.wait(), name="relay-stop")
        try:
            done, _ = await asyncio.wait([*tasks, stopped], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # a bug in a publishing task must surface, not leave a relay that says nothing
            if self.conflict is not None:
                raise RelayConflict(self.conflict)
        finally:
            for task in (*tasks, stopped):
                task.cancel()
            await asyncio.gather(*tasks, stopped, return_exceptions=True)
            await bus.close(self._client)
            self._client = None

    def stop(self) -> None:
        self._stopped = True
        self._stop.set()
        self._ready.set()

    async def _every(self, interval: float, action: Callable[[], object]) -> None:
        while not self._stopped:
            action()
            await asyncio.sleep(interval)

    async def _follow_session(self) -> None:
        """A state change goes out at once (a desk must not wait a heartbeat to learn Bybit is lost); a book live
        again after a resync is snapshotted at once."""
        assert self.session is not None
        subscription = self.session.hub.subscribe(name="relay")
        try:
            async for event in subscription:
                if isinstance(event, StateChanged):
                    self._beat()
                elif isinstance(event, BookStateChanged) and event.state is BookState.SYNCED:
                    self.publish_snapshots(only=event.symbol)
        finally:
            subscription.close()

    async def _hold_bus(self) -> None:
        """Connect, make sure of the streams, publish until the connection closes; again after a wait."""
        wait = BUS_RETRY_S[0]
        while not self._stopped:
            try:
                client = await bus.connect(self.url, name=f"fluxum-relay-{self.relay_id}", credentials=self.credentials)
                await bus.ensure_streams(client, self.subjects)
            except bus.BusRefused:  # the credentials are wrong (or missing): no wait makes them right
                raise
            except bus.BusUnreachable as error:
                self._say("relay", str(error) + f"; again in {wait:g} s")
                await asyncio.sleep(wait)
                wait = min(wait * 2, BUS_RETRY_S[1])
                continue
            except Exception as error:  # JetStream off, a refused stream: told, and tried again
                self._say("relay", f"NATS at {bus.bus_name(self.url)}: streams not ready ({describe(error, 120)})")
                await bus.close(client)
                await asyncio.sleep(wait)
                wait = min(wait * 2, BUS_RETRY_S[1])
                continue
            wait = BUS_RETRY_S[0]
            try:
                await client.subscribe(self.subjects.link, cb=self._on_link_message)
                await asyncio.sleep(LISTEN_FIRST_S)  # another relay beating meanwhile: give way before a word
            except Exception as error:  # the connection went meanwhile: the loop connects again
                log.info("relay: listening failed (%s)", describe(error, 120))
            if self._stopped or not client.is_connected:
                await bus.close(client)
                continue
            self._client = client
            self._say("relay", f"publishing to NATS at {bus.bus_name(self.url)} as relay {self.relay_id}")
            self._beat()
            self.publish_snapshots()
            try:
                await self._drain(client)
            finally:
                self._client = None
                self._queue.clear()
                await bus.close(client)
            if not self._stopped:
                self._say("relay", f"NATS at {bus.bus_name(self.url)} lost; reconnecting")

    async def _on_link_message(self, msg: Msg) -> None:
        """A heartbeat on our link subject: another run that started first makes this relay give way."""
        try:
            beat = orjson.loads(msg.data)
        except orjson.JSONDecodeError:
            return
        if not isinstance(beat, dict):
            return
        relay, started = beat.get("relay"), beat.get("started_ms")
        if not isinstance(relay, str) or relay == self.relay_id or not isinstance(started, int):
            return
        if (started, relay) < (self.started_ms, self.relay_id) and self.conflict is None:
            self.conflict = (
                f"another relay (run {printable(relay, 16)}) publishes on {self.subjects.link}: one relay per "
                "environment and category"
            )
            self.stop()

    async def _drain(self, client: Client) -> None:
        """Write what waits in the queue until the connection closes or the relay stops."""
        queue = self._queue
        while not self._stopped and client.is_connected:
            if not queue:
                self._ready.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._ready.wait(), 0.5)
                continue
            subject, payload, headers = queue.popleft()
            try:
                await client.publish(subject, payload, headers=headers)
            except Exception as error:  # the connection went while writing: the loop sees it closed
                self.counters["dropped_bus_down"] += 1
                log.info("relay: publish failed (%s)", describe(error, 120))
                continue
            self.counters["published"] += 1
