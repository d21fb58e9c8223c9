"""Draw the desk as the README shows it: ``docs/desk.svg``, Textual's own SVG screenshot.

    python -m docs.screenshot            # writes docs/desk.svg
    python -m docs.screenshot out.svg

The picture is of the real desk on the embedded local exchange (seed 1, 120x40), made repeatable: the market
moves only by a fixed number of seeded steps, the exchange's clock and the desk's are fixed, no demo trader
places orders, and the journal is a temporary one. The two figures the link measures in wall time (the ping's
round trip and msg/s) are shown as fixed example values, so the picture changes only when the desk does.
"""

from __future__ import annotations

import asyncio
import re
import sys
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from app.app import FluxumApp
from exchange.bybit.sim.clock import SimClock
from exchange.config import load_settings
from exchange.events import LinkState

SIZE = (120, 40)
SEED = 1
NOW_MS = 1_767_225_600_000  # 2026-01-01 00:00 UTC
STEPS = 400
PING_MS = 12.0
MESSAGES_PER_SECOND = 40.0
DEFAULT_OUTPUT = Path(__file__).with_name("desk.svg")


async def screenshot(output: Path) -> Path:
    """Run the desk until its books and tape hold the seeded market, then save the screen as SVG."""
    with tempfile.TemporaryDirectory() as journal:
        app = FluxumApp(
            load_settings(environ={}),
            clock=lambda: NOW_MS / 1000,
            runtime_options={
                "seed": SEED,
                "demo_trader": False,
                "journal_dir": Path(journal),
                "sim_overrides": {"run_market": False, "clock": SimClock(fixed_ms=NOW_MS)},
            },
        )
        app.animation_level = "none"
        async with app.run_test(size=SIZE) as pilot:
            await _until(pilot, lambda: app.desk.state.kind is LinkState.READY)
            runtime = app.runtime
            assert runtime is not None and runtime.sim is not None
            for _ in range(STEPS):
                runtime.sim.market.step()
                runtime.sim.clock.advance(50)
            runtime.sim.public_feed.publish_now()
            await _until(pilot, lambda: all(app.desk.books[s].best_bid() for s in app.desk.symbols))
            measured = runtime.session.link_stats
            runtime.session.link_stats = lambda: replace(
                measured(), ping_rtt_ms=PING_MS, messages_per_second=MESSAGES_PER_SECOND
            )
            await _until(pilot, lambda: app.desk.stats is not None and app.desk.stats.ping_rtt_ms == PING_MS)
            await pilot.pause(1.0)  # the widgets' pull timers have drawn what arrived
            svg = app.export_screenshot(title="Fluxum")
    # Rich names the SVG's CSS classes after a checksum of the segments' reprs, which carry per-run widget ids.
    output.write_text(re.sub(r"terminal-\d+", "fluxum-desk", svg), encoding="utf-8")
    return output


async def _until(pilot: Pilot[Any], condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() > deadline:
            raise TimeoutError("the desk did not get there")
        await pilot.pause(0.05)


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUTPUT
    print(asyncio.run(screenshot(target.resolve())))
