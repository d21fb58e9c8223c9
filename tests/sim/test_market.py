"""The local exchange's market model: determinism, book invariants, takers, prices, formatting."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange.bybit.sim.clock import SimClock
from exchange.bybit.sim.instruments import (
    DEFAULT_SYMBOLS,
    UnknownSymbol,
    build_instruments,
    known_symbols,
)
from exchange.bybit.sim.market import Market, format_units, trim
from exchange.bybit.sim.wire import ticker_fields
from tests.support.sim import UUID_RE
from tests.support.waiting import until

T0 = 1_750_000_000_000


def make_market(seed: int = 7, symbols: tuple[str, ...] = DEFAULT_SYMBOLS, levels: int = 1200) -> Market:
    return Market(build_instruments(symbols), seed=seed, clock=SimClock(fixed_ms=T0), book_levels=levels)


def fingerprint(market: Market) -> list[object]:
    out: list[object] = []
    for book in market.books():
        out.append((book.category, book.symbol, book.top_bids(1200), book.top_asks(1200), book.seq, book.version))
        out.append([(t.trade_id, t.price_text, t.qty_text, t.side, t.seq) for t in book.trades])
    return out


def test_same_seed_and_steps_give_the_same_market() -> None:
    a, b = make_market(seed=11), make_market(seed=11)
    for _ in range(300):
        a.step()
        b.step()
    assert fingerprint(a) == fingerprint(b)
    c = make_market(seed=12)
    for _ in range(300):
        c.step()
    assert fingerprint(c) != fingerprint(a)


def test_determinism_includes_takers() -> None:
    markets = [make_market(seed=3), make_market(seed=3)]
    fills = []
    for market in markets:
        for i in range(100):
            market.step()
            if i % 10 == 0:
                fills.append(market.take("linear", "ETHUSDT", "Buy" if i % 20 else "Sell", Decimal("1.5"), None))
    assert fills[:10] == fills[10:]
    assert fingerprint(markets[0]) == fingerprint(markets[1])


def test_books_stay_deep_uncrossed_and_on_the_grid() -> None:
    market = make_market(seed=5)
    for _ in range(500):
        market.step()
    for book in market.books():
        bids, asks = book.top_bids(5000), book.top_asks(5000)
        assert len(bids) >= 1200 and len(asks) >= 1200
        assert bids[0][0] < asks[0][0], f"{book.symbol} crossed"
        assert [t for t, _ in bids] == sorted((t for t, _ in bids), reverse=True)
        assert [t for t, _ in asks] == sorted(t for t, _ in asks)
        assert all(lots > 0 for _, lots in bids + asks)
        inst = book.instrument
        for price, qty in market.levels(book.category, book.symbol, "bid", 30):
            assert price % inst.tick_size == 0 and qty % inst.qty_step == 0 and qty > 0
        # the price process moves but stays realistic over 25 s of simulated steps
        mid = (bids[0][0] + asks[0][0]) / 2 * float(inst.tick_size)
        assert abs(mid / float(inst.start_price) - 1) < 0.05


def test_take_market_buy_walks_the_asks_and_prints_trades() -> None:
    market = make_market(symbols=("BTCUSDT",))
    heard: list[tuple[str, str, str, Decimal, Decimal, int]] = []
    market.add_trade_listener(lambda *args: heard.append(args))
    asks = market.levels("linear", "BTCUSDT", "ask", 5)
    want = asks[0][1] + asks[1][1] + asks[2][1] / 2
    want = (want / Decimal("0.001")).to_integral_value() * Decimal("0.001")
    fills = market.take("linear", "BTCUSDT", "Buy", want, None)
    assert [p for p, _ in fills] == [asks[0][0], asks[1][0], asks[2][0]]
    assert sum(q for _, q in fills) == want
    assert [(h[2], h[3], h[4]) for h in heard] == [("Buy", p, q) for p, q in fills]
    assert all(h[0] == "linear" and h[1] == "BTCUSDT" and h[5] == T0 for h in heard)
    book = market.book("linear", "BTCUSDT")
    assert list(book.trades)[-3:][0].price == asks[0][0]
    assert all(UUID_RE.match(t.trade_id) for t in book.trades)
    left = {price: qty for price, qty in market.levels("linear", "BTCUSDT", "ask", 10)}
    assert left[asks[2][0]] == asks[2][1] - (want - asks[0][1] - asks[1][1])


def test_take_respects_the_limit_and_the_step() -> None:
    market = make_market(symbols=("BTCUSDT",))
    best_bid = market.levels("linear", "BTCUSDT", "bid", 1)[0][0]
    fills = market.take("linear", "BTCUSDT", "Sell", Decimal("1000"), best_bid)
    assert fills and all(price == best_bid for price, _ in fills)
    assert market.take("linear", "BTCUSDT", "Sell", Decimal("0.0004"), None) == []  # below one step
    ask = market.levels("linear", "BTCUSDT", "ask", 1)[0][0]
    assert market.take("linear", "BTCUSDT", "Buy", Decimal("1"), ask - Decimal("100")) == []
    with pytest.raises(ValueError):
        market.take("linear", "BTCUSDT", "buy", Decimal("1"), None)
    with pytest.raises(KeyError):
        market.take("linear", "NOPEUSDT", "Buy", Decimal("1"), None)


def test_spot_trade_ids_are_numeric_and_formats_are_trimmed() -> None:
    market = make_market(symbols=("BTCUSDT",))
    market.take("spot", "BTCUSDT", "Buy", Decimal("2"), None)
    book = market.book("spot", "BTCUSDT")
    ids = [t.trade_id for t in book.trades]
    assert all(i.isdigit() for i in ids) and ids == sorted(ids, key=int)
    assert book.price_text(650_000) == "65000" and book.qty_text(1_500_000) == "1.5"
    linear = market.book("linear", "BTCUSDT")
    assert linear.price_text(650_000) == "65000.00" and linear.qty_text(20) == "0.020"
    assert linear.qty_text(0) == "0"


def test_listeners_prices_and_funding() -> None:
    market = make_market()
    seen: list[int] = []
    market.add_step_listener(seen.append)
    for _ in range(50):
        market.step()
    assert seen == [T0] * 50
    for category in ("linear", "spot"):
        for symbol in market.symbols(category):
            bid, ask = market.best_bid_ask(category, symbol)
            assert bid is not None and ask is not None and bid < ask
            mark = market.mark_price(category, symbol)
            index = market.index_price(category, symbol)
            assert abs(mark / ((bid + ask) / 2) - 1) < Decimal("0.002")
            assert abs(index / mark - 1) < Decimal("0.003")
            rate = market.funding_rate(category, symbol)
            assert (rate == 0) if category == "spot" else (abs(rate) <= Decimal("0.00375"))
            assert market.last_price(category, symbol) > 0
    market.set_next_funding_time(T0 + 60_000, "linear", "BTCUSDT")
    assert market.next_funding_time("linear", "BTCUSDT") == T0 + 60_000
    assert market.next_funding_time("linear", "ETHUSDT") != T0 + 60_000


def test_a_failing_listener_does_not_break_the_market() -> None:
    market = make_market(symbols=("BTCUSDT",))

    def broken(*_: object) -> None:
        raise RuntimeError("consumer bug")

    market.add_step_listener(broken)
    market.add_trade_listener(broken)
    for _ in range(20):
        market.step()
    assert market.take("linear", "BTCUSDT", "Buy", Decimal("0.5"), None)
    assert market.steps == 20


def test_instruments_and_lookups() -> None:
    market = make_market()
    assert market.symbols("linear") == list(DEFAULT_SYMBOLS)
    assert market.categories() == ["linear", "spot"]
    inst = market.instrument("linear", "SOLUSDT")
    assert inst.tick_size == Decimal("0.010") and inst.price_scale == 3 and inst.qty_step == Decimal("0.1")
    assert inst.fmt_price(Decimal("150.1")) == "150.100" and inst.fmt_qty(Decimal("2")) == "2.0"
    with pytest.raises(KeyError):
        market.instrument("linear", "btcusdt")
    with pytest.raises(UnknownSymbol):
        build_instruments(["BTCUSDT", "FOOUSDT"])
    with pytest.raises(ValueError):
        build_instruments(["BTCUSDT"], ["option"])
    inverse = build_instruments(["BTCUSDT", "SOLUSDT"], ["inverse"])
    assert [i.symbol for i in inverse] == ["BTCUSD"]
    assert "DOGEUSDT" in known_symbols()


def test_tickers_are_strings_in_bybit_order() -> None:
    market = make_market()
    for _ in range(20):
        market.step()
    linear = ticker_fields(market.book("linear", "BTCUSDT"), "ws")
    assert list(linear)[:4] == ["symbol", "tickDirection", "price24hPcnt", "lastPrice"]
    assert all(isinstance(v, str) for v in linear.values())
    spot = ticker_fields(market.book("spot", "BTCUSDT"), "rest")
    assert list(spot)[:3] == ["symbol", "bid1Price", "bid1Size"]


async def test_background_loop_steps_and_pause_stops_it() -> None:
    market = make_market(symbols=("BTCUSDT",))
    task = asyncio.get_running_loop().create_task(market.run(0.001))
    try:
        await until(lambda: market.steps >= 3, what="steps")
        market.paused = True
        await asyncio.sleep(0.05)  # fifty intervals: the step under way, if any, is done
        ticks, frozen = market.loop_ticks, market.steps
        await asyncio.sleep(0.05)
        assert (market.loop_ticks, market.steps) == (ticks, frozen)  # no steps, and no wake-ups to look
        market.paused = False
        await until(lambda: market.steps > frozen, what="resumed steps")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@given(st.integers(min_value=0, max_value=10**15), st.integers(min_value=0, max_value=9))
def test_format_units_is_exact(units: int, places: int) -> None:
    text = format_units(units, places)
    assert Decimal(text) == Decimal(units).scaleb(-places)
    assert (len(text.partition(".")[2]) == places) if places else ("." not in text)
    assert Decimal(trim(text)) == Decimal(text)
