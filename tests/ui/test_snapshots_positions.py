"""SVG snapshots of the positions overview: long and short, USDT and USDC linear, BTC and ETH inverse, the wallet's
coins, a total per coin, a ledger that disagrees flagged on its row; and the same in an outage, said not live.

Deterministic like tests/ui/test_snapshots.py: scripted desks and a scripted account (tests/ui/scripted_account.py),
a frozen clock, a fixed terminal size, no animations."""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot

from exchange.desk import Desk
from tests.ui import scripted, scripted_account
from tests.ui.support import scripted_app, until
from widgets.positions_table import PositionsTable

pytestmark = pytest.mark.timeout(60)

OVERVIEW_SIZE = (120, 40)
"""A desk's terminal: every column fits (a narrower one leaves columns out: tests/ui/test_positions.py)."""


def _app(desk: Desk) -> Any:
    desk.position_disagreements["ETHUSDT"] = scripted_account.ledger_disagrees()
    app = scripted_app(desk)
    app.account_reader = scripted_account.FixedAccount(scripted_account.whole_account())
    return app


async def _open(pilot: Pilot[Any]) -> None:
    await pilot.press("p")
    await until(pilot, lambda: bool(pilot.app.screen.query(PositionsTable).first().lines), "the overview's rows")


def test_the_whole_account(snap_compare: Any) -> None:
    assert snap_compare(_app(scripted.long_in_profit()), terminal_size=OVERVIEW_SIZE, run_before=_open)


def test_the_whole_account_in_an_outage(snap_compare: Any) -> None:
    """The figures are the last read's: the line under the title says they are not live, and why."""
    assert snap_compare(_app(scripted.reconnecting()), terminal_size=OVERVIEW_SIZE, run_before=_open)
