"""Scripted desks: fixed, seeded market and account data for the snapshot tests (no network, no session).

Every number comes from a seeded ``random.Random`` or is written here, and every timestamp from ``NOW``, the
clock injected into the app, so a snapshot is the same on every machine and every run.
"""

from __future__ import annotations

import random
from dataclasses import replace
from decimal import Decimal as D

from exchange.book import OrderBook
from exchange.desk import Desk, Instrument
from exchange.events import (
    CoinBalance,
    LinkState,
    LinkStats,
    OpenOrder,
    PositionSnapshot,
    PublicTrade,
    SessionState,
    TopicHealth,
    WalletSnapshot,
)
from exchange.ledger import ContractKind, Fill, MarkSource

NOW = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC
NOW_MS = int(NOW * 1000)
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT")
# symbol: (tick, qty step, mid, level size scale)
MARKETS = {
    "BTCUSDT": (D("0.1"), D("0.001"), D("65010.2"), 0.4),
    "ETHUSDT": (D("0.01"), D("0.01"), D("3500.11"), 6.0),
    "SOLUSDT": (D("0.01"), D("0.1"), D("150.02"), 120.0),
    "XRPUSDT": (D("0.0001"), D("1"), D("0.6012"), 9000.0),
    "DOGEUSDT": (D("0.00001"), D("1"), D("0.15003"), 60000.0),
    "BTCUSD": (D("0.5"), D("1"), D("65010.2"), 40000.0),
    "ETHUSD": (D("0.05"), D("1"), D("3500.11"), 20000.0),
}
INVERSE_SYMBOLS = ("BTCUSD", "ETHUSD")
SEED = 20260101


def clock() -> float:
    """The frozen clock every scripted app gets."""
    return NOW


def _q(value: float, step: D) -> str:
    return str((D(repr(value)) / step).quantize(D(1)) * step)


def _book(symbol: str, rng: random.Random, levels: int = 50) -> OrderBook:
    tick, step, mid, scale = MARKETS[symbol]
    best_bid = (mid / tick).to_integral_value(rounding="ROUND_FLOOR") * tick
    if best_bid == mid:
        best_bid -= tick
    best_ask = best_bid + tick
    bids, asks = [], []
    price = best_bid
    for _ in range(levels):
        bids.append([str(price), _q(rng.uniform(0.05, 1.5) * scale, step)])
        price -= tick * rng.choice((1, 1, 1, 2, 3))
    price = best_ask
    for _ in range(levels):
        asks.append([str(price), _q(rng.uniform(0.05, 1.5) * scale, step)])
        price += tick * rng.choice((1, 1, 1, 2, 3))
    book = OrderBook(f"orderbook.50.{symbol}")
    book.apply(
        {
            "topic": f"orderbook.50.{symbol}",
            "type": "snapshot",
            "ts": NOW_MS - 40,
            "cts": NOW_MS - 43,
            "data": {"s": symbol, "b": bids, "a": asks, "u": 1042, "seq": 77_000_001},
        }
    )
    return book


def _trades(symbol: str, rng: random.Random, book: OrderBook, count: int = 60) -> list[PublicTrade]:
    tick, step, _, scale = MARKETS[symbol]
    bid, ask = book.best_bid(), book.best_ask()
    assert bid is not None and ask is not None
    out = []
    t = NOW_MS - count * 450
    for i in range(count):
        side = rng.choice(("Buy", "Sell"))
        base = D(repr(ask[0] if side == "Buy" else bid[0]))
        price = base + tick * rng.choice((0, 0, 0, 1, 2)) * (1 if side == "Buy" else -1)
        size = rng.uniform(0.01, 0.3) * (2.5 if i % 17 == 5 else 1)  # a few busier prints, not outliers
        if i == count - 4:
            size = 0.3 * 25  # one whale, shortly before now: the tape flags it as large
        qty = D(_q(size * scale, step))
        if qty <= 0:
            qty = step
        t += rng.randint(50, 800)
        out.append(PublicTrade(symbol, t, side, price, qty, f"{symbol}-{i}"))
    return out


def _health(symbols: tuple[str, ...], stale: frozenset[str] = frozenset()) -> tuple[TopicHealth, ...]:
    out = []
    for symbol in symbols:
        for topic, age in (
            (f"orderbook.50.{symbol}", 40),
            (f"publicTrade.{symbol}", 310),
            (f"tickers.{symbol}", 120),
        ):
            out.append(TopicHealth(topic, NOW_MS - (9_000 if topic in stale else age), topic in stale))
    for topic, age in (("order", 5_200), ("execution", 5_200), ("position", 5_100), ("wallet", 5_100)):
        out.append(TopicHealth(topic, NOW_MS - age, False))
    return tuple(out)


def base_desk(environment: str = "SIM", symbols: tuple[str, ...] = SYMBOLS, category: str = "linear") -> Desk:
    """The symbols (the five linear ones unless told), synced books, a Ready session, a funded wallet and no
    positions yet."""
    rng = random.Random(SEED)
    books = {symbol: _book(symbol, rng) for symbol in symbols}
    desk = Desk(environment=environment, category=category, symbols=list(symbols), books=books, private=True)
    desk.positions_read = True
    for symbol in symbols:
        tick, step, mid, _ = MARKETS[symbol]
        desk.instruments[symbol] = Instrument(symbol, tick, step)
        trades = _trades(symbol, rng, books[symbol])
        desk.trades[symbol].extend(trades)
        desk.tickers.apply(
            {
                "topic": f"tickers.{symbol}",
                "type": "snapshot",
                "data": {
                    "symbol": symbol,
                    "lastPrice": str(trades[-1].price),
                    "markPrice": str(mid),
                    "indexPrice": str(mid),
                    "fundingRate": "0.0001",
                },
            }
        )
        desk.touch(f"trades:{symbol}")
        desk.touch(f"ticker:{symbol}")
    desk.state = SessionState(LinkState.READY, NOW_MS - 83_400, "all topics live")
    desk.stats = LinkStats(
        ping_rtt_ms=1.8,
        messages_per_second=412.0,
        reconnects=1,
        last_reconnect_reason="pong timeout",
        topics=_health(symbols),
    )
    desk.wallet = WalletSnapshot(
        total_equity=D("100512.33"),
        total_available=D("93101.87"),
        total_wallet_balance=D("100100.00"),
        coins=(CoinBalance("USDT", D("100512.33"), D("100100.00"), D("412.33")),),
    )
    for part in ("state", "stats", "wallet", "instruments"):
        desk.touch(part)
    return desk


def _fill(
    exec_id: str,
    symbol: str,
    side: str,
    qty: str,
    price: str,
    fee: str,
    ago_ms: int,
    exec_type: str = "Trade",
) -> Fill:
    return Fill(exec_id, symbol, side, D(qty), D(price), D(fee), NOW_MS - ago_ms, exec_type)


def _order(order_id: str, symbol: str, side: str, price: str, qty: str, ago_ms: int) -> OpenOrder:
    return OpenOrder(
        order_id,
        f"link-{order_id}",
        symbol,
        side,
        "Limit",
        D(price),
        D(qty),
        D(0),
        D(qty),
        "New",
        "GTC",
        NOW_MS - ago_ms,
    )


def long_in_profit() -> Desk:
    """BTCUSDT: a round trip that made 120, then long 0.5 @ 64,200 marked at 65,010.2 (mark price)."""
    desk = base_desk()
    fills = [
        _fill("e1", "BTCUSDT", "Buy", "0.3", "63800.0", "11.484", 3_600_000),
        _fill("e2", "BTCUSDT", "Sell", "0.3", "64200.0", "11.556", 2_400_000),
        _fill("e3", "BTCUSDT", "Buy", "0.5", "64200.0", "19.26", 1_800_000),
        _fill("f1", "BTCUSDT", "Sell", "0", "64900.0", "1.62", 600_000, exec_type="Funding"),
    ]
    for fill in fills:
        desk.ledger.apply_fill(fill)
        desk.own_fills.append(fill)
    desk.ledger.mark("BTCUSDT", D("65010.2"), MarkSource.MARK_PRICE, NOW_MS - 250)
    book = desk.books["BTCUSDT"]
    bid = book.bids(4)[3][0]
    desk.orders["o1"] = _order("o1", "BTCUSDT", "Buy", repr(bid), "0.100", 90_000)
    desk.orders["o2"] = _order("o2", "BTCUSDT", "Sell", "66500.0", "0.200", 60_000)
    desk.positions["BTCUSDT"] = PositionSnapshot(
        "BTCUSDT",
        D("0.5"),
        D("64200"),
        D("65010.2"),
        D("58123.4"),
        D("405.1"),
        D("108.44"),
        D("10"),
        D("3210.00"),
        NOW_MS - 5_000,
    )
    for part in ("ledger", "fills", "orders", "positions"):
        desk.touch(part)
    return desk


def short_in_loss() -> Desk:
    """ETHUSDT: short 4 @ 3,450.00 marked at 3,500.11 (mark price), funding received."""
    desk = base_desk()
    fills = [
        _fill("s1", "ETHUSDT", "Sell", "2.5", "3448.20", "5.1723", 5_400_000),
        _fill("s2", "ETHUSDT", "Sell", "1.5", "3453.00", "3.1077", 5_000_000),
        _fill("sf", "ETHUSDT", "Buy", "0", "3470.00", "-0.84", 900_000, exec_type="Funding"),
    ]
    for fill in fills:
        desk.ledger.apply_fill(fill)
        desk.own_fills.append(fill)
    desk.ledger.mark("ETHUSDT", D("3500.11"), MarkSource.MARK_PRICE, NOW_MS - 250)
    desk.positions["ETHUSDT"] = PositionSnapshot(
        "ETHUSDT",
        D("-4"),
        D("3450"),
        D("3500.11"),
        D("3791.55"),
        D("-200.44"),
        D("-8.28"),
        D("5"),
        D("2760.00"),
        NOW_MS - 5_000,
    )
    assert desk.wallet is not None
    desk.wallet = replace(
        desk.wallet,
        total_equity=D("99891.44"),
        total_available=D("97001.12"),
        coins=(CoinBalance("USDT", D("99891.44"), D("100091.88"), D("-200.44")),),
    )
    for part in ("ledger", "fills", "positions", "wallet"):
        desk.touch(part)
    return desk


def reconnecting() -> Desk:
    """The link dropped: Reconnecting, attempt 3, next try in 2.4 s; every book distrusted."""
    desk = long_in_profit()
    for book in desk.books.values():
        book.invalidate("disconnected")
    desk.state = SessionState(
        LinkState.RECONNECTING,
        NOW_MS - 5_300,
        "pong timeout on public link",
        attempt=3,
        next_retry_ms=NOW_MS + 2_400,
    )
    desk.stats = LinkStats(
        ping_rtt_ms=None,
        messages_per_second=0.0,
        reconnects=3,
        last_reconnect_reason="pong timeout on public link",
        topics=_health(SYMBOLS, frozenset(h for s in SYMBOLS for h in (f"orderbook.50.{s}", f"tickers.{s}"))),
    )
    desk.touch("state")
    desk.touch("stats")
    return desk


def failed() -> Desk:
    """The key was rejected: Failed with the reason, not retrying."""
    desk = base_desk()
    for book in desk.books.values():
        book.invalidate("disconnected")
    desk.wallet = None
    desk.state = SessionState(
        LinkState.FAILED, NOW_MS - 12_000, "API key rejected by the private stream: API key is invalid."
    )
    desk.stats = LinkStats(ping_rtt_ms=None, messages_per_second=0.0, reconnects=0, last_reconnect_reason="", topics=())
    desk.touch("state")
    desk.touch("stats")
    return desk


def resyncing() -> Desk:
    """Ready, but the BTCUSDT book saw a gap and waits for its fresh snapshot."""
    desk = long_in_profit()
    book = desk.books["BTCUSDT"]
    book.apply(
        {
            "topic": "orderbook.50.BTCUSDT",
            "type": "delta",
            "ts": NOW_MS - 20,
            "cts": NOW_MS - 22,
            "data": {"s": "BTCUSDT", "b": [], "a": [], "u": 1044, "seq": 77_000_003},
        }
    )
    assert book.state.value == "RESYNCING"
    return desk


MARKS = {"BTCUSDT": "65010.2"}


def resize_best_ask(desk: Desk, symbol: str = "BTCUSDT", size: str = "9.999") -> None:
    """One delta to ``symbol``'s scripted book: its best ask's size becomes ``size`` (one ladder row changes)."""
    book = desk.books[symbol]
    best = book.best_ask()
    assert best is not None
    delta = {"s": symbol, "b": [], "a": [[repr(best[0]), size]], "u": (book.u or 0) + 1, "seq": 1}
    book.apply({"topic": f"orderbook.50.{symbol}", "type": "delta", "ts": NOW_MS, "cts": NOW_MS, "data": delta})


def with_recent_round_trip(desk: Desk, symbol: str = "BTCUSDT") -> Desk:
    """Two own fills among the last public trades (a small buy, then its sale), applied to the ledger too."""
    trades = list(desk.trades[symbol])
    buy_at, sell_at = trades[-9], trades[-3]
    fills = [
        _fill("r1", symbol, "Buy", "0.010", str(buy_at.price), "0.39", NOW_MS - (buy_at.time_ms + 1)),
        _fill("r2", symbol, "Sell", "0.010", str(sell_at.price), "0.39", NOW_MS - sell_at.time_ms),
    ]
    for fill in fills:
        desk.ledger.apply_fill(fill)
        desk.own_fills.append(fill)
    desk.ledger.mark(symbol, D(MARKS[symbol]), MarkSource.MARK_PRICE, NOW_MS - 250)  # the ticker's, as before
    for part in ("ledger", "fills"):
        desk.touch(part)
    return desk


def _coin_fill(exec_id: str, symbol: str, side: str, qty: str, price: str, fee: str, ago_ms: int) -> Fill:
    """A fill of an inverse contract: ``qty`` contracts of 1 USD, ``fee`` in the symbol's coin."""
    return Fill(
        exec_id, symbol, side, D(qty), D(price), D(fee), NOW_MS - ago_ms,
        contract=ContractKind.INVERSE, settle_coin=symbol.removesuffix("USD"),
    )  # fmt: skip


def inverse_long() -> Desk:
    """An inverse desk: BTCUSD made 0.0029 BTC on a round trip, then long 50,000 contracts @ 64,200.0 marked at
    65,010.0; the wallet holds USDT, BTC and ETH."""
    desk = base_desk(symbols=INVERSE_SYMBOLS, category="inverse")
    fills = [
        _coin_fill("i1", "BTCUSD", "Buy", "30000", "63800.0", "0.00025862", 3_600_000),
        _coin_fill("i2", "BTCUSD", "Sell", "30000", "64200.0", "0.00025701", 2_400_000),
        _coin_fill("i3", "BTCUSD", "Buy", "50000", "64200.0", "0.00042835", 1_800_000),
    ]
    for fill in fills:
        desk.ledger.apply_fill(fill)
        desk.own_fills.append(fill)
    desk.ledger.mark("BTCUSD", D("65010.0"), MarkSource.MARK_PRICE, NOW_MS - 250)
    desk.positions["BTCUSD"] = PositionSnapshot(
        "BTCUSD", D("50000"), D("64200.0"), D("65010.0"), D("58400.5"), D("0.00970376"), D("0.00241426"),
        D("10"), D("0.07788162"), NOW_MS - 5_000,
    )  # fmt: skip
    desk.wallet = WalletSnapshot(
        total_equity=D("200641.77"),
        total_available=D("195578.65"),
        total_wallet_balance=D("200010.95"),
        coins=(
            CoinBalance("USDT", D("100000"), D("100000"), D("0")),
            CoinBalance("BTC", D("1.01211802"), D("1.00241426"), D("0.00970376")),
            CoinBalance("ETH", D("10"), D("10"), D("0")),
        ),
    )
    for part in ("ledger", "fills", "positions", "wallet"):
        desk.touch(part)
    return desk


_MIN = 60_000

RAW_UNREACHABLE = (
    "public: cannot connect (Cannot connect to host 127.0.0.1:41234 ssl:default "
    "[Connect call failed ('127.0.0.1', 41234)])"
)
"""The raw reason aiohttp gives for a refused connect: what the bar must say in desk words."""


def desk_in_outage() -> Desk:
    """Reconnecting (attempt 3, 5 s into it), 41 s into the outage, with half an hour of timeline."""
    desk = reconnecting()
    desk.ever_ready = True
    desk.outage_started_ms = NOW_MS - 41_000
    timeline = desk.link_timeline
    timeline.note(NOW_MS - 45 * _MIN, "ready")
    timeline.note(NOW_MS - 30 * _MIN, "down")
    timeline.note(NOW_MS - 29 * _MIN - 18_000, "ready")
    timeline.note(NOW_MS - 20 * _MIN, "degraded")
    timeline.note(NOW_MS - 20 * _MIN + 7000, "ready")
    timeline.note(NOW_MS - 41_000, "down")
    return desk
