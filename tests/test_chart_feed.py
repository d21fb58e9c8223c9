"""The chart feed's reading of frames and its word on liveness, on a hand-moved clock (no network)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from exchange.chart_feed import STALE_AFTER_S, ChartFeed

FIXTURE = Path(__file__).parent / "fixtures" / "bybit" / "ws_public" / "docs_kline.json"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def feed(clock: Clock) -> ChartFeed:
    return ChartFeed(None, None, "ws://127.0.0.1:1", "linear", "BTCUSDT", "5", clock=clock)  # type: ignore[arg-type]


def test_pushes_of_its_topic_are_merged_others_ignored_and_bad_ones_counted() -> None:
    chart = feed(Clock())
    message: dict[str, Any] = json.loads(FIXTURE.read_text())
    chart._on_frame(message, 0)
    chart._on_frame({**message, "topic": "kline.1.BTCUSDT"}, 0)  # not its topic
    chart._on_frame({**message, "data": [{"start": "soon"}]}, 0)
    assert len(chart.series.candles) == 1 and chart.series.rejected == 1


def test_not_live_until_read_then_live_while_pushes_come_then_stale() -> None:
    clock = Clock()
    chart = feed(clock)
    assert chart.status() == "not live: connecting"
    chart._connected = True
    chart._on_frame(json.loads(FIXTURE.read_text()), 0)
    assert chart.live() and chart.status() == "live"
    clock.now += STALE_AFTER_S + 1
    assert not chart.live() and chart.status() == "not live: no candle for a while"
    chart._connected, chart.problem = False, "the link dropped"
    assert chart.status() == "not live: the link dropped"
