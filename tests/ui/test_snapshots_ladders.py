"""SVG snapshots of ladders side by side (the view key's 2 and 4), from a scripted desk and a frozen clock."""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot

from app.preferences import save_ladders
from tests.ui import scripted
from tests.ui.support import SNAPSHOT_SIZE, scripted_app, until
from widgets.ladder import Ladder

pytestmark = pytest.mark.timeout(60)


def _showing(count: int) -> Any:
    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        await until(
            pilot,
            lambda: len(app.query(Ladder)) == count and all("SYNCED" in str(x.border_title) for x in app.query(Ladder)),
            f"{count} ladders, each titled",
        )

    return run_before


def test_two_ladders(snap_compare: Any) -> None:
    save_ladders(2)
    app = scripted_app(scripted.long_in_profit())
    assert snap_compare(app, terminal_size=SNAPSHOT_SIZE, run_before=_showing(2))


def test_four_ladders(snap_compare: Any) -> None:
    save_ladders(4)
    app = scripted_app(scripted.long_in_profit())
    assert snap_compare(app, terminal_size=(190, 42), run_before=_showing(4))
