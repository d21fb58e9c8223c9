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


def _symbols_drawn(table: WatchlistTable) -> list[str]:
    return [line.split()[0] for line in table.plain_lines[2:]]


async def test_the_rows_sort_by_a_figure_said_in_the_header_and_enter_shows_the_row_under_the_cursor() -> None:
    app = _app(watchlist_desk())
    async with app.run_test(size=(130, 42)) as pilot:
        await pilot.press("w")
        await until(pilot, lambda: isinstance(app.screen, WatchlistScreen), "the watchlist")
        table = app.screen.query_one(WatchlistTable)
        watched = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT"]
        await until(pilot, lambda: _symbols_drawn(table) == watched, "the watched order")
        assert "5 watched · in the order watched" in table.plain_lines[0]
        await pilot.press("c")  # the 24h change, the largest first
        await until(pilot, lambda: _symbols_drawn(table)[0] == "DOGEUSDT", "sorted by change")
        assert _symbols_drawn(table) == ["DOGEUSDT", "BTCUSDT", "SOLUSDT", "ETHUSDT", "XRPUSDT"]
        assert "by 24h change ▼" in table.plain_lines[0] and "24h %▼" in table.plain_lines[1]
        assert table.selected() == "BTCUSDT"  # the cursor stays on its symbol
        await pilot.press("c")
        await until(pilot, lambda: _symbols_drawn(table)[0] == "XRPUSDT", "reversed")
        assert "by 24h change ▲" in table.plain_lines[0]
        await pilot.press("f")  # funding: a tie keeps the watched order
        await until(pilot, lambda: _symbols_drawn(table)[0] == "SOLUSDT", "sorted by funding")
        assert _symbols_drawn(table) == ["SOLUSDT", "BTCUSDT", "DOGEUSDT", "ETHUSDT", "XRPUSDT"]
        assert "funding▼" in table.plain_lines[1]
        await pilot.press("t")
        await until(pilot, lambda: _symbols_drawn(table) == watched[:4] + ["DOGEUSDT"], "sorted by turnover")
        await pilot.press("s")
        await until(pilot, lambda: _symbols_drawn(table)[:2] == ["BTCUSDT", "DOGEUSDT"], "sorted by symbol")
        assert "symbol▲" in table.plain_lines[1]
        await pilot.press("down")
        assert table.selected() == "DOGEUSDT"
        await pilot.press("enter")
        await until(pilot, lambda: not isinstance(app.screen, WatchlistScreen), "the desk again")
        assert app.desk_screen.symbol == "DOGEUSDT"


async def test_in_an_outage_the_last_figures_stay_and_say_not_live() -> None:
    desk = scripted.desk_in_outage()
    desk.tickers.clear()  # as the session does when the link goes
    app = _app(desk)
    async with app.run_test(size=(130, 42)) as pilot:
        await pilot.press("w")
        await until(pilot, lambda: "⚠ not live: the last figures before the link went" in screen_text(app), "it")
        row = next(line for line in screen_text(app).splitlines() if "ETHUSDT " in line and "RESYNCING" in line)
        assert "3,500.1" in row and "+0.0100%" in row  # the last price and funding heard, the book's state


async def test_at_80_columns_a_row_stays_on_one_line_and_keeps_its_book() -> None:
    """A narrow terminal leaves out open interest, then turnover, rather than wrap each row onto two lines; the
    book's state (can this row be traded on?) stays."""
    app = _app(watchlist_desk())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("w")
        await until(pilot, lambda: isinstance(app.screen, WatchlistScreen), "the watchlist")
        table = app.screen.query_one(WatchlistTable)
        fits = lambda: len(table.plain_lines) > 2 and max(map(len, table.plain_lines)) <= table.container_size.width  # noqa: E731
        await until(pilot, fits, "the rows, each within the dialog")
        headings = table.plain_lines[1]
        assert "book" in headings and "funding" in headings and "open int." not in headings, headings
        rows = screen_text(app).splitlines()
        btc = next(row for row in rows if "BTCUSDT" in row and "%" in row)
        assert "RESYNCING" in btc, btc  # the scripted desk's BTCUSDT book, on the row's one line


async def test_at_80_columns_the_keys_under_the_table_wrap_rather_than_cut() -> None:
    app = _app(watchlist_desk())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("w")
        await until(pilot, lambda: "Escape" in screen_text(app), "the watchlist's keys")
        hint = app.screen.query_one("#watchlist-dialog .dialog-hint").region
        rows = screen_text(app).splitlines()[hint.y : hint.bottom]
        text = " ".join(" ".join(row[hint.x : hint.right] for row in rows).split())
        assert "Escape close" in text and "n as watched (again: reverse)" in text, rows
