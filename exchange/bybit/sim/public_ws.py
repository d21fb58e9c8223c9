"""The public WebSockets of the local exchange: ``/v5/public/{spot,linear,inverse}``.

Topics: ``orderbook.{1,50,200,1000}.{SYMBOL}``, ``publicTrade.{SYMBOL}``, ``tickers.{SYMBOL}``,
``kline.{minutes}.{SYMBOL}`` (``klines.py``); anything else,
a depth Bybit does not serve or a lower-case symbol gets ``error:handler not found,topic:<t>``. Inverse is
served like linear for the inverse symbols configured (``BTCUSD``, ``ETHUSD`` when "inverse" is among the
categories); with none configured every inverse topic is "handler not found". Option and spread are not
served (404).

Shared streams: every ``(category, topic)`` has one stream. A book stream publishes at Bybit's cadence (depth
1: 10 ms, 50: 20 ms, 200: 100 ms, 1000: 200 ms) a delta that is the *diff of the current top-N window against
the last published window* (updates, inserts, ``"0"`` deletes, so a client book holds exactly N levels per
side), ``u`` + 1 per delta, only when something changed. The delta is encoded once and the same bytes go to
every subscriber. A client that subscribes while the stream runs gets its own snapshot of the last published
window at the current ``u``, then the shared deltas. Level 1 is snapshot-only and repeats every 3 s with the
same ``u`` when unchanged. Tickers: linear/inverse snapshot then changed-field deltas (100 ms); spot snapshot
only (50 ms). Public trades go out as the market prints them.

Control replies follow Bybit's per category (the captures in tests/fixtures/bybit/ws_control). Decisions where Bybit
is not documented: a subscribe with some bad topics subscribes the good ones and answers ``success:false`` naming the
first bad one; unsubscribe acks always use ``ret_msg ""``; an empty or non-list ``args`` answers ``Params Error``; a
subscribe that would take a connection's args past Bybit's documented 21,000 characters is refused whole with ``args
length >21000`` (the limit is Bybit's, the wording ours); client frames over 64 KiB close the connection with 1009
(counted ``ws.rejected.oversized``)."""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from exchange.bybit.protocol import MAX_ARGS_CHARS, args_chars
from exchange.bybit.sim.clock import SimClock
from exchange.bybit.sim.connection import ConnectionRegistry, SimConnection
from exchange.bybit.sim.klines import KLINE_INTERVALS, Klines, KlineStream
from exchange.bybit.sim.market import Market, PublicTrade, SymbolBook
from exchange.bybit.sim.wire import ticker_fields

log = logging.getLogger(__name__)

CATEGORIES = ("spot", "linear", "inverse")
DEPTHS = (1, 50, 200, 1000)
CADENCE_S = {1: 0.010, 50: 0.020, 200: 0.100, 1000: 0.200}
L1_REPEAT_S = 3.0
TICKER_CADENCE_S = {"linear": 0.100, "inverse": 0.100, "spot": 0.050}
SPOT_MAX_ARGS = 10
MAX_CLIENT_FRAME = 64 * 1024
MAX_TRADES_PER_MESSAGE = 1024
TICK_S = 0.005  # publisher resolution
IDLE_TICK_S = 0.020
PAUSED_TICK_S = 0.5
"""The publisher's longest sleep while the market is paused: a resume, a taker order and an injected fault wake
it at once (``Market.until_stirred``), and the L1 repeat is timed to its due."""
"""The longest the publisher sleeps: a stream subscribed meanwhile waits no longer for its first tick."""
STIRRED_S = 0.25
"""After a paused market is stirred (a taker order, a fault), the publisher keeps the streams' cadence this long:
longer than the slowest book or ticker cadence, so every stream it moved is published once."""
FLOOD_STALL_TIMEOUT_S = 5.0  # a flooded client that drains nothing for this long is dropped as slow


def add_routes(app: web.Application, feed: PublicFeed) -> None:
    """Serve ``/v5/public/{category}`` from the shared feed."""
    app.router.add_get("/v5/public/{category}", feed.handle)


# ============================================================================================== streams


class BookStream:
    """``orderbook.{depth}.{symbol}`` in one category: the published window, ``u``, and its subscribers."""

    def __init__(self, feed: PublicFeed, book: SymbolBook, depth: int) -> None:
        self.feed = feed
        self.book = book
        self.depth = depth
        self.topic = f"orderbook.{depth}.{book.symbol}"
        seed = feed.seed
        self.u = random.Random(f"{seed}:{book.category}:{self.topic}:u").randrange(1_000_000, 30_000_000)
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.bid_list: list[tuple[int, int]] = []
        self.ask_list: list[tuple[int, int]] = []
        self.version = -1
        self.seq = 0
        self.cts = 0
        self.subscribers: set[SimConnection] = set()
        self.next_due = 0.0
        self.last_sent = 0.0
        self.cadence = CADENCE_S[depth]
        self.ts_first = book.spot or depth == 1  # Bybit's key order: spot and L1 put "ts" before "type"
        self.skip_pending = 0
        self.unreadable_pending = 0
        self.restart_pending = False
        self.published = 0

    # ------------------------------------------------------------------------ window

    def _refresh(self) -> None:
        book = self.book
        self.bid_list = book.top_bids(self.depth)
        self.ask_list = book.top_asks(self.depth)
        self.bids = dict(self.bid_list)
        self.asks = dict(self.ask_list)
        self.version = book.version
        self.seq = book.seq
        self.cts = book.cts

    def _diff(self) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Changes of the top-N window since the last publish (best first per side); updates the window."""
        book = self.book
        new_bids = book.top_bids(self.depth)
        new_asks = book.top_asks(self.depth)
        bid_changes = _side_diff(self.bids, new_bids)
        ask_changes = _side_diff(self.asks, new_asks)
        bid_changes.sort(key=lambda level: -level[0])
        ask_changes.sort()
        self.bid_list = new_bids
        self.ask_list = new_asks
        self.bids = dict(new_bids)
        self.asks = dict(new_asks)
        self.version = book.version
        self.seq = book.seq
        self.cts = book.cts
        return bid_changes, ask_changes

    # ------------------------------------------------------------------------ messages

    def _message(
        self, kind: str, bids: list[tuple[int, int]], asks: list[tuple[int, int]], unreadable: bool = False
    ) -> bytes:
        book = self.book
        price = book.price_text
        qty = book.qty_text
        data: dict[str, Any] = {
            "s": book.symbol,
            "b": [[price(tick), qty(lots)] for tick, lots in bids],
            "a": [[price(tick), qty(lots)] for tick, lots in asks],
            "u": self.u,
            "seq": self.seq,
        }
        if unreadable:  # the fault: the last level of the delta gets a size that is not a number
            side = data["a"] or data["b"]
            side[-1][1] = "not-a-size"
        ts = max(self.feed.clock.now_ms(), self.cts)
        if self.ts_first:
            message = {"topic": self.topic, "ts": ts, "type": kind, "data": data, "cts": self.cts}
        else:
            message = {"topic": self.topic, "type": kind, "ts": ts, "data": data, "cts": self.cts}
        return orjson.dumps(message)

    def snapshot(self) -> bytes:
        return self._message("snapshot", self.bid_list, self.ask_list)

    def _fan_out(self, data: bytes) -> None:
        self.published += 1
        for conn in tuple(self.subscribers):
            if conn.closed:
                self.subscribers.discard(conn)
            else:
                conn.send_bytes_text(data)

    # ------------------------------------------------------------------------ lifecycle

    def attach(self, conn: SimConnection, now: float) -> None:
        """A new subscriber: start the stream if it slept, then send this client a snapshot."""
        if not self.subscribers:
            self._refresh()
            self.u += 1
            self.next_due = now + self.cadence
            self.last_sent = now
        self.subscribers.add(conn)
        conn.send_bytes_text(self.snapshot())

    def publish(self, now: float) -> None:
        """One cadence tick: faults first, then a delta (or an L1 snapshot) if the window changed."""
        if self.restart_pending:
            self.restart_pending = False
            self.skip_pending = 0
            self._refresh()
            self.u = 1
            self.last_sent = now
            self._fan_out(self.snapshot())
            return
        book = self.book
        if self.depth == 1:
            if book.version != self.version:
                old = (self.bid_list, self.ask_list)
                self._refresh()
                if (self.bid_list, self.ask_list) != old:
                    self.u += 1 + self.skip_pending
                    self.skip_pending = 0
                    self.last_sent = now
                    self._fan_out(self.snapshot())
                    return
            if now - self.last_sent >= L1_REPEAT_S:
                self.last_sent = now
                self._fan_out(self.snapshot())
            return
        if book.version == self.version:
            return
        bids, asks = self._diff()
        if not bids and not asks:
            return
        self.u += 1 + self.skip_pending
        self.skip_pending = 0
        self.last_sent = now
        unreadable = self.unreadable_pending > 0
        self.unreadable_pending -= unreadable
        self._fan_out(self._message("delta", bids, asks, unreadable))

    def flood_delta(self, i: int) -> bytes:
        """A real delta that resizes the published best bid and ask (flood mode; the market is untouched)."""
        bid_tick, _ = self.bid_list[0]
        ask_tick, _ = self.ask_list[0]
        bid_lots = 1 + (i * 7919) % 100_000
        ask_lots = 1 + (i * 104_729) % 100_000
        self.bid_list[0] = (bid_tick, bid_lots)
        self.ask_list[0] = (ask_tick, ask_lots)
        self.bids[bid_tick] = bid_lots
        self.asks[ask_tick] = ask_lots
        self.version = -1  # the next regular publish diffs the window back to the market
        self.u += 1
        return self._message("delta", [(bid_tick, bid_lots)], [(ask_tick, ask_lots)])


def _side_diff(old: dict[int, int], new: list[tuple[int, int]]) -> list[tuple[int, int]]:
    changes = [(tick, lots) for tick, lots in new if old.get(tick) != lots]
    if len(old) != len(new) or changes:
        present = {tick for tick, _ in new}
        changes.extend((tick, 0) for tick in old if tick not in present)
    return changes


class TickerStream:
    """``tickers.{symbol}``: linear/inverse snapshot then changed-field deltas; spot snapshots only."""

    def __init__(self, feed: PublicFeed, book: SymbolBook) -> None:
        self.feed = feed
        self.book = book
        self.topic = f"tickers.{book.symbol}"
        self.fields: dict[str, str] = {}
        self.cs = 0
        self.subscribers: set[SimConnection] = set()
        self.next_due = 0.0
        self.cadence = TICKER_CADENCE_S[book.category]
        self.snapshot_only = book.spot

    def _message(self, kind: str, data: dict[str, str]) -> bytes:
        ts = self.feed.clock.now_ms()
        if self.book.spot:
            message: dict[str, Any] = {
                "topic": self.topic,
                "ts": ts,
                "type": kind,
                "cs": self.cs,
                "data": data,
            }
        else:
            message = {"topic": self.topic, "type": kind, "data": data, "cs": self.cs, "ts": ts}
        return orjson.dumps(message)

    def attach(self, conn: SimConnection, now: float) -> None:
        if not self.subscribers:
            self.fields = ticker_fields(self.book, "ws")
            self.cs = self.book.seq
            self.next_due = now + self.cadence
        self.subscribers.add(conn)
        conn.send_bytes_text(self._message("snapshot", self.fields))

    def publish(self, now: float) -> None:
        fields = ticker_fields(self.book, "ws")
        if fields == self.fields:
            return
        if self.snapshot_only:
            changed = fields
            kind = "snapshot"
        else:
            changed = {"symbol": fields["symbol"]}
            changed.update((k, v) for k, v in fields.items() if self.fields.get(k) != v)
            kind = "delta"
        self.fields = fields
        self.cs = self.book.seq
        data = self._message(kind, changed)
        for conn in tuple(self.subscribers):
            if conn.closed:
                self.subscribers.discard(conn)
            else:
                conn.send_bytes_text(data)


class TradeStream:
    """``publicTrade.{symbol}``: the market's prints, in the category's field set."""

    def __init__(self, feed: PublicFeed, book: SymbolBook) -> None:
        self.feed = feed
        self.book = book
        self.topic = f"publicTrade.{book.symbol}"
        self.subscribers: set[SimConnection] = set()

    def attach(self, conn: SimConnection, now: float) -> None:
        self.subscribers.add(conn)

    def publish_trades(self, trades: list[PublicTrade]) -> None:
        spot = self.book.spot
        for start in range(0, len(trades), MAX_TRADES_PER_MESSAGE):
            chunk = trades[start : start + MAX_TRADES_PER_MESSAGE]
            if spot:
                items = [
                    {"T": t.ts_ms, "s": t.symbol, "S": t.side, "v": t.qty_text, "p": t.price_text,
                     "i": t.trade_id, "BT": False, "RPI": False, "seq": t.seq}
                    for t in chunk
                ]  # fmt: skip
            else:
                items = [
                    {"T": t.ts_ms, "s": t.symbol, "S": t.side, "v": t.qty_text, "p": t.price_text,
                     "L": t.tick_direction, "i": t.trade_id, "BT": False, "RPI": False, "seq": t.seq}
                    for t in chunk
                ]  # fmt: skip
            ts = max(self.feed.clock.now_ms(), chunk[-1].ts_ms)
            if spot:
                message: dict[str, Any] = {"topic": self.topic, "ts": ts, "type": "snapshot", "data": items}
            else:
                message = {"topic": self.topic, "type": "snapshot", "ts": ts, "data": items}
            data = orjson.dumps(message)
            for conn in tuple(self.subscribers):
                if conn.closed:
                    self.subscribers.discard(conn)
                else:
                    conn.send_bytes_text(data)


Stream = BookStream | TickerStream | TradeStream | KlineStream


# ============================================================================================== the feed


class PublicFeed:
    """Every public stream of the server, the publisher task, and the WebSocket handler."""

    def __init__(
        self, market: Market, clock: SimClock, connections: ConnectionRegistry, counters: Counter[str], seed: int
    ) -> None:
        self.market = market
        self.clock = clock
        self.connections = connections
        self.counters = counters
        self.seed = seed
        self.streams: dict[tuple[str, str], Stream] = {}
        self._trade_streams: dict[tuple[str, str], TradeStream] = {}
        self._task: asyncio.Task[None] | None = None
        market.add_public_trade_sink(self._on_trades)
        self.klines = Klines(market, seed)

    # ------------------------------------------------------------------------ streams

    def stream(self, category: str, topic: str) -> Stream | None:
        """The stream serving ``topic`` in ``category`` (created on first use), or None if there is none."""
        key = (category, topic)
        stream = self.streams.get(key)
        if stream is not None:
            return stream
        parts = topic.split(".")
        market = self.market
        try:
            if len(parts) == 3 and parts[0] == "orderbook" and parts[1].isdigit() and int(parts[1]) in DEPTHS:
                if str(int(parts[1])) != parts[1]:
                    return None
                stream = BookStream(self, market.book(category, parts[2]), int(parts[1]))
            elif len(parts) == 2 and parts[0] == "tickers":
                stream = TickerStream(self, market.book(category, parts[1]))
            elif len(parts) == 3 and parts[0] == "kline" and parts[1] in KLINE_INTERVALS:
                stream = KlineStream(self.clock, self.klines.series(category, parts[2], parts[1], self.clock.now_ms()))
            elif len(parts) == 2 and parts[0] == "publicTrade":
                stream = TradeStream(self, market.book(category, parts[1]))
                self._trade_streams[key] = stream
            else:
                return None
        except KeyError:
            return None
        self.streams[key] = stream
        return stream

    def _on_trades(self, book: SymbolBook, trades: list[PublicTrade]) -> None:
        stream = self._trade_streams.get((book.category, f"publicTrade.{book.symbol}"))
        if stream is not None and stream.subscribers:
            stream.publish_trades(trades)

    def _matching(self, topic: str, category: str | None) -> list[BookStream]:
        categories = [category] if category else self.market.categories()
        out = []
        for cat in categories:
            stream = self.stream(cat, topic)
            if isinstance(stream, BookStream):
                out.append(stream)
        if not out:
            raise ValueError(f"no order-book stream {topic!r}" + (f" in {category}" if category else ""))
        return out

    def inject_skip_u(self, topic: str, category: str | None = None) -> None:
        for stream in self._matching(topic, category):
            stream.skip_pending += 1
        self.market.stir()

    def inject_unreadable(self, topic: str, category: str | None = None) -> None:
        for stream in self._matching(topic, category):
            stream.unreadable_pending += 1
        self.market.stir()

    def inject_restart(self, topic: str, category: str | None = None) -> None:
        for stream in self._matching(topic, category):
            stream.restart_pending = True
        self.market.stir()

    # ------------------------------------------------------------------------ publishing

    def start(self, background: bool = True) -> None:
        if background and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="sim-public-feed")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        stirred_until = 0.0
        while True:
            now = loop.time()
            if self.market.paused and now >= stirred_until:
                if await self.market.until_stirred(self._until_due(now)):
                    stirred_until = loop.time() + STIRRED_S  # what moved goes out at the streams' cadence
                    continue
            else:
                await asyncio.sleep(self._until_streams_due(now))
            try:
                self._tick(loop.time(), force=False)
            except Exception:
                log.exception("public feed tick failed")

    def _until_due(self, now: float) -> float:
        """Seconds to sleep until the next stream is due (within the publisher's resolution): a stream's
        cadence, not a fixed tick, sets how often the feed wakes; in a paused market, which moves only when woken, the
        next level-1 repeat, at most ``PAUSED_TICK_S`` away."""
        if self.market.paused:
            repeats = [
                s.last_sent + L1_REPEAT_S
                for s in self.streams.values()
                if isinstance(s, BookStream) and s.depth == 1 and s.subscribers
            ]
            return min(PAUSED_TICK_S, max(TICK_S, min(repeats, default=now + PAUSED_TICK_S) - now))
        return self._until_streams_due(now)

    def _until_streams_due(self, now: float) -> float:
        due = min(
            (s.next_due for s in self.streams.values() if not isinstance(s, TradeStream) and s.subscribers),
            default=now + IDLE_TICK_S,
        )
        return min(IDLE_TICK_S, max(TICK_S, due - now))

    def publish_now(self) -> None:
        """Publish every active stream now, ignoring cadence (tests drive the feed with this)."""
        self._tick(asyncio.get_running_loop().time(), force=True)

    def _tick(self, now: float, force: bool) -> None:
        for stream in self.streams.values():
            if isinstance(stream, TradeStream) or not stream.subscribers:
                continue
            if force or now >= stream.next_due:
                stream.next_due = now + stream.cadence
                stream.publish(now)

    async def flood(self, category: str, topic: str, count: int) -> int:
        """Send ``count`` real deltas of ``topic`` to its subscribers as fast as they drain them."""
        stream = self.stream(category, topic)
        if not isinstance(stream, BookStream) or stream.depth == 1:
            raise ValueError(f"flood needs an order-book topic deeper than 1, not {topic!r}")
        if not stream.subscribers or not stream.bid_list or not stream.ask_list:
            raise ValueError(f"nobody is subscribed to {topic!r} in {category}")
        sent = 0
        for i in range(count):
            stream._fan_out(stream.flood_delta(i))
            sent += 1
            if i % 128 == 127:
                await asyncio.sleep(0)
                for conn in tuple(stream.subscribers):
                    if conn.queued > conn.max_frames // 2:
                        try:
                            await asyncio.wait_for(conn.wait_room(conn.max_frames // 4), FLOOD_STALL_TIMEOUT_S)
                        except TimeoutError:
                            conn.drop_slow()
                if not stream.subscribers:
                    break
        self.counters["faults.flood_messages"] += sent
        return sent

    # ------------------------------------------------------------------------ the socket

    async def handle(self, request: web.Request) -> web.StreamResponse:
        category = request.match_info["category"]
        if category not in CATEGORIES:
            raise web.HTTPNotFound()
        ws = web.WebSocketResponse(autoping=False, max_msg_size=MAX_CLIENT_FRAME, timeout=2.0, compress=False)
        await ws.prepare(request)
        conn = self.connections.open(ws, request, f"public:{category}")
        counters = self.counters
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    try:
                        self.on_text(conn, category, msg.data)
                    except Exception:
                        counters["ws.handler_errors"] += 1
                        log.exception("public WS request failed on %s", conn.conn_id)
                elif msg.type is WSMsgType.PING:
                    await conn.answer_ping(msg.data)
                elif msg.type is WSMsgType.BINARY:
                    counters["ws.rejected.binary"] += 1
                    conn.send_text(decode_error(msg.data[:64].decode("latin-1")))
                elif msg.type is WSMsgType.ERROR:
                    counters["ws.rejected.oversized" if _too_big(msg.data) else "ws.rejected.error"] += 1
                    break
        except Exception as error:  # a reset mid-read ends the connection, never the server
            log.debug("public WS %s ended: %r", conn.conn_id, error)
        finally:
            self.detach_all(conn)
            await self.connections.close(conn)
        return ws

    def on_text(self, conn: SimConnection, category: str, text: str) -> None:
        """One client request: ping, subscribe, unsubscribe; anything else is answered and counted."""
        counters = self.counters
        try:
            request = orjson.loads(text)
        except orjson.JSONDecodeError:
            counters["ws.rejected.bad_json"] += 1
            conn.send_text(decode_error(text))
            return
        if not isinstance(request, dict):
            counters["ws.rejected.bad_json"] += 1
            conn.send_text(decode_error(text))
            return
        op = request.get("op")
        req_id = request.get("req_id")
        if op == "ping":
            conn.send_pong(control_reply(category, conn, True, "pong", "ping", req_id))
        elif op == "subscribe":
            self._subscribe(conn, category, request.get("args"), req_id)
        elif op == "unsubscribe":
            self._unsubscribe(conn, category, request.get("args"), req_id)
        else:
            counters["ws.rejected.invalid_op"] += 1
            conn.send_json(
                control_reply(category, conn, False, "error:invalid op", str(op) if op is not None else "", req_id)
            )

    def _subscribe(self, conn: SimConnection, category: str, args: Any, req_id: Any) -> None:
        counters = self.counters
        if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
            counters["ws.rejected.params"] += 1
            conn.send_json(control_reply(category, conn, False, "Params Error", "subscribe", req_id))
            return
        if category == "spot" and len(args) > SPOT_MAX_ARGS:
            counters["ws.rejected.args_size"] += 1
            conn.send_json(control_reply(category, conn, False, f"args size >{SPOT_MAX_ARGS}", "subscribe", req_id))
            return
        if args_chars(conn.subscriptions | set(args)) > MAX_ARGS_CHARS:
            counters["ws.rejected.args_length"] += 1
            conn.send_json(control_reply(category, conn, False, f"args length >{MAX_ARGS_CHARS}", "subscribe", req_id))
            return
        failures: list[str] = []
        accepted: list[Stream] = []
        for topic in args:
            stream = self.stream(category, topic)
            if stream is None:
                counters["ws.rejected.unknown_topic"] += 1
                failures.append(f"error:handler not found,topic:{topic}")
            elif topic in conn.subscriptions:
                counters["ws.rejected.already_subscribed"] += 1
                failures.append(f"error:already subscribed,topic:{topic}")
            else:
                conn.subscriptions.add(topic)
                accepted.append(stream)
        if failures:
            conn.send_json(control_reply(category, conn, False, failures[0], "subscribe", req_id))
        else:
            conn.send_json(
                control_reply(category, conn, True, "subscribe" if category == "spot" else "", "subscribe", req_id)
            )
        now = asyncio.get_running_loop().time()
        for stream in accepted:
            stream.attach(conn, now)
        counters["ws.subscriptions"] += len(accepted)

    def _unsubscribe(self, conn: SimConnection, category: str, args: Any, req_id: Any) -> None:
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            self.counters["ws.rejected.params"] += 1
            conn.send_json(control_reply(category, conn, False, "Params Error", "unsubscribe", req_id))
            return
        for topic in args:
            if topic in conn.subscriptions:
                conn.subscriptions.discard(topic)
                stream = self.streams.get((category, topic))
                if stream is not None:
                    stream.subscribers.discard(conn)
        conn.send_json(control_reply(category, conn, True, "", "unsubscribe", req_id))

    def detach_all(self, conn: SimConnection) -> None:
        category = conn.kind.partition(":")[2]
        for topic in conn.subscriptions:
            stream = self.streams.get((category, topic))
            if stream is not None:
                stream.subscribers.discard(conn)
        conn.subscriptions.clear()


def control_reply(
    category: str, conn: SimConnection, success: bool, ret_msg: str, op: str, req_id: Any
) -> dict[str, Any]:
    """A control reply in the category's shape (spot leaves ``req_id`` out unless the client sent one)."""
    reply: dict[str, Any] = {"success": success, "ret_msg": ret_msg, "conn_id": conn.conn_id}
    if req_id is not None:
        reply["req_id"] = req_id
    elif category != "spot":
        reply["req_id"] = ""
    reply["op"] = op
    return reply


def decode_error(text: str) -> str:
    """Bybit's plain-text answer to a frame that is not a JSON object (its Go decoder's message)."""
    found = text[:1] or "EOF"
    head = text[:10].replace("|", "")
    return (
        f"Failed to decode incoming data:readObjectStart: expect {{ or n, but found {found}, "
        f"error found in #1 byte of ...|{head}|..., bigger context ...|{head}|..."
    )


def _too_big(error: object) -> bool:
    """Whether a receive error is aiohttp's "message too big" (close code 1009)."""
    return getattr(error, "code", None) == 1009
