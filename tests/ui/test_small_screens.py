"""Small terminals: the link stays on screen (state, outage clock, reconnect count), the symbol strip and the
footer fit 80 columns with five symbols, ``? Help`` and ``q Quit`` last to go."""

from __future__ import annotations

import pytest

from exchange.config import load_settings
from tests.ui import scripted
from tests.ui.scripted import desk_in_outage
from tests.ui.support import RecordingApp, screen_text, stand_in, until
from widgets.symbols import SymbolStrip, shared_quote

pytestmark = pytest.mark.timeout(60)


def _app(desk: object, symbol: str | None = None) -> RecordingApp:
    app = RecordingApp(desk=desk, clock=scripted.clock, symbol=symbol)
    app.animation_level = "none"
    return app


def _flat(text: str) -> str:
    """The screen's words with the line breaks and runs of spaces as one space (a wrapped line reads whole)."""
    return " ".join(text.split())


@pytest.mark.parametrize(
    ("size", "layout"),
    [((89, 29), "-compact"), ((80, 24), "-compact"), ((60, 20), "-compact"), ((59, 20), "-tiny"), ((50, 15), "-tiny")],
)
async def test_in_an_outage_a_small_terminal_keeps_the_state_the_outage_clock_and_the_reconnects(
    size: tuple[int, int], layout: str
) -> None:
    app = _app(desk_in_outage())
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        assert app.desk_screen.layout_name == layout
        first = screen_text(app).splitlines()[0]
        assert "◑ Reconnecting · down 41 s · 3 reconnects" in first, first
        if layout == "-tiny":
            assert "is too small" in screen_text(app)


async def test_the_narrowest_notice_wraps_the_link_line_rather_than_lose_the_count() -> None:
    app = _app(desk_in_outage())
    async with app.run_test(size=(36, 12)) as pilot:
        await pilot.pause()
        text = _flat(screen_text(app))
        assert "Reconnecting · down 41 s · 3 reconnects" in text and "is too small" in text


async def test_the_one_line_adds_the_reason_and_the_countdown_while_they_fit() -> None:
    app = _app(desk_in_outage())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        first = screen_text(app).splitlines()[0]
        assert "· no pong · retry in 2.4 s" in first, first
        await pilot.resize_terminal(60, 20)

        def first_line() -> str:
            return screen_text(app).splitlines()[0].rstrip()

        # the line is refitted at its next refresh, which a loaded machine may bring a frame or two later
        await until(pilot, lambda: first_line().endswith("3 reconnects · no pong"), "the line refitted to 60 columns")
        assert "retry in" not in first_line(), "nothing half cut"


async def test_a_failed_link_on_one_line_says_why() -> None:
    app = _app(scripted.failed())
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.pause()
        first = screen_text(app).splitlines()[0]
        assert "✗ Failed" in first and "auth rejected" in first and "0 reconnects" in first, first


async def test_a_ready_link_on_one_line_keeps_its_reconnect_count_and_the_bar_grows_back() -> None:
    desk = scripted.long_in_profit()
    app = _app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        first = screen_text(app).splitlines()[0]
        assert "● Ready · 1 reconnect · 412 msg/s" in first, first
        await pilot.resize_terminal(130, 42)

        def second_line() -> str:
            return screen_text(app).splitlines()[1]

        await until(pilot, lambda: "ping 1.8 ms" in second_line(), "two lines again on a big terminal")
        assert "reconnects 1" in second_line()


def test_the_quote_every_symbol_shares_is_the_one_left_out() -> None:
    assert shared_quote(["BTCUSDT", "ETHUSDT"]) == "USDT"
    assert shared_quote(["BTCUSDT", "BTCUSDC"]) == ""
    assert shared_quote(["BTCUSDT"]) == "", "one symbol keeps its whole name"
    assert shared_quote(["USDT", "ETHUSDT"]) == "", "a name is never left empty"
    assert shared_quote(["BTCUSD", "ETHUSD"]) == "USD"


@pytest.mark.parametrize("width", [80, 60])
async def test_five_symbols_and_the_footer_fit_80_columns(width: int) -> None:
    """Every symbol with its key and mark in the strip, the selected one with its price; ``? Help`` and ``q Quit``
    in the footer, even with a live session that offers cancel."""
    app = _app(scripted.resyncing(), symbol="ETHUSDT")
    async with app.run_test(size=(width, 24)) as pilot:
        app.runtime = stand_in(load_settings(environ={}))
        app.refresh_bindings()
        await until(pilot, lambda: "q Quit" in screen_text(app).splitlines()[-1], "the footer refreshed")
        lines = screen_text(app).splitlines()
        strip = lines[1]
        for key, name in enumerate(("BTC", "ETH", "SOL", "XRP", "DOGE"), start=1):
            assert f"{key} {name}" in strip, strip
        assert "ETH 3,500.10" in strip and "BTC ⚠" in strip, "the selected price, and the mark of another symbol"
        assert "…" not in strip
        assert "? Help" in lines[-1] and "q Quit" in lines[-1], lines[-1]


async def test_a_strip_too_narrow_for_every_symbol_keeps_the_selected_one_and_says_what_is_left_out() -> None:
    desk = scripted.long_in_profit()
    app = _app(desk, symbol="SOLUSDT")
    async with app.run_test(size=(60, 20)) as pilot:
        strip = app.query_one(SymbolStrip)
        strip.styles.width = 30
        await pilot.pause()
        await pilot.pause(0.6)
        shown = strip.render().plain
        assert "3 SOL 150.01" in shown and "…" in shown and len(shown) <= 28, shown


@pytest.mark.parametrize("width", [90, 99, 100, 128])
async def test_the_footer_keeps_help_and_quit_with_every_key_offered(width: int) -> None:
    app = _app(scripted.long_in_profit())
    async with app.run_test(size=(width, 30)) as pilot:
        app.runtime = stand_in(load_settings(environ={}))
        app.refresh_bindings()
        await until(pilot, lambda: "c Cancel" in screen_text(app).splitlines()[-1], "cancel offered in the footer")
        footer = screen_text(app).splitlines()[-1]
        assert "c Cancel" in footer and "? Help" in footer and "q Quit" in footer, footer


@pytest.mark.parametrize("size", [(100, 30), (120, 40)])
async def test_a_long_first_line_is_cut_never_wrapped_over_the_reconnect_count(size: tuple[int, int]) -> None:
    """Line one at its longest (an outage, a rejected key, a journal problem) ends in … on its own row; line two
    still shows the reconnect count and the ages after it."""
    desk = desk_in_outage()
    desk.account_down = "API key rejected by Bybit (10003): API key is invalid."
    desk.journal_problem = "journal is not a database (corrupt?): move it aside, Fluxum re-reads the history"
    app = _app(desk)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        first, second = screen_text(app).splitlines()[:2]
        assert "◑ Reconnecting" in first and first.rstrip().endswith("…"), first
        assert "ping" in second and "reconnects 3" in second and "book 9.0 s STALE" in second, second
