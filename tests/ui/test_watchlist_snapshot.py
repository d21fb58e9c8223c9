"""SVG snapshot of the watchlist over a scripted desk, on the frozen clock: the funding countdown, a book
resyncing and a silent ticker, the rows sorted by their 24h change (the header and the column say so)."""

from __future__ import annotations

from typing import Any

import pytest

from app.watchlist_screen import WatchlistScreen
from tests.ui.scripted_watchlist import watchlist_desk
from tests.ui.support import SNAPSHOT_SIZE, scripted_app, until
from widgets.watchlist_table import WatchlistTable

pytestmark = pytest.mark.timeout(60)


def test_watchlist_with_a_funding_countdown(snap_compare: Any) -> None:
    app = scripted_app(watchlist_desk(), symbol="ETHUSDT")

    async def open_watchlist(pilot: Any) -> None:
        await pilot.press("w")
        await until(pilot, lambda: isinstance(app.screen, WatchlistScreen), "the watchlist")
        await pilot.press("c")
        table = app.screen.query_one(WatchlistTable)
        await until(pilot, lambda: "by 24h change ▼" in table.plain_lines[0], "the sort by change")

    assert snap_compare(app, terminal_size=SNAPSHOT_SIZE, run_before=open_watchlist)
