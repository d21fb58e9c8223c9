"""Pilot tests on scripted desks (no network): screens, layouts, the ladder's and tape's marks, the bridge."""

from __future__ import annotations

import asyncio
import re
import stat
import subprocess
import sys
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from textual.content import Content
from textual.notifications import Notification

from app.app import TOAST_BURST, TOAST_WINDOW_S, TOASTS_SHOWN
from app.bridge import BRIDGED_KINDS, Bridge
from app.screens import ExportScreen, HelpScreen, LedgerScreen
from exchange import events
from exchange.book import BookState
from exchange.events import LinkState, SessionState
from exchange.hub import EventHub
from exchange.ledger import CSV_COLUMNS, Fill, MarkSource
from exchange.notices import NoticeGate
from tests.ui import scripted
from tests.ui.support import (
    SNAPSHOT_SIZE,
    FooterKey,
    RecordingApp,
    keep_crash_report,
    notifications,
    screen_text,
    stand_in,
    toast_message,
    toasts,
    until,
)
from widgets.connection_bar import ConnectionBar
from widgets.content_rows import ContentRows
from widgets.ladder import IMBALANCE_LEVELS, Ladder
from widgets.orders import OrdersTable
from widgets.position import PositionPanel
from widgets.tape import TradesTape

pytestmark = pytest.mark.timeout(60)


def _app(desk: object, symbol: str | None = None, clock: object = scripted.clock) -> RecordingApp:
    app = RecordingApp(desk=desk, clock=clock, symbol=symbol)
    app.animation_level = "none"
    return app


async def test_help_screen_lists_every_binding() -> None:
    app = _app(scripted.long_in_profit())
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        assert "Previous symbol" in screen_text(app)
        text = app.screen.plain()  # the whole help, also what is scrolled below the screen
        for words in (
            "Previous symbol",
            "Coarser ladder",
            "Export the ledger",
            "Cancel the order",
            "Buy limit at the cursor's price",
            "Close the position at market (reduce-only)",
            "Amend the order selected in Open orders",
            "◑ Reconnecting",
        ):
            assert words in text
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_ledger_screen_shows_all_fields_and_offers_export() -> None:
    desk = scripted.long_in_profit()
    for fill in scripted.short_in_loss().own_fills:
        desk.ledger.apply_fill(fill)
    app = _app(desk)
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        await pilot.press("l")
        assert isinstance(app.screen, LedgerScreen)
        from textual.widgets import DataTable

        table = app.screen.query_one(DataTable)
        assert table.row_count == len(CSV_COLUMNS) == 30
        assert [str(c.label) for c in table.columns.values()] == ["field", "BTCUSDT", "ETHUSDT"]
        assert table.get_cell("position", "ETHUSDT").plain == "-4.00"  # to ETHUSDT's qty step, 0.01
        assert table.get_cell("mark_source", "BTCUSDT").plain == "mark_price"
        # What changes the ledger without a fill (an open-orders summary, a reconcile leg) shows at once too.
        desk.ledger.set_open_orders("ETHUSDT", Decimal("3"), Decimal("1"), Decimal("2"))
        desk.ledger.reconcile_position("ETHUSDT", Decimal("-5"), Decimal("3500"), 1)
        await until(pilot, lambda: table.get_cell("position", "ETHUSDT").plain == "-5.00", "the reconcile leg shown")
        assert table.get_cell("total_remaining", "ETHUSDT").plain == "2.00"
        await pilot.press("e")
        assert isinstance(app.screen, ExportScreen)
        await pilot.press("escape", "escape")
        assert not isinstance(app.screen, (LedgerScreen, ExportScreen))


async def test_the_ledger_screen_rounds_to_each_instrument_and_keeps_the_field_names_when_scrolled() -> None:
    """Average prices are quotients the ledger keeps to 24 digits: shown to the tick, quantities to the qty
    step, money to 4 places; with more symbols than the width holds, the names stay as the table scrolls."""
    from textual.widgets import DataTable

    desk = scripted.long_in_profit()
    for symbol, qty, prices in (
        ("ETHUSDT", "0.03", ("3500.11", "3501.17", "3499.99")),
        ("SOLUSDT", "0.7", ("150.01", "150.37", "149.99")),
        ("XRPUSDT", "7", ("0.6011", "0.6017", "0.6013")),
        ("DOGEUSDT", "13", ("0.15001", "0.15007", "0.15011")),
    ):
        for n, price in enumerate(prices):
            desk.ledger.apply_fill(Fill(f"{symbol}-{n}", symbol, "Buy", Decimal(qty), Decimal(price), Decimal(0), n))
    entry = desk.ledger.entry("ETHUSDT")
    assert entry is not None and len(str(entry.avg_buy_price)) > 20  # the raw quotient
    app = _app(desk)
    async with app.run_test(size=(80, 30)) as pilot:
        await pilot.press("l")
        assert isinstance(app.screen, LedgerScreen)
        table = app.screen.query_one(DataTable)
        assert table.get_cell("avg_buy_price", "ETHUSDT").plain == "3,500.42"  # tick 0.01
        assert table.get_cell("avg_buy_price", "DOGEUSDT").plain == "0.15006"  # tick 0.00001
        assert table.get_cell("total_buy_qty", "SOLUSDT").plain == "2.1"  # qty step 0.1
        assert table.get_cell("buy_notional", "XRPUSDT").plain == "12.6287"  # money, 4 places
        numbers = [field for field in CSV_COLUMNS if field not in ("update_time", "update_source", "side")]
        numbers = [field for field in numbers if field != "mark_source"]
        assert all(len(str(cell)) < 16 for field in numbers for cell in table.get_row(field)), "a raw decimal"
        table.scroll_to(x=table.max_scroll_x, animate=False)
        await pilot.pause()
        assert table.scroll_x > 0
        text = screen_text(app)
        assert "XRPUSDT" in text and "avg_buy_price" in text and "total_buy_qty" in text, text  # the last column


async def test_the_ledger_of_a_symbol_with_no_instrument_takes_its_places_from_the_exchange_strings() -> None:
    """A symbol whose instrument is not known: its fill prices and quantities as the exchange wrote them."""
    from textual.widgets import DataTable

    desk = scripted.long_in_profit()
    for n, (side, qty, price) in enumerate((("Buy", "9473", "0.15123"), ("Sell", "18946", "0.15131"))):
        desk.ledger.apply_fill(Fill(f"ada-{n}", "ADAUSDT", side, Decimal(qty), Decimal(price), Decimal(0), n))
    assert desk.instrument("ADAUSDT") is None
    app = _app(desk)
    async with app.run_test(size=(80, 30)) as pilot:
        await pilot.press("l")
        assert isinstance(app.screen, LedgerScreen)
        table = app.screen.query_one(DataTable)
        assert table.get_cell("position", "ADAUSDT").plain == "-9,473"
        assert table.get_cell("price", "ADAUSDT").plain == "0.15131"
        assert table.get_cell("avg_sell_price", "ADAUSDT").plain == "0.15131"


async def test_export_to_an_unwritable_path_is_told_not_raised(tmp_path: Path) -> None:
    app = _app(scripted.long_in_profit())
    async with app.run_test(size=SNAPSHOT_SIZE):
        assert app.export_ledger(tmp_path / "missing-dir" / "ledger.csv") is None
        assert app.noticed("Could not write")
        written = app.export_ledger(tmp_path / "ledger.csv")
        assert written is not None and written.read_text().splitlines()[0] == ",".join(CSV_COLUMNS)
        assert stat.S_IMODE(written.stat().st_mode) == 0o600  # the account's money, owner-only like the journal


async def test_too_small_then_compact_then_full() -> None:
    app = _app(scripted.long_in_profit())
    async with app.run_test(size=(50, 16)) as pilot:
        screen = app.desk_screen
        assert screen.has_class("-tiny")
        assert "Terminal 50x16 is too small" in screen_text(app)
        await pilot.resize_terminal(60, 20)
        assert screen.has_class("-compact") and not screen.has_class("-tiny")
        text = screen_text(app)
        assert "BTCUSDT  ● LIVE" in text and "spread" in text and "LONG 0.500" in text
        await pilot.resize_terminal(140, 44)
        assert screen.has_class("-full")
        assert "Trades" in screen_text(app) and "Open orders" in screen_text(app)


async def test_state_change_is_shown_without_waiting_for_a_timer() -> None:
    desk = scripted.long_in_profit()
    app = _app(desk)
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        bar = app.query_one(ConnectionBar)
        assert bar.state_shown is LinkState.READY
        previous = desk.state
        desk.state = SessionState(LinkState.RECONNECTING, scripted.NOW_MS, "link closed", 1, scripted.NOW_MS + 800)
        desk.touch("state")
        app.desk_screen.on_bridge_state_changed(
            Bridge.StateChanged(desk.state, previous)
        )  # synchronously, no timer involved
        assert bar.state_shown is LinkState.RECONNECTING
        await pilot.pause()
        assert "◑ Reconnecting · attempt 1 · retry in 0.8 s" in screen_text(app)


async def test_ladder_marks_own_orders_and_off_screen_ones() -> None:
    app = _app(scripted.long_in_profit())
    async with app.run_test(size=SNAPSHOT_SIZE):
        ladder = app.query_one(Ladder)
        assert ladder.trust == ("SYNCED", None)
        text = screen_text(app)
        bid = app.desk.books["BTCUSDT"].bids(4)[3][0]
        assert any("◆0.100" in line and f"{bid:,.1f}" in line for line in text.splitlines())
        assert "◆1 off-screen" in text


async def test_resyncing_book_is_labelled_not_live_twice() -> None:
    app = _app(scripted.resyncing())
    async with app.run_test(size=SNAPSHOT_SIZE):
        ladder = app.query_one(Ladder)
        assert ladder.trust == ("RESYNCING", "gap: u 1042 -> 1044")
        text = screen_text(app)
        assert text.count("RESYNCING · NOT LIVE") == 2  # header badge and spread row
        assert "● LIVE" not in text.split("Position")[0].split("Order book")[-1]


async def test_book_without_updates_goes_stale_by_its_own_timestamp() -> None:
    """A desk without the session's link figures falls back to the book's own ts."""
    now = [scripted.NOW]
    desk = scripted.long_in_profit()
    desk.stats = None
    app = _app(desk, clock=lambda: now[0])
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        ladder = app.query_one(Ladder)
        assert ladder.trust[0] == "SYNCED"
        now[0] += 7.0
        await until(pilot, lambda: ladder.trust[0] == "STALE", "STALE from the book's age", timeout=5)
        assert ladder.trust[1] == "no update for 7.0 s"
        assert "STALE · NOT LIVE" in screen_text(app)


async def test_a_local_clock_ahead_of_bybit_does_not_make_a_live_book_stale() -> None:
    """With the session's figures (timed by arrival here) saying the topic is fresh, the book's ts age is moot."""
    now = [scripted.NOW + 30.0]  # this machine's clock runs 30 s ahead of Bybit's timestamps
    app = _app(scripted.long_in_profit(), clock=lambda: now[0])
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        ladder = app.query_one(Ladder)
        await pilot.pause()
        assert ladder.trust[0] == "SYNCED"
        assert "NOT LIVE" not in screen_text(app)


async def test_ladder_rebuilds_only_when_something_moved(monkeypatch: pytest.MonkeyPatch) -> None:
    desk = scripted.long_in_profit()
    app = _app(desk)
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        ladder = app.query_one(Ladder)
        builds = 0
        original = ladder._build

        def counting(*args: Any) -> Any:
            nonlocal builds
            builds += 1
            return original(*args)

        monkeypatch.setattr(ladder, "_build", counting)
        await pilot.pause(0.3)  # six pulls at 20 Hz, nothing changed
        assert builds == 0
        scripted.resize_best_ask(desk)
        await until(pilot, lambda: builds == 1, "one rebuild for one book change", timeout=5)
        assert "9.999" in screen_text(app)


async def test_grouping_rounds_bids_down_and_asks_up() -> None:
    app = _app(scripted.long_in_profit())
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        ladder = app.query_one(Ladder)
        for _ in range(3):
            await pilot.press("plus")
        assert ladder.group == 10 and ladder.step() == pytest.approx(1.0)
        book = app.desk.books["BTCUSDT"]
        text = screen_text(app)
        best_bid, best_ask = book.best_bid(), book.best_ask()
        assert best_bid is not None and best_ask is not None
        assert f"{int(best_bid[0]):,}" in text  # 65,010.1 -> 65,010
        assert f"{int(best_ask[0]) + 1:,}" in text  # 65,010.2 -> 65,011
        assert "x10 = 1.0" in text


async def test_grouped_rows_print_their_exact_prices_and_the_spread_keeps_the_tick() -> None:
    """ETHUSDT (tick 0.01) at x250 groups by 2.5: a 3,502.50 row must print as 3,502.5, never rounded to a whole
    number; and the spread row still quotes in ticks (a one-tick spread is not "spread 0" at any grouping)."""
    desk = scripted.base_desk()
    app = _app(desk, "ETHUSDT")
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        ladder = app.query_one(Ladder)
        while ladder.group < 250:
            await pilot.press("plus")
        assert ladder.group == 250
        book = desk.books["ETHUSDT"]
        text = screen_text(app)
        rows = book.grouped("ask", 2.5, 5) + book.grouped("bid", 2.5, 5)
        assert any(round(price * 10) % 10 == 5 for price, _ in rows), "the sample needs a half-price row"
        for price, _ in rows:
            assert f"{price:,.1f}" in text, f"{price} printed rounded"
        spread = book.spread()
        assert spread is not None and f"spread {spread:,.2f}" in text


async def test_imbalance_is_over_a_fixed_depth_whatever_the_height_or_grouping() -> None:
    """The imbalance row sums the top 10 book levels a side, so resizing or grouping does not move it."""
    desk = scripted.base_desk()
    book = desk.books["BTCUSDT"]
    expected = book.imbalance(IMBALANCE_LEVELS)
    assert expected is not None
    seen = set()
    for size in (SNAPSHOT_SIZE, (100, 30), (SNAPSHOT_SIZE[0], SNAPSHOT_SIZE[1] + 16)):
        app = _app(desk, "BTCUSDT")
        async with app.run_test(size=size) as pilot:
            for presses in (0, 3):
                for _ in range(presses):
                    await pilot.press("plus")
                await pilot.pause()
                line = next(row for row in screen_text(app).splitlines() if "imbalance" in row)
                seen.add(line.split("bid")[0].split()[-1])
    assert seen == {f"{expected:+.2f}"}, seen


async def test_an_old_last_trade_is_quoted_with_its_age_on_the_exchange_clock() -> None:
    """After a reconnect (or in a quiet market) the last print may be minutes old while the book is live: the spread
    row says how old, timed against the book's own ts, so a local clock off from Bybit's cannot age it."""
    desk = scripted.base_desk()
    book = desk.books["BTCUSDT"]
    assert book.ts is not None
    last = desk.trades["BTCUSDT"][-1]
    desk.trades["BTCUSDT"].append(replace(last, time_ms=book.ts - 125_000, trade_id="old"))
    desk.touch("trades:BTCUSDT")
    app = _app(desk, "BTCUSDT", clock=lambda: book.ts / 1000 + 3600)  # the local clock an hour ahead
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        await pilot.pause()
        assert "last 65,009.9 2m ago" in screen_text(app)
        desk.trades["BTCUSDT"].append(replace(last, time_ms=book.ts - 2_000, trade_id="new"))
        desk.touch("trades:BTCUSDT")
        await until(pilot, lambda: " ago" not in screen_text(app), "a fresh print quoted without an age")


@pytest.mark.parametrize("odd", ["Infinity", "NaN", "-1", "abc"])
async def test_an_odd_last_price_in_a_ticker_shows_nothing_and_crashes_nothing(odd: str) -> None:
    """Tickers arrive before the instruments: the strip cannot take the decimals from them yet."""
    from widgets.symbols import SymbolStrip

    desk = scripted.base_desk()
    desk.instruments.clear()
    desk.tickers.apply(
        {"topic": "tickers.ETHUSDT", "type": "snapshot", "data": {"symbol": "ETHUSDT", "lastPrice": odd}}
    )
    app = _app(desk)
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        await pilot.pause()
        strip = str(app.query_one(SymbolStrip).render())
        assert "ETHUSDT" in strip and odd not in strip


def _position_text(app: RecordingApp) -> str:
    from widgets.position import PositionPanel

    return str(app.query_one(PositionPanel).query_one("#position-body").render())


async def test_a_mark_from_a_book_that_stopped_being_live_is_flagged_while_the_link_is_ready() -> None:
    """Marked at the best bid, then the book goes RESYNCING with the session still Ready: the mark has frozen
    and the P&L on it must not look live."""
    desk = scripted.long_in_profit()
    desk.ledger.mark("BTCUSDT", Decimal("65010.1"), MarkSource.BEST_BID, scripted.NOW_MS)
    app = _app(desk)
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        await pilot.pause()
        assert "not live" not in _position_text(app)
        desk.books["BTCUSDT"].invalidate("gap: u 1043 expected, got 1044")
        desk.touch("book:BTCUSDT")
        await until(pilot, lambda: "mark not live" in _position_text(app), "the frozen mark flagged", timeout=5)


async def test_a_mark_price_from_a_silent_ticker_stream_is_flagged() -> None:
    desk = scripted.long_in_profit()
    desk.ledger.mark("BTCUSDT", Decimal("65010.2"), MarkSource.MARK_PRICE, scripted.NOW_MS)
    assert desk.stats is not None
    stale = [replace(h, stale=h.topic == "tickers.BTCUSDT") for h in desk.stats.topics]
    desk.stats = replace(desk.stats, topics=tuple(stale))
    desk.touch("stats")
    app = _app(desk)
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        await pilot.pause()
        assert "mark not live" in _position_text(app)


async def test_while_reconnecting_the_wallet_and_the_tape_say_they_are_not_live() -> None:
    """The wallet holds the last word before the link went, and the tape has a hole no one will replay."""
    from widgets.wallet import WalletPanel

    app = _app(scripted.reconnecting())
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        assert str(app.query_one(WalletPanel).render()).startswith("⚠ not live")
        assert "⚠ not live" in app.query_one(TradesTape).strip(0).text


async def test_in_an_outage_the_open_orders_say_they_are_not_live_and_say_so_again_once_ready() -> None:
    """An order listed before the link went may have filled or been cancelled since: the list is the last word."""
    desk = scripted.reconnecting()
    assert desk.open_orders(), "the outage hides orders that may have moved"
    app = _app(desk)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        orders = app.query_one(OrdersTable)
        assert str(orders.border_subtitle) == "⚠ not live"
        assert "⚠ not live" in screen_text(app).split("Open orders", 1)[1]
        desk.state = replace(desk.state, kind=LinkState.READY, reason="")
        desk.touch("state")
        await until(pilot, lambda: not orders.border_subtitle, "the warning gone once Ready", timeout=5)
        desk.account_down = "API key rejected"
        desk.touch("state")
        await until(pilot, lambda: "account down" in str(orders.border_subtitle), "the account's outage", timeout=5)
        position = app.query_one(PositionPanel)
        await until(pilot, lambda: "⚠ not live: account down" in _plain(position), "the position's too", timeout=5)


async def test_a_recovery_with_the_account_still_down_says_so() -> None:
    desk = scripted.reconnecting()
    app = _app(desk)
    async with app.run_test(size=(160, 50)) as pilot:
        down = desk.state
        app.desk_screen.post_message(Bridge.StateChanged(down, down))
        desk.account_down = "API key rejected"
        ready = replace(down, kind=LinkState.READY, reason="public live")
        app.desk_screen.post_message(Bridge.StateChanged(ready, down))
        await pilot.pause()
        assert app.noticed("Link recovered: public data live again; account still down")
        assert not app.noticed("every topic is live again")
        desk.account_down = ""
        app.desk_screen.post_message(Bridge.StateChanged(down, ready))
        app.desk_screen.post_message(Bridge.StateChanged(ready, down))
        await pilot.pause()
        assert app.noticed("Link recovered: every topic is live again")


def _plain(widget: object) -> str:

    assert isinstance(widget, PositionPanel)
    return str(widget.query_one("#position-body", ContentRows).render())


@pytest.mark.parametrize("width", [140, 120, 100, 80])
async def test_a_ready_link_with_stale_streams_says_so_on_the_first_line(width: int) -> None:
    """Ready means the link is up; a stale feed under it must not hide at the end of a long second line (after a
    reconnect, the reconnect's reason is long enough to push a warning placed after it off screen)."""
    desk = scripted.base_desk()
    assert desk.stats is not None
    stale = {"tickers.BTCUSDT", "orderbook.50.ETHUSDT"}
    topics = tuple(replace(h, stale=h.topic in stale) for h in desk.stats.topics)
    desk.stats = replace(desk.stats, reconnects=1, last_reconnect_reason="public: closed by server (code 1006)")
    desk.stats = replace(desk.stats, topics=topics)
    desk.touch("stats")
    app = _app(desk, "BTCUSDT")
    async with app.run_test(size=(width, 44)) as pilot:
        await pilot.pause()
        first = screen_text(app).splitlines()[0]
        assert "● Ready" in first and "⚠ 2 streams stale" in first, first
        strip = next(line for line in screen_text(app).splitlines() if "1 BTC" in line)
        marked = [part.split()[1].removesuffix("USDT") for part in strip.split("│") if "⚠" in part]
        assert marked[:2] == ["BTC", "ETH"], strip  # a frozen ticker price is marked, not only a book


async def test_a_ready_link_with_a_book_resyncing_repeatedly_says_so() -> None:
    """A host that breaks a book after every snapshot leaves the link Ready: the bar must not say all is well."""
    desk = scripted.base_desk()
    assert desk.stats is not None
    topics = tuple(replace(h, resync_streak=7 if h.topic == "orderbook.50.BTCUSDT" else 0) for h in desk.stats.topics)
    desk.stats = replace(desk.stats, topics=topics)
    desk.touch("stats")
    app = _app(desk, "BTCUSDT")
    async with app.run_test(size=(160, 44)) as pilot:
        await pilot.pause()
        first, second = screen_text(app).splitlines()[:2]
        assert "● Ready" in first and "⚠ 1 book resyncing repeatedly" in first, first
        assert "RESYNC ×7" in second, second


@pytest.mark.parametrize("size", [(100, 30), (80, 24), (60, 20), (140, 44)])
async def test_toasts_never_cover_the_connection_bar(size: tuple[int, int]) -> None:
    """Five drops in a row, each a long raw reason: the toasts stack up from the bottom and stop below the bar."""
    app = _app(scripted.reconnecting())
    async with app.run_test(size=size, notifications=True) as pilot:
        await pilot.pause()
        for attempt in range(1, 6):
            reason = f"public: cannot connect (Cannot connect to host 127.0.0.1:{9000 + attempt} ssl:default " + (
                "[Connect call failed ('127.0.0.1', 9001)] " * 4
            )
            app._toast("warning", f"Link lost ({reason}); retry {attempt} in 2.0 s", "Reconnecting", 60)
        await until(pilot, lambda: len(toasts(app)) == len(notifications(app)), "toasts shown", timeout=5)
        await pilot.pause()
        bar = app.query_one(ConnectionBar).region
        assert bar.height >= 1
        shown = toasts(app)
        assert shown, "the newest toasts are shown"
        for toast in shown:
            assert not toast.region.overlaps(bar), f"a toast at {toast.region} covers the bar at {bar}"
            assert toast.region.bottom <= size[1], f"a toast at {toast.region} is off the screen"
        assert "retry 5 in" in toast_message(shown[-1]), "the newest toast is the one kept"
        assert "Reconnecting" in screen_text(app).splitlines()[0], "the state still reads on the top line"


async def test_a_flood_of_notices_becomes_a_few_toasts_and_a_count() -> None:
    """A host that makes the desk say the same thing a thousand times (a book resyncing after every delta, each
    with its own sequence number; the same notice) shows a few toasts, then how many more there were."""
    clock = [50.0]
    app = _app(scripted.base_desk(), "BTCUSDT")
    app._toast_gate = NoticeGate(TOAST_WINDOW_S, burst=TOAST_BURST, clock=lambda: clock[0])
    shown: list[str] = []
    toast = app._toast

    def counted(level: str, text: str, title: str, timeout: float | None) -> Notification:
        shown.append(text)
        return toast(level, text, title, timeout)

    app._toast = counted  # type: ignore[method-assign]
    async with app.run_test(size=(160, 44)) as pilot:
        for n in range(1_000):
            app.desk_screen.post_message(
                Bridge.BookStateChanged("BTCUSDT", BookState.RESYNCING, f"unreadable delta u {n}")
            )
            app.desk_screen.post_message(Bridge.NoticeReceived("error", "Order rejected: insufficient balance"))
        await pilot.pause()
        assert len(app.notices) == 2_000 and len(shown) == 2, shown
        clock[0] += TOAST_WINDOW_S
        app._flush_toasts()
        await pilot.pause()
        assert shown[2:] == [
            "BTCUSDT book RESYNCING: unreadable delta u 0; shown as not live until its new snapshot. "
            "(… and 999 more like it)",
            "Order rejected: insufficient balance (… and 999 more like it)",
        ]
        for n in range(50):  # fifty different texts: the burst, then one line for the rest
            app.notify(f"Cancel rejected: order {n}", severity="error")
        await pilot.pause()
        assert len(shown) == 4 + TOAST_BURST and len(notifications(app)) <= TOASTS_SHOWN
        clock[0] += TOAST_WINDOW_S
        app._flush_toasts()
        assert shown[-1] == f"… and {50 - TOAST_BURST} more notices in {TOAST_WINDOW_S:g} s"


async def test_tape_shows_sides_as_words_marks_own_fills_and_large_trades() -> None:
    desk = scripted.long_in_profit()
    last = desk.trades["BTCUSDT"][-1]
    own = Fill("own-1", "BTCUSDT", last.side, last.qty, last.price, Decimal("0.01"), last.time_ms + 5)
    desk.own_fills.append(own)
    desk.touch("fills")
    app = _app(desk)
    async with app.run_test(size=SNAPSHOT_SIZE):
        tape = app.query_one(TradesTape)
        lines = [strip.text for strip in tape.strips()[1:]]
        assert lines[0].rstrip().endswith("◆ YOU")  # the user's own fill, a row of its own
        assert "◆" not in lines[1]  # the public print of the same size and price is not marked
        assert all((" BUY " in line) != (" SELL " in line) for line in lines)
        assert any(line.rstrip().endswith("!") for line in lines)  # a large trade
        assert len(lines) <= tape.size.height


async def test_production_badge_wears_production_colours() -> None:
    """(Its colours in every theme: tests/ui/test_theme_colours.py.)"""
    app = _app(scripted.base_desk(environment="PRODUCTION"))
    async with app.run_test(size=SNAPSHOT_SIZE):
        bar = app.query_one(ConnectionBar)
        content = bar.render()
        badge = [span for span in content.spans if content.plain[span.start : span.end] == " PRODUCTION "]
        assert badge and str(badge[0].style) == "bold $env-production-text on $env-production"


async def test_every_theme_has_the_desk_colours() -> None:
    app = _app(scripted.long_in_profit())
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        for theme in ("textual-light", "nord", "textual-dark"):
            app.theme = theme
            await pilot.pause()
            variables = app.get_css_variables()
            assert {"bid", "ask", "profit", "loss", "own-order"} <= set(variables)
        assert "BTCUSDT  ● LIVE" in screen_text(app)


async def test_scripted_desk_cannot_cancel_orders() -> None:
    app = _app(scripted.long_in_profit())
    async with app.run_test(size=SNAPSHOT_SIZE):
        assert app.desk_screen.check_action("cancel_order", ()) is False
        assert app.desk_screen.check_action("show_ledger", ()) is True


async def test_bridge_forwards_only_lossless_kinds_in_order() -> None:
    received: list[object] = []

    class Target:
        def post_message(self, message: object) -> bool:
            received.append(message)
            return True

    hub = EventHub()
    bridge = Bridge(Target())  # type: ignore[arg-type]
    subscription = bridge.subscribe(hub)
    ready = SessionState(LinkState.READY, 2)
    hub.publish(events.StateChanged(ready, SessionState(LinkState.CONNECTED, 1)))
    hub.publish(events.BookChanged("BTCUSDT", 3))  # hot: not bridged, widgets pull it
    hub.publish(events.Notice("warning", "stale feed"))
    hub.publish(events.BookStateChanged("BTCUSDT", BookState.RESYNCING, "gap"))
    subscription.close()
    await asyncio.wait_for(bridge.run(subscription), 5)
    assert [type(m) for m in received] == [
        Bridge.StateChanged,
        Bridge.NoticeReceived,
        Bridge.BookStateChanged,
    ]
    assert events.BookChanged not in BRIDGED_KINDS and events.TradesReceived not in BRIDGED_KINDS
    position = events.PositionSnapshot("BTCUSDT", Decimal(1), Decimal(1), None, None, None, None, None, None)
    first = Bridge.PositionChanged(position)
    assert Bridge.PositionChanged(replace(position, size=Decimal(2))).can_replace(first)
    assert not Bridge.PositionChanged(replace(position, symbol="ETHUSDT")).can_replace(first)


@pytest.mark.integration
def test_widgets_never_import_aiohttp_or_the_session() -> None:
    code = (
        "import sys, widgets.ladder, widgets.tape, widgets.position, widgets.connection_bar, widgets.wallet, "
        "widgets.orders, widgets.symbols\n"
        "bad = [m for m in ('aiohttp', 'exchange.session', 'exchange.bybit.rest') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_app_is_constructible_with_no_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BYBIT_SIM_API_KEY", "BYBIT_SIM_API_SECRET"):
        monkeypatch.delenv(name, raising=False)
    from app.app import FluxumApp

    app = FluxumApp()
    assert app.settings is not None and app.settings.embedded
    assert app.desk.symbols == list(app.settings.symbols)
    assert app.desk.state.kind is LinkState.DISCONNECTED and not app.scripted


async def test_crash_report_shows_no_locals() -> None:
    import io

    from rich.console import Console

    class Exploding(RecordingApp):
        BINDINGS = [("x", "explode", "Explode")]

        def action_explode(self) -> None:
            api_secret = "-".join(("CANARY", "SECRET", "do-not-show"))  # noqa: F841 - a local, not in the source
            raise RuntimeError("boom")

    app = Exploding(desk=scripted.long_in_profit(), clock=scripted.clock)
    report = keep_crash_report(app)
    with pytest.raises(RuntimeError, match="boom"):
        async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
            await pilot.press("x")
    console = Console(file=io.StringIO(), width=200, record=True)
    for renderable in report:
        console.print(renderable)
    printed = console.export_text()
    assert "boom" in printed and "CANARY-SECRET" not in printed


async def test_mid_layout_keeps_every_order_number_and_drops_status_before_cutting() -> None:
    desk = scripted.long_in_profit()
    partial = desk.orders["o2"]
    desk.orders["o2"] = replace(partial, cum_exec_qty=Decimal("0.050"), status="PartiallyFilled")
    desk.touch("orders")
    app = _app(desk)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(OrdersTable)
        await until(pilot, lambda: table.row_count == 2, "the two orders")
        assert app.screen.has_class("-mid")
        assert table.compact_level == 0
        assert [str(c.label) for c in table.columns.values()][-1] == "status"
        assert ("BTCUSDT", "SELL", "66,500.0", "0.05/0.2", "Partial") in [
            tuple(c.plain for c in table.get_row_at(i)) for i in range(2)
        ]
        wallet = screen_text(app)
        assert "avail" in wallet and "93,101.87" in wallet

        await pilot.resize_terminal(90, 30)
        await until(pilot, lambda: table.compact_level > 0, "the compact orders")
        assert "status" not in [str(c.label).strip() for c in table.columns.values()]
        rows = [tuple(c.plain.strip() for c in table.get_row_at(i)) for i in range(table.row_count)]
        assert ("66,500.0", "0.05/0.2") in [(row[2], row[3].removesuffix(" P")) for row in rows]
        text = screen_text(app)
        for number in ("66,500.0", "0.05/0.2", "65,009.8", "100,512.33", "93,101.87", "+481.18"):
            assert number in text, (number, text)


async def test_open_orders_write_each_price_to_its_symbols_tick_as_the_ladder_does() -> None:
    """The exchange writes ``100`` and ``0.5``; the ladder writes ETHUSDT to the cent and XRPUSDT to four places,
    and so do Open orders (a symbol whose tick is not known yet keeps the exchange's digits)."""
    desk = scripted.long_in_profit()
    desk.orders["e1"] = scripted._order("e1", "ETHUSDT", "Buy", "100", "1", 1_000)
    desk.orders["x1"] = scripted._order("x1", "XRPUSDT", "Sell", "0.5", "10", 2_000)
    desk.orders["n1"] = scripted._order("n1", "NEWUSDT", "Sell", "1.50", "1", 3_000)
    desk.touch("orders")
    app = _app(desk)
    async with app.run_test(size=(160, 48)) as pilot:
        table = app.query_one(OrdersTable)
        await until(pilot, lambda: table.row_count == 5, "the five orders")
        prices = [(table.get_row_at(i)[0].plain, table.get_row_at(i)[2].plain) for i in range(5)]
        wanted = {("ETHUSDT", "100.00"), ("XRPUSDT", "0.5000"), ("NEWUSDT", "1.5"), ("BTCUSDT", "66,500.0")}
        assert wanted <= set(prices)


def test_cancel_is_watch_only_on_a_real_exchange_without_trade() -> None:

    from exchange.config import load_settings

    desk = scripted.long_in_profit()
    assert desk.open_orders(), "the scripted desk holds open orders"
    app = _app(desk)
    environ = {"BYBIT_TESTNET_API_KEY": "k" * 12, "BYBIT_TESTNET_API_SECRET": "s" * 12}
    app.runtime = stand_in(load_settings(cfg="testnet", environ=environ))
    assert app.desk_screen.check_action("cancel_order", ()) is False
    app.runtime = stand_in(load_settings(cfg="testnet", environ=environ, trading_enabled=True))
    assert app.desk_screen.check_action("cancel_order", ()) is True
    app.runtime = stand_in(load_settings(environ={}))  # the local exchange: always allowed
    assert app.desk_screen.check_action("cancel_order", ()) is True


async def test_on_production_a_cancel_needs_the_symbol_typed() -> None:
    """Real money: a y keypress is not enough. The order's symbol must be typed; a wrong word sends nothing and
    says so; Escape keeps the order. Elsewhere the y/n question stays."""

    from app.screens import ConfirmScreen, TypedConfirmScreen
    from exchange.config import load_settings

    cancels: list[tuple[str, str, str | None]] = []

    class Rest:
        async def cancel_order(self, category: str, symbol: str, *, order_id: str | None = None) -> None:
            cancels.append((category, symbol, order_id))

    desk = scripted.long_in_profit()
    app = _app(desk)
    environ = {"BYBIT_PRODUCTION_API_KEY": "k" * 12, "BYBIT_PRODUCTION_API_SECRET": "s" * 12}
    production = load_settings(cfg="production", environ=environ, trading_enabled=True)
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        app.runtime = stand_in(production, Rest())
        order = app.query_one(OrdersTable).selected_order()
        assert order is not None
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, TypedConfirmScreen), "the typed confirmation")
        assert f"Type {order.symbol}" in screen_text(app)
        await pilot.press(*"y", "enter")
        await until(pilot, lambda: "nothing sent" in screen_text(app), "the wrong word told")
        assert isinstance(app.screen, TypedConfirmScreen) and not cancels
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, TypedConfirmScreen), "escape to keep the order")
        await pilot.pause()
        assert not cancels
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, TypedConfirmScreen), "the typed confirmation again")
        await pilot.press(*order.symbol, "enter")
        await until(pilot, lambda: bool(cancels), "the cancel sent")
        assert cancels == [(production.category, order.symbol, order.order_id)]
        testnet_environ = {"BYBIT_TESTNET_API_KEY": "k" * 12, "BYBIT_TESTNET_API_SECRET": "s" * 12}
        testnet = load_settings(cfg="testnet", environ=testnet_environ, trading_enabled=True)
        app.runtime = stand_in(testnet, Rest())
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the y/n question off production")


async def test_a_long_line_of_the_help_wraps_under_its_description() -> None:
    """A description that takes two rows goes on under itself, never back under the keys' column; the order
    keys say which order they act on in the desk's words (the one selected in Open orders)."""
    app = _app(scripted.long_in_profit())
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark")
        await until(pilot, lambda: "Ladders side by side" in screen_text(app), "the help")
        rows = screen_text(app).splitlines()
        first = next(index for index, row in enumerate(rows) if "Ladders side by side" in row)
        column = rows[first].index("Ladders side by side")
        key_column = rows[first].index(" v ") + 1
        following = rows[first + 1]
        assert following[key_column:column].strip() == "" and following[column] != " ", (rows[first], following)
        assert "Cancel the order selected in Open orders" in screen_text(app)


async def test_the_confirmation_buttons_name_their_keys() -> None:
    """The y / n keys are printed on the buttons: a label is text, never markup that would swallow ``[y]``."""
    from app.screens import ConfirmScreen

    app = _app(scripted.long_in_profit())
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        app.push_screen(ConfirmScreen("Send it?", confirm="Send order", refuse="Don't"))
        await until(pilot, lambda: "Send it?" in screen_text(app), "the confirmation")
        text = screen_text(app)
        assert "Send order [y]" in text and "Don't [n]" in text, text


@pytest.mark.parametrize(
    ("private", "read", "says"),
    [(True, False, "position not read yet"), (False, False, "no account: public data only"), (True, True, "FLAT")],
)
async def test_flat_is_said_only_once_the_positions_were_read(private: bool, read: bool, says: str) -> None:
    """Before the first position read (or with no keys at all) nothing is known of a position: not FLAT."""
    desk = scripted.base_desk()
    desk.private, desk.positions_read = private, read
    app = _app(desk, "BTCUSDT")
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        await pilot.pause()
        header = next(line for line in _position_text(app).splitlines() if "BTCUSDT" in line)
        assert says in header, header
        assert ("FLAT" in header) == (says == "FLAT")


async def test_the_compact_layout_shows_the_liquidation_price_and_cancels_no_hidden_order() -> None:
    """At 80x24 the open orders are hidden: c must not ask to cancel an order nobody can see. The short position
    panel keeps the liquidation price (risk) right under the P&L."""

    from app.screens import ConfirmScreen
    from exchange.config import load_settings

    app = _app(scripted.long_in_profit())
    async with app.run_test(size=(80, 24)) as pilot:
        app.runtime = stand_in(load_settings(environ={}))
        await pilot.pause()
        assert app.desk_screen.layout_name == "-compact"
        text = screen_text(app)
        assert "liq" in text and "58,123.4" in text, text
        await pilot.press("c")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert app.noticed("hidden at this size")


async def test_open_orders_coming_and_going_all_day_do_not_pile_up_footer_keys() -> None:
    """Textual 8.2.8 keeps every FooterKey a footer refresh replaces; the app must not refresh the footer each
    time "are there open orders?" flips (bench/soak.py found ~3 GB a trading day that way)."""
    import gc

    desk = scripted.long_in_profit()
    orders = dict(desk.orders)
    app = _app(desk)
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        await pilot.pause()

        def footer_keys() -> int:
            gc.collect()
            return sum(isinstance(o, FooterKey) for o in gc.get_objects())

        order = next(iter(orders.values()))
        app.desk_screen.post_message(Bridge.OrderChanged(order))  # the first event settles what the footer offers
        await pilot.pause()
        before = footer_keys()
        for flip in range(40):
            desk.orders.clear() if flip % 2 == 0 else desk.orders.update(orders)
            app.desk_screen.post_message(Bridge.OrderChanged(order))
            await pilot.pause()
        await pilot.pause()
        assert footer_keys() <= before, (before, footer_keys())


@pytest.mark.parametrize("tick", ["0", "1E-20000", "-0.1", "NaN", "1E+999", "1e-400"])
async def test_the_ladder_takes_no_odd_tick_for_a_tick(tick: str) -> None:
    """Instruments refuse such ticks (exchange.desk.Instrument); should one reach the ladder all the same, it
    draws the book ungrouped with "tick ?", zooming stays at x1, and nothing divides by it or prints its places."""
    desk = scripted.long_in_profit()
    odd = desk.instruments["BTCUSDT"]
    object.__setattr__(odd, "tick_size", Decimal(tick))  # past the instrument's own check, on purpose
    app = _app(desk, "BTCUSDT")
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        ladder = app.query_one(Ladder)
        await pilot.press("plus", "plus")
        await pilot.pause()
        assert ladder.group == 1 and ladder.step() is None
        text = screen_text(app)
        assert "tick ?" in text and "BTCUSDT" in text
        assert max(len(line) for line in text.splitlines()) <= SNAPSHOT_SIZE[0]


async def test_the_ladder_groups_a_tiny_tick() -> None:
    """The smallest tick an instrument may have (1e-18) zooms and prints at most 18 places."""
    desk = scripted.long_in_profit()
    tiny = desk.instruments["BTCUSDT"]
    desk.instruments["BTCUSDT"] = type(tiny)("BTCUSDT", Decimal("1e-18"), tiny.qty_step)
    app = _app(desk, "BTCUSDT")
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        ladder = app.query_one(Ladder)
        await pilot.press("plus")
        await until(pilot, lambda: ladder.group == 2, "x2 applied", timeout=5)
        assert "x2 = 0.000000000000000002" in screen_text(app)


def _range_bound(app: RecordingApp, word: str) -> str | None:
    """The session's ``low`` or ``high`` as the panel shows it."""
    found = re.search(rf"{word} ([+-]?[\d,.]+)", _position_text(app))
    return found.group(1) if found else None


async def test_the_session_low_and_high_hold_every_total_the_panel_showed() -> None:
    """The mark moves the total between two samples of the series: the session range must still hold it."""
    desk = scripted.long_in_profit()
    app = _app(desk)
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        await until(pilot, lambda: "session P&L" in _position_text(app), "the session range", timeout=5)
        desk.ledger.mark("BTCUSDT", Decimal("66010.2"), MarkSource.MARK_PRICE, scripted.NOW_MS)  # +500 on 0.5
        await until(pilot, lambda: "+981.18" in _position_text(app), "the higher total", timeout=5)
        assert _range_bound(app, "high") == "+981.18", _position_text(app)
        desk.ledger.mark("BTCUSDT", Decimal("63010.2"), MarkSource.MARK_PRICE, scripted.NOW_MS)  # -1000 on 0.5
        await until(pilot, lambda: "-518.82" in _position_text(app), "the lower total", timeout=5)
        assert _range_bound(app, "low") == "-518.82", _position_text(app)
        assert _range_bound(app, "high") == "+981.18"


def _gap_toasts(app: RecordingApp) -> list[str]:
    return [toast.message for toast in notifications(app) if "book RESYNCING" in toast.message]


async def test_the_gap_toast_goes_when_the_book_is_live_again() -> None:
    """The toast says the book is not live; once its new snapshot is in, that is no longer true: it goes at once,
    not seconds later. A gap and its recovery posted back to back leave no toast either."""
    app = _app(scripted.base_desk())
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        app.desk_screen.post_message(Bridge.BookStateChanged("BTCUSDT", BookState.RESYNCING, "gap: u 1042 -> 1044"))
        await until(pilot, lambda: bool(_gap_toasts(app)), "the gap toast", timeout=2)
        app.desk_screen.post_message(Bridge.BookStateChanged("BTCUSDT", BookState.SYNCED, None))
        await until(pilot, lambda: not _gap_toasts(app), "the gap toast to go", timeout=2)  # it lasts 6 s
        app.desk_screen.post_message(Bridge.BookStateChanged("ETHUSDT", BookState.RESYNCING, "gap: u 7 -> 9"))
        app.desk_screen.post_message(Bridge.BookStateChanged("ETHUSDT", BookState.SYNCED, None))
        await pilot.pause()
        await pilot.pause()
        assert app.noticed("ETHUSDT book RESYNCING") and not _gap_toasts(app)


def _stale_toasts(app: RecordingApp) -> list[str]:
    return [toast.message for toast in notifications(app) if toast.message.startswith("Stale feed")]


def _set_stale(desk: object, topics: set[str]) -> None:
    stats = desk.stats  # type: ignore[attr-defined]
    marked = [replace(h, stale=h.topic in topics) for h in stats.topics]
    desk.stats = replace(stats, topics=tuple(marked))  # type: ignore[attr-defined]
    desk.touch("stats")  # type: ignore[attr-defined]


async def test_the_stale_feed_toast_goes_once_its_feeds_are_live_again() -> None:
    desk = scripted.base_desk()
    app = _app(desk)
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        _set_stale(desk, {"tickers.BTCUSDT", "publicTrade.BTCUSDT"})
        await until(pilot, lambda: bool(_stale_toasts(app)), "the stale-feed toast", timeout=2)
        _set_stale(desk, {"tickers.BTCUSDT"})  # one of its two feeds is back: it stays
        await pilot.pause(0.3)
        assert _stale_toasts(app)
        _set_stale(desk, set())
        await until(pilot, lambda: not _stale_toasts(app), "the stale-feed toast to go", timeout=2)  # it lasts 8 s


async def test_a_p_and_l_that_only_changes_colour_is_drawn_again() -> None:
    """Unrealized P&L of +0.002 and of -0.002 both read 0.00: only the colour says which way it went."""
    desk = scripted.long_in_profit()
    entry = desk.ledger.entry("BTCUSDT")
    assert entry is not None and entry.position == Decimal("0.5")
    app = _app(desk)
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        body = app.query_one(PositionPanel).query_one("#position-body", ContentRows)

        def gains() -> int:
            """Figures drawn in the colour of a profit."""
            content = body.content
            return sum("$profit" in str(span.style) for span in content.spans) if isinstance(content, Content) else 0

        at = entry.running_price
        desk.ledger.mark("BTCUSDT", at + Decimal("0.004"), MarkSource.MARK_PRICE, scripted.NOW_MS)
        await until(pilot, lambda: "unrealized" in str(body.content), "the position drawn", timeout=5)
        await pilot.pause(0.5)
        shown, before = str(body.content), gains()
        desk.ledger.mark("BTCUSDT", at - Decimal("0.004"), MarkSource.MARK_PRICE, scripted.NOW_MS)
        await until(pilot, lambda: gains() < before, "the same figure in the colour of a loss", timeout=5)
        assert str(body.content) == shown  # the same words: only the colour says it
