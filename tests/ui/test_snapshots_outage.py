"""SVG snapshots of an outage as a trader sees it on any terminal: the compact layout, a long raw reason at 100
and 120 columns, a light theme and NO_COLOR (the 30-minute strip's glyphs carry it without colour).

Deterministic like tests/ui/test_snapshots.py: scripted desks, a frozen clock, fixed sizes, no animations.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from tests.ui.scripted import RAW_UNREACHABLE, desk_in_outage
from tests.ui.support import SNAPSHOT_SIZE, scripted_app

pytestmark = pytest.mark.timeout(60)


def _outage_with_raw_reason() -> Any:
    """The outage of tests/ui/test_history.py, its reason the raw aiohttp error a refused connect gives."""
    desk = desk_in_outage()
    desk.state = replace(desk.state, reason=RAW_UNREACHABLE)
    assert desk.stats is not None
    desk.stats = replace(desk.stats, last_reconnect_reason=RAW_UNREACHABLE)
    desk.touch("state")
    desk.touch("stats")
    return desk


def test_compact_80x24_in_an_outage(snap_compare: Any) -> None:
    """One line for the link: the state, the outage clock, the reconnects, then the reason and the countdown."""
    assert snap_compare(scripted_app(_outage_with_raw_reason()), terminal_size=(80, 24))


@pytest.mark.parametrize("width", [100, 120])
def test_reconnecting_with_a_long_reason(snap_compare: Any, width: int) -> None:
    """The raw reason in desk words on line one; line two keeps the stream ages and the reconnect count."""
    assert snap_compare(scripted_app(_outage_with_raw_reason()), terminal_size=(width, 30 if width == 100 else 40))


def test_light_theme_in_an_outage(snap_compare: Any) -> None:
    app = scripted_app(desk_in_outage())
    app.theme = "textual-light"
    assert snap_compare(app, terminal_size=SNAPSHOT_SIZE)


def test_no_color_in_an_outage(snap_compare: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Textual reads NO_COLOR when the app is made and adds its Monochrome filter: greys only."""
    monkeypatch.setenv("NO_COLOR", "1")
    app = scripted_app(desk_in_outage())
    assert app.no_color
    assert snap_compare(app, terminal_size=SNAPSHOT_SIZE)
