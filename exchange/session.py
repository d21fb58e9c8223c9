"""The session: one async state machine that owns the links, the books, the ledger and the journal.

States (Fluxum's): Disconnected -> Connecting -> Connected (sockets open) -> Ready (authenticated, every desired
topic acknowledged, every book SYNCED, REST backfill done) -> Reconnecting(attempt, next retry, reason) -> ...
and Failed(reason) only for what retrying cannot fix (a rejected key, a configuration no topic survives).
Every transition is a :class:`~exchange.events.StateChanged` event with a timestamp and a reason.

Recovery order on every (re)connect: connect -> auth -> wait for the auth ack -> subscribe the desired topics
(spot: at most 10 per request) -> snapshots -> REST backfill (wallet, positions, open orders, executions since
the last one journaled before this connection, or before the last one whose backfill did not finish) -> Ready.
Nothing private is sent before the auth ack. Books from before a disconnect are invalidated at once and are
SYNCED again only by their new snapshot.

Auth is signed with the clock offset the REST client measured, measured first when it never was or when the
last auth arrived expired. The private stream is live during the backfill, so a position read there is
compared with the ledger net of the fills that arrived after it. A 10006 that outlasts the REST client's own
waits, or a 403 cool-down, holds the next attempt back until the exchange said it will listen again.

While Ready, a gap, a crossed book or a delete of a level the book does not hold (Bybit never sends one to a
client in sync, so the copy has drifted) makes the session resubscribe that one topic for a fresh snapshot,
without dropping the connection; that book is shown RESYNCING meanwhile (the session stays Ready: the link is
fine). A gap also refreshes the symbol's ticker: frames were lost, and ticker deltas carry no sequence.

Ingest runs at network rate on the event loop; consumers learn of changes through the :class:`EventHub`, where
book, ticker and ledger-mark events are conflated, so a slow consumer never slows ingest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sqlite3
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import aiohttp

from exchange.book import ApplyResult, BookState, OrderBook, cadence_ms
from exchange.bybit.errors import AuthenticationError
from exchange.bybit.executions import ExecutionRecordError, fill_from_execution
from exchange.bybit.protocol import (
    PRIVATE_TOPICS,
    ProtocolError,
    TickerCache,
    book_topic,
    parse_order,
    parse_position,
    parse_trades,
    parse_wallet,
    subscribe_batches,
    ticker_topic,
    trade_topic,
)
from exchange.bybit.signing import ws_auth_signature
from exchange.bybit.ws import LinkDead, WsLink
from exchange.config import Environment, Settings
from exchange.desk import Desk, Instrument
from exchange.events import (
    BookChanged,
    BookStateChanged,
    FillReceived,
    LedgerChanged,
    LinkState,
    LinkStats,
    Notice,
    OpenOrder,
    OrderChanged,
    PositionChanged,
    PositionSnapshot,
    PublicTrade,
    SessionState,
    StateChanged,
    TickerChanged,
    TopicHealth,
    TradesReceived,
    WalletChanged,
    WalletSnapshot,
)
from exchange.hub import EventHub
from exchange.journal import Journal
from exchange.ledger import Fill, Ledger, LedgerEntry, MarkSource

__all__ = ["Backoff", "Session", "SessionFailed", "Timeouts"]

log = logging.getLogger(__name__)


class SessionFailed(Exception):
    """Something retrying cannot fix; the session goes to Failed with this message."""


@dataclass(frozen=True)
class Backoff:
    """Exponential reconnect delays with jitter and a cap; attempts reset only after a healthy period.

    Equal jitter: half the exponential delay is fixed and half random, so delays grow visibly yet reconnecting
    clients never synchronise. At the 30 s cap that is at most ~14 attempts per 5 minutes per link, far below
    Bybit's 500 connections per 5 minutes.
    """

    initial_s: float = 0.5
    factor: float = 2.0
    cap_s: float = 30.0
    healthy_after_s: float = 30.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        base = min(self.cap_s, self.initial_s * self.factor ** max(0, attempt - 1))
        return base / 2 + rng.uniform(0.0, base / 2)


@dataclass(frozen=True)
class Timeouts:
    """How long each step of the recovery may take, and the heartbeat figures."""

    connect_s: float = 10.0
    auth_s: float = 10.0
    subscribe_s: float = 10.0
    snapshot_s: float = 10.0
    backfill_s: float = 30.0
    ping_interval_s: float = 20.0
    pong_timeout_s: float = 10.0
    idle_probe_s: float = 3.0  # public links: silence this long triggers a probe ping
    probe_timeout_s: float = 2.0
    stale_floor_s: float = 5.0  # a topic is STALE after max(2 x cadence, this)
    resync_retry_s: float = 10.0  # a book still RESYNCING this long after its resubscribe: try again
    auth_expiry_s: float = 10.0  # auth signature validity (pybit's +1 s causes "Params Error" under skew)


RECENT_MOVES_KEPT = 1000  # per symbol: far more fills than can arrive while one backfill runs
MAX_SERVER_WAIT_S = 300.0  # the longest a 10006 reset or a 403 cool-down may hold back a reconnect
MARK_INTERVAL_S = 0.25
MAX_RESYNC_TRIES = 3  # a topic whose fresh snapshot never comes means the link is not what it seems: reconnect
CLOSED_ORDERS_KEPT = 2000
WATERMARK_INTERVAL_S = 5.0
LIVE_MARGIN_MS = 30_000  # executions pushed later than this after they happened would be re-read on restart
STATS_INTERVAL_S = 0.5


class Session:
    """The live session for one account (or none) and a set of symbols in one category."""

    def __init__(
        self,
        settings: Settings,
        *,
        hub: EventHub | None = None,
        journal: Journal | None = None,
        rest: Any | None = None,
        http: aiohttp.ClientSession | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        backoff: Backoff = Backoff(),
        timeouts: Timeouts = Timeouts(),
    ) -> None:
        if settings.endpoints is None:
            raise ValueError("the session needs endpoints (start the embedded exchange first)")
        self.settings = settings
        self.endpoints = settings.endpoints
        self.hub = hub if hub is not None else EventHub()
        self.journal = journal
        self.rest = rest
        self._own_http = http is None
        self._http = http
        self._clock = clock
        self._rng = rng or random.Random()
        self.backoff = backoff
        self.timeouts = timeouts
        self.category = settings.category
        self.symbols: list[str] = list(settings.symbols)
        depth = settings.depth
        self.desk = Desk(
            environment="SIM" if settings.environment is Environment.SIM else settings.environment.value.upper(),
            category=self.category,
            symbols=list(self.symbols),
            books={s: OrderBook(book_topic(depth, s)) for s in self.symbols},
            private=settings.credentials is not None,
            state=SessionState(LinkState.DISCONNECTED, self._now_ms(), "not started"),
        )
        self._book_by_topic = {book.topic: book for book in self.desk.books.values()}
        self.counters: Counter[str] = Counter()
        self.reconnects = 0
        self.last_reconnect_reason = ""
        self._desired: list[str] = []
        for symbol in self.symbols:
            self._desired += [book_topic(depth, symbol), trade_topic(symbol), ticker_topic(symbol)]
        self._topic_last_ms: dict[str, int] = {}
        self._public: WsLink | None = None
        self._private: WsLink | None = None
        self._resyncing: dict[str, float] = {}  # topic -> when its resubscribe was sent
        self._resync_tries: Counter[str] = Counter()  # resubscribes of a topic without a snapshot coming back
        self._last_fill_ms: dict[str, int] = {}  # newest execTime applied per symbol
        self._closed_orders: dict[str, int] = {}  # order id -> updatedTime of the push that closed it (bounded)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stop = asyncio.Event()
        self._link_lost: asyncio.Event | None = None
        self._lost_reason = ""
        self._authenticated = False
        self._clock_suspect = False  # the last private auth arrived expired: measure the clock first
        self._messages = 0
        self._rate = 0.0
        self._rate_mark = (self._clock(), 0)
        self._marked: dict[str, tuple[Decimal, MarkSource]] = {}
        self._backfill_from_ms: int | None = None  # the journal holds every execution up to here
        self._history_complete = True  # the last connection finished its backfill (or none was made yet)
        self._moves: dict[str, deque[tuple[int, Decimal]]] = {}  # symbol -> latest (execTime, signed qty)
        self.private_sends_before_auth = 0  # must stay 0: the reliability tests read it

    # ------------------------------------------------------------------ public API

    @property
    def books(self) -> dict[str, OrderBook]:
        return self.desk.books

    @property
    def ledger(self) -> Ledger:
        return self.desk.ledger

    @property
    def tickers(self) -> TickerCache:
        return self.desk.tickers

    @property
    def trades(self) -> dict[str, deque[PublicTrade]]:
        return self.desk.trades

    @property
    def orders(self) -> dict[str, OpenOrder]:
        return self.desk.orders

    @property
    def positions(self) -> dict[str, PositionSnapshot]:
        return self.desk.positions

    @property
    def wallet(self) -> WalletSnapshot | None:
        return self.desk.wallet

    @property
    def state(self) -> SessionState:
        return self.desk.state

    @property
    def private(self) -> bool:
        return self.settings.credentials is not None

    def desired_topics(self) -> list[str]:
        return list(self._desired)

    async def run(self) -> None:
        """Connect and keep connecting until :meth:`stop` or a failure retrying cannot fix."""
        self._replay_journal()
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))
        attempt = 0
        try:
            while not self._stop.is_set():
                self._set_state(LinkState.CONNECTING, "opening links" if attempt == 0 else "retrying", attempt=attempt)
                healthy_since: float | None = None
                not_before: float | None = None
                try:
                    healthy_since = await self._connect_and_serve()
                    reason = self._lost_reason or "link closed"
                except SessionFailed as failure:
                    self._set_state(LinkState.FAILED, str(failure))
                    self.hub.publish(Notice("error", f"Session failed: {failure}"))
                    return
                except LinkDead as dead:
                    reason = str(dead)
                except asyncio.CancelledError:
                    raise
                except Exception as error:  # a REST failure during backfill, a transport error, ...
                    fatal = _fatal(error)
                    if fatal is not None:
                        self._set_state(LinkState.FAILED, fatal)
                        self.hub.publish(Notice("error", f"Session failed: {fatal}"))
                        return
                    reason = _describe(error)
                    not_before = self._not_before(error)
                    log.warning("session: %s", reason, exc_info=log.isEnabledFor(logging.DEBUG))
                finally:
                    await self._teardown()
                if self._stop.is_set():
                    break
                if healthy_since is not None and self._clock() - healthy_since >= self.backoff.healthy_after_s:
                    attempt = 0
                attempt += 1
                self.reconnects += 1
                self.last_reconnect_reason = reason
                delay = self.backoff.delay(attempt, self._rng)
                if not_before is not None:  # a 10006 reset or a 403 cool-down: knocking earlier prolongs it
                    delay = max(delay, min(not_before - self._clock(), MAX_SERVER_WAIT_S))
                retry_ms = self._now_ms() + int(delay * 1000)
                self._set_state(LinkState.RECONNECTING, reason, attempt=attempt, next_retry_ms=retry_ms)
                what = "Link lost" if self._lost_reason else "Recovery failed"
                self.hub.publish(Notice("warning", f"{what} ({reason}); retry {attempt} in {delay:.1f} s"))
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)
        finally:
            await self._teardown()
            if self.state.kind is not LinkState.FAILED:
                self._set_state(LinkState.DISCONNECTED, "stopped")
            if self._own_http and self._http is not None:
                await self._http.close()
                self._http = None

    async def stop(self) -> None:
        """Ask :meth:`run` to end; it closes the links and goes Disconnected."""
        self._stop.set()
        if self._link_lost is not None:
            self._lost_reason = "stopped"
            self._link_lost.set()

    # ------------------------------------------------------------------ one connection's life

    async def _connect_and_serve(self) -> float | None:
        """One connection: recover everything, serve until the link dies; returns when it became Ready."""
        assert self._http is not None
        self._link_lost = asyncio.Event()
        self._lost_reason = ""
        # Read before the private stream can journal anything new, and only after a connection that finished
        # its backfill: a live push journaled before the backfill ends must not move the start past fills
        # made while the link was down.
        if self.journal is not None:
            self._backfill_from_ms = self.journal.complete_until_ms()
        self._history_complete = False
        t = self.timeouts
        self._public = WsLink(
            self.endpoints.public_url(self.category),
            self._http,
            self._on_public_frame,
            name="public",
            ping_interval=t.ping_interval_s,
            pong_timeout=t.pong_timeout_s,
            idle_probe_after=t.idle_probe_s,
            probe_timeout=t.probe_timeout_s,
            connect_timeout=t.connect_s,
            clock=self._clock,
        )
        links = [self._public]
        if self.private:
            self._private = WsLink(
                self.endpoints.private_url(),
                self._http,
                self._on_private_frame,
                name="private",
                ping_interval=t.ping_interval_s,
                pong_timeout=t.pong_timeout_s,
                idle_probe_after=t.ping_interval_s,
                probe_timeout=t.pong_timeout_s,
                connect_timeout=t.connect_s,
                clock=self._clock,
            )
            links.append(self._private)
        await asyncio.gather(*(link.open() for link in links))
        self._set_state(LinkState.CONNECTED, "sockets open")
        for link in links:
            self._spawn(self._watch_link(link), f"{link.name}-run")
        self._spawn(self._maintain(), "maintenance")

        if self._private is not None:
            await self._authenticate(self._private)
        await self._subscribe_public(self._public)
        if self._private is not None:
            await self._subscribe_private(self._private)
        await self._await_snapshots()
        await self._backfill()
        self._history_complete = True
        self._set_state(LinkState.READY, "all topics live")
        became_ready = self._clock()
        await self._link_lost.wait()
        return became_ready

    async def _watch_link(self, link: WsLink) -> None:
        try:
            await link.run()
        except LinkDead as dead:
            self._lose(str(dead))
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a bug in a frame handler must not leave a zombie link
            log.exception("%s link crashed", link.name)
            self._lose(f"{link.name}: internal error ({_describe(error)})")

    def _lose(self, reason: str) -> None:
        if self._link_lost is not None and not self._link_lost.is_set():
            self._lost_reason = reason
            self._link_lost.set()

    async def _race(self, step: Any) -> Any:
        """Run one recovery step, but give up at once if a link dies meanwhile."""
        assert self._link_lost is not None
        task = asyncio.ensure_future(step)
        lost = asyncio.ensure_future(self._link_lost.wait())
        try:
            done, _ = await asyncio.wait({task, lost}, return_when=asyncio.FIRST_COMPLETED)
            if task in done:
                return task.result()
            raise LinkDead(self._lost_reason or "link lost")
        finally:
            for future in (task, lost):
                if not future.done():
                    future.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.gather(task, lost, return_exceptions=True)

    async def _authenticate(self, link: WsLink) -> None:
        credentials = self.settings.credentials
        assert credentials is not None
        await self._measure_clock()
        expires = self._now_ms() + self._server_offset_ms() + int(self.timeouts.auth_expiry_s * 1000)
        signature = ws_auth_signature(credentials.api_secret, expires)
        reply = await self._race(
            link.request({"op": "auth", "args": [credentials.api_key, expires, signature]}, self.timeouts.auth_s)
        )
        if reply.get("success") is True:
            self._authenticated = True
            return
        message = str(reply.get("ret_msg") or "rejected")
        if message == "Params Error":
            self._clock_suspect = True  # measure the clock before the next auth
            raise LinkDead("auth expired on arrival (clock skew?)")  # retryable: Bybit's reply to a stale expiry
        raise SessionFailed(f"API key rejected by the private stream: {message}")

    async def _measure_clock(self) -> None:
        """Measure the offset to the exchange's clock before signing auth, when it was never measured (the
        REST client measures lazily, at the backfill, which comes after auth) or when the last auth arrived
        expired.

        Without this a session started against, or caught by, an exchange whose clock is ahead by more than
        the auth expiry would sign every auth already expired and never reach the backfill that would fix it.
        A failed measurement keeps the last offset: the auth reply says whether it was good enough.
        """
        sync = getattr(self.rest, "sync_clock", None)
        if sync is None or (getattr(self.rest, "clock_synced", False) and not self._clock_suspect):
            return
        try:
            await self._race(asyncio.wait_for(sync(), self.timeouts.auth_s))
            self._clock_suspect = False
        except LinkDead:
            raise
        except Exception as error:  # a 403 cool-down, a 10006, an outage: sign with what we have
            log.warning("session: clock offset not measured (%s); signing with the last", _describe(error))

    def _not_before(self, error: BaseException) -> float | None:
        """When the exchange said it will take requests again (epoch s, local clock, 50 ms past it to be
        sure), for a 10006 that outlasted the REST client's waits or a 403 cool-down; None otherwise."""
        until_ms = getattr(error, "until_ms", None)  # Forbidden: a local time
        if isinstance(until_ms, int) and until_ms > 0:
            return until_ms / 1000 + 0.05
        reset_ms = getattr(error, "reset_ms", None)  # RateLimited: the exchange's time
        if isinstance(reset_ms, int) and reset_ms > 0:
            return (reset_ms - self._server_offset_ms()) / 1000 + 0.05
        return None

    async def _subscribe_public(self, link: WsLink) -> None:
        for batch in subscribe_batches(self.category, list(self._desired)):
            reply = await self._race(link.request({"op": "subscribe", "args": batch}, self.timeouts.subscribe_s))
            self._check_ack(reply, batch)
        if not self._desired:
            raise SessionFailed("no topic was accepted: check the symbols and the category")

    def _check_ack(self, reply: Mapping[str, Any], batch: list[str]) -> None:
        if reply.get("success") is True:
            return
        message = str(reply.get("ret_msg") or "")
        if "already subscribed" in message:
            return
        if "handler not found" in message:
            bad = message.rsplit("topic:", 1)[-1].strip()
            rejected = [topic for topic in batch if topic == bad] or batch
            for topic in rejected:
                if topic in self._desired:
                    self._desired.remove(topic)
                self.counters["topics_rejected"] += 1
                self.hub.publish(Notice("error", f"Bybit does not know topic {topic}"))
            # the rest of the batch may not have been subscribed: ask again for them
            retry = [topic for topic in batch if topic not in rejected and topic in self._desired]
            if retry:
                self._spawn(self._resubscribe_many(retry), "subscribe-retry")
            return
        raise LinkDead(f"subscribe refused: {message or 'no reason given'}")

    async def _subscribe_private(self, link: WsLink) -> None:
        if not self._authenticated:
            self.private_sends_before_auth += 1
            raise LinkDead("private subscribe before auth")
        reply = await self._race(
            link.request({"op": "subscribe", "args": list(PRIVATE_TOPICS)}, self.timeouts.subscribe_s)
        )
        if reply.get("success") is not True and "already subscribed" not in str(reply.get("ret_msg")):
            raise LinkDead(f"private subscribe refused: {reply.get('ret_msg')}")

    async def _await_snapshots(self) -> None:
        wanted = [book for book in self.books.values() if book.topic in self._desired]
        deadline = self._clock() + self.timeouts.snapshot_s
        while any(book.state is not BookState.SYNCED for book in wanted):
            if self._clock() >= deadline:
                missing = ", ".join(b.symbol or "?" for b in wanted if b.state is not BookState.SYNCED)
                raise LinkDead(f"no book snapshot for {missing} within {self.timeouts.snapshot_s:g} s")
            await self._race(asyncio.sleep(0.02))

    async def _backfill(self) -> None:
        """REST reads that cover what the private stream never replays (and, once, the instruments)."""
        if self.rest is None:
            return
        if not self.desk.instruments:
            await self._race(asyncio.wait_for(self._load_instruments(), self.timeouts.backfill_s))
        if self.private:
            await self._race(asyncio.wait_for(self._backfill_steps(), self.timeouts.backfill_s))

    async def _load_instruments(self) -> None:
        assert self.rest is not None
        for item in await self.rest.instruments(self.category):
            symbol = item.get("symbol")
            if symbol not in self.desk.books:
                continue
            try:
                tick = Decimal(item["priceFilter"]["tickSize"])
                lot = item.get("lotSizeFilter", {})
                step = Decimal(lot.get("qtyStep") or lot.get("basePrecision") or "0.001")
            except (KeyError, TypeError, ArithmeticError):
                self.counters["instruments_rejected"] += 1
                continue
            self.desk.instruments[symbol] = Instrument(symbol, tick, step)
        self.desk.touch("instruments")

    async def _backfill_steps(self) -> None:
        rest = self.rest
        assert rest is not None
        wallet = await rest.wallet_balance()
        self._take_wallet(wallet)
        read_at = self._server_now_ms()
        positions = await rest.positions(self.category) if self.category != "spot" else []
        for position in positions:
            self._take_position(position)
        held = {position.symbol for position in positions}
        for symbol in self.symbols:
            known = self.desk.positions.get(symbol)
            if symbol not in held and known is not None and known.updated_ms <= read_at:
                self._drop_position(symbol)  # Bybit lists only open positions: this one went flat before the read
        orders = await rest.open_orders(self.category)
        open_ids = {order.order_id for order in orders}
        for order in orders:
            self._take_order(order)
        for order_id, order in list(self.orders.items()):
            if order_id not in open_ids and order.is_open:
                self._take_order(_closed_while_away(order, self._now_ms()))
        last = self._backfill_from_ms
        start = None if last is None else max(0, last - 1000)  # overlap a second; the journal de-duplicates
        asked_at = self._server_now_ms()
        records = await rest.executions(self.category, start_time_ms=start)
        self._take_executions(records, backfilled=True)
        if self.journal is not None:
            # Everything before the request is now journaled (later fills come on the live stream, which was
            # subscribed before this read).
            self.journal.mark_complete_until(asked_at)
        now = self._now_ms()
        if self.category != "spot":
            # Flat at the time of the read: fills after it (the live stream ran on) are expected on top.
            positions = positions + [
                PositionSnapshot(symbol, Decimal(0), Decimal(0), None, None, None, None, None, None, read_at)
                for symbol in self.symbols
                if symbol not in held and self.ledger.entry(symbol) is not None
            ]
        for position in positions:
            entry = self.ledger.entry(position.symbol)
            holding = entry.position if entry is not None else Decimal(0)
            # The positions were read before the executions, while the private stream was live: fills after
            # the position's last update are in the ledger but cannot be in that read yet.
            expected = position.size + self._moved_since(position.symbol, position.updated_ms)
            if holding != expected:
                reconciled = self.ledger.reconcile_position(position.symbol, expected, position.avg_price, now)
                if reconciled is not None:
                    self.hub.publish(LedgerChanged(reconciled))

    def _moved_since(self, symbol: str, since_ms: int) -> Decimal:
        """Signed quantity of the fills of ``symbol`` this session applied with ``execTime`` > ``since_ms``.

        Any fill that moves a position also moves its ``updatedTime``, so these are exactly the fills a
        position read stamped ``since_ms`` does not contain. An unstamped read (0) is taken as current.
        """
        if since_ms <= 0:
            return Decimal(0)
        return sum((qty for time_ms, qty in self._moves.get(symbol, ()) if time_ms > since_ms), Decimal(0))

    async def _teardown(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        for link in (self._public, self._private):
            if link is not None:
                await link.close()
        self._public = self._private = None
        self._authenticated = False
        self._resyncing.clear()
        self.tickers.clear()
        for book in self.books.values():
            before = book.state
            book.invalidate("disconnected")
            if book.state is not before:
                self.hub.publish(BookStateChanged(book.symbol or "", book.state, book.resync_reason))
            self.hub.publish(BookChanged(book.symbol or "", book.version))

    def _spawn(self, coroutine: Any, name: str) -> None:
        task = asyncio.create_task(coroutine, name=f"session-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        """A helper task that dies of a bug must not leave the session pretending: log it and reconnect."""
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is None:
            return
        log.error("%s failed: %s", task.get_name(), _describe(error), exc_info=error)
        self.counters["task_failures"] += 1
        self._lose(f"internal error in {task.get_name()} ({_describe(error)})")

    # ------------------------------------------------------------------ public frames

    def _on_public_frame(self, frame: dict[str, Any], received_ms: int) -> None:
        topic = frame.get("topic")
        if not isinstance(topic, str):
            self.counters["rejected_frames"] += 1
            return
        self._messages += 1
        try:
            if topic.startswith("orderbook."):
                self._on_book(topic, frame)
            elif topic.startswith("publicTrade."):
                trades = parse_trades(frame)
                symbol = topic[len("publicTrade.") :]
                if symbol in self.desk.trades and trades:
                    self.desk.trades[symbol].extend(trades)
                    self.desk.touch(f"trades:{symbol}")
                    self.hub.publish(TradesReceived(symbol, trades))
            elif topic.startswith("tickers."):
                symbol, fields = self.tickers.apply(frame)
                self.desk.touch(f"ticker:{symbol}")
                self.hub.publish(TickerChanged(symbol, fields))
            else:
                self.counters["unknown_topic_frames"] += 1
                return
            self._topic_last_ms[topic] = received_ms
        except (ProtocolError, KeyError, TypeError, ValueError, AttributeError) as error:
            self.counters["rejected_frames"] += 1
            log.debug("rejected %s frame: %s", topic[:60], error)

    def _on_book(self, topic: str, frame: dict[str, Any]) -> None:
        book = self._book_by_topic.get(topic)
        if book is None:
            self.counters["unknown_topic_frames"] += 1
            return
        before = book.state
        absent, gaps, rejected = book.counters.absent_deletes, book.counters.gaps, book.counters.rejected
        result = book.apply(frame)
        if result is ApplyResult.REJECTED:
            self.counters["rejected_frames"] += 1
            return
        if book.counters.rejected > rejected:  # the next delta was unreadable: a lost update, so resync
            self.counters["rejected_frames"] += 1
            log.warning("%s: %s", topic, book.resync_reason)
        if result is ApplyResult.DELTA and book.counters.absent_deletes > absent:
            # Bybit never deletes a level the client does not hold: this copy has drifted from Bybit's.
            self.counters["absent_deletes"] += book.counters.absent_deletes - absent
            book.invalidate("delete of an absent level")
            result = ApplyResult.RESYNC
        symbol = book.symbol or ""
        if book.state is not before:
            self.hub.publish(BookStateChanged(symbol, book.state, book.resync_reason))
            if book.state is BookState.SYNCED:
                self._resyncing.pop(topic, None)
                self._resync_tries.pop(topic, None)
        if result is ApplyResult.RESYNC:
            self.counters["resyncs"] += 1
            # A gap means this link lost frames; tickers carry no sequence to show their own losses (a lost
            # delta would leave fields stale), so the symbol's ticker is refreshed with its book.
            lost = book.counters.gaps > gaps and ticker_topic(symbol) in self._desired
            self._request_resync(topic, [ticker_topic(symbol)] if lost else [])
        elif result is ApplyResult.STALE:
            self.counters["stale_deltas"] += 1
        if result.changed or result is ApplyResult.RESYNC:
            self.hub.publish(BookChanged(symbol, book.version))

    def _request_resync(self, topic: str, also: list[str] | None = None) -> None:
        if topic in self._resyncing or self._public is None:
            return
        self._resyncing[topic] = self._clock()
        self._spawn(self._resubscribe_many([topic, *(also or [])]), f"resync-{topic}")

    async def _resubscribe_many(self, topics: list[str]) -> None:
        link = self._public
        if link is None:
            return
        try:
            await link.request({"op": "unsubscribe", "args": topics}, self.timeouts.subscribe_s)
            reply = await link.request({"op": "subscribe", "args": topics}, self.timeouts.subscribe_s)
            self._check_ack(reply, topics)
            self.counters["resubscribes"] += 1
        except LinkDead as dead:
            self._lose(str(dead))

    # ------------------------------------------------------------------ private frames

    def _on_private_frame(self, frame: dict[str, Any], received_ms: int) -> None:
        topic = frame.get("topic")
        if not isinstance(topic, str):
            self.counters["rejected_frames"] += 1
            return
        self._messages += 1
        try:
            data = frame["data"]
            if not isinstance(data, list):
                raise ProtocolError("data must be a list")
            kind = topic.split(".", 1)[0]
            # The all-in-one topics carry every category and this desk watches one: every record is validated
            # (a malformed frame is rejected whole, whatever its category), then only ours are taken.
            if kind == "execution":
                for record in data:
                    fill_from_execution(record, category=self.category)
                self._take_executions([record for record in data if self._ours(record)], backfilled=False)
            elif kind == "order":
                orders = [(parse_order(record), record) for record in data]
                for order, record in orders:
                    if self._ours(record):
                        self._take_order(order)
            elif kind == "position":
                positions = [(parse_position(record), record) for record in data]
                for position, record in positions:
                    if self._ours(record):
                        self._take_position(position)
            elif kind == "wallet":
                wallets = [parse_wallet(record) for record in data if record.get("accountType", "UNIFIED") == "UNIFIED"]
                if wallets:
                    self._take_wallet(wallets[-1])
            else:
                self.counters["unknown_topic_frames"] += 1
                return
            self._topic_last_ms[kind] = received_ms
        except (
            ProtocolError,
            ExecutionRecordError,
            KeyError,
            TypeError,
            ValueError,
            AttributeError,
        ) as error:
            self.counters["rejected_frames"] += 1
            log.debug("rejected private %s frame: %s", topic[:40], error)
            if topic.startswith("execution"):
                self._history_gap("an execution push was rejected")
        except sqlite3.Error as error:
            self.counters["journal_errors"] += 1
            log.error("journal write failed: %s", error)
            self._history_gap("the journal could not record executions")

    def _ours(self, record: Any) -> bool:
        """A private record of this desk's category (one without a category is kept); every symbol of it is
        journaled, as the REST backfill journals them, so the history stays whole if the watch list changes."""
        if not isinstance(record, dict):
            raise ProtocolError("a record must be an object")
        category = record.get("category")
        return category is None or category == self.category

    def _history_gap(self, why: str) -> None:
        """Executions may be missing: stop calling history complete and read it again over REST."""
        if not self._history_complete:
            return
        self._history_complete = False
        self.hub.publish(Notice("warning", f"Re-reading executions: {why}"))
        if self.rest is not None and self.private:
            self._spawn(self._reread_executions(), "reread-executions")

    async def _reread_executions(self) -> None:
        await asyncio.sleep(1.0)  # let Bybit's REST view catch up with the push we could not take
        last = self.journal.complete_until_ms() if self.journal is not None else None
        start = None if last is None else max(0, last - 1000)
        asked_at = self._server_now_ms()
        assert self.rest is not None  # only scheduled by a session that has a private side
        records = await self.rest.executions(self.category, start_time_ms=start)
        self._take_executions(records, backfilled=True)
        if self.journal is not None:
            self.journal.mark_complete_until(asked_at)
        self._history_complete = True

    def _take_executions(self, records: list[Any], *, backfilled: bool) -> None:
        """Journal first, then ledger, then subscribers; a malformed record rejects the whole batch."""
        fills = [fill_from_execution(record, category=self.category) for record in records]
        if self.journal is not None:
            fresh = self.journal.record(records, self._now_ms())
            fresh_ids = {record["execId"] for record in fresh}
            fills = [fill for fill in fills if fill.exec_id in fresh_ids]
            late = [f for f in fills if f.moves_position and f.time_ms < self._last_fill_ms.get(f.symbol, -1)]
            if late:
                # Older than fills already applied (the live stream ran ahead of the backfill): average entry
                # and realized P&L depend on the order, so replay the journal, which is in execTime order.
                self._rebuild_ledger()
                for fill in fills:
                    self._announce_fill(fill, self.ledger.entry(fill.symbol), backfilled)
                return
        for fill in fills:
            entry = self.ledger.apply_fill(fill)
            if entry is None:
                self.counters["duplicate_fills"] += 1
                continue
            self._announce_fill(fill, entry, backfilled)

    def _announce_fill(self, fill: Fill, entry: LedgerEntry | None, backfilled: bool) -> None:
        self.counters["fills"] += 1
        self._marked.pop(fill.symbol, None)  # the spot is now the fill price: the next tick marks it again
        if fill.moves_position:
            moves = self._moves.setdefault(fill.symbol, deque(maxlen=RECENT_MOVES_KEPT))
            moves.append((fill.time_ms, fill.qty if fill.side == "Buy" else -fill.qty))
            self._last_fill_ms[fill.symbol] = max(fill.time_ms, self._last_fill_ms.get(fill.symbol, -1))
        self.desk.own_fills.append(fill)
        self.desk.touch("fills")
        self.desk.touch("ledger")
        self.hub.publish(FillReceived(fill, entry, backfilled=backfilled))

    def _rebuild_ledger(self) -> None:
        """A fresh ledger from the journal (execTime order), with the open-order summaries carried over."""
        self.counters["ledger_rebuilds"] += 1
        self.desk.ledger = Ledger()
        self._marked.clear()
        self._replay_journal()
        for symbol in {order.symbol for order in self.orders.values()}:
            symbol_orders = [o for o in self.orders.values() if o.symbol == symbol]
            self.ledger.set_open_orders(
                symbol,
                sum((o.qty for o in symbol_orders), Decimal(0)),
                sum((o.cum_exec_qty for o in symbol_orders), Decimal(0)),
                sum((o.leaves_qty for o in symbol_orders), Decimal(0)),
            )
        self.desk.touch("ledger")

    def _take_order(self, order: OpenOrder) -> None:
        known = self.orders.get(order.order_id)
        if known is not None and known.updated_ms > order.updated_ms:
            return  # an older view (a REST read racing a push)
        closed_at = self._closed_orders.get(order.order_id)
        if closed_at is not None and order.is_open and closed_at >= order.updated_ms:
            return  # a REST row read before the push that closed it: not open any more
        if order.is_open:
            self.orders[order.order_id] = order
        else:
            self.orders.pop(order.order_id, None)
            self._closed_orders[order.order_id] = order.updated_ms
            if len(self._closed_orders) > CLOSED_ORDERS_KEPT:
                self._closed_orders.pop(next(iter(self._closed_orders)))
        self.desk.touch("orders")
        self.hub.publish(OrderChanged(order))
        symbol_orders = [o for o in self.orders.values() if o.symbol == order.symbol]
        entry = self.ledger.set_open_orders(
            order.symbol,
            sum((o.qty for o in symbol_orders), Decimal(0)),
            sum((o.cum_exec_qty for o in symbol_orders), Decimal(0)),
            sum((o.leaves_qty for o in symbol_orders), Decimal(0)),
        )
        self.hub.publish(LedgerChanged(entry))

    def _take_position(self, position: PositionSnapshot) -> None:
        known = self.desk.positions.get(position.symbol)
        if known is not None and known.updated_ms > position.updated_ms > 0:
            return  # an older view (a REST read racing a push)
        if position.size == 0:
            self._drop_position(position.symbol, position)
            return
        self.desk.positions[position.symbol] = position
        self.desk.touch("positions")
        self.hub.publish(PositionChanged(position))

    def _drop_position(self, symbol: str, flat: PositionSnapshot | None = None) -> None:
        """A flat position leaves the desk: no liquidation price, margin or ROE from the old one stays shown."""
        self.desk.positions.pop(symbol, None)
        self.desk.touch("positions")
        self.hub.publish(
            PositionChanged(
                flat
                or PositionSnapshot(symbol, Decimal(0), Decimal(0), None, None, None, None, None, None, self._now_ms())
            )
        )

    def _take_wallet(self, wallet: WalletSnapshot) -> None:
        self.desk.wallet = wallet
        self.desk.touch("wallet")
        self.hub.publish(WalletChanged(wallet))

    # ------------------------------------------------------------------ periodic work

    async def _maintain(self) -> None:
        """Marks, staleness, resync retries, the journal's watermark and link figures, at frame rate."""
        next_stats = 0.0
        next_watermark = self._clock() + WATERMARK_INTERVAL_S
        while True:
            await asyncio.sleep(MARK_INTERVAL_S)
            now = self._clock()
            self._mark_all()
            for topic, since in list(self._resyncing.items()):
                if now - since >= self.timeouts.resync_retry_s:
                    self._resyncing.pop(topic, None)
                    self.counters["resync_retries"] += 1
                    self._resync_tries[topic] += 1
                    if self._resync_tries[topic] >= MAX_RESYNC_TRIES:
                        self._lose(f"{topic} would not resync after {MAX_RESYNC_TRIES} tries")
                        return
                    self._request_resync(topic)
            if now >= next_watermark:
                next_watermark = now + WATERMARK_INTERVAL_S
                self._advance_watermark()
            if now >= next_stats:
                next_stats = now + STATS_INTERVAL_S
                self._publish_stats()

    def _advance_watermark(self) -> None:
        """While the private stream has been live since a finished backfill, history is complete up to now
        (less a margin for executions Bybit pushes late), so a restart need not re-read it."""
        private = self._private
        if self.journal is None or not self._history_complete or private is None or not private.open_:
            return
        self.journal.mark_complete_until(self._server_now_ms() - LIVE_MARGIN_MS)

    def _server_now_ms(self) -> int:
        return self._now_ms() + self._server_offset_ms()

    def _mark_all(self) -> None:
        now_ms = self._now_ms()
        use_mark_price = self.settings.mark_source == "mark"
        for symbol in self.symbols:
            book: OrderBook | None = self.books[symbol]
            if book is not None and self._is_stale(book.topic or "", now_ms):
                book = None  # a silent book is no mark, whatever it last said
            ticker = self.tickers.get(symbol) if use_mark_price else None
            mark_price = _decimal_or_none(ticker.get("markPrice")) if ticker else None
            choice = self.ledger.choose_mark(symbol, mark_price=mark_price, book=book)
            if choice is None or self._marked.get(symbol) == choice:
                continue
            if self.ledger.entry(symbol) is None and symbol not in self.positions:
                continue  # nothing held, nothing traded: no ledger line to move
            self._marked[symbol] = choice
            entry = self.ledger.mark(symbol, choice[0], choice[1], now_ms)
            self.desk.touch("ledger")
            self.hub.publish(LedgerChanged(entry))

    def _is_stale(self, topic: str, now_ms: int) -> bool:
        stale_after = self._stale_after_ms(topic)
        last = self._topic_last_ms.get(topic)
        return stale_after is not None and (last is None or now_ms - last > stale_after)

    def topic_health(self) -> tuple[TopicHealth, ...]:
        now_ms = self._now_ms()
        out = []
        for topic in self._desired + (list(PRIVATE_TOPICS) if self.private else []):
            last = self._topic_last_ms.get(topic)
            stale_after = self._stale_after_ms(topic)
            stale = stale_after is not None and (last is None or now_ms - last > stale_after)
            out.append(TopicHealth(topic, last, stale))
        return tuple(out)

    def _stale_after_ms(self, topic: str) -> int | None:
        floor = int(self.timeouts.stale_floor_s * 1000)
        if topic.startswith("orderbook."):
            return max(2 * cadence_ms(int(topic.split(".")[1]), self.category), floor)
        if topic.startswith("tickers."):
            return floor
        return None  # trades and private topics speak only when something happens

    def link_stats(self) -> LinkStats:
        now = self._clock()
        since, count = self._rate_mark
        if now - since >= 1.0:
            self._rate = (self._messages - count) / (now - since)
            self._rate_mark = (now, self._messages)
        rtts = [link.ping_rtt_ms for link in (self._public, self._private) if link and link.ping_rtt_ms is not None]
        rejected = self.counters["rejected_frames"] + sum(
            link.rejected for link in (self._public, self._private) if link is not None
        )
        return LinkStats(
            ping_rtt_ms=max(rtts) if rtts else None,
            messages_per_second=self._rate,
            reconnects=self.reconnects,
            last_reconnect_reason=self.last_reconnect_reason,
            topics=self.topic_health(),
            rejected_frames=rejected,
        )

    # ------------------------------------------------------------------ helpers

    def _replay_journal(self) -> None:
        if self.journal is None:
            return
        replayed = 0
        for record in self.journal.replay():
            try:
                fill = fill_from_execution(record, category=self.category)
            except ExecutionRecordError as error:
                self.counters["journal_rejected"] += 1
                log.warning("journaled execution skipped: %s", error)
                continue
            if self.ledger.apply_fill(fill) is not None:
                replayed += 1
                if fill.moves_position:
                    self._last_fill_ms[fill.symbol] = max(fill.time_ms, self._last_fill_ms.get(fill.symbol, -1))
        self.counters["journal_replayed"] += replayed
        for entry in self.ledger.entries():
            self.hub.publish(LedgerChanged(entry))

    def _server_offset_ms(self) -> int:
        offset = getattr(self.rest, "clock_offset_ms", 0) if self.rest is not None else 0
        return int(offset or 0)

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _set_state(self, kind: LinkState, reason: str, *, attempt: int = 0, next_retry_ms: int | None = None) -> None:
        previous = self.state
        state = SessionState(kind, self._now_ms(), reason, attempt, next_retry_ms)
        if (previous.kind, previous.reason, previous.attempt) == (
            kind,
            reason,
            attempt,
        ) and kind is not LinkState.RECONNECTING:
            return
        self.desk.state = state
        self.desk.touch("state")
        log.info("session: %s", state)
        self.hub.publish(StateChanged(state, previous))
        self._publish_stats()  # reconnect count and reason move with the state, not half a second later

    def _publish_stats(self) -> None:
        stats = self.link_stats()
        self.desk.stats = stats
        self.desk.touch("stats")
        self.hub.publish(stats)


def _decimal_or_none(text: str | None) -> Decimal | None:
    if not text:
        return None
    try:
        value = Decimal(text)
    except ArithmeticError:
        return None
    return value if value.is_finite() and value > 0 else None


def _closed_while_away(order: OpenOrder, now_ms: int) -> OpenOrder:
    """An order that was open before a disconnect and is no longer open: its last word was missed."""
    from dataclasses import replace

    return replace(order, status="Closed", leaves_qty=Decimal(0), updated_ms=now_ms)


def _fatal(error: Exception) -> str | None:
    """The message for errors retrying cannot fix (a rejected key, a request Bybit calls invalid), else None."""
    code = getattr(error, "ret_code", None)
    if code in (10003, 10004, 10005, 10010) or isinstance(error, AuthenticationError):
        detail = getattr(error, "ret_msg", "") or _describe(error)
        return f"API key rejected by Bybit ({code or 'HTTP 401'}): {detail}".rstrip(": ")
    if code == 10001:
        return f"Bybit rejected a request as invalid (10001): {getattr(error, 'ret_msg', '')}".rstrip(": ")
    return None


def _describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text.splitlines()[0][:160]
