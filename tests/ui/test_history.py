"""The link history on the desk: the outage clock, the 30-minute strip, the ``h`` screen (figures, filters, CSV
export) and their snapshots, on scripted desks and a hand-made history (frozen clock, fixed rows)."""

from __future__ import annotations

import csv
import io
import stat
from pathlib import Path
from typing import Any

import pytest

from app.history_screen import HistoryScreen
from exchange.desk import Desk
from exchange.events import LinkState, SessionState
from exchange.link_history import HistoryRow, LinkHistory
from tests.ui import scripted
from tests.ui.scripted import desk_in_outage
from tests.ui.support import SNAPSHOT_SIZE, RecordingApp, WebApp, screen_text, until
from widgets.link_strip import GLYPHS, LinkStrip

pytestmark = pytest.mark.timeout(60)

NOW_MS = scripted.NOW_MS
MIN = 60_000
RUN_MS = NOW_MS - 45 * MIN


def _link(
    minutes_ago: float, state: LinkState, reason: str = "", attempt: int = 0, lasted: int | None = None
) -> HistoryRow:
    return HistoryRow(int(NOW_MS - minutes_ago * MIN), "link", "", state.value, reason, attempt, lasted, RUN_MS)


def hand_made_history(path: Path) -> LinkHistory:
    """45 minutes of one desk: a 41 s outage over two attempts, a book resync, a stale ticker, an alert, and an
    outage still going on."""
    store = LinkHistory(path, now_ms=RUN_MS)
    for row in (
        _link(45, LinkState.CONNECTING),
        _link(44.9, LinkState.READY, "all topics live", lasted=6000),
        _link(30, LinkState.RECONNECTING, "no pong", 1, 900_000),
        _link(29.9, LinkState.CONNECTING, "retrying", 1, 6000),
        _link(29.8, LinkState.RECONNECTING, "exchange unreachable", 2, 6000),
        _link(29.5, LinkState.CONNECTED, "sockets open", 0, 18_000),
        HistoryRow(NOW_MS - 29 * MIN, "book", "BTCUSDT", "RESYNCING", "sequence gap", 0, None, RUN_MS),
        _link(29.3, LinkState.READY, "all topics live", 0, 12_000),
        HistoryRow(NOW_MS - 29 * MIN + 900, "book", "BTCUSDT", "SYNCED", "", 0, 900, RUN_MS),
        HistoryRow(NOW_MS - 20 * MIN, "stale", "tickers.ETHUSDT", "stale", "stream silent", 0, 7000, RUN_MS),
        HistoryRow(NOW_MS - 2 * MIN, "alert", "link_down", "on", "=cmd|' /C calc'!A0", 0, None, RUN_MS),
        _link(41 / 60, LinkState.RECONNECTING, "no pong", 3, 1_700_000),
    ):
        store.add(row)
    store.flush(NOW_MS)
    return store


def _app(desk: Desk, history: LinkHistory | None = None, app_class: type[RecordingApp] = RecordingApp) -> RecordingApp:
    app = app_class(desk=desk, clock=scripted.clock)
    app.animation_level = "none"
    app.history = history
    return app


async def test_the_outage_clock_counts_the_whole_outage_across_attempts() -> None:
    desk = desk_in_outage()
    app = _app(desk)
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        await until(pilot, lambda: "down 41 s" in screen_text(app), "the outage clock")
        desk.state = SessionState(LinkState.CONNECTING, NOW_MS - 100, "retrying", attempt=4)  # the next attempt
        desk.note_state(desk.state)
        desk.touch("state")
        await until(pilot, lambda: "Connecting" in screen_text(app), "the next attempt")
        assert "down 41 s" in screen_text(app)  # the clock did not restart with the attempt
        desk.state = SessionState(LinkState.READY, NOW_MS, "all topics live")
        desk.note_state(desk.state)
        desk.touch("state")
        await until(pilot, lambda: "Ready" in screen_text(app), "Ready")
        assert "down " not in screen_text(app).splitlines()[0]


async def test_the_strip_shows_the_last_half_hour_in_glyphs() -> None:
    app = _app(desk_in_outage())
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        strip = app.query_one(LinkStrip)
        await until(pilot, lambda: len(strip.cells) == 30, "the strip")
        assert strip.cells[0] == "down" and strip.cells[-1] == "down"  # the loss at -30 min, and now
        assert "degraded" in strip.cells and "ready" in strip.cells
        text = screen_text(app)
        assert GLYPHS["down"] in text and GLYPHS["degraded"] in text and GLYPHS["ready"] in text


async def test_the_history_screen_opens_filters_and_exports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    history = hand_made_history(tmp_path / "history.sqlite3")
    app = _app(scripted.long_in_profit(), history)
    monkeypatch.chdir(tmp_path)
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        await pilot.press("h")
        await until(pilot, lambda: isinstance(app.screen, HistoryScreen), "the history screen")
        screen = app.screen
        assert isinstance(screen, HistoryScreen)
        assert screen.summary is not None and len(screen.summary.outages) == 2
        first = screen.summary.outages[0]
        assert (first.duration_ms, first.attempts, first.cause) == (42_000, 2, "no pong")
        assert "mean time to recover 42 s" in screen_text(app)
        await pilot.press("b")
        assert {row.kind for row in screen.shown_rows()} == {"book"}
        await pilot.press("t")
        assert {row.kind for row in screen.shown_rows()} == {"alert"}
        await pilot.press("k")
        assert {row.kind for row in screen.shown_rows()} == {"link", "stale"}
        await pilot.press("a")
        assert len(screen.shown_rows()) == 12
        times = [row.time_ms for row in screen.shown_rows()]
        assert times == sorted(times, reverse=True)  # newest first
        await pilot.press("e")
        (exported,) = tmp_path.glob("fluxum-history-*.csv")
        assert stat.S_IMODE(exported.stat().st_mode) == 0o600
        assert app.noticed(str(exported))
        rows = list(csv.reader(exported.open()))
        assert rows[0][:2] == ["time_ms", "kind"] and len(rows) == 1 + 2 + 12
        alert = next(row for row in rows if row[1] == "alert")
        assert alert[4].startswith("'=")  # a formula from the disk stays text in a spreadsheet
        await pilot.press("escape")
        assert not isinstance(app.screen, HistoryScreen)
    history.close()


async def test_the_history_export_in_a_browser_is_a_download_not_a_file_on_the_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = hand_made_history(tmp_path / "history.sqlite3")
    served = tmp_path / "server"
    served.mkdir()
    monkeypatch.chdir(served)
    app = _app(scripted.long_in_profit(), history, WebApp)
    assert isinstance(app, WebApp)
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        await pilot.press("h")
        await until(pilot, lambda: isinstance(app.screen, HistoryScreen), "the history screen")
        await pilot.press("e")
        await until(pilot, lambda: len(app.delivered) == 1, "the download")
    text, name, mime = app.delivered[0]
    assert name.startswith("fluxum-history-") and name.endswith(".csv") and mime == "text/csv"
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:2] == ["time_ms", "kind"] and len(rows) == 1 + 2 + 12
    assert app.noticed(name)
    assert list(served.iterdir()) == []  # nothing written in the server's working directory
    history.close()


def test_history_screen_snapshot(snap_compare: Any, tmp_path: Path) -> None:
    history = hand_made_history(tmp_path / "history.sqlite3")
    app = _app(scripted.long_in_profit(), history)

    async def open_history(pilot: Any) -> None:
        await pilot.press("h")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SNAPSHOT_SIZE, run_before=open_history)


def test_strip_and_outage_clock_snapshot(snap_compare: Any) -> None:
    assert snap_compare(_app(desk_in_outage()), terminal_size=SNAPSHOT_SIZE)
