"""SVG snapshots of the price chart over the scripted long position, on the frozen clock: live, and in an outage."""

from __future__ import annotations

from typing import Any

import pytest

from app.chart_screen import ChartScreen
from tests.ui.scripted import long_in_profit
from tests.ui.scripted_chart import ScriptedChart
from tests.ui.support import SNAPSHOT_SIZE, notifications, scripted_app, until
from widgets.chart import PriceChart

pytestmark = pytest.mark.timeout(60)


def _title(app: Any) -> str:
    charts = app.screen.query(PriceChart)
    return charts.first().plain_lines[0] if charts and charts.first().plain_lines else ""


@pytest.mark.parametrize("status", ["live", "not live: the link dropped"])
def test_chart_with_entry_and_liquidation(snap_compare: Any, status: str) -> None:
    desk = long_in_profit()
    app = scripted_app(desk, symbol="BTCUSDT")

    async def open_chart(pilot: Any) -> None:
        app.push_screen(ChartScreen(lambda interval: ScriptedChart(desk, status, interval=interval)))
        await until(pilot, lambda: status in _title(app), "the chart's candles drawn")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SNAPSHOT_SIZE, run_before=open_chart)


async def test_without_a_session_the_chart_key_says_so() -> None:
    app = scripted_app(long_in_profit(), symbol="BTCUSDT")
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        await pilot.press("g")
        await until(pilot, lambda: any("No chart" in str(n.message) for n in notifications(app)), "the refusal told")
        assert not isinstance(app.screen, ChartScreen)
