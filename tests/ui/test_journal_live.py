"""The desk with a journal it cannot use: a corrupt file is a Failed state whose one line names the file and
the fix; a full disk is a warning on the connection bar while market data stays live, gone once space returns."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from exchange.bybit.sim.demo_credentials import DEMO_API_KEY
from exchange.events import LinkState
from exchange.journal import journal_path
from tests.ui.support import LIVE_SIZE, RecordingApp, runtime_options, screen_text, sim_settings, until
from widgets.connection_bar import ConnectionBar
from widgets.ladder import Ladder

pytestmark = pytest.mark.integration


async def test_a_corrupt_journal_fails_the_desk_with_one_line_naming_the_file_and_the_fix(tmp_path: Path) -> None:
    options = runtime_options(tmp_path)
    path = journal_path("sim", DEMO_API_KEY, "linear", options["journal_dir"])
    path.parent.mkdir(parents=True)
    path.write_bytes(os.urandom(1 << 15))
    app = RecordingApp(sim_settings("BTCUSDT"), runtime_options=options)
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await until(pilot, lambda: app.desk.state.kind is LinkState.FAILED, "Failed")
        reason = app.desk.state.reason
        assert str(path) in reason and "not a database" in reason and "move it aside" in reason, reason
        await until(pilot, lambda: "not a database (corrupt?): move it aside" in screen_text(app), "the reason shown")
        assert "Traceback" not in screen_text(app)


async def test_r_out_of_a_failed_start_opens_the_journal_again_once_it_is_moved_aside(tmp_path: Path) -> None:
    options = runtime_options(tmp_path)
    path = journal_path("sim", DEMO_API_KEY, "linear", options["journal_dir"])
    path.parent.mkdir(parents=True)
    path.write_bytes(os.urandom(4096))
    app = RecordingApp(sim_settings("BTCUSDT"), runtime_options=options)
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await until(pilot, lambda: app.desk.state.kind is LinkState.FAILED, "Failed")
        path.rename(path.with_suffix(".corrupt"))
        await pilot.press("r")
        await until(pilot, lambda: app.desk.state.kind is LinkState.READY, "Ready after r", timeout=30.0)
        assert app.noticed("Starting the session again")
        assert path.exists()  # a fresh journal in its place
        await app.stop_session()


@pytest.mark.slow
async def test_a_full_disk_is_a_warning_on_the_bar_while_the_book_stays_live(tmp_path: Path) -> None:
    app = RecordingApp(sim_settings("BTCUSDT"), runtime_options=runtime_options(tmp_path))
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await until(pilot, lambda: app.desk.state.kind is LinkState.READY, "Ready")
        runtime = app.runtime
        assert runtime is not None and runtime.journal is not None and runtime.sim is not None
        runtime.journal._db.execute("PRAGMA max_page_count = 1")  # no new page: SQLITE_FULL
        for _ in range(40):
            runtime.sim.exchange.place_order(
                {"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Market", "qty": "0.001"}
            )
        await until(pilot, lambda: "⚠ journal: disk full" in screen_text(app), "the journal warning on the bar")
        assert app.desk.state.kind is LinkState.READY and app.query_one(Ladder).trust == ("SYNCED", None)
        await until(pilot, lambda: app.noticed("disk full"), "the disk-full notice")  # the bar may show it first
        runtime.journal._db.execute("PRAGMA max_page_count = 1073741823")
        await until(pilot, lambda: app.desk.journal_problem is None, "the journal to write again", timeout=30.0)
        await until(pilot, lambda: "journal:" not in app.query_one(ConnectionBar).render().plain, "the warning gone")
        await until(pilot, lambda: app.noticed("writing again"), "the writing-again notice")
        await app.stop_session()
