"""The position panel says so while the ledger does not hold the exchange's position (a pilot test on the local
exchange): its execution is held back while the position push is not, and the execution list trails too."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from textual.content import Content

from exchange.events import LinkState
from exchange.position_watch import PositionDisagreement
from tests.ui.support import LIVE_SIZE, RecordingApp, runtime_options, screen_text, sim_settings, until
from widgets.content_rows import ContentRows
from widgets.position import disagreement_line

pytestmark = pytest.mark.timeout(90)

HELD_BACK_S = 15.0


def _warning_lines(app: RecordingApp) -> list[str]:
    """The panel's lines (as written, before the screen wraps them) that warn of a difference."""
    body = app.query_one("#position-body", ContentRows).content
    assert isinstance(body, Content)
    return [line for line in body.plain.splitlines() if "exchange says" in line]


@pytest.mark.slow
@pytest.mark.integration
async def test_the_panel_warns_while_the_ledger_lacks_a_fill_and_clears_once_it_arrives(tmp_path: Path) -> None:
    app = RecordingApp(sim_settings("BTCUSDT"), runtime_options=runtime_options(tmp_path))
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await until(pilot, lambda: app.runtime is not None and app.desk.state.kind is LinkState.READY, "Ready")
        assert app.runtime is not None and app.runtime.sim is not None
        faults = app.runtime.sim.faults
        faults.execution_delay_s = HELD_BACK_S  # the position push comes now, its execution much later
        faults.lag_execution_list(10)  # and the re-read over REST does not list it either
        await app.runtime.rest.place_order("linear", "BTCUSDT", "Buy", "Market", Decimal("0.010"))
        await until(pilot, lambda: "BTCUSDT" in app.desk.positions, "the exchange's position on the desk")
        await until(pilot, lambda: bool(_warning_lines(app)), "the panel's warning", timeout=HELD_BACK_S - 2)
        assert app.desk.ledger.fill_count("BTCUSDT") == 0, "the warning came after the fill: nothing was tested"
        (line,) = _warning_lines(app)
        assert line.startswith("⚠ exchange says long 0.010 @ ") and line.endswith(" — ledger flat; fills missing?")
        assert "⚠ exchange says" in screen_text(app)
        await until(pilot, lambda: app.noticed("Position differs from the exchange: BTCUSDT"), "the notice")
        faults.execution_delay_s = 0.0
        await until(pilot, lambda: app.desk.ledger.fill_count("BTCUSDT") == 1, "the held-back execution", timeout=30)
        await until(pilot, lambda: not _warning_lines(app), "the warning to clear")
        assert "LONG 0.010" in screen_text(app)
        await until(
            pilot, lambda: app.noticed("BTCUSDT: the ledger holds the exchange's position again"), "the end told"
        )
        told = [text for _, text in app.notices if "Position differs" in text]
        assert len(told) == 1, f"told more than once per episode: {told}"
        await app.stop_session()


@pytest.mark.parametrize(
    ("exchange", "ledger", "avg", "line"),
    [
        ("0.3", "0.25", "64210.5", "⚠ exchange says 0.300 @ 64,210.5 — ledger 0.250; fills missing?"),
        ("-0.3", "0", "64210.5", "⚠ exchange says short 0.300 @ 64,210.5 — ledger flat; fills missing?"),
        ("0", "0.25", "64210.5", "⚠ exchange says flat — ledger long 0.250; fills missing?"),
        ("0.3", "0.3", "64180", "⚠ exchange says 0.300 @ 64,210.5 — ledger @ 64,180.0; entry differs"),
    ],
)
def test_the_warning_says_both_sides_in_the_instruments_places(exchange: str, ledger: str, avg: str, line: str) -> None:
    apart = PositionDisagreement("BTCUSDT", Decimal(exchange), Decimal("64210.5"), Decimal(ledger), Decimal(avg))
    assert disagreement_line(apart, price_dp=1, qty_dp=3) == line
