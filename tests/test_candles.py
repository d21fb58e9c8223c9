"""The chart's candle series: REST backfill (newest first), topic pushes (open, then confirmed), gaps, bad records."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from exchange.candles import CandleSeries

FIXTURE = Path(__file__).parent / "fixtures" / "bybit" / "ws_public" / "docs_kline.json"
T0 = 1_672_324_800_000
FIVE = 300_000


def push(start: int, close: str, confirm: bool, interval: str = "5") -> dict[str, object]:
    return {"start": start, "end": start + FIVE - 1, "interval": interval, "open": "100", "close": close,
            "high": max("100", close, key=Decimal), "low": min("100", close, key=Decimal), "volume": "1",
            "turnover": "100", "confirm": confirm, "timestamp": start + 1}  # fmt: skip


def row(start: int, close: str) -> list[str]:
    return [str(start), "100", max("100", close, key=Decimal), min("100", close, key=Decimal), close, "1", "100"]


def test_backfill_newest_first_is_reversed_and_the_newest_stays_open() -> None:
    series = CandleSeries("BTCUSDT", "5")
    series.backfill([row(T0 + 2 * FIVE, "103"), row(T0 + FIVE, "102"), row(T0, "101")])
    assert [c.start for c in series.candles] == [T0, T0 + FIVE, T0 + 2 * FIVE]
    assert [c.close for c in series.candles] == [Decimal("101"), Decimal("102"), Decimal("103")]
    assert [c.closed for c in series.candles] == [True, True, False]
    assert series.rejected == 0


def test_an_open_push_updates_the_last_candle_and_a_confirmed_one_closes_it() -> None:
    series = CandleSeries("BTCUSDT", "5")
    series.backfill([row(T0, "101")])
    series.push([push(T0, "104", confirm=False)])
    assert len(series.candles) == 1
    assert series.candles[-1].close == Decimal("104") and not series.candles[-1].closed
    series.push([push(T0, "105", confirm=True)])
    assert len(series.candles) == 1 and series.candles[-1].closed
    series.push([push(T0 + FIVE, "99", confirm=False)])
    assert [c.start for c in series.candles] == [T0, T0 + FIVE]
    assert series.last_price == Decimal("99")


def test_a_gap_is_kept_as_a_gap_and_a_stale_push_is_ignored() -> None:
    series = CandleSeries("BTCUSDT", "5")
    series.backfill([row(T0, "101")])
    series.push([push(T0 + 3 * FIVE, "102", confirm=False)])
    assert [c.start for c in series.candles] == [T0, T0 + 3 * FIVE]
    series.push([push(T0 + FIVE, "150", confirm=True)])
    assert [c.start for c in series.candles] == [T0, T0 + 3 * FIVE]
    assert series.rejected == 0


def test_bad_records_are_counted_and_skipped() -> None:
    series = CandleSeries("BTCUSDT", "5")
    bad_rows: list[object] = [
        ["x", "1", "1", "1", "1", "1"],  # start not a number
        [str(T0 + 7), "1", "1", "1", "1", "1"],  # start not on the interval
        [str(T0), "1", "0.5", "2", "1", "1"],  # high below low
        [str(T0), "nan", "1", "1", "1", "1"],
        [str(T0), "1", "1", "1"],  # too short
        "[1,2,3]",
    ]
    series.backfill([row(T0 + FIVE, "101"), *bad_rows])
    assert series.rejected == len(bad_rows)
    assert [c.start for c in series.candles] == [T0 + FIVE]
    series.push([push(T0 + 2 * FIVE, "1e400", False), {**push(T0 + 2 * FIVE, "101", False), "confirm": "yes"},
                 push(T0 + 2 * FIVE, "101", False, interval="1"), None, {"start": True}])  # fmt: skip
    series.push("not a list")
    assert series.rejected == len(bad_rows) + 6
    assert len(series.candles) == 1


def test_the_series_is_bounded() -> None:
    series = CandleSeries("BTCUSDT", "1", limit=10)
    series.backfill([row(T0 + i * 60_000, "101") for i in range(30, 0, -1)])
    assert len(series.candles) == 10
    assert series.candles[-1].start == T0 + 30 * 60_000


def test_the_documented_push_is_read() -> None:
    message = json.loads(FIXTURE.read_text())
    series = CandleSeries("BTCUSDT", "5")
    series.push(message["data"])
    assert series.rejected == 0
    candle = series.candles[-1]
    assert (candle.start, candle.open, candle.high, candle.low, candle.close) == (
        1672324800000, Decimal("16649.5"), Decimal("16677"), Decimal("16608"), Decimal("16677"))  # fmt: skip
    assert not candle.closed
