"""The price chart against the local exchange: ``g`` opens it, candles appear from the kline backfill and go on
from the topic, an interval key reads the series again, and a dropped link says the data are not live."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.chart_screen import ChartScreen, LiveChart
from exchange.events import LinkState
from tests.ui.support import LIVE_SIZE, RecordingApp, press, runtime_options, sim_settings, until
from widgets.chart import PriceChart

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(90)]

CANDLE_CHARS = set("█▀▄│")


def _feed(app: RecordingApp) -> LiveChart:
    screen = app.screen
    assert isinstance(screen, ChartScreen) and isinstance(screen.source, LiveChart)
    return screen.source


def _drawn(app: RecordingApp) -> list[str]:
    return app.screen.query_one(PriceChart).plain_lines


def _kline_topics(app: RecordingApp) -> set[str]:
    assert app.runtime is not None and app.runtime.sim is not None
    return {t for c in app.runtime.sim.connections.all("public") for t in c.subscriptions if t.startswith("kline.")}


async def test_the_chart_backfills_goes_live_switches_interval_and_tells_an_outage(tmp_path: Path) -> None:
    app = RecordingApp(sim_settings("BTCUSDT,ETHUSDT"), runtime_options=runtime_options(tmp_path))
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await until(pilot, lambda: app.desk.state.kind is LinkState.READY, "Ready")
        await press(pilot, "g")
        await until(pilot, lambda: isinstance(app.screen, ChartScreen), "the chart")
        await until(pilot, lambda: _feed(app).status() == "live", "the 5m candles live")
        feed = _feed(app).feed
        assert feed.series.symbol == "BTCUSDT" and feed.series.interval == "5" and feed.backfills == 1
        assert len(feed.series.candles) > 100 and feed.series.rejected == 0
        await until(pilot, lambda: "BTCUSDT · 5m · live" in (_drawn(app) or [""])[0], "the title")
        assert any(CANDLE_CHARS & set(line) for line in _drawn(app)[1:-1])
        assert _kline_topics(app) == {"kline.5.BTCUSDT"}
        pushes = feed.series.version
        await until(pilot, lambda: feed.series.version > pushes, "a kline push merged")

        await press(pilot, "h")
        await until(pilot, lambda: _feed(app).feed is not feed and _feed(app).status() == "live", "the 1h series")
        hourly = _feed(app).feed
        assert hourly.series.interval == "60" and hourly.backfills == 1
        await until(pilot, lambda: "BTCUSDT · 1h · live" in _drawn(app)[0], "the 1h title")
        await until(pilot, lambda: _kline_topics(app) == {"kline.60.BTCUSDT"}, "the 5m link closed, the 1h open")

        assert app.runtime is not None and app.runtime.sim is not None
        for conn in app.runtime.sim.connections.all("public"):
            if "kline.60.BTCUSDT" in conn.subscriptions:
                conn.abort()
        await until(pilot, lambda: "not live" in _drawn(app)[0], "the outage told on the chart")
        await until(pilot, lambda: hourly.status() == "live" and hourly.backfills == 2, "back, read again")
        await press(pilot, "escape")
        await until(pilot, lambda: not isinstance(app.screen, ChartScreen), "the desk again")
        await until(pilot, lambda: not _kline_topics(app), "the chart's link closed with it")
        await app.stop_session()
