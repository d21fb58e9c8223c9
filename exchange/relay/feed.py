"""A desk's public data from the relay: a :class:`~exchange.sources.FrameSource` whose public link reads NATS.

The session cannot tell it from Bybit's socket: it subscribes topics and gets acks, then each topic's snapshot
and deltas through the live link's own :class:`~exchange.bybit.ws.FrameReader`, so the books, the gap checks and
the resyncs are the ones a direct desk runs. The private link and REST stay direct (``direct``), with the desk's
own keys: nothing private travels on the bus.

A subscribed topic starts from the relay's latest snapshot (``Fluxum-Seq`` N, this relay run's), then an ordered
JetStream consumer replays the data subject from a little before that snapshot was stored, skips what the snapshot
holds (N and below) and hands over N+1, N+2, ... A gap in ``Fluxum-Seq`` starts the topic again from a snapshot
newer than the last message handed over (the relay snapshots every second; one no newer is taken after
:data:`NEWER_SNAPSHOT_S`, when the relay had nothing newer to say), and the message that showed the gap, met again
in the replay, is dropped: a forged or stray message cannot make a desk start over in a loop. A message of an
earlier relay run is dropped; a gap in Bybit's ``u`` is found by the book as ever, and the
session's resubscribe is the same fresh start. A topic without a snapshot (the tape) starts with the next message.

The link dies (the session shows why, and reconnects by itself) when NATS drops, when the relay is silent for
:data:`RELAY_SILENT_S`, when the relay says it lost Bybit, or when another relay run takes over: each reason names
which, so the bar tells a dead relay from a dead bus from a dead exchange.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import time
from collections.abc import Callable
from typing import Any

import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from exchange.bybit.ws import FrameReader
from exchange.printable import printable
from exchange.relay import bus
from exchange.relay.subjects import (
    MAX_LINK_MESSAGE_BYTES,
    MAX_MESSAGE_BYTES,
    RELAY_HEADER,
    SEQ_HEADER,
    FeedSubjects,
    has_snapshot,
)
from exchange.retry import describe
from exchange.secrets import BusCredentials
from exchange.sources import FrameHandler, FrameLink, FrameSource, LinkDead, LinkSpec, Tap

__all__ = ["RELAY_SILENT_S", "RelayFrames", "RelayLink"]

log = logging.getLogger(__name__)

RELAY_SILENT_S = 3.0  # three missed heartbeats: the relay is down
WATCH_TICK_S = 0.2
SNAPSHOT_RETRY_S = 0.25  # no snapshot yet (a relay just started): look again this often
NEWER_SNAPSHOT_S = 1.5  # after a gap, how long a snapshot newer than the last message is waited for (the relay
# publishes one a second)
RTT_EVERY_S = 2.0  # the round trip to NATS is measured this often (a PING/PONG of the client's own)
RTT_TIMEOUT_S = 1  # nats-py takes whole seconds; a PONG later than this leaves the figure unknown
REPLAY_MARGIN_S = 2.0  # the consumer starts this long before the snapshot was stored: every later delta is there
MAX_REASON_CHARS = 120
LINK_PENDING_MSGS = 64
TOPIC_PENDING_MSGS = 100_000  # a desk this far behind drops messages: a gap, so a fresh start from a snapshot
TOPIC_PENDING_BYTES = 64 * 1024 * 1024


class RelayFrames:
    """The desk's frame source with ``--feed``: the public link from the relay at ``url``, the rest ``direct``.
    One NATS connection serves every public link of the session in turn; a closed one is replaced at the next
    link's opening. ``number`` numbers each link as the direct source numbers its own (its
    :meth:`~exchange.bybit.ws.BybitFrames.next_connection`): a recording's ``conn`` then names one connection."""

    def __init__(
        self,
        url: str,
        subjects: FeedSubjects,
        direct: FrameSource,
        *,
        clock: Callable[[], float] = time.time,
        tap: Tap | None = None,
        silent_after_s: float = RELAY_SILENT_S,
        number: Callable[[], int] | None = None,
        credentials: BusCredentials | None = None,
    ) -> None:
        self.url = url
        self.credentials = credentials
        self.subjects = subjects
        self._direct = direct
        self._clock = clock
        self._tap = tap
        self.silent_after_s = silent_after_s
        self._client: Client | None = None
        self._connections = 0
        self._number = number or self._own_number

    @property
    def name(self) -> str:
        """What the bar calls the feed."""
        return f"relay {bus.bus_name(self.url)}"

    def link(
        self, spec: LinkSpec, on_frame: FrameHandler, *, on_rejected: Callable[[], None] | None = None
    ) -> FrameLink:
        if spec.name != "public":
            return self._direct.link(spec, on_frame, on_rejected=on_rejected)
        return RelayLink(self, spec.name, self._number(), on_frame, clock=self._clock, tap=self._tap)

    def _own_number(self) -> int:
        self._connections += 1
        return self._connections

    async def client(self) -> Client:
        """The connected client; :class:`LinkDead` naming NATS when it cannot be reached."""
        client = self._client
        if client is not None and client.is_connected:
            return client
        await bus.close(client)
        self._client = None
        try:
            self._client = await bus.connect(self.url, name="fluxum-desk", credentials=self.credentials)
        except bus.BusUnreachable as error:
            raise LinkDead(str(error)) from None
        return self._client

    async def close(self) -> None:
        client, self._client = self._client, None
        await bus.close(client)


class _TopicFeed:
    """One subscribed topic: its consumer, the relay run it follows and the last ``Fluxum-Seq`` handed over."""

    __slots__ = ("after", "passed", "relay", "seq", "subscription", "task")

    def __init__(self, after: int | None = None, passed: int = 0) -> None:
        self.after = after  # after a gap: the last message handed over, which a snapshot should pass
        self.passed = passed  # after a gap: the stream's sequence of the message that made it (judged already)
        self.relay: str | None = None
        self.seq: int | None = None
        self.subscription: Subscription | None = None
        self.task: asyncio.Task[None] | None = None


class RelayLink:
    """The public :class:`~exchange.sources.FrameLink` over the relay (see the module's docstring)."""

    def __init__(
        self,
        feed: RelayFrames,
        name: str,
        connection: int,
        on_frame: FrameHandler,
        *,
        clock: Callable[[], float],
        tap: Tap | None,
    ) -> None:
        self._feed = feed
        self._name = name
        self._connection = connection
        self._clock = clock
        self._tap = tap
        self.reader = FrameReader(name, on_frame)
        self.bad_messages = 0  # bus messages refused: too big, no sequence, not a relay's heartbeat
        self.gaps = 0  # Fluxum-Seq gaps: the topic started again from a snapshot
        self._client: Client | None = None
        self._heartbeats: Subscription | None = None
        self._relay: str | None = None  # the relay run heard at opening
        self._topics: frozenset[str] = frozenset()  # what it carries
        self._heard_at: float | None = None
        self._dead: str | None = None
        self._first_beat = asyncio.Event()
        self._feeds: dict[str, _TopicFeed] = {}
        self._restarts: set[asyncio.Task[None]] = set()
        self._open = False
        self._closed_told = False
        self._rtt_ms: float | None = None
        self._rtt_at: float | None = None

    # ------------------------------------------------------------------ FrameLink

    @property
    def name(self) -> str:
        return self._name

    @property
    def connection(self) -> int:
        return self._connection

    @property
    def open_(self) -> bool:
        return self._open and self._client is not None and self._client.is_connected

    @property
    def frames(self) -> int:
        return self.reader.frames

    @property
    def rejected(self) -> int:
        return self.reader.rejected + self.bad_messages

    round_trip_to = "NATS"

    def current_rtt_ms(self, now: float) -> float | None:
        """The last round trip to NATS (the client's PING/PONG) while the link is open and it is recent: what this
        desk can measure of its feed (the relay's own link to Bybit is the relay's)."""
        if not self.open_ or self._rtt_at is None or now - self._rtt_at > 2 * RTT_EVERY_S:
            return None
        return self._rtt_ms

    async def open(self) -> None:
        """NATS reached, and a live heartbeat of a relay that holds Bybit; :class:`LinkDead` naming which not (told
        to the tap as a refusal: the reason names the feed, not a link, so a replay could not tell it otherwise)."""
        try:
            await self._reach()
        except LinkDead as dead:
            if self._tap is not None:
                self._tap.link_closed(self._name, self._connection, None, str(dead), "refused")
            raise
        self._open = True
        if self._tap is not None:
            self._tap.link_opened(self._name, self._connection, self._feed.url)

    async def _reach(self) -> None:
        self._client = client = await self._feed.client()
        try:
            self._heartbeats = await client.subscribe(
                self._feed.subjects.link,
                cb=self._on_heartbeat,
                pending_msgs_limit=LINK_PENDING_MSGS,
                pending_bytes_limit=LINK_PENDING_MSGS * MAX_LINK_MESSAGE_BYTES,
            )
        except Exception as error:
            raise LinkDead(f"NATS at {bus.bus_name(self._feed.url)}: {describe(error, 80)}") from None
        silent = self._feed.silent_after_s
        try:
            await asyncio.wait_for(self._first_beat.wait(), silent)
        except TimeoutError:
            await self._unsubscribe_all()
            raise LinkDead(f"relay down: no heartbeat on {self._feed.subjects.link} within {silent:g} s") from None
        if self._dead is not None:
            await self._unsubscribe_all()
            raise LinkDead(self._dead)

    async def run(self) -> None:
        """Watch the bus and the relay until either fails; always raises :class:`LinkDead`."""
        client = self._client
        if client is None:
            raise LinkDead(f"{self._name}: not open")
        try:
            while True:
                await asyncio.sleep(WATCH_TICK_S)
                self._check(client)
                if self._rtt_at is None or self._clock() - self._rtt_at >= RTT_EVERY_S:
                    await self._measure_rtt(client)
        except LinkDead as dead:
            self._tell_closed(str(dead), "feed")
            raise

    async def _measure_rtt(self, client: Client) -> None:
        """One PING/PONG to NATS; an unanswered one leaves the figure unknown (NATS lost is :meth:`_check`'s)."""
        try:
            self._rtt_ms = await client.rtt(RTT_TIMEOUT_S) * 1000.0
        except Exception:  # no PONG in time, or the connection closing: no figure
            self._rtt_ms = None
        self._rtt_at = self._clock()

    def _check(self, client: Client) -> None:
        """One look at the bus and the relay: :class:`LinkDead` naming the part that failed."""
        if self._dead is not None:
            raise LinkDead(self._dead)
        if not client.is_connected:
            raise LinkDead(f"NATS at {bus.bus_name(self._feed.url)} lost")
        quiet = self._clock() - (self._heard_at or 0.0)
        if quiet > self._feed.silent_after_s:
            raise LinkDead(f"relay down: silent for {quiet:.1f} s", silent_since=self._heard_at)

    async def close(self, reason: str = "closed by Fluxum") -> None:
        self._tell_closed(reason, "fluxum")
        self._open = False
        await self._unsubscribe_all()

    async def send(self, payload: dict[str, Any]) -> None:
        await self._answer(payload)

    async def request(self, payload: dict[str, Any], timeout: float) -> dict[str, Any]:
        """A subscribe, unsubscribe or ping answered here, as Bybit would answer it."""
        payload.setdefault("req_id", f"relay{self.reader.frames}")
        try:
            return await asyncio.wait_for(self._answer(payload), timeout)
        except TimeoutError:
            raise LinkDead(f"NATS at {bus.bus_name(self._feed.url)}: no answer to {payload.get('op')}") from None

    # ------------------------------------------------------------------ the relay's heartbeat

    async def _on_heartbeat(self, msg: Msg) -> None:
        beat = _heartbeat(msg.data)
        if beat is None:
            self.bad_messages += 1
            return
        relay, ready, reason, topics = beat
        if self._relay is None:
            self._relay, self._topics = relay, topics
        elif relay != self._relay:
            self._dead = self._dead or "relay restarted: starting over from its snapshots"
        if not ready:
            self._dead = self._dead or f"relay lost Bybit: {printable(reason, MAX_REASON_CHARS)}"
        self._heard_at = self._clock()
        self._first_beat.set()

    # ------------------------------------------------------------------ control ops

    async def _answer(self, payload: dict[str, Any]) -> dict[str, Any]:
        if self._tap is not None:
            self._tap.frame_sent(self._name, self._connection, payload)
        op = payload.get("op")
        given = payload.get("args")
        args: list[Any] = given if isinstance(given, list) else []
        reply: dict[str, Any] = {"success": True, "ret_msg": "", "op": op, "req_id": payload.get("req_id")}
        if op == "subscribe":
            unknown = [t for t in args if t not in self._topics]
            if unknown:
                reply.update(success=False, ret_msg=f"error:handler not found,topic:{printable(str(unknown[0]), 80)}")
            else:
                for topic in args:
                    await self._stop_topic(topic)
                    self._start_topic(topic)
        elif op == "unsubscribe":
            for topic in args:
                await self._stop_topic(topic)
        elif op == "ping":
            reply = {"op": "pong", "req_id": payload.get("req_id"), "success": True, "ret_msg": "pong"}
        if self._tap is not None:
            self._tap.frame_received(self._name, self._connection, orjson.dumps(reply).decode(), self._now_ms())
        return reply

    # ------------------------------------------------------------------ one topic

    def _start_topic(self, topic: str, after: int | None = None, passed: int = 0) -> None:
        feed = self._feeds[topic] = _TopicFeed(after, passed)
        feed.task = asyncio.create_task(self._follow(topic, feed), name=f"relay-{topic}")
        feed.task.add_done_callback(self._topic_done)

    def _topic_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            error = task.exception()
            log.warning("%s: %s", task.get_name(), describe(error))
            self._dead = self._dead or f"relay feed failed ({describe(error, 80)})"

    async def _stop_topic(self, topic: str) -> None:
        feed = self._feeds.pop(topic, None)
        if feed is not None:
            await _retire(feed)

    async def _follow(self, topic: str, feed: _TopicFeed) -> None:
        """Start ``topic`` from its snapshot (when it has one) and follow its subject."""
        client = self._client
        assert client is not None
        subjects = self._feed.subjects
        js = client.jetstream()
        config = ConsumerConfig()
        policy = DeliverPolicy.NEW
        if has_snapshot(topic):
            stored = await self._snapshot(client, topic, feed)
            policy = DeliverPolicy.BY_START_TIME
            config.opt_start_time = stored - datetime.timedelta(seconds=REPLAY_MARGIN_S)

        async def take(msg: Msg) -> None:
            self._take(topic, feed, msg)

        feed.subscription = await js.subscribe(
            subjects.data(topic),
            stream=subjects.data_stream,
            ordered_consumer=True,
            deliver_policy=policy,
            config=config,
            cb=take,
            pending_msgs_limit=TOPIC_PENDING_MSGS,
            pending_bytes_limit=TOPIC_PENDING_BYTES,
        )

    async def _snapshot(self, client: Client, topic: str, feed: _TopicFeed) -> datetime.datetime:
        """Hand over the relay's latest snapshot of ``topic`` (waiting for one of this relay run); returns when
        it was stored."""
        subjects = self._feed.subjects
        jsm = client.jsm()
        patience = self._clock() + NEWER_SNAPSHOT_S
        while True:
            try:
                message = await jsm.get_last_msg(subjects.state_stream, subjects.snapshot(topic))
            except NotFoundError:
                message = None
            if message is not None and message.data and message.time is not None:
                seq = _seq(message.headers)
                relay = (message.headers or {}).get(RELAY_HEADER)
                lowest = _lowest_snapshot(feed.after, self._clock() >= patience)
                if (
                    seq is not None
                    and seq >= lowest
                    and relay == self._relay
                    and len(message.data) <= MAX_MESSAGE_BYTES
                ):
                    feed.relay, feed.seq = relay, seq
                    self._hand_over(message.data)
                    return message.time
            await asyncio.sleep(SNAPSHOT_RETRY_S)

    def _take(self, topic: str, feed: _TopicFeed, msg: Msg) -> None:
        """One message of the data subject: handed over in order, skipped when the snapshot holds it, or the
        topic started again at a gap."""
        if self._feeds.get(topic) is not feed:
            return  # a message of a topic stopped meanwhile
        seq = _seq(msg.headers)
        relay = (msg.headers or {}).get(RELAY_HEADER)
        if seq is None or len(msg.data) > MAX_MESSAGE_BYTES:
            self.bad_messages += 1
            return
        if relay != self._relay:
            return  # an earlier run's message, still in the stream (a new run ends the link at its heartbeat)
        if feed.seq is None:  # a topic without a snapshot: the first message sets the pace
            feed.relay, feed.seq = relay, seq - 1
        if seq <= feed.seq:
            return  # already in the snapshot
        if seq == feed.seq + 1:
            feed.seq = seq
            self._hand_over(msg.data)
            return
        stream_seq = _stream_seq(msg)
        if stream_seq is not None and stream_seq <= feed.passed:
            self.bad_messages += 1  # the message that made this topic start over, met again in the replay
            return
        feed.passed = max(feed.passed, stream_seq or 0)
        self.gaps += 1
        log.info("%s: Fluxum-Seq %s -> %s: starting again from the snapshot", topic, feed.seq, seq)
        del self._feeds[topic]  # this consumer's later messages are dropped
        restart = asyncio.get_running_loop().create_task(self._restart(topic, feed))
        self._restarts.add(restart)
        restart.add_done_callback(self._restarts.discard)

    async def _restart(self, topic: str, old: _TopicFeed) -> None:
        """Start ``topic`` again from a snapshot newer than its last message handed over: the one it holds
        already would meet the same gap again."""
        await _retire(old)
        if topic not in self._feeds and self._open:
            self._start_topic(topic, after=old.seq if has_snapshot(topic) else None, passed=old.passed)

    def _hand_over(self, data: bytes) -> None:
        text = data.decode("utf-8", "replace")
        now_ms = self._now_ms()
        if self._tap is not None:
            self._tap.frame_received(self._name, self._connection, text, now_ms)
        self.reader.take(text, now_ms)

    # ------------------------------------------------------------------ helpers

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    async def _unsubscribe_all(self) -> None:
        for restart in list(self._restarts):
            restart.cancel()
        for topic in list(self._feeds):
            await self._stop_topic(topic)
        heartbeats, self._heartbeats = self._heartbeats, None
        await _unsubscribe(heartbeats)

    def _tell_closed(self, reason: str, by: str) -> None:
        if self._tap is not None and self._open and not self._closed_told:
            self._closed_told = True
            self._tap.link_closed(self._name, self._connection, None, reason, by)


async def _retire(feed: _TopicFeed) -> None:
    """Stop one topic's consumer and whatever it was still starting."""
    if feed.task is not None:
        feed.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await feed.task
    await _unsubscribe(feed.subscription)


async def _unsubscribe(subscription: Subscription | None) -> None:
    if subscription is not None:
        with contextlib.suppress(Exception):  # the connection may be gone already
            await subscription.unsubscribe()


def _stream_seq(msg: Msg) -> int | None:
    """The message's sequence in its stream (a JetStream delivery says it in its reply subject), or None."""
    try:
        return int(msg.metadata.sequence.stream)
    except Exception:  # not a JetStream delivery: nothing to go by
        return None


def _lowest_snapshot(after: int | None, waited: bool) -> int:
    """The lowest ``Fluxum-Seq`` a snapshot may hold: any at a first start; after a gap, one past the last message
    handed over, or that message's own once the relay had time to publish a newer one and did not (then nothing of
    the relay's was lost: the gap was no message of its run)."""
    if after is None:
        return 0
    return after if waited else after + 1


def _seq(headers: dict[str, str] | None) -> int | None:
    """The ``Fluxum-Seq`` header as a whole number, or None when absent or not one."""
    text = (headers or {}).get(SEQ_HEADER)
    if not isinstance(text, str) or not (text.isascii() and text.isdigit()) or len(text) > 19:
        return None
    return int(text)


def _heartbeat(data: bytes) -> tuple[str, bool, str, frozenset[str]] | None:
    """A relay's heartbeat read: its run, whether it holds Bybit, why not, the topics it carries; None when it is
    not one."""
    if len(data) > MAX_LINK_MESSAGE_BYTES:
        return None
    try:
        beat = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(beat, dict):
        return None
    relay, ready, reason, topics = beat.get("relay"), beat.get("ready"), beat.get("reason"), beat.get("topics")
    if not isinstance(relay, str) or not 0 < len(relay) <= 64 or not isinstance(ready, bool):
        return None
    if not isinstance(topics, list) or not all(isinstance(t, str) and len(t) <= 100 for t in topics):
        return None
    return relay, ready, reason if isinstance(reason, str) else "", frozenset(topics)
