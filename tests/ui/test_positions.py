"""The positions overview on the local exchange: positions opened through the REST client in several symbols and
categories (linear on and off the desk, inverse), ``p`` shows them with a total per coin, the sort keys order each
coin's rows, a position push of any category reads the account again, and Enter switches the desk's symbol (or
says how to watch one the desk does not)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from app import positions_screen
from app.app import FluxumApp
from app.positions_screen import PositionsScreen, ledger_word, status_text
from app.screens import HelpScreen
from exchange.config import load_settings
from exchange.desk import Instrument
from exchange.events import LinkState
from exchange.position_watch import PositionDisagreement
from exchange.positions_overview import AccountMargins, AccountView, SortColumn
from tests.ui import scripted, scripted_account
from tests.ui.support import LIVE_SIZE, RecordingApp, press, runtime_options, screen_text, scripted_app, until
from widgets.positions_table import COLUMNS, PositionsTable

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

DESK_SYMBOLS = "BTCUSDT,ETHUSDT"
LISTED = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BTCPERP")
"""The exchange lists SOLUSDT and the USDC perpetual BTCPERP too (and the inverse BTCUSD, ETHUSD): positions the
desk does not watch."""


def _app(tmp_path: Path) -> RecordingApp:
    settings = load_settings(cfg="sim", symbols=DESK_SYMBOLS, environ={})
    overrides = {"symbols": LISTED, "categories": ("linear", "spot", "inverse")}
    return RecordingApp(settings, runtime_options=runtime_options(tmp_path, sim_overrides=overrides))


def _ready(app: RecordingApp) -> bool:
    return app.runtime is not None and app.desk.state.kind is LinkState.READY


def _keys(app: FluxumApp) -> list[str]:
    screen = app.screen
    if not isinstance(screen, PositionsScreen):
        return []
    return [line.key for table in screen.query(PositionsTable) for line in table.lines]


async def _open_positions(app: RecordingApp) -> None:
    assert app.runtime is not None
    rest = app.runtime.rest
    await rest.place_order("linear", "BTCUSDT", "Buy", "Market", Decimal("0.01"))
    await rest.place_order("linear", "ETHUSDT", "Sell", "Market", Decimal("0.5"))
    await rest.place_order("linear", "SOLUSDT", "Buy", "Market", Decimal("3"))
    await rest.place_order("linear", "BTCPERP", "Buy", "Market", Decimal("0.02"))
    await rest.place_order("inverse", "BTCUSD", "Sell", "Market", Decimal("200"))


def _usdt_unrealised(app: RecordingApp) -> list[Decimal]:
    """The USDT rows' unrealised P&L as the table shows them, in its order (one drawing: marks move between two)."""
    lines = app.screen.query_one(PositionsTable).lines
    rows = lines[: [line.key for line in lines].index("total:USDT")]
    return [Decimal(line.cell("uPnL").replace(",", "")) for line in rows]


async def _cursor_to(pilot: Pilot[Any], app: RecordingApp, key: str) -> None:
    table = app.screen.query_one(PositionsTable)
    table.move_cursor(row=_keys(app).index(key), animate=False)
    await until(pilot, lambda: table.selected_key() == key, f"the cursor on {key}")


async def test_every_position_of_the_account_with_a_total_per_coin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(positions_screen, "REREAD_S", 3600.0)  # only a position push reads the account again
    app = _app(tmp_path)
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await until(pilot, lambda: _ready(app), "Ready")
        await _open_positions(app)
        await until(pilot, lambda: {"BTCUSDT", "ETHUSDT"} <= set(app.desk.positions), "the desk's own positions")
        await press(pilot, "p")
        await until(pilot, lambda: isinstance(app.screen, PositionsScreen), "the positions overview")
        expected = [
            *("linear:BTCUSDT", "linear:ETHUSDT", "linear:SOLUSDT", "total:USDT"),
            *("linear:BTCPERP", "total:USDC", "inverse:BTCUSD", "total:BTC"),
        ]
        await until(pilot, lambda: _keys(app)[:8] == expected, "every position, a total after each coin")
        assert _keys(app)[8:] == ["spot:BTC", "spot:ETH", "total:SPOT"]  # the coin wallets, valued in USD
        screen = app.screen
        assert isinstance(screen, PositionsScreen)
        overview = screen.overview()
        assert overview is not None
        usdt, usdc, btc = overview.groups[:3]
        sides = {row.symbol: (row.side, row.size) for row in overview.rows()}
        assert sides["BTCUSDT"] == ("long", Decimal("0.01")) and sides["ETHUSDT"] == ("short", Decimal("-0.5"))
        assert sides["BTCUSD"] == ("short", Decimal(-200))
        assert usdt.total.unrealised == sum((row.unrealised or 0 for row in usdt.rows), Decimal(0))
        assert usdt.total.margin_in_use == sum((row.position_im or 0 for row in usdt.rows), Decimal(0))
        assert btc.total.coin == "BTC" and btc.total.positions == 1 and btc.total.equity is not None
        assert usdc.total.coin == "USDC" and [row.symbol for row in usdc.rows] == ["BTCPERP"]
        assert usdc.total.margin_in_use == usdc.rows[0].position_im and usdc.total.equity is not None
        assert usdt.total.im_rate is not None and usdt.total.im_rate > 0  # the account's, from the wallet
        text = screen_text(app)
        assert "live · read" in text and "USDT total" in text and "USDC total" in text and "BTC total" in text, text
        btc_row = next(line for line in screen.query_one(PositionsTable).lines if line.key == "inverse:BTCUSD")
        assert btc_row.cell("Side") == "SHORT" and len(btc_row.cell("Margin").split(".")[1]) == 8  # to the satoshi

        await press(pilot, "u")  # unrealised, the largest first, inside each coin
        await until(pilot, lambda: screen.sort is SortColumn.UNREALISED, "the sort by unrealized")
        await until(pilot, lambda: _usdt_unrealised(app) == sorted(_usdt_unrealised(app), reverse=True), "drawn")
        await press(pilot, "u")
        await until(pilot, lambda: not screen.descending, "the sort reversed")
        await until(pilot, lambda: _usdt_unrealised(app) == sorted(_usdt_unrealised(app)), "drawn low to high")
        assert len(_usdt_unrealised(app)) == 3
        await press(pilot, "d")  # the nearest to liquidation first
        await until(pilot, lambda: screen.sort is SortColumn.LIQ_DISTANCE and not screen.descending, "by distance")
        await press(pilot, "s")
        await until(pilot, lambda: _keys(app)[:8] == expected, "back to symbols")

        reads = app.desk.versions["account_positions"]
        assert app.runtime is not None
        await app.runtime.rest.place_order("inverse", "ETHUSD", "Buy", "Market", Decimal("100"))  # off the desk
        await until(pilot, lambda: "inverse:ETHUSD" in _keys(app), "the pushed position read again")
        assert app.desk.versions["account_positions"] > reads
        assert "ETHUSD" not in app.desk.positions  # the desk keeps its own category only

        await _cursor_to(pilot, app, "inverse:BTCUSD")
        await press(pilot, "enter")
        await until(pilot, lambda: app.noticed("is not on this desk"), "why BTCUSD cannot be shown")
        assert app.noticed("fluxum --category inverse --symbols BTCUSD")
        assert isinstance(app.screen, PositionsScreen)

        await _cursor_to(pilot, app, "linear:ETHUSDT")
        await press(pilot, "enter")
        await until(pilot, lambda: not isinstance(app.screen, PositionsScreen), "the overview to close")
        assert app.desk_screen.symbol == "ETHUSDT"
        await app.stop_session()


def _status_line(app: RecordingApp) -> str:
    return "\n".join(str(status.render()) for status in app.screen.query("#positions-status"))


async def test_in_an_outage_the_overview_says_its_figures_are_not_live(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await until(pilot, lambda: _ready(app), "Ready")
        assert app.runtime is not None
        await app.runtime.rest.place_order("inverse", "BTCUSD", "Buy", "Market", Decimal("100"))
        await press(pilot, "p")
        await until(pilot, lambda: "inverse:BTCUSD" in _keys(app), "the inverse position")
        assert _status_line(app).startswith("live · read")
        assert app.runtime.sim is not None
        app.runtime.sim.faults.forbid_for(2.0)  # an outage of seconds, longer than the overview's half-second pull
        await app.runtime.sim.faults.drop_connections()
        await until(pilot, lambda: _status_line(app).startswith("⚠ not live: link"), "the overview to say not live")
        assert "inverse:BTCUSD" in _keys(app)  # the last read stays, said to be old
        await until(pilot, lambda: _status_line(app).startswith("live · read"), "live again once Ready")
        await app.stop_session()


# ---------------------------------------------------------------------------------------------- the words around it

NOW_MS = 1_767_225_600_000


def _status(**overrides: Any) -> tuple[str, bool]:
    given: dict[str, Any] = {
        "private": True,
        "account_down": "",
        "state": LinkState.READY,
        "read_ms": NOW_MS,
        "problem": "",
        "rejected": 0,
    }
    return status_text(**{**given, **overrides})


def test_the_status_line_says_when_the_figures_are_not_live() -> None:
    assert _status() == ("live · read 00:00:00 UTC", False)
    assert _status(rejected=2) == ("live · read 00:00:00 UTC · 2 records left out", False)
    assert _status(state=LinkState.RECONNECTING) == (
        "⚠ not live: link Reconnecting · figures as read 00:00:00 UTC",
        True,
    )
    assert _status(account_down="key rejected")[0].startswith("⚠ not live: account down")
    assert _status(problem="HTTP 503")[0].startswith("⚠ not live: the last read failed (HTTP 503)")
    assert _status(private=False)[0].startswith("No account on this desk: positions need API keys")
    assert _status(readable=False, unreadable_why="not possible in a replay") == (
        "No account on this desk: not possible in a replay; the position panel shows the desk's own.",
        True,
    )
    assert _status(read_ms=None) == ("Reading the account …", False)


def test_the_ledgers_word_on_a_row() -> None:
    differs = PositionDisagreement("BTCUSDT", Decimal("0.5"), Decimal(64200), Decimal("0.4"), Decimal(64200))
    assert ledger_word(differs, None) == "long 0.4"
    assert ledger_word(replace(differs, ledger_size=Decimal(0)), None) == "flat"
    entry_only = replace(differs, ledger_size=Decimal("0.5"), ledger_avg=Decimal("64210.04"))
    assert ledger_word(entry_only, Instrument("BTCUSDT", Decimal("0.1"), Decimal("0.001"))) == "entry 64,210.0"


async def test_the_key_is_in_the_help_and_the_palette() -> None:
    app = scripted_app(scripted.long_in_profit())
    async with app.run_test(size=LIVE_SIZE) as pilot:
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert "Positions: the whole account" in titles
        await press(pilot, "question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), "the help")
        await until(pilot, lambda: "Every open position of the account" in screen_text(app), "the key in the help")
        await press(pilot, "escape")
        await until(pilot, lambda: not isinstance(app.screen, HelpScreen), "the help closed")
        await press(pilot, "p")  # a scripted desk without an account to read says so
        await until(pilot, lambda: isinstance(app.screen, PositionsScreen), "the overview")
        await until(pilot, lambda: "No account on this desk" in screen_text(app), "the reason")


def _whole_account_app() -> FluxumApp:
    app = scripted_app(scripted.long_in_profit())
    app.account_reader = scripted_account.FixedAccount(scripted_account.whole_account())
    return app


def _titles(table: PositionsTable) -> list[str]:
    return [column.label.plain for column in table.ordered_columns]


async def test_a_click_on_a_columns_title_sorts_by_it_and_the_title_says_so() -> None:
    app = _whole_account_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await press(pilot, "p")
        await until(pilot, lambda: "total:USDT" in _keys(app), "the overview's rows")
        screen = app.screen
        assert isinstance(screen, PositionsScreen)
        table = screen.query_one(PositionsTable)
        await until(pilot, lambda: _titles(table)[0] == "Symbol▲", "the sort by symbol shown")
        roe = table.shown.index("ROE")
        x = sum(column.get_render_width(table) for column in table.ordered_columns[:roe]) + 2
        await pilot.click(PositionsTable, offset=(x, 0))
        await until(pilot, lambda: screen.sort is SortColumn.ROE and screen.descending, "sorted by ROE")
        assert _keys(app)[:3] == ["linear:BTCUSDT", "linear:ETHUSDT", "total:USDT"]  # +12.62 % before -14.52 %
        await until(pilot, lambda: "ROE▼" in _titles(table) and "Symbol" in _titles(table), "the arrow moved")
        await pilot.click(PositionsTable, offset=(x, 0))
        await until(pilot, lambda: _keys(app)[:3] == ["linear:ETHUSDT", "linear:BTCUSDT", "total:USDT"], "reversed")
        await until(pilot, lambda: "ROE▲" in _titles(table), "the arrow turned")


@pytest.mark.parametrize(
    ("width", "left_out"),
    [(120, ()), (100, ("rPnL", "Funding")), (80, ("rPnL", "Funding", "Liq.", "Margin"))],
)
async def test_the_columns_fit_the_terminal_without_scrolling_sideways(width: int, left_out: tuple[str, ...]) -> None:
    """At 120 columns every figure the desk asks for is on screen; narrower, the least needed leave first."""
    app = _whole_account_app()
    async with app.run_test(size=(width, 40)) as pilot:
        await press(pilot, "p")
        await until(pilot, lambda: "total:USDT" in _keys(app), "the overview's rows")
        table = app.screen.query_one(PositionsTable)
        expected = tuple(column for column in COLUMNS if column not in left_out)
        await until(pilot, lambda: table.shown == expected, f"the columns that fit {width}")
        await until(pilot, lambda: table.virtual_size.width <= table.scrollable_content_region.width, "no scroll")
        text = screen_text(app)
        assert "equity 100.51K IM 4.12% MM 0.31%" in " ".join(text.split())  # the USDT total's figures
        assert "⚠ the desk's ledger disagrees" not in text  # no disagreement on this desk: no note


async def test_an_account_with_nothing_open_says_so() -> None:
    app = scripted_app(scripted.base_desk())
    app.account_reader = scripted_account.FixedAccount(AccountView((), AccountMargins(None, None), scripted.NOW_MS))
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await press(pilot, "p")
        await until(pilot, lambda: "no open position and no coin held" in screen_text(app), "the empty account told")
        assert "live · read 00:00:00 UTC" in screen_text(app)
