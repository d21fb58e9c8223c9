"""SVG snapshots of order entry on a scripted desk: the ladder's cursor (its row marked ▶, its price on the
header) and the confirmation that says exactly what a buy at it sends."""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot

from exchange.config import load_settings
from tests.ui import scripted
from tests.ui.support import SNAPSHOT_SIZE, scripted_app, stand_in

pytestmark = pytest.mark.timeout(60)


def _local_exchange(pilot: Pilot[Any]) -> None:
    pilot.app.runtime = stand_in(load_settings(environ={}))  # type: ignore[attr-defined]


def test_ladder_cursor(snap_compare: Any) -> None:
    app = scripted_app(scripted.long_in_profit())
    assert snap_compare(app, terminal_size=SNAPSHOT_SIZE, press=["j", "j", "j"])


def test_buy_confirmation(snap_compare: Any) -> None:
    app = scripted_app(scripted.long_in_profit())
    assert snap_compare(app, terminal_size=SNAPSHOT_SIZE, run_before=_local_exchange, press=["j", "j", "b"])
