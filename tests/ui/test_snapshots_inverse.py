"""SVG snapshot of an inverse (coin-margined) desk: contracts, and money in the coin to eight places, named.

Deterministic as tests/ui/test_snapshots.py: scripted data, the frozen clock, a fixed terminal size."""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot

from tests.ui import scripted
from tests.ui.support import SNAPSHOT_SIZE, scripted_app
from widgets.position import PositionPanel

pytestmark = pytest.mark.timeout(60)

BTC_HISTORY = [0.0012, 0.0031, 0.0024, 0.0055, 0.0078, 0.0069, 0.0091, 0.0102, 0.0097, 0.0113, 0.0121]


def _seed(pilot: Pilot[Any]) -> None:
    pilot.app.query_one(PositionPanel).seed_history("BTCUSD", BTC_HISTORY)


def test_inverse_long_in_btc(snap_compare: Any) -> None:
    app = scripted_app(scripted.inverse_long(), symbol="BTCUSD")
    assert snap_compare(app, terminal_size=SNAPSHOT_SIZE, run_before=_seed)
