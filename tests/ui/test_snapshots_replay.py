"""SVG snapshot of the desk replaying a recording: the fixed recording (tests/data/replay), paused at a fixed
moment of it (Ready, a long position from the recorded fill), so the books, the ledger, the REPLAY badge and the
recording's clock are the same on every run."""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot

from app.replay_app import DESK_WIDGETS, ReplayApp, replay_settings
from exchange.recording.opened import Recording
from tests.support.replay_recording import FIXED_RECORDING
from tests.ui.support import SNAPSHOT_SIZE, until
from widgets.replay_bar import ReplayBar

pytestmark = pytest.mark.timeout(60)

LOOKED_AT_S = 0.9
"""Seconds into the recording: Ready, the fill applied, before the outage."""


def test_the_desk_paused_in_a_replay(snap_compare: Any) -> None:
    recording = Recording.load(FIXED_RECORDING)
    app = ReplayApp(recording, replay_settings(recording), name=FIXED_RECORDING.name, speed=10.0, paused=True)
    app.animation_level = "none"

    async def run_before(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: app.player.session is not None, "the session")
        app.player.play_to(app.player.start_s + LOOKED_AT_S)
        app.desk_screen.refresh_now(*DESK_WIDGETS)
        await until(pilot, lambda: app.desk_screen.query_one(ReplayBar).shown == app.replay_status(), "the bar")

    assert snap_compare(app, terminal_size=SNAPSHOT_SIZE, run_before=run_before)
