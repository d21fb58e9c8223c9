"""The dashboard with ``--feed``: the desk on a relay over a real NATS server says so, and is live."""

from __future__ import annotations

from pathlib import Path

import pytest

from exchange.events import LinkState
from tests.support.relay import floor
from tests.ui.support import LIVE_SIZE, RecordingApp, runtime_options, screen_text, until
from widgets.connection_bar import ConnectionBar
from widgets.ladder import Ladder

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


async def test_the_desk_on_a_relay_names_it_and_shows_live_books(tmp_path: Path) -> None:
    async with floor(tmp_path) as f:
        options = runtime_options(tmp_path, feed=f.nats.url)
        app = RecordingApp(f.desk_settings(), runtime_options=options)
        async with app.run_test(size=LIVE_SIZE) as pilot:
            bar = app.query_one(ConnectionBar)
            await until(pilot, lambda: bar.state_shown is LinkState.READY, "the bar to say Ready")
            await until(pilot, lambda: app.query_one(Ladder).trust == ("SYNCED", None), "a live book")
            assert f"via relay 127.0.0.1:{f.nats.port}" in screen_text(app).splitlines()[0]
            await app.stop_session()
