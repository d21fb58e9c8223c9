"""The watchlist against the local exchange: adding a symbol from the palette subscribes it on the open link (its
row fills, its book goes live, no reconnect), removing one unsubscribes it, and what cannot be added is refused."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.watchlist_screen import WatchlistScreen
from exchange.book import BookState
from exchange.config import load_settings
from exchange.events import LinkState
from tests.ui.support import (
    LIVE_SIZE,
    RecordingApp,
    palette,
    press,
    runtime_options,
    screen_text,
    sim_settings,
    until,
)
from widgets.symbols import SymbolStrip
from widgets.watchlist_table import WatchlistTable

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


def _ready(app: RecordingApp) -> bool:
    return app.runtime is not None and app.desk.state.kind is LinkState.READY


def _subscribed(app: RecordingApp) -> set[str]:
    """What the exchange holds subscribed on the desk's public connection(s)."""
    assert app.runtime is not None
    return {topic for conn in app.runtime.sim.connections.all("public") for topic in conn.subscriptions}


def _row(app: RecordingApp, symbol: str) -> str:
    """The watchlist's row of ``symbol`` as drawn, or ""."""
    table = app.screen.query_one(WatchlistTable)
    return next((line for line in table.plain_lines if line.startswith(f"{symbol} ")), "")


async def test_add_from_the_palette_goes_live_without_a_reconnect_and_remove_unsubscribes(tmp_path: Path) -> None:
    app = RecordingApp(sim_settings("BTCUSDT,ETHUSDT"), runtime_options=runtime_options(tmp_path))
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await until(pilot, lambda: _ready(app) and "XRPUSDT" in app.desk.instruments, "Ready with instruments")
        assert app.runtime is not None
        session = app.runtime.session
        reconnects, connections = session.reconnects, [c.conn_id for c in app.runtime.sim.connections.all("public")]
        await press(pilot, "w")
        await until(pilot, lambda: isinstance(app.screen, WatchlistScreen), "the watchlist")
        await until(pilot, lambda: "LIVE" in _row(app, "ETHUSDT"), "the rows")

        await palette(pilot, app, "add xrpusdt", "Watchlist: add XRPUSDT")
        await until(pilot, lambda: app.noticed("XRPUSDT added to the watchlist"), "the addition told")
        book = app.desk.books["XRPUSDT"]
        await until(pilot, lambda: book.state is BookState.SYNCED, "the new book live through its snapshot")
        table = app.screen.query_one(WatchlistTable)
        await until(
            pilot,
            lambda: "LIVE" in _row(app, "XRPUSDT") and _row(app, "XRPUSDT").count("%") == 2,
            "its row with figures: price, 24h change, funding and its countdown, book LIVE",
        )
        row = _row(app, "XRPUSDT")
        assert re.match(r"XRPUSDT +0\.\d{4} ", row) and re.search(r" \d+:\d\d:\d\d ", row), (
            row
        )  # to its tick; countdown
        assert {"orderbook.50.XRPUSDT", "publicTrade.XRPUSDT", "tickers.XRPUSDT"} <= _subscribed(app)
        assert session.reconnects == reconnects and app.desk.state.kind is LinkState.READY
        assert [c.conn_id for c in app.runtime.sim.connections.all("public")] == connections  # the same link
        assert app.desk.symbols == ["BTCUSDT", "ETHUSDT", "XRPUSDT"] and table.desk is app.desk

        await press(pilot, "escape")
        await until(pilot, lambda: not isinstance(app.screen, WatchlistScreen), "the desk again")
        strip = app.query_one(SymbolStrip)
        await until(pilot, lambda: "3 XRP" in str(strip.render()), "the symbol strip to follow")
        await press(pilot, "3")
        await until(pilot, lambda: app.desk_screen.symbol == "XRPUSDT", "symbol key 3 to show XRPUSDT")

        await palette(pilot, app, "remove xrp", "Watchlist: remove XRPUSDT")
        await until(pilot, lambda: "XRPUSDT" not in app.desk.symbols, "the removal")
        await until(pilot, lambda: not any("XRPUSDT" in t for t in _subscribed(app)), "its topics unsubscribed")
        assert "XRPUSDT" not in app.desk.books and app.desk.tickers.last_known("XRPUSDT") == {}
        assert app.desk_screen.symbol == "BTCUSDT"  # the removed symbol was on screen: the first takes its place
        await until(pilot, lambda: "XRP" not in str(strip.render()), "the strip without it")
        await pilot.pause(0.3)  # frames sent before the unsubscribe: dropped quietly, never an unknown topic
        assert session.counters["unknown_topic_frames"] == 0
        assert session.reconnects == reconnects and app.desk.state.kind is LinkState.READY
        await app.stop_session()


async def test_the_watchlist_refuses_what_it_cannot_watch(tmp_path: Path) -> None:
    app = RecordingApp(sim_settings("BTCUSDT"), runtime_options=runtime_options(tmp_path))
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await until(pilot, lambda: _ready(app) and "BTCUSDT" in app.desk.instruments, "Ready with instruments")
        await press(pilot, "w")
        await until(pilot, lambda: isinstance(app.screen, WatchlistScreen), "the watchlist")
        await press(pilot, "a")
        await until(pilot, lambda: "Watch a symbol" in screen_text(app), "the add dialog")
        await press(pilot, *"NOPEUSDT", "enter")
        await until(pilot, lambda: app.noticed("NOPEUSDT is not listed by the exchange in linear"), "the refusal")
        await press(pilot, "delete")
        await until(pilot, lambda: app.noticed("BTCUSDT is the only symbol watched"), "the last one kept")
        assert app.desk.symbols == ["BTCUSDT"]
        assert not any("NOPE" in topic for topic in _subscribed(app))
        await app.stop_session()


async def test_the_config_files_symbols_are_watched_again_from_the_palette(tmp_path: Path) -> None:
    config = tmp_path / "fluxum.toml"
    config.write_text('symbols = ["BTCUSDT", "ETHUSDT"]\n')
    settings = load_settings(cfg="sim", config_file=config, environ={})
    app = RecordingApp(settings, runtime_options=runtime_options(tmp_path))
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await until(pilot, lambda: _ready(app) and "DOGEUSDT" in app.desk.instruments, "Ready with instruments")
        assert app.runtime is not None
        reconnects = app.runtime.session.reconnects
        config.write_text('symbols = ["ETHUSDT", "dogeusdt", "SOLUSDT"]\n')
        await palette(pilot, app, "reload", "Watchlist: reload the config file's symbols")
        await until(pilot, lambda: app.desk.symbols == ["ETHUSDT", "DOGEUSDT", "SOLUSDT"], "the config's symbols")
        await until(pilot, lambda: all(b.state is BookState.SYNCED for b in app.desk.books.values()), "live books")
        await until(pilot, lambda: not any("BTCUSDT" in topic for topic in _subscribed(app)), "BTCUSDT unsubscribed")
        assert app.runtime.session.reconnects == reconnects
        config.write_text('symbols = ["ETH-USDT"]\n')
        await palette(pilot, app, "reload", "Watchlist: reload the config file's symbols")
        await until(pilot, lambda: app.noticed("Watchlist not reloaded:"), "the bad file told")
        assert app.desk.symbols == ["ETHUSDT", "DOGEUSDT", "SOLUSDT"]
        await app.stop_session()
