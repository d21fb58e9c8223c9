"""A hostile exchange on the desk: its strings are shown as plain, printable text, never as markup or controls.

Each test renders the screen as a terminal would receive it (ANSI, hyperlinks included) and looks for OSC
title / clipboard / hyperlink sequences, C1 and bidi controls; and checks that markup in data is shown as the
literal text it is (no MarkupError, no hyperlink, no bold).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from textual.command import CommandPalette

from app.app import FluxumApp
from app.bridge import Bridge
from app.screens import ConfirmScreen, LedgerScreen, TypedConfirmScreen
from exchange.book import BookState
from exchange.events import LinkState
from tests.ui import hostile, scripted
from tests.ui.support import (
    LIVE_SIZE,
    RecordingApp,
    crash_report,
    runtime_options,
    screen_bytes,
    screen_text,
    sim_settings,
    until,
)
from tests.ui.support import (
    toasts as toasts_on_screen,
)
from widgets.orders import OrdersTable
from widgets.wallet import WalletPanel

pytestmark = pytest.mark.timeout(90)


def assert_inert(app: FluxumApp) -> None:
    assert app.is_running, "the desk stopped"
    escapes = hostile.terminal_escapes(screen_bytes(app))
    assert not escapes, escapes


def _recording(desk: Any) -> RecordingApp:
    app = RecordingApp(desk=desk, clock=scripted.clock)
    app.animation_level = "none"
    return app


async def test_hostile_strings_in_every_panel_are_plain_and_inert() -> None:
    app = _recording(hostile.hostile_desk())
    async with app.run_test(size=LIVE_SIZE, notifications=True) as pilot:
        table = app.query_one(OrdersTable)
        await until(pilot, lambda: table.row_count == 4, "the four open orders")
        text = screen_text(app)
        assert hostile.SYMBOL in text  # symbol strip and orders table: literal, no MarkupError
        assert "EVIL\ufffd]52;c;cm0gLXJmIH4=" in text  # the coin's OSC 52, shown and disarmed
        # the bar's last reconnect reason, in desk words (the raw one is history's), once the bar knows its width
        await until(pilot, lambda: "(last: no pong)" in screen_text(app), "the last reason in desk words")
        assert_inert(app)

        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, LedgerScreen), "the ledger screen")
        await pilot.pause()
        assert hostile.LINK_SYMBOL in screen_text(app)  # a column named like a link: literal, no hyperlink
        assert_inert(app)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, LedgerScreen), "the desk again")

        app.action_command_palette()
        await until(pilot, lambda: isinstance(app.screen, CommandPalette), "the command palette")
        await pilot.press("x")
        await until(pilot, lambda: f"Symbol: {hostile.SYMBOL}" in screen_text(app), "the hostile symbol as a hit")
        assert_inert(app)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, CommandPalette), "the palette closed")


async def test_the_ladder_shows_a_resyncing_reason_disarmed() -> None:
    app = _recording(hostile.hostile_desk())
    async with app.run_test(
        size=(89, 28), notifications=True
    ) as pilot:  # the compact layout: the ladder has room for the reason
        await until(pilot, lambda: "RESYNCING · NOT LIVE" in screen_text(app), "the untrusted book")
        assert "NOT LIVE  x1 = 0.1  ◆1 off-screen  [/]\ufffd]0;pwned\ufffd\ufffdgnp.exe" in screen_text(app)
        assert_inert(app)


def toasts(app: FluxumApp) -> list[str]:
    """The text of every toast on screen (a toast wraps: the screen's lines would cut a message)."""
    return [toast.render().plain for toast in toasts_on_screen(app)]


async def test_notifications_quoting_the_exchange_are_never_markup() -> None:
    app = _recording(hostile.hostile_desk())
    async with app.run_test(size=LIVE_SIZE, notifications=True) as pilot:
        rejected = hostile.order("r1", hostile.SYMBOL, "Rejected", order_type=hostile.ORDER_TYPE)
        app.desk_screen.post_message(Bridge.OrderChanged(rejected))
        app.desk_screen.post_message(Bridge.NoticeReceived("error", f"Session failed: {hostile.FAILED_REASON}"))
        app.desk_screen.post_message(Bridge.BookStateChanged("BTCUSDT", BookState.RESYNCING, hostile.REASON))
        await until(pilot, lambda: len(toasts(app)) == 3, "three toasts")
        shown = "\n".join(toasts(app))
        assert "Order rejected: BUY 2 X[/] @ 1.5 ([b]Limit\ufffd31m)" in shown  # literal: no MarkupError, no bold
        assert "[link=https://evil.example/]here[/link]" in shown  # literal: no hyperlink
        assert "BTCUSDT book RESYNCING: [/]\ufffd]0;pwned\ufffd\ufffdgnp.exe;" in shown
        assert all(line.isprintable() for line in shown.split("\n"))
        assert_inert(app)


async def test_confirm_dialogs_quote_an_order_as_plain_text() -> None:
    app = _recording(hostile.hostile_desk())
    async with app.run_test(size=LIVE_SIZE, notifications=True) as pilot:
        question = f"Cancel BUY 2 {hostile.SYMBOL} @ 1.5 (Limit)?\n(order {hostile.LINK_ID})"
        app.push_screen(ConfirmScreen(question, confirm="Cancel order", refuse="Keep it"))
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
        await pilot.pause()
        text = screen_text(app)
        assert "Cancel BUY 2 X[/] @ 1.5 (Limit)?" in text and "[link=https://evil.example/]x" in text
        assert_inert(app)
        await pilot.press("n")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen), "the confirmation dismissed")

        typed = TypedConfirmScreen(question, word=f"{hostile.SYMBOL}{hostile.TITLE}")
        app.push_screen(typed)
        await until(pilot, lambda: app.screen is typed, "the typed confirmation")
        await pilot.press("x", "enter")
        await until(pilot, lambda: "that was not X[/]" in screen_text(app), "the refusal hint")
        assert_inert(app)


async def test_a_failed_reason_with_a_title_sequence_is_shown_disarmed() -> None:
    app = _recording(hostile.failed_desk())
    async with app.run_test(size=LIVE_SIZE, notifications=True) as pilot:
        await pilot.pause()
        text = screen_text(app)
        assert "Failed · auth rejected" in text  # in desk words: the hostile detail stays off the bar
        assert_inert(app)

        async def session() -> None:
            raise RuntimeError(f"link lost {hostile.TITLE}[/]{hostile.BIDI}")

        app.run_worker(session(), name="session", group="session", exit_on_error=False)
        await until(pilot, lambda: app.noticed("The session stopped"), "the worker failure told")
        await until(pilot, lambda: "session: link lost" in screen_text(app), "the failure on screen")
        assert app.desk.state.kind is LinkState.FAILED and app.desk.state.reason.isprintable()
        assert_inert(app)


@pytest.mark.integration
async def test_a_hostile_exchange_pushes_coins_orders_and_a_rejection(tmp_path: Path) -> None:
    """The local exchange pushes the hostile wallet and orders, then rejects the key with a title sequence."""
    app = RecordingApp(sim_settings(), runtime_options=runtime_options(tmp_path))
    async with app.run_test(size=LIVE_SIZE, notifications=True) as pilot:
        await until(pilot, lambda: app.runtime is not None and app.desk.state.kind is LinkState.READY, "Ready")
        assert app.runtime is not None
        sim = app.runtime.sim
        hostile.inject(sim)
        wallet = app.query_one(WalletPanel)
        await until(pilot, lambda: "EVIL\ufffd]52;c;" in str(wallet.render()), "the hostile coin in the wallet")
        await until(pilot, lambda: app.noticed("Order rejected"), "the hostile rejection told")
        await until(pilot, lambda: "X[/]" in screen_text(app), "the hostile order listed")
        assert_inert(app)

        await hostile.reject_the_key(sim)
        await until(pilot, lambda: bool(app.desk.account_down), "the account down on the rejected key")
        reason = app.desk.account_down
        assert reason.isprintable()  # made printable where the session builds it, for every reader
        assert "Invalid apikey\ufffd]0;pwned" in reason and "[link=https://evil.example/]x[/link]" in reason
        await until(pilot, lambda: app.noticed("Account down"), "the account's loss told")
        await until(pilot, lambda: "account down: auth rejected" in screen_text(app), "the reason on the bar")
        assert_inert(app)
        await app.stop_session()


async def test_a_crash_report_quoting_the_exchange_is_inert() -> None:
    """An exception whose message quotes the exchange: the report printed after the app stops is inert."""
    app = _recording(hostile.hostile_desk())
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await pilot.pause()
        try:
            raise RuntimeError(f"unreadable reply {hostile.TITLE}{hostile.LINK}{hostile.C1_CSI}")
        except RuntimeError:
            report = crash_report(app)
    console = Console(width=120, file=io.StringIO(), force_terminal=True, color_system="truecolor", record=True)
    for renderable in report:
        console.print(renderable)
    printed = console.file.getvalue()  # type: ignore[attr-defined]
    assert not hostile.terminal_escapes(printed.encode())
    assert "RuntimeError: unreadable reply ]0;pwned]8;;https://evil.example/" in console.export_text()
