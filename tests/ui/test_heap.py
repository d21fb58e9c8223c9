"""The desk's heap: what is alive once the desk is composed is frozen out of the collector's sight, young
collections wait for more allocations, and all of it is handed back when the desk ends."""

from __future__ import annotations

import gc

from app.heap import YOUNG_THRESHOLD
from tests.ui import scripted
from tests.ui.support import SNAPSHOT_SIZE, scripted_app, until
from widgets.ladder import Ladder


async def test_a_running_desk_is_frozen_out_of_the_collector_and_handed_back_when_it_ends() -> None:
    before = gc.get_threshold()
    app = scripted_app(scripted.long_in_profit())
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        ladder = app.query_one(Ladder)
        await until(pilot, lambda: bool(ladder._strips), "the ladder drawn")
        assert gc.get_freeze_count() > 10_000  # the widgets, the CSS, the desk
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before
