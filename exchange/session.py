"""The session: one async state machine that owns the links and feeds a desk's market data and account state.

States (Fluxum's): Disconnected -> Connecting -> Connected (sockets open) -> Ready (authenticated, every desired
topic acknowledged, every book SYNCED, REST backfill done) -> Reconnecting(attempt, next retry, reason) -> ...
and Failed(reason) only for what retrying cannot fix (a rejected key, a configuration no topic survives).
Every transition is a :class:`~exchange.events.StateChanged` event with a timestamp and a reason.

Recovery order on every (re)connect: connect -> auth, with the public topics subscribed meanwhile (spot: at most
10 per request; a slow auth keeps no book dark) -> the auth ack -> the private topics -> snapshots -> REST
backfill (wallet, positions, open orders, executions since the last one journaled before this connection, or
before the last one whose backfill did not finish) -> Ready.
Nothing private is sent before the auth ack. Books from before a disconnect are invalidated at once and are
SYNCED again only by their new snapshot.

Auth is signed with the clock offset the REST client measured, measured first when it never was or when the
last auth arrived expired. The private stream is live during the backfill, so a position read there is
compared with the ledger net of the fills that arrived after it. A 10006 that outlasts the REST client's own
waits, or a 403 cool-down, holds the next attempt back until the exchange said it will listen again.

While Ready, a gap, a crossed book or a delete of a level the book does not hold (Bybit never sends one to a
client in sync, so the copy has drifted) makes the session resubscribe that one topic for a fresh snapshot,
without dropping the connection; that book is shown RESYNCING meanwhile (the session stays Ready: the link is
fine; a book resyncing again and again is backed off and flagged on the connection bar by its topic's health). A
gap also refreshes the symbol's ticker: frames were lost, and ticker deltas carry no sequence.

What a frame means is decided elsewhere, by code that knows nothing of sockets: public frames by
:class:`~exchange.market_data.MarketData` (books, trades, tickers, staleness, which topic to resync), private
frames and the REST backfill's results by :class:`~exchange.account_state.AccountState` (journal, ledger,
orders, positions, wallet, marks). This module connects, fetches, and hands them what arrives; how long it
waits, and which errors no retry can fix, is :mod:`exchange.retry`, applied by :mod:`exchange.reconnect_wait`.
Each other concept has its module: :mod:`exchange.recovery_steps` (running and naming the steps),
:mod:`exchange.private_auth`, :mod:`exchange.subscriptions`, :mod:`exchange.heartbeat`, :mod:`exchange.backfill`,
:mod:`exchange.symbol_watch` and :mod:`exchange.state_publication`. Where frames and REST answers come from is
behind the Protocols of :mod:`exchange.sources` (Bybit's sockets and REST client live, a recording in a replay),
and a recorder hears every state through the same seam.

Ingest runs at network rate on the event loop; consumers learn of changes through the :class:`EventHub`, where
book, ticker and ledger-mark events are conflated, so a slow consumer never slows ingest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp

from exchange.account_state import AccountState
from exchange.backfill import Backfill
from exchange.book import BookState, OrderBook
from exchange.bybit.protocol import PRIVATE_TOPICS, FrameKind, TickerCache, book_topic, classify
from exchange.bybit.ws import BybitFrames
from exchange.config import Settings
from exchange.desk import Desk
from exchange.events import (
    LinkState,
    LinkStats,
    Notice,
    OpenOrder,
    PositionSnapshot,
    PublicTrade,
    SessionState,
    TopicHealth,
    WalletSnapshot,
)
from exchange.frame_rate import FrameRate
from exchange.heartbeat import link_spec, private_idle_probe_s, silence_began
from exchange.hub import EventHub
from exchange.journal import Journal
from exchange.ledger import Ledger
from exchange.market_data import MarketData
from exchange.printable import printable
from exchange.private_auth import auth_refusal, auth_request, clock_trusted
from exchange.reconnect_wait import opening_reason, rate_limit_reset_ms, reconnect_delay, setback
from exchange.recovery_steps import RecoveryStep, race, together
from exchange.retry import (
    Backoff,
    SessionFailed,
    Timeouts,
    describe,
    fatal_reason,
    key_rejected,
)
from exchange.secrets import Credentials
from exchange.sources import FrameHandler, FrameLink, FrameSource, LinkDead, RestApi, Tap, Ticks
from exchange.state_publication import announce, link_figures, publish_figures, transition
from exchange.subscriptions import MAX_REASON_CHARS, Subscriptions
from exchange.symbol_watch import SymbolWatch

__all__ = ["Backoff", "Session", "SessionFailed", "Timeouts"]

log = logging.getLogger(__name__)

T = TypeVar("T")


MARK_INTERVAL_S = 0.25
WATERMARK_INTERVAL_S = 5.0
JOURNAL_TAIL_INTERVAL_S = 1.0  # how often fills another Fluxum journaled on this account are looked for
STATS_INTERVAL_S = 0.5
AUTH_TRIES = 2  # a "Params Error" is asked once more on the same link, on a clock measured just then
_REPLIES = (FrameKind.SUBSCRIBE, FrameKind.AUTH, FrameKind.PONG)
"""Frames that answer a request: never data, whatever they hold."""


class Session:
    """The live session for one account (or none) and a set of symbols in one category."""

    def __init__(
        self,
        settings: Settings,
        *,
        hub: EventHub | None = None,
        journal: Journal | None = None,
        rest: RestApi | None = None,
        frames: FrameSource | None = None,
        tap: Tap | None = None,
        ticks: Ticks | None = None,
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
        self.frames = frames  # None: Bybit's sockets over ``http``, built in run()
        self.tap = tap  # hears every state (the recorder); the frame source and the REST client carry their own
        self.ticks = ticks  # None: maintenance every MARK_INTERVAL_S; a replay's come from the recording
        self._own_http = http is None
        self._http = http
        self._clock = clock
        self._rng = rng or random.Random()
        self.backoff = backoff
        self.timeouts = timeouts
        self.category = settings.category
        self.symbols: list[str] = list(settings.symbols)
        self.desk = _new_desk(settings, self.symbols, self._now_ms())
        self.counters: Counter[str] = Counter()  # one for the session and both ingests
        self._assemble(journal, timeouts, clock)
        self.reconnects = 0
        self.last_reconnect_reason = ""
        self._public: FrameLink | None = None
        self._private: FrameLink | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()  # stop() or reconnect_now(): ends a wait between connections
        self._asked = False  # reconnect_now() was called: the next connection starts over at attempt 1
        self.hold_when_failed = False  # the desk sets it: Failed waits for reconnect_now() instead of ending run()
        self.public_without_account = False  # the desk sets it: a rejected key fails the account part only
        self._link_lost: asyncio.Event | None = None
        self._lost_reason = ""
        self._lost_since: float | None = None  # when the loss began, if before it was found (a silence)
        self._heard: dict[str, float] = {}  # each link's last data frame on this connection (the clock's s)
        self._authenticated = False
        self._clock_suspect = False  # the last private auth arrived expired: measure the clock first
        self._step = RecoveryStep()  # the recovery step under way, named on the bar once slow
        self._rate = FrameRate()
        self.private_sends_before_auth = 0  # must stay 0: the reliability tests read it
        self._connection_starts: deque[float] = deque(maxlen=4 * max(1, backoff.burst))

    def _assemble(self, journal: Journal | None, timeouts: Timeouts, clock: Callable[[], float]) -> None:
        """The parts that decide what frames and reads mean (market, account) and those that ask (subscriptions,
        backfill, the watched symbols), wired to this session."""
        depth = self.settings.depth
        self.market = MarketData(
            self.desk, self.hub, self.counters, depth, timeouts, resubscribe=self._resync, clock=clock
        )
        self.subscriptions = Subscriptions(self.market, self.hub, self.counters, self.category, timeouts)
        self.account = AccountState(
            self.desk,
            self.hub,
            self.counters,
            journal,
            self.settings.mark_source,
            reread=self._reread_history,
            clock=clock,
            exchange_ms=self._server_now_ms,
        )
        self.backfill = (
            None
            if self.rest is None
            else Backfill(
                self.rest, self.account, self.market, self.hub, self.counters, self.category, self._server_now_ms
            )
        )
        self._watching = SymbolWatch(
            self.desk,
            self.market,
            self.subscriptions,
            self.symbols,
            category=self.category,
            timeouts=timeouts,
            backfill=self.backfill,
            public=lambda: self._public,
            lose=self._lose,
        )

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
        return list(self.market.topics)

    async def run(self) -> None:
        """Connect and keep connecting until :meth:`stop`, or a failure retrying cannot fix; with
        ``hold_when_failed`` a Failed session waits for :meth:`reconnect_now` instead of ending."""
        self.account.replay_journal()
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))
        if self.frames is None:
            self.frames = BybitFrames(self._http, clock=self._clock, tap=self.tap)
        try:
            while not self._stop.is_set():
                await self._keep_connecting()
                if self._stop.is_set() or not self.hold_when_failed:
                    break
                await self._pause(None)  # Failed: until the desk asks again, or stops
        finally:
            await self._teardown()
            if self.state.kind is not LinkState.FAILED:
                self._set_state(LinkState.DISCONNECTED, "stopped")
            if self._own_http and self._http is not None:
                await self._http.close()
                self._http = None

    async def _keep_connecting(self) -> None:
        """Connections and the waits between them, until :meth:`stop` or Failed."""
        attempt = 0
        cooled = False  # the last attempt met a 403: a cheap probe goes before the next connection
        while not self._stop.is_set():
            asked, self._asked = self._asked, False
            self._wake.clear()  # a request the last connection already served
            self._set_state(LinkState.CONNECTING, opening_reason(asked, attempt), attempt=attempt)
            healthy_since: float | None = None
            not_before: float | None = None
            probe, cooled = cooled and not asked, False
            try:
                if probe and self.rest is not None:  # a ban still on costs one unsigned request, no connection
                    await self.rest.server_time_ms()
                healthy_since = await self._connect_and_serve()
                reason = self._lost_reason or "link closed"
            except SessionFailed as failure:
                self._fail(str(failure))
                return
            except LinkDead as dead:
                reason = str(dead)
                self._lost_since = self._lost_since or dead.silent_since
            except asyncio.CancelledError:
                raise
            except Exception as error:  # a REST failure during backfill, a transport error, ...
                judged = setback(error, self._server_offset_ms())
                if judged.fatal is not None:
                    self._fail(judged.fatal)
                    return
                reason, not_before, cooled = judged.reason, judged.not_before, judged.cooled
                log.warning("session: %s", reason, exc_info=log.isEnabledFor(logging.DEBUG))
            finally:
                await self._teardown()
            if self._stop.is_set():
                return
            if healthy_since is not None or self._asked:  # a new outage, or the desk asked: start over
                attempt = 0
            attempt += 1
            await self._retry_later(attempt, reason, not_before)

    async def _retry_later(self, attempt: int, reason: str, not_before: float | None) -> None:
        """Reconnecting: announce the attempt and wait its delay (or until the desk asks to reconnect now). A link
        found dead of silence is Reconnecting from its last frame: the outage began there, not at the verdict."""
        self.reconnects += 1
        self.last_reconnect_reason = reason
        delay = reconnect_delay(self.backoff, attempt, self._rng, self._connection_starts, self._clock, not_before)
        retry_ms = self._now_ms() + int(delay * 1000)
        lost_ms = None if self._lost_since is None else int(self._lost_since * 1000)
        self._set_state(LinkState.RECONNECTING, reason, attempt=attempt, next_retry_ms=retry_ms, since_ms=lost_ms)
        what = "Link lost" if self._lost_reason else "Recovery failed"
        self.hub.publish(Notice("warning", f"{what} ({reason}); retry {attempt} in {delay:.1f} s"))
        await self._pause(delay)

    async def _pause(self, delay: float | None) -> None:
        """Wait ``delay`` s (None: without end) or until :meth:`stop` or :meth:`reconnect_now`; an early
        reconnect still waits for the connection budget, so a key held down is no storm."""
        wake = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({wake}, timeout=delay)
        finally:
            wake.cancel()
        self._wake.clear()
        if self._asked and not self._stop.is_set():
            hold = self.backoff.budget_wait(self._connection_starts, self._clock())
            if hold > 0:
                self._set_state(
                    LinkState.RECONNECTING,
                    "reconnect asked: within the connection budget",
                    next_retry_ms=self._now_ms() + int(hold * 1000),
                )
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), hold)

    def reconnect_now(self) -> bool:
        """The desk asks for a new connection now: ends a backoff wait or a Failed state, or abandons a
        recovery in progress, and starts again at attempt 1. False (nothing done) while Ready or stopping."""
        kind = self.state.kind
        if self._stop.is_set() or kind is LinkState.DISCONNECTED:
            return False
        if kind is LinkState.READY and not self.desk.account_down:
            return False
        if kind is LinkState.FAILED and not self.hold_when_failed:
            return False  # run() has ended: nothing is left to wake
        self._asked = True
        self._wake.set()
        if self.rest is not None:  # the trader says "try now": a 403 cool-down of our own making must not refuse it
            self.rest.lift_cooldown()
        if self.desk.account_down:  # the key may work again: the next connection tries the account too
            self.desk.account_down = ""
            self.desk.touch("state")
        self._lose("reconnect asked")
        return True

    # ------------------------------------------------------------------ the watched symbols

    async def watch(self, text: str) -> str:
        """Watch one more symbol while running: subscribed on the open public link (never a reconnect), its book
        SYNCED by its snapshot like every other; without a link the next connection subscribes it. Returns the
        symbol; :class:`WatchRefused` (one sentence) for a name that is no symbol, one already watched, one past
        the cap or one the exchange does not list."""
        return await self._watching.watch(text)

    async def unwatch(self, symbol: str) -> None:
        """Stop watching ``symbol``: its book and state go at once and its topics are unsubscribed on the open link
        (never a reconnect). :class:`WatchRefused` for a symbol not watched, or the last one."""
        await self._watching.unwatch(symbol)

    def _fail(self, reason: str) -> None:
        self._set_state(LinkState.FAILED, reason)
        self.hub.publish(Notice("error", f"Session failed: {reason}"))

    async def stop(self) -> None:
        """Ask :meth:`run` to end; it closes the links and goes Disconnected."""
        self._stop.set()
        self._wake.set()
        if self._link_lost is not None:
            self._lost_reason = "stopped"
            self._link_lost.set()

    # ------------------------------------------------------------------ one connection's life

    async def _connect_and_serve(self) -> float | None:
        """One connection: recover everything, serve until the link dies; returns when it became Ready."""
        assert self._http is not None
        link_lost = self._begin_connection()
        with_account = self.private and not self.desk.account_down
        if with_account:
            self.account.start_recovery()  # before the private stream can journal anything new
        public = await self._open_links(with_account)
        await self._recover(public)
        self._set_state(LinkState.READY, "all topics live" if self._private or not self.private else "public live")
        became_ready = self._clock()
        await link_lost.wait()
        return became_ready

    def _begin_connection(self) -> asyncio.Event:
        """A connection begins: counted against the budget, nothing lost, heard or under way yet. Returns the
        event its loss sets."""
        self._connection_starts.append(self._clock())
        self._link_lost = asyncio.Event()
        self._step.restart()
        self._lost_reason = ""
        self._lost_since = None
        self._heard.clear()
        return self._link_lost

    async def _open_links(self, with_account: bool) -> FrameLink:
        """Open the public link (and the private one ``with_account``), go Connected and start serving them;
        returns the public link."""
        t = self.timeouts
        public = self._public = self._link(
            self.endpoints.public_url(self.category),
            self._on_public_frame,
            "public",
            idle_probe_after=t.idle_probe_s,  # a busy stream gone silent is probed within seconds
            probe_timeout=t.probe_timeout_s,
        )
        links = [public]
        if with_account:
            self._private = self._link(
                self.endpoints.private_url(),
                self._on_private_frame,
                "private",
                idle_probe_after=private_idle_probe_s(t),
                probe_timeout=t.probe_timeout_s,
                on_rejected=self._private_frame_lost,
            )
            links.append(self._private)
        await asyncio.gather(*(link.open() for link in links))
        self._set_state(LinkState.CONNECTED, "sockets open")
        for link in links:
            self._spawn(self._watch_link(link), f"{link.name}-run")
        self._spawn(self._maintain(), "maintenance")
        return public

    async def _recover(self, public: FrameLink) -> None:
        """The recovery, in its order: auth beside the public subscribe, the private topics, snapshots, the
        backfill (see the module's docstring)."""
        if self._private is not None:
            # The public topics are asked for while the private stream authenticates: a slow or refused auth
            # never keeps the books dark.
            self._begin_step("authenticating")
            await together(self._authenticate_or_drop_account(self._private), self._subscribe_public(public))
            self._begin_step("subscribing")
        else:
            self._begin_step("subscribing")
            await self._subscribe_public(public)
        if self._private is not None:  # still: a rejected key drops it
            await self._subscribe_private(self._private)
        self._begin_step("waiting for book snapshots")
        await self._await_snapshots()
        self._begin_step("reading the account" if self._private is not None else "reading the instruments")
        await self._run_backfill()
        if self.ticks is not None:  # a replay: Ready when the recorded session was, not when its replies came
            await self._race(self.ticks.ready())
        self._step.finish()
        if self._private is not None:
            self.account.finish_recovery()

    def _link(
        self,
        url: str,
        on_frame: FrameHandler,
        name: str,
        *,
        idle_probe_after: float,
        probe_timeout: float,
        on_rejected: Callable[[], None] | None = None,
    ) -> FrameLink:
        """One link with the session's heartbeat (:func:`link_spec`)."""
        assert self.frames is not None  # set in run() before any link
        spec = link_spec(self.timeouts, url, name, idle_probe_after=idle_probe_after, probe_timeout=probe_timeout)
        return self.frames.link(spec, on_frame, on_rejected=on_rejected)

    async def _watch_link(self, link: FrameLink) -> None:
        try:
            await link.run()
        except LinkDead as dead:
            since = dead.silent_since
            self._lose(str(dead), None if since is None else self._silence_began(link.name, since))
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a bug in a frame handler must not leave a zombie link
            log.exception("%s link crashed", link.name)
            self._lose(f"{link.name}: internal error ({describe(error)})")

    def _silence_began(self, name: str, last_frame: float) -> float:
        return silence_began(name, last_frame, self._heard, self._clock(), self.timeouts.probe_timeout_s)

    def _lose(self, reason: str, since: float | None = None) -> None:
        """The connection is lost for ``reason``; ``since``: when, if before now (a silence found later)."""
        if self._link_lost is not None and not self._link_lost.is_set():
            self._lost_reason = reason
            self._lost_since = since
            self._link_lost.set()

    async def _race(self, step: Awaitable[T]) -> T:
        """Run one recovery step, but give up at once if a link dies meanwhile."""
        assert self._link_lost is not None
        return await race(step, self._link_lost, lambda: self._lost_reason or "link lost")

    async def _authenticate(self, link: FrameLink) -> None:
        """Auth on ``link``. A refusal that may be the clock ("Params Error", Bybit's reply to an auth that arrived
        expired) is asked once more on the same link, signed on a clock measured just then: the public books never
        go dark for it. Refused again on a trusted clock, it is the key (:func:`auth_refusal`)."""
        credentials = self.settings.credentials
        assert credentials is not None
        refusal: LinkDead | SessionFailed | None = None
        for _ in range(AUTH_TRIES):
            remeasured = await self._measure_clock() and self._clock_suspect
            reply = await self._send_auth(link, credentials)
            if reply.get("success") is True:
                self._authenticated = True
                self._clock_suspect = False
                return
            refusal = auth_refusal(reply, remeasured and self._clock_trusted())
            if not isinstance(refusal, LinkDead):
                raise refusal
            self._clock_suspect = True  # measure the clock before the next auth
        assert refusal is not None
        raise refusal  # the clock could not be measured: a new connection tries again

    async def _send_auth(self, link: FrameLink, credentials: Credentials) -> dict[str, Any]:
        """One auth signed to expire ``auth_expiry_s`` after the exchange's now, and the exchange's reply."""
        expires = self._now_ms() + self._server_offset_ms() + int(self.timeouts.auth_expiry_s * 1000)
        return await self._race(link.request(auth_request(credentials, expires), self.timeouts.auth_s))

    async def _authenticate_or_drop_account(self, link: FrameLink) -> None:
        """Auth; a rejected key takes the account part down, not the public data the desk can still show."""
        try:
            await self._authenticate(link)
        except SessionFailed as rejected:
            if not self.public_without_account:
                raise
            await self._drop_account(str(rejected))

    async def _drop_account(self, reason: str) -> None:
        """The account part is down (a rejected key): close the private link and go on public-only, until
        :meth:`reconnect_now` tries the key again."""
        self.desk.account_down = reason
        self.desk.touch("state")
        self.hub.publish(Notice("error", f"Account down: {reason}; public data stays live (r retries the key)"))
        link, self._private = self._private, None
        for task in [t for t in self._tasks if t.get_name() == "session-private-run"]:
            task.cancel()  # its end is no loss of the connection
        if link is not None:
            await link.close(f"account down: {reason}")

    async def _measure_clock(self) -> bool:
        """Measure the offset to the exchange's clock before signing auth, when it was never measured (the
        REST client measures lazily, at the backfill, which comes after auth) or when the last auth arrived
        expired.

        Without this a session started against, or caught by, an exchange whose clock is ahead by more than
        the auth expiry would sign every auth already expired and never reach the backfill that would fix it.
        A failed measurement keeps the last offset: the auth reply says whether it was good enough. Returns whether
        the clock was measured just now.
        """
        rest = self.rest
        if rest is None or (rest.clock_synced and not self._clock_suspect):
            return False
        try:
            await self._race(asyncio.wait_for(rest.sync_clock(), self.timeouts.auth_s))
        except LinkDead:
            raise
        except Exception as error:  # a 403 cool-down, a 10006, an outage: sign with what we have
            log.warning("session: clock offset not measured (%s); signing with the last", describe(error))
            return False
        return True

    def _clock_trusted(self) -> bool:
        error_ms = 0.0 if self.rest is None else float(self.rest.clock_error_ms)
        return clock_trusted(error_ms, self.timeouts.auth_expiry_s)

    async def _subscribe_public(self, link: FrameLink) -> None:
        await self.subscriptions.subscribe(link, list(self.market.topics), self._race)
        if not self.market.topics:
            raise SessionFailed("no topic was accepted: check the symbols and the category")

    async def _subscribe_private(self, link: FrameLink) -> None:
        if not self._authenticated:
            self.private_sends_before_auth += 1
            raise LinkDead("private subscribe before auth")
        reply = await self._race(
            link.request({"op": "subscribe", "args": list(PRIVATE_TOPICS)}, self.timeouts.subscribe_s)
        )
        if reply.get("success") is not True and "already subscribed" not in str(reply.get("ret_msg")):
            raise LinkDead(f"private subscribe refused: {printable(str(reply.get('ret_msg')), MAX_REASON_CHARS)}")

    async def _await_snapshots(self) -> None:
        wanted = [book for book in self.books.values() if book.topic in self.market.topics]
        deadline = self._clock() + self.timeouts.snapshot_s
        while any(book.state is not BookState.SYNCED for book in wanted):
            if self._clock() >= deadline:
                missing = ", ".join(b.symbol or "?" for b in wanted if b.state is not BookState.SYNCED)
                raise LinkDead(f"no book snapshot for {missing} within {self.timeouts.snapshot_s:g} s")
            await self._race(asyncio.sleep(0.02))

    async def _run_backfill(self) -> None:
        """REST reads that cover what the private stream never replays (and, once, the instruments)."""
        reads = self.backfill
        if reads is None:
            return
        if not self.desk.instruments:
            await self._race(asyncio.wait_for(reads.instruments(), self.timeouts.backfill_s))
        if self._private is not None:
            try:
                await self._race(asyncio.wait_for(reads.account_reads(), self.timeouts.backfill_s))
            except Exception as error:
                if not (self.public_without_account and key_rejected(error)):
                    raise
                await self._drop_account(fatal_reason(error) or describe(error))

    def _reread_history(self) -> None:
        """The account says executions may be missing: read them again, if there is a private side to ask."""
        if self.backfill is not None and self.private and not self.desk.account_down:
            self._spawn(self.backfill.reread_executions(self.journal is not None), "reread-executions")

    async def _teardown(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        for link in (self._public, self._private):
            if link is not None:
                await link.close(self._lost_reason or "closed by Fluxum")
        self._public = self._private = None
        self._authenticated = False
        self.market.link_lost()
        self._publish_stats()  # no socket open: the bar must not keep the last rate and round trip

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
        log.error("%s failed: %s", task.get_name(), describe(error), exc_info=error)
        self.counters["task_failures"] += 1
        self._lose(f"internal error in {task.get_name()} ({describe(error)})")

    # ------------------------------------------------------------------ frames and resyncs

    def _on_public_frame(self, frame: dict[str, Any], received_ms: int) -> None:
        self._heard["public"] = received_ms / 1000
        topic = self._topic(frame, received_ms)
        if topic is not None:
            self.market.take(topic, frame, received_ms)

    def _on_private_frame(self, frame: dict[str, Any], received_ms: int) -> None:
        self._heard["private"] = received_ms / 1000
        if "topic" not in frame and classify(frame) in _REPLIES:
            # an acknowledgement nobody waits for (its request timed out, or a host invents them): no execution
            self.counters["unsolicited_replies"] += 1
            return
        topic = self._topic(frame, received_ms)
        if topic is None:
            self._private_frame_lost()
        else:
            self.account.take(topic, frame, received_ms)

    def _private_frame_lost(self) -> None:
        """A private frame that could not be read at all may have been an execution."""
        self.account.frame_lost("an unreadable private frame")

    def _topic(self, frame: dict[str, Any], received_ms: int) -> str | None:
        """A frame's topic, the frame counted for the message rate at its receive time; None (the frame rejected)
        when it has none."""
        topic = frame.get("topic")
        if topic.__class__ is not str:
            self.counters["rejected_frames"] += 1
            return None
        self._rate.count(received_ms / 1000)
        return topic

    def _resync(self, topics: list[str]) -> bool:
        """Resubscribe ``topics`` for fresh snapshots on the public link; False when there is none."""
        if self._public is None:
            return False
        self._spawn(self._resubscribe_many(topics), f"resync-{topics[0]}")
        return True

    async def _resubscribe_many(self, topics: list[str]) -> None:
        link = self._public
        if link is None:
            return
        try:
            for topic in await self.subscriptions.resubscribe(link, topics):
                self._spawn(self._resubscribe_many([topic]), f"resync-{topic}")
        except LinkDead as dead:
            self._lose(str(dead))

    # ------------------------------------------------------------------ periodic work

    async def _maintain(self) -> None:
        """Marks, staleness, resync retries, the journal's watermark and tail, and link figures, at frame rate."""
        next_stats = 0.0
        next_watermark = self._clock() + WATERMARK_INTERVAL_S
        next_tail = self._clock() + JOURNAL_TAIL_INTERVAL_S
        while True:
            tick = None
            if self.ticks is None:
                await asyncio.sleep(MARK_INTERVAL_S)
            else:
                tick = await self.ticks.wait(MARK_INTERVAL_S)
            now = self._clock()
            if self.tap is not None:
                self.tap.maintained(now)
            self._name_slow_step(now, None if tick is None else tick.named_step)
            self.account.mark_all(self.market.is_stale, int(now * 1000))
            self.hub.flush_notices()
            failed = self.market.retry_resyncs(now)
            if failed is not None:
                self._lose(failed)
                return
            if now >= next_watermark:
                next_watermark = now + WATERMARK_INTERVAL_S
                private = self._private
                if private is not None and private.open_:
                    self.account.advance_watermark(self._server_now_ms())
            if now >= next_tail:
                next_tail = now + JOURNAL_TAIL_INTERVAL_S
                self.account.tail_journal()
            if now >= next_stats:
                next_stats = now + STATS_INTERVAL_S
                self._publish_stats()

    def _server_now_ms(self) -> int:
        return self._now_ms() + self._server_offset_ms()

    # ------------------------------------------------------------------ what a recovery waits on

    def _begin_step(self, detail: str) -> None:
        """A recovery step starts; once one was named on the bar, the next ones are named at once."""
        if self._step.begin(detail, self._clock()):
            self._name_slow_step(self._clock())

    def _name_slow_step(self, now: float, slow: bool | None = None) -> None:
        """Say what a slow recovery waits on, as the Connected state's reason (see
        :meth:`RecoveryStep.slow_reason`); the history keeps each named step."""
        if self._step.current is None or self.state.kind is not LinkState.CONNECTED or slow is False:
            return
        reset_ms = self._rate_limit_reset_ms()
        named = self._step.slow_reason(now, reset_ms, slow)
        if named is not None:
            reason, since_ms = named
            self._set_state(LinkState.CONNECTED, reason, next_retry_ms=reset_ms, since_ms=since_ms, waiting=True)

    def _rate_limit_reset_ms(self) -> int | None:
        status = None if self.rest is None else self.rest.last_rate_limit
        return rate_limit_reset_ms(status, self._server_offset_ms(), self._now_ms())

    def topic_health(self) -> tuple[TopicHealth, ...]:
        account = self.private and not self.desk.account_down
        return self.market.topic_health(self._now_ms()) + (self.account.topic_health() if account else ())

    def link_stats(self) -> LinkStats:
        """The figures now: no link open means no messages and no round trip to show."""
        return link_figures(
            self._clock(),
            (self._public, self._private),
            self._rate,
            self.counters["rejected_frames"],
            self.reconnects,
            self.last_reconnect_reason,
            self.topic_health(),
        )

    # ------------------------------------------------------------------ helpers

    def _server_offset_ms(self) -> int:
        return 0 if self.rest is None else int(self.rest.clock_offset_ms)

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _set_state(
        self,
        kind: LinkState,
        reason: str,
        *,
        attempt: int = 0,
        next_retry_ms: int | None = None,
        since_ms: int | None = None,
        waiting: bool = False,
    ) -> None:
        """A transition (or a new reason within a state); see :func:`transition` for ``since_ms``."""
        previous = self.state
        now_ms = self._now_ms()
        state = transition(
            previous,
            kind,
            reason,
            now_ms,
            attempt=attempt,
            next_retry_ms=next_retry_ms,
            since_ms=since_ms,
            waiting=waiting,
        )
        if state is None:
            return
        announce(self.desk, self.hub, self.tap, state, previous)
        self._publish_stats()  # reconnect count and reason move with the state, not half a second later

    def _publish_stats(self) -> None:
        publish_figures(self.desk, self.hub, self.link_stats())


def _new_desk(settings: Settings, symbols: list[str], now_ms: int) -> Desk:
    """The desk of a session not started: every symbol's book awaiting its snapshot."""
    return Desk(
        environment=settings.environment_label,
        category=settings.category,
        symbols=list(symbols),
        books={s: OrderBook(book_topic(settings.depth, s)) for s in symbols},
        private=settings.credentials is not None,
        state=SessionState(LinkState.DISCONNECTED, now_ms, "not started"),
    )
