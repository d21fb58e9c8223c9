"""The watchlist's figures: ticker deltas merged into their snapshot as exact decimals, the funding countdown, the
rows' liveness, the rules for adding a symbol, and market data taking and dropping a symbol while running."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from exchange.book import BookState, OrderBook
from exchange.bybit.protocol import book_topic
from exchange.config import ConfigError, config_symbols, load_settings
from exchange.desk import Desk
from exchange.events import LinkState, SessionState
from exchange.hub import EventHub
from exchange.market_data import MarketData
from exchange.retry import Timeouts
from exchange.watchlist import (
    MAX_WATCHED,
    WatchRefused,
    WatchRow,
    WatchSort,
    addition_refused,
    funding_countdown,
    read_symbol,
    sorted_watch_rows,
    watch_row,
    watch_rows,
)
from tests.support.recorded import fixture

REAL = fixture("ws_public/tickers_linear_usdcperp_inverse_snapshot_then_delta.jsonl")
SNAPSHOT, DELTA = REAL[0], REAL[1]  # BTCUSDT, 2024-05-15
SNAPSHOT_MS = SNAPSHOT["ts"]


def ready_desk(*symbols: str) -> Desk:
    books = {symbol: OrderBook(book_topic(50, symbol)) for symbol in symbols}
    desk = Desk(environment="SIM", category="linear", symbols=list(symbols), books=books)
    desk.state = SessionState(LinkState.READY, 0, "all topics live")
    return desk


def market(desk: Desk) -> MarketData:
    return MarketData(desk, EventHub(), Counter(), 50, Timeouts(), resubscribe=lambda _: True, clock=lambda: 0.0)


def delta(**fields: str) -> dict[str, Any]:
    return {"topic": "tickers.BTCUSDT", "type": "delta", "data": {"symbol": "BTCUSDT", **fields}, "ts": 1}


# ---------------------------------------------------------------------------------------------- ticker merging


def test_snapshot_figures_are_exact_decimals_from_the_strings() -> None:
    desk = ready_desk("BTCUSDT")
    desk.tickers.apply(SNAPSHOT)
    row = watch_row(desk, "BTCUSDT", SNAPSHOT_MS)
    assert row.last == Decimal("61874.00")
    assert row.change_pct == Decimal("-0.9772")  # Bybit's ratio -0.009772, in percent
    assert row.turnover == Decimal("6073739017.8331")
    assert row.funding_rate == Decimal("0.00008055")
    assert row.next_funding_ms == 1715760000000
    assert row.open_interest == Decimal("58117.022")
    assert all(isinstance(v, Decimal) for v in (row.last, row.change_pct, row.turnover, row.open_interest))


def test_a_delta_changes_only_the_fields_it_carries() -> None:
    desk = ready_desk("BTCUSDT")
    desk.tickers.apply(SNAPSHOT)
    desk.tickers.apply(DELTA)  # the real delta: mark, index, OI value, bid1 only
    row = watch_row(desk, "BTCUSDT", SNAPSHOT_MS)
    assert (row.last, row.turnover, row.funding_rate) == (
        Decimal("61874.00"),
        Decimal("6073739017.8331"),
        Decimal("0.00008055"),
    )
    desk.tickers.apply(delta(lastPrice="61880.50", fundingRate="-0.0001", openInterest="58120.5"))
    row = watch_row(desk, "BTCUSDT", SNAPSHOT_MS)
    assert row.last == Decimal("61880.50") and row.funding_rate == Decimal("-0.0001")
    assert row.open_interest == Decimal("58120.5")
    assert row.turnover == Decimal("6073739017.8331") and row.change_pct == Decimal("-0.9772")
    assert desk.ticker("BTCUSDT")["markPrice"] == "61875.06"  # from the real delta, kept


def test_a_new_snapshot_replaces_the_merged_fields() -> None:
    desk = ready_desk("BTCUSDT")
    desk.tickers.apply(SNAPSHOT)
    desk.tickers.apply(
        {"topic": "tickers.BTCUSDT", "type": "snapshot", "data": {"symbol": "BTCUSDT", "lastPrice": "1"}}
    )
    row = watch_row(desk, "BTCUSDT", SNAPSHOT_MS)
    assert row.last == Decimal("1") and row.turnover is None and row.funding_rate is None


@pytest.mark.parametrize("value", ["", "NaN", "1e999", "12,5", "-Infinity", "0x10"])
def test_a_blank_or_insane_field_shows_nothing(value: str) -> None:
    desk = ready_desk("BTCUSDT")
    desk.tickers.apply(SNAPSHOT)
    desk.tickers.apply(delta(fundingRate=value, nextFundingTime=value, lastPrice=value))
    row = watch_row(desk, "BTCUSDT", SNAPSHOT_MS)
    assert row.funding_rate is None and row.next_funding_ms is None and row.last is None
    assert row.turnover == Decimal("6073739017.8331")


def test_an_absurd_funding_time_is_no_countdown() -> None:
    desk = ready_desk("BTCUSDT")
    desk.tickers.apply(SNAPSHOT)
    for value in ("-5", "1.5", "99999999999999999"):
        desk.tickers.apply(delta(nextFundingTime=value))
        assert watch_row(desk, "BTCUSDT", SNAPSHOT_MS).next_funding_ms is None


# ---------------------------------------------------------------------------------------------- countdown


def test_funding_countdown() -> None:
    next_ms = 1715760000000
    assert funding_countdown(next_ms, SNAPSHOT_MS) == "3:07:17"  # 11,237.537 s: whole seconds left
    assert funding_countdown(next_ms, next_ms - 58_999) == "0:00:58"
    assert funding_countdown(next_ms, next_ms - 8 * 3600 * 1000) == "8:00:00"
    assert funding_countdown(next_ms, next_ms) == "0:00:00"
    assert funding_countdown(next_ms, next_ms + 5_000) == "0:00:00"  # due: until the ticker moves it on
    assert funding_countdown(None, next_ms) == ""


# ---------------------------------------------------------------------------------------------- liveness


def test_after_a_disconnect_the_last_figures_stay_but_not_live() -> None:
    desk = ready_desk("BTCUSDT")
    data = market(desk)
    data.take("tickers.BTCUSDT", SNAPSHOT, SNAPSHOT_MS)
    assert watch_row(desk, "BTCUSDT", SNAPSHOT_MS).live
    data.link_lost()
    desk.state = SessionState(LinkState.RECONNECTING, 1, "link lost")
    row = watch_row(desk, "BTCUSDT", SNAPSHOT_MS)
    assert row.last == Decimal("61874.00") and not row.live
    assert desk.ticker("BTCUSDT") == {} and desk.mark_price("BTCUSDT") is None  # nothing marks on it
    assert row.book == "AWAITING"
    data.take("tickers.BTCUSDT", delta(lastPrice="5"), SNAPSHOT_MS)  # a delta before the new snapshot merges
    assert desk.ticker("BTCUSDT") == {"symbol": "BTCUSDT", "lastPrice": "5"}  # into nothing from before


def test_a_row_without_a_ticker_yet_is_not_live() -> None:
    desk = ready_desk("BTCUSDT", "ETHUSDT")
    desk.tickers.apply(SNAPSHOT)
    rows = watch_rows(desk, SNAPSHOT_MS)
    assert [(row.symbol, row.live) for row in rows] == [("BTCUSDT", True), ("ETHUSDT", False)]
    assert rows[1].last is None and rows[1].book == "AWAITING"


# ---------------------------------------------------------------------------------------------- adding


def _row(symbol: str, change: str | None, funding: str | None = None) -> WatchRow:
    return WatchRow(
        symbol=symbol,
        last=None,
        change_pct=None if change is None else Decimal(change),
        turnover=None,
        funding_rate=None if funding is None else Decimal(funding),
        next_funding_ms=None,
        open_interest=None,
        book="LIVE",
        book_reason=None,
        live=True,
    )


def test_sorted_rows_put_a_missing_figure_last_either_way_and_keep_the_watched_order_on_ties() -> None:
    rows = [_row("XRPUSDT", "-3"), _row("BTCUSDT", None), _row("ETHUSDT", "2"), _row("SOLUSDT", "2")]

    def symbols(sort: WatchSort, descending: bool) -> list[str]:
        return [row.symbol for row in sorted_watch_rows(rows, sort, descending)]

    assert symbols(WatchSort.CHANGE, True) == ["ETHUSDT", "SOLUSDT", "XRPUSDT", "BTCUSDT"]
    assert symbols(WatchSort.CHANGE, False) == ["XRPUSDT", "ETHUSDT", "SOLUSDT", "BTCUSDT"]
    assert symbols(WatchSort.FUNDING, True) == ["XRPUSDT", "BTCUSDT", "ETHUSDT", "SOLUSDT"]  # none known
    assert symbols(WatchSort.SYMBOL, False) == ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"]
    assert symbols(WatchSort.WATCHED, False) == ["XRPUSDT", "BTCUSDT", "ETHUSDT", "SOLUSDT"]


def test_read_symbol() -> None:
    assert read_symbol(" xrpusdt ") == "XRPUSDT"
    for bad in ("", "  ", "BTC-USDT", "BTC USDT", "ＢＴＣ", "A" * 31, "x\x1b[2J"):
        with pytest.raises(WatchRefused):
            read_symbol(bad)


def test_addition_refusals_are_one_sentence_each() -> None:
    listed = {"BTCUSDT", "ETHUSDT", "XRPUSDT"}
    assert addition_refused("XRPUSDT", ["BTCUSDT"], listed, "linear") is None
    assert addition_refused("BTCUSDT", ["BTCUSDT"], listed, "linear") == "BTCUSDT is already watched."
    assert addition_refused("NOPEUSDT", ["BTCUSDT"], listed, "linear") == (
        "NOPEUSDT is not listed by the exchange in linear: not added."
    )
    assert "not read yet" in (addition_refused("XRPUSDT", ["BTCUSDT"], set(), "linear") or "")
    full = [f"S{n}USDT" for n in range(MAX_WATCHED)]
    assert addition_refused("XRPUSDT", full, listed, "linear") == (
        f"The watchlist holds at most {MAX_WATCHED} symbols: remove one before adding XRPUSDT."
    )


# ---------------------------------------------------------------------------------------------- market data


def book_snapshot(symbol: str) -> dict[str, Any]:
    data = {"s": symbol, "b": [["1.0", "2"]], "a": [["1.1", "3"]], "u": 1, "seq": 1}
    return {"topic": book_topic(50, symbol), "type": "snapshot", "ts": 1, "data": data}


def test_an_added_symbol_goes_live_through_its_snapshot() -> None:
    desk = ready_desk("BTCUSDT")
    data = market(desk)
    topics = data.add_symbol("XRPUSDT")
    assert topics == ["orderbook.50.XRPUSDT", "publicTrade.XRPUSDT", "tickers.XRPUSDT"]
    assert desk.symbols == ["BTCUSDT", "XRPUSDT"] and desk.books["XRPUSDT"].state is BookState.AWAITING_SNAPSHOT
    assert all(topic in data.topics for topic in topics)
    data.take("orderbook.50.XRPUSDT", book_snapshot("XRPUSDT"), 1)
    assert desk.books["XRPUSDT"].state is BookState.SYNCED
    assert data.counters["unknown_topic_frames"] == 0


def test_a_removed_symbol_leaves_no_trace_and_its_late_frames_are_expected() -> None:
    desk = ready_desk("BTCUSDT", "XRPUSDT")
    data = market(desk)
    data.take("orderbook.50.XRPUSDT", book_snapshot("XRPUSDT"), 1)
    data.take("tickers.XRPUSDT", {"topic": "tickers.XRPUSDT", "type": "snapshot", "data": {"symbol": "XRPUSDT"}}, 1)
    topics = data.remove_symbol("XRPUSDT")
    assert sorted(topics) == ["orderbook.50.XRPUSDT", "publicTrade.XRPUSDT", "tickers.XRPUSDT"]
    assert desk.symbols == ["BTCUSDT"] and "XRPUSDT" not in desk.books and "XRPUSDT" not in desk.trades
    assert desk.tickers.last_known("XRPUSDT") == {}
    assert not any("XRPUSDT" in topic for topic in data.topics)
    assert not any("XRPUSDT" in health.topic for health in data.topic_health(2))
    data.take("orderbook.50.XRPUSDT", book_snapshot("XRPUSDT"), 2)  # in flight before the unsubscribe
    assert data.counters["frames_after_unsubscribe"] == 1 and data.counters["unknown_topic_frames"] == 0
    assert "XRPUSDT" not in desk.books
    data.left(topics)
    data.take("orderbook.50.XRPUSDT", book_snapshot("XRPUSDT"), 3)
    assert data.counters["unknown_topic_frames"] == 1 and "XRPUSDT" not in desk.books


# ---------------------------------------------------------------------------------------------- the config's symbols


def test_the_config_names_the_watchlist_and_is_read_again_while_running(tmp_path: Path) -> None:
    path = tmp_path / "fluxum.toml"
    path.write_text('symbols = ["btcusdt", "ETHUSDT"]\n')
    settings = load_settings(config_file=path, environ={})
    assert settings.symbols == ("BTCUSDT", "ETHUSDT") and settings.config_file == path
    path.write_text('symbols = ["ETHUSDT", "xrpusdt"]\n')
    assert config_symbols(path, "linear") == ("ETHUSDT", "XRPUSDT")
    path.write_text('symbols = ["BTC-USDT"]\n')
    with pytest.raises(ConfigError, match="not a Bybit symbol"):
        config_symbols(path, "linear")


def test_more_symbols_than_the_cap_are_refused_at_start() -> None:
    many = ",".join(f"S{n}USDT" for n in range(MAX_WATCHED + 1))
    with pytest.raises(ConfigError, match=f"{MAX_WATCHED + 1} symbols: the watchlist holds at most {MAX_WATCHED}"):
        load_settings(symbols=many, environ={})
    assert len(load_settings(symbols=many.rsplit(",", 1)[0], environ={}).symbols) == MAX_WATCHED
