"""Public market data under a hostile server: what a frame may make the desk keep, and what it may not."""

from __future__ import annotations

from collections import Counter
from typing import Any, cast

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.book import OrderBook
from exchange.bybit.protocol import MAX_TICKER_VALUE_CHARS, TICKER_FIELDS, book_topic
from exchange.desk import TRADES_KEPT, Desk
from exchange.events import TradesReceived
from exchange.hub import EventHub
from exchange.market_data import MarketData
from exchange.retry import Timeouts

SYMBOLS = ("BTCUSDT", "ETHUSDT")


def market(category: str = "linear") -> tuple[MarketData, list[list[str]]]:
    """A desk's market data for two symbols; the second item collects the topics it asked to resubscribe."""
    books = {symbol: OrderBook(book_topic(50, symbol)) for symbol in SYMBOLS}
    desk = Desk(environment="SIM", category=category, symbols=list(SYMBOLS), books=books)
    asked: list[list[str]] = []

    def resubscribe(topics: list[str]) -> bool:
        asked.append(topics)
        return True

    data = MarketData(desk, EventHub(), Counter(), 50, Timeouts(), resubscribe=resubscribe, clock=lambda: 0.0)
    return data, asked


def state_entries(data: MarketData) -> int:
    """Everything the desk keeps per topic or per symbol that a frame could add to."""
    desk = data.desk
    return (
        len(data._topic_last_ms)
        + len(data.resyncing)
        + len(data._resync_tries)
        + len(desk.tickers._tickers)
        + len(desk.versions)
        + len(desk.trades)
        + len(desk.books)
        + sum(len(trades) for trades in desk.trades.values())
    )


def ticker(symbol: str, kind: str = "snapshot", **fields: Any) -> dict[str, Any]:
    return {"topic": f"tickers.{symbol}", "type": kind, "ts": 1, "cs": 1, "data": {"symbol": symbol, **fields}}


def test_frames_of_topics_not_subscribed_keep_no_state_and_are_counted():
    data, asked = market()
    pending = data.hub.subscribe(name="lagging")  # never read: every event it gets is kept for it
    data.take("tickers.BTCUSDT", ticker("BTCUSDT", markPrice="100"), received_ms=1)
    before, events = state_entries(data), pending.pending()
    for n in range(1_000):
        name = f"{n:05d}" + "X" * 20_000
        frames = {
            f"tickers.{name}": ticker(name, markPrice="100"),
            f"publicTrade.{name}": {"topic": "", "type": "snapshot", "ts": 1, "data": []},
            f"orderbook.50.{name}": {"topic": "", "type": "snapshot", "ts": 1, "data": {"b": [], "a": [], "u": 1}},
            f"kline.1.{name}": {"topic": "", "data": []},
        }
        topic = list(frames)[n % 4]
        frame = frames[topic]
        frame["topic"] = topic
        data.take(topic, frame, received_ms=2 + n)
    assert state_entries(data) == before and pending.pending() == events and not asked
    assert data.counters["unknown_topic_frames"] == 1_000 and data.counters["rejected_frames"] == 0


def test_a_topic_bybit_refused_is_unknown_from_then_on():
    data, _ = market()
    data.drop_topic("tickers.ETHUSDT")
    assert "tickers.ETHUSDT" not in data.topics
    data.take("tickers.ETHUSDT", ticker("ETHUSDT", markPrice="100"), received_ms=1)
    assert data.desk.tickers.get("ETHUSDT") is None and data.counters["unknown_topic_frames"] == 1


def test_ticker_deltas_with_100k_invented_field_names_keep_only_bybit_s_fields():
    data, _ = market()
    data.take("tickers.BTCUSDT", ticker("BTCUSDT", markPrice="100", lastPrice="101"), received_ms=1)
    for n in range(100):
        invented = {f"field{n}_{i}": "1" for i in range(1_000)}
        data.take("tickers.BTCUSDT", ticker("BTCUSDT", "delta", markPrice=str(100 + n), **invented), received_ms=2)
    fields = data.desk.tickers.get("BTCUSDT")
    assert fields == {"symbol": "BTCUSDT", "markPrice": "199", "lastPrice": "101"}
    assert data.counters["ticker_fields_ignored"] == 100_000 and data.counters["rejected_frames"] == 0


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(["linear", "inverse", "spot"]),
    st.dictionaries(st.text(min_size=1, max_size=30), st.one_of(st.text(max_size=80), st.integers()), max_size=40),
)
def test_a_merged_ticker_holds_only_known_fields_as_short_strings(category, extra):
    data, _ = market(category)
    data.take("tickers.BTCUSDT", ticker("BTCUSDT", lastPrice="100"), received_ms=1)
    extra.pop("symbol", None)
    data.take("tickers.BTCUSDT", ticker("BTCUSDT", "delta", **extra), received_ms=2)
    fields = data.desk.tickers.get("BTCUSDT") or {}
    assert set(fields) <= TICKER_FIELDS[category] and "lastPrice" in fields
    assert all(isinstance(value, str) and len(value) <= MAX_TICKER_VALUE_CHARS for value in fields.values())
    kept = sum(1 for key, value in extra.items() if key in fields and fields[key] == value)
    assert data.counters["ticker_fields_ignored"] == len(extra) - kept


def test_a_spot_desk_keeps_spot_ticker_fields_only():
    data, _ = market("spot")
    data.take("tickers.BTCUSDT", ticker("BTCUSDT", lastPrice="100", markPrice="99"), received_ms=1)
    assert data.desk.tickers.get("BTCUSDT") == {"symbol": "BTCUSDT", "lastPrice": "100"}
    assert data.counters["ticker_fields_ignored"] == 1


def test_a_trade_of_another_symbol_on_a_trade_topic_is_rejected():
    data, _ = market()
    trade = {"T": 1, "s": "ETHUSDT", "S": "Buy", "v": "1", "p": "100", "i": "t1"}
    data.take("publicTrade.BTCUSDT", {"topic": "publicTrade.BTCUSDT", "data": [trade]}, received_ms=1)
    assert not data.desk.trades["BTCUSDT"] and data.counters["rejected_frames"] == 1


def test_a_book_pushed_past_its_depth_is_resynced_by_topic():
    data, asked = market()
    topic = "orderbook.50.BTCUSDT"
    levels = [[f"{100 - i * 0.1:.1f}", "1"] for i in range(50)]
    snapshot = {"topic": topic, "type": "snapshot", "ts": 1, "data": {"b": levels, "a": [], "u": 1}}
    data.take(topic, snapshot, received_ms=1)
    deeper = [[f"{90 - i * 0.001:.3f}", "1"] for i in range(2_000)]
    data.take(topic, {"topic": topic, "type": "delta", "ts": 2, "data": {"b": deeper, "a": [], "u": 2}}, 2)
    book = data.desk.books["BTCUSDT"]
    assert max(book.level_count()) <= 50 and not book.synced
    assert asked == [[topic]] and data.counters["resyncs"] == 1 and data.counters["book_overflows"] == 1
    assert "50-level window" in (book.resync_reason or "")


def test_a_batch_of_thousands_of_trades_keeps_only_the_tape_s_worth():
    data, _ = market()
    lagging = data.hub.subscribe(name="lagging")
    trades = [{"T": n, "s": "BTCUSDT", "S": "Buy", "v": "1", "p": "100", "i": f"t{n}"} for n in range(5_000)]
    data.take("publicTrade.BTCUSDT", {"topic": "publicTrade.BTCUSDT", "data": trades}, received_ms=1)
    tape = data.desk.trades["BTCUSDT"]
    assert len(tape) == TRADES_KEPT and tape[-1].trade_id == "t4999"
    (event,) = lagging.drain()
    assert isinstance(event, TradesReceived) and len(event.trades) == TRADES_KEPT


def test_the_link_rejects_deep_json_nan_infinity_and_huge_exponents_before_anyone_sees_them():
    """What orjson refuses is counted by the link and reaches no handler: 100k-deep arrays, NaN, Infinity, 1e999999."""
    from exchange.bybit.ws import WsLink

    seen: list[dict[str, Any]] = []
    never_opened = cast(aiohttp.ClientSession, None)  # the test hands the link its frames
    link = WsLink("ws://127.0.0.1/", never_opened, lambda frame, ms: seen.append(frame), name="public")
    hostile = [
        "[" * 100_000 + "]" * 100_000,
        '{"topic":"tickers.BTCUSDT","data":' + "[" * 100_000 + "]" * 100_000 + "}",
        '{"topic":"tickers.BTCUSDT","data":{"symbol":"BTCUSDT","markPrice":NaN}}',
        '{"topic":"tickers.BTCUSDT","data":{"symbol":"BTCUSDT","markPrice":Infinity}}',
        '{"topic":"orderbook.50.BTCUSDT","data":{"b":[[1e999999,1]],"a":[],"u":2}}',
        "[1, 2, 3]",
    ]
    for text in hostile:
        link._handle_text(text)
    assert link.rejected == len(hostile) and link.frames == 0 and not seen


class ScriptedClock:
    """A clock the test moves by hand: the backoff is checked without waiting for it."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def hostile_book(**timeouts: Any) -> tuple[MarketData, list[list[str]], ScriptedClock]:
    data, asked = market()
    clock = ScriptedClock()
    data._clock = clock
    data._timeouts = Timeouts(**timeouts)
    return data, asked, clock


def book_snapshot(topic: str, u: int) -> dict[str, Any]:
    levels = [[f"{100 - i * 0.1:.1f}", "1"] for i in range(5)]
    asks = [[f"{101 + i * 0.1:.1f}", "1"] for i in range(5)]
    return {"topic": topic, "type": "snapshot", "ts": 1, "data": {"b": levels, "a": asks, "u": u}}


def unreadable_delta(topic: str, u: int) -> dict[str, Any]:
    return {"topic": topic, "type": "delta", "ts": 2, "data": {"b": [["100.0", "not a size"]], "a": [], "u": u}}


def overflowing_delta(topic: str, u: int) -> dict[str, Any]:
    deeper = [[f"{90 - i * 0.01:.2f}", "1"] for i in range(60)]
    return {"topic": topic, "type": "delta", "ts": 2, "data": {"b": deeper, "a": [], "u": u}}


def gap_delta(topic: str, u: int) -> dict[str, Any]:
    return {"topic": topic, "type": "delta", "ts": 2, "data": {"b": [["99.0", "1"]], "a": [], "u": u + 5}}


def absent_delete(topic: str, u: int) -> dict[str, Any]:
    return {"topic": topic, "type": "delta", "ts": 2, "data": {"b": [["12.3", "0"]], "a": [], "u": u}}


BREAKERS = [unreadable_delta, overflowing_delta, gap_delta, absent_delete]


def break_book(data: MarketData, topic: str, u: int, breaker: Any) -> None:
    data.take(topic, book_snapshot(topic, u), received_ms=1)
    data.take(topic, breaker(topic, u + 1), received_ms=1)


def serve_hostile(
    data: MarketData, asked: list[list[str]], clock: ScriptedClock, seconds: float, breaker: Any = unreadable_delta
) -> int:
    """A host that answers every resubscribe with a good snapshot and then a delta that breaks the book, 50 times a
    second, while the session's maintenance calls :meth:`MarketData.retry_resyncs` every 0.25 s; the resubscribes
    sent."""
    topic = "orderbook.50.BTCUSDT"
    sent, u = len(asked), 10
    break_book(data, topic, u, breaker)
    end, next_maintenance = clock.now + seconds, clock.now
    while clock.now < end:
        clock.now += 0.02
        if clock.now >= next_maintenance:
            next_maintenance += 0.25
            assert data.retry_resyncs(clock.now) is None
        if len(asked) > sent:  # the host answers the resubscribe at once, and breaks the book again
            sent, u = len(asked), u + 10
            break_book(data, topic, u, breaker)
    return len(asked)


@pytest.mark.parametrize("breaker", BREAKERS, ids=lambda breaker: breaker.__name__)
def test_a_book_broken_after_every_snapshot_resubscribes_at_a_bounded_rate(breaker: Any) -> None:
    data, asked, clock = hostile_book()
    assert serve_hostile(data, asked, clock, 3.0, breaker) <= 10  # the burst, then one a second (unlimited: 150)
    assert data.counters["resyncs_backed_off"] >= 1
    streak = data.resync_streak("orderbook.50.BTCUSDT")
    assert streak >= 3 and data.topic_health(0)[0].resync_streak == streak
    assert not data.desk.books["BTCUSDT"].synced  # shown not live while it waits its turn
    before = len(asked)
    serve_hostile(data, asked, clock, 120.0, breaker)
    assert len(asked) - before <= 120 + 2  # one a second, however long the host keeps at it (unlimited: 6,000)


def test_the_first_resync_goes_at_once_and_again_after_the_book_proved_itself():
    data, asked, clock = hostile_book(resync_healthy_s=10.0)
    topic = "orderbook.50.BTCUSDT"
    data.take(topic, book_snapshot(topic, 10), received_ms=1)
    data.take(topic, unreadable_delta(topic, 11), received_ms=1)
    assert asked == [[topic]] and data.resync_streak(topic) == 1
    data.take(topic, book_snapshot(topic, 20), received_ms=1)
    clock.now += 10.0  # SYNCED for the healthy time: trusted again
    assert data.resync_streak(topic) == 0
    data.take(topic, unreadable_delta(topic, 21), received_ms=1)
    assert asked == [[topic], [topic]] and data.counters["resyncs_backed_off"] == 0


def test_a_backed_off_resync_waits_then_goes_with_what_it_needs():
    data, asked, clock = hostile_book(resync_burst=1, resync_interval_s=1.0, resync_healthy_s=10.0)
    topic = "orderbook.50.BTCUSDT"
    data.take(topic, book_snapshot(topic, 10), received_ms=1)
    data.take(topic, unreadable_delta(topic, 11), received_ms=1)
    data.take(topic, book_snapshot(topic, 20), received_ms=1)
    data.take(topic, unreadable_delta(topic, 21), received_ms=1)  # again at once: backed off
    assert asked == [[topic]] and topic in data.deferred
    assert data.retry_resyncs(clock.now + 0.9) is None and len(asked) == 1  # its token comes a second later
    assert data.retry_resyncs(clock.now + 1.0) is None and asked == [[topic], [topic]]
    assert not data.deferred


def test_a_book_whose_every_snapshot_overflows_resubscribes_at_a_bounded_rate_then_reconnects():
    data, asked, clock = hostile_book()
    topic = "orderbook.50.BTCUSDT"
    deep = [[f"{100 - i * 0.1:.1f}", "1"] for i in range(60)]
    overflowing = {"topic": topic, "type": "snapshot", "ts": 1, "data": {"b": deep, "a": [], "u": 10}}
    data.take(topic, book_snapshot(topic, 5), received_ms=1)
    data.take(topic, overflowing, received_ms=1)
    sent, reconnect, end = len(asked), None, clock.now + 60.0
    while clock.now < end and reconnect is None:
        clock.now += 0.02
        reconnect = data.retry_resyncs(clock.now)
        if len(asked) > sent:
            sent = len(asked)
            data.take(topic, overflowing, received_ms=1)
    assert len(asked) <= 4 and data.counters["book_overflows"] == len(asked)
    assert reconnect is not None and "would not resync" in reconnect  # the link is not what it seems


def test_a_book_or_trade_move_wakes_the_one_waiting_once_and_nothing_else_does():
    data, _ = market()
    woken: list[int] = []
    data.desk.on_move = lambda: woken.append(len(woken))
    data.take("tickers.BTCUSDT", ticker("BTCUSDT", markPrice="100"), received_ms=1)
    data.take("orderbook.50.BTCUSDT", {"topic": "orderbook.50.BTCUSDT", "type": "snapshot", "data": "?"}, 2)
    assert woken == [] and data.counters["rejected_frames"] == 1  # a ticker, a rejected frame: no move
    book = {"s": "BTCUSDT", "b": [["100.0", "1"]], "a": [["100.5", "2"]], "u": 1, "seq": 1}
    snapshot = {"topic": "orderbook.50.BTCUSDT", "type": "snapshot", "ts": 3, "cts": 3, "data": book}
    data.take("orderbook.50.BTCUSDT", snapshot, received_ms=3)
    data.take("orderbook.50.BTCUSDT", snapshot, received_ms=4)
    assert woken == [0] and data.desk.on_move is None  # once: whoever waits sets it again
    data.desk.on_move = lambda: woken.append(len(woken))
    data.take("publicTrade.BTCUSDT", {"topic": "publicTrade.BTCUSDT", "type": "snapshot", "ts": 5, "data": []}, 5)
    assert woken == [0]  # a trade frame with no trade moved nothing: the hook stays for the next move
    trade = {"T": 5, "s": "BTCUSDT", "S": "Buy", "v": "0.5", "p": "100.5", "L": "PlusTick", "i": "t-1", "BT": False}
    data.take("publicTrade.BTCUSDT", {"topic": "publicTrade.BTCUSDT", "type": "snapshot", "ts": 5, "data": [trade]}, 5)
    assert woken == [0, 1] and len(data.desk.trades["BTCUSDT"]) == 1


def test_a_failing_wake_leaves_the_frame_applied_and_counted_as_good():
    data, _ = market()

    def broken() -> None:
        raise ValueError("the screen is gone")

    data.desk.on_move = broken
    book = {"s": "BTCUSDT", "b": [["100.0", "1"]], "a": [["100.5", "2"]], "u": 1, "seq": 1}
    snapshot = {"topic": "orderbook.50.BTCUSDT", "type": "snapshot", "ts": 3, "cts": 3, "data": book}
    data.take("orderbook.50.BTCUSDT", snapshot, received_ms=3)
    assert data.counters["rejected_frames"] == 0 and data._topic_last_ms["orderbook.50.BTCUSDT"] == 3
    assert data.desk.books["BTCUSDT"].best_bid() == (100.0, 1.0)
