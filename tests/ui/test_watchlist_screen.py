"""The watchlist screen on scripted desks: the cursor and Enter show a symbol on the desk, an outage keeps the last
figures marked not live, and without a session a change is refused in words."""

from __future__ import annotations

import pytest

from app.watchlist_screen import WatchlistScreen
from tests.ui import scripted
from tests.ui.scripted_watchlist import watchlist_desk
from tests.ui.support import RecordingApp, screen_text, until
from widgets.watchlist_table import WatchlistTable

pytestmark = pytest.mark.timeout(60)


def _app(desk: scripted.Desk) -> RecordingApp:
    app = RecordingApp(desk=desk, clock=scripted.clock)
    app.animation_level = "none"
    return app


async def test_the_cursor_and_enter_show_a_symbol_on_the_desk() -> None:
    app = _app(watchlist_desk())
    async with app.run_test(size=(130, 42)) as pilot:
        await pilot.press("w")
        await until(pilot, lambda: isinstance(app.screen, WatchlistScreen), "the watchlist")
        table = app.screen.query_one(WatchlistTable)
        assert table.selected() == "BTCUSDT"  # the desk's symbol
        await pilot.press("down", "down", "j")
        assert table.selected() == "XRPUSDT"
        await pilot.press("up")
        assert table.selected() == "SOLUSDT"
        await pilot.press("enter")
        await until(pilot, lambda: not isinstance(app.screen, WatchlistScreen), "the desk again")
        assert app.desk_screen.symbol == "SOLUSDT"
        await pilot.press("w")
        await until(pilot, lambda: isinstance(app.screen, WatchlistScreen), "the watchlist again")
        text = screen_text(app)
        assert "2:17:05" in text and "RESYNCING" in text and "⚠ not live: DOGEUSDT" in text
        await pilot.press("delete")
        await until(pilot, lambda: app.noticed("SOLUSDT not removed: no session runs."), "the refusal")
        assert "SOLUSDT" in app.desk.symbols


async def test_in_an_outage_the_last_figures_stay_and_say_not_live() -> None:
    desk = scripted.desk_in_outage()
    desk.tickers.clear()  # as the session does when the link goes
    app = _app(desk)
    async with app.run_test(size=(130, 42)) as pilot:
        await pilot.press("w")
        await until(pilot, lambda: "⚠ not live: the last figures before the link went" in screen_text(app), "it")
        row = next(line for line in screen_text(app).splitlines() if "ETHUSDT " in line and "RESYNCING" in line)
        assert "3,500.1" in row and "+0.0100%" in row  # the last price and funding heard, the book's state
