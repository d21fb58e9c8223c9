"""SVG snapshots of the states a desk must recognise at a glance, from scripted desks (no network).

Deterministic: fixed seed and data (tests/ui/scripted.py), a frozen injected clock, fixed terminal sizes,
animations off, no Header clock, no blinking cursor. Regenerate with ``pytest --snapshot-update`` only after
looking at the report.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from tests.ui import scripted
from tests.ui.support import SNAPSHOT_SIZE, scripted_app
from widgets.position import PositionPanel

pytestmark = pytest.mark.timeout(60)

LONG_HISTORY = [
    12.0,
    35.5,
    20.1,
    61.7,
    140.2,
    118.9,
    210.4,
    260.0,
    233.1,
    301.7,
    355.2,
    340.8,
    402.6,
    455.9,
    481.18,
]
SHORT_HISTORY = [4.2, -10.5, -31.0, -22.4, -64.9, -88.1, -120.3, -101.7, -150.6, -171.2, -190.8, -207.7]


def _seed(symbol: str, values: list[float]) -> Callable[[Pilot[Any]], None]:
    def run_before(pilot: Pilot[Any]) -> None:
        pilot.app.query_one(PositionPanel).seed_history(symbol, values)

    return run_before


def test_ready_long_in_profit(snap_compare: Any) -> None:
    app = scripted_app(scripted.long_in_profit())
    assert snap_compare(app, terminal_size=SNAPSHOT_SIZE, run_before=_seed("BTCUSDT", LONG_HISTORY))


def test_short_in_loss(snap_compare: Any) -> None:
    app = scripted_app(scripted.short_in_loss(), symbol="ETHUSDT")
    assert snap_compare(app, terminal_size=SNAPSHOT_SIZE, run_before=_seed("ETHUSDT", SHORT_HISTORY))


def test_reconnecting(snap_compare: Any) -> None:
    app = scripted_app(scripted.reconnecting())
    assert snap_compare(app, terminal_size=SNAPSHOT_SIZE, run_before=_seed("BTCUSDT", LONG_HISTORY))


def test_failed(snap_compare: Any) -> None:
    app = scripted_app(scripted.failed())
    assert snap_compare(app, terminal_size=SNAPSHOT_SIZE)


def test_resyncing_book(snap_compare: Any) -> None:
    app = scripted_app(scripted.resyncing())
    assert snap_compare(app, terminal_size=SNAPSHOT_SIZE, run_before=_seed("BTCUSDT", LONG_HISTORY))


def test_mid_120x40(snap_compare: Any) -> None:
    """The mid layout a 120-column terminal gets: every panel legible, the orders with every column, own fills
    as ◆ YOU rows in the tape."""
    app = scripted_app(scripted.with_recent_round_trip(scripted.long_in_profit()))
    assert snap_compare(app, terminal_size=(120, 40), run_before=_seed("BTCUSDT", LONG_HISTORY))


def test_mid_100x30(snap_compare: Any) -> None:
    """The mid layout at its short, narrow end: short labels, no number cut."""
    app = scripted_app(scripted.long_in_profit())
    assert snap_compare(app, terminal_size=(100, 30), run_before=_seed("BTCUSDT", LONG_HISTORY))


def test_compact_60x20(snap_compare: Any) -> None:
    app = scripted_app(scripted.long_in_profit())
    assert snap_compare(app, terminal_size=(60, 20))


def test_no_color(snap_compare: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = scripted_app(scripted.long_in_profit())
    assert app.no_color
    assert snap_compare(app, terminal_size=SNAPSHOT_SIZE, run_before=_seed("BTCUSDT", LONG_HISTORY))


def test_ledger_fields_view(snap_compare: Any) -> None:
    desk = scripted.long_in_profit()
    for fill in scripted.short_in_loss().own_fills:
        desk.ledger.apply_fill(fill)
    app = scripted_app(desk)
    assert snap_compare(app, terminal_size=SNAPSHOT_SIZE, press=["l"])


def test_too_small_terminal(snap_compare: Any) -> None:
    app = scripted_app(scripted.long_in_profit())
    assert snap_compare(app, terminal_size=(50, 16))
