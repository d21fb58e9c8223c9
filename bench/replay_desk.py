"""The desk's replay at max speed: frames per second into the books, the ledger and the widgets on screen,
against the headless replay of the same recording at max speed, measured in the same run.

``python -m bench.replay_desk [--seconds 10] [--flood 30000]``

The recording is made as :mod:`bench.replay_throughput` makes it (the default desk, with a flood of book deltas).
The desk (:class:`app.replay_app.ReplayApp`, headless Textual at 140x44) plays it at max from its start to the end
of the recording; each frame of the desk grants the replay up to ``FAST_SHARE`` of the time, the rest of the
frame is the desk's (keys, repaints), so the ratio says what staying responsive costs. The desk's books are checked
against the live run's.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from app.replay_app import ReplayApp, replay_settings
from app.replay_player import FAST_SHARE
from bench.replay_throughput import record_live, replayed
from exchange.recording.opened import Recording
from exchange.summary import book_record


async def in_the_desk(recording: Recording) -> tuple[float, int, dict[str, Any]]:
    """Wall seconds from the desk's first slice to the end of the recording, the desk's frames, its books."""
    app = ReplayApp(recording, replay_settings(recording), name="bench", speed=None, paused=True)
    async with app.run_test(size=(140, 44)) as pilot:
        while app.player.session is None:
            await pilot.pause(0.01)
        started, frames = time.perf_counter(), app.frames
        app.action_replay_pause()
        while not app.player.ended:
            await pilot.pause(0.01)
        elapsed = time.perf_counter() - started
        books = {s: book_record(b) for s, b in app.player.session.books.items()}
        return elapsed, app.frames - frames, books


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--flood", type=int, default=30_000)
    parser.add_argument("--symbols", default="BTCUSDT,ETHUSDT,SOLUSDT")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.jsonl.zst"
        live_wall, live_books = asyncio.run(record_live(path, args.seconds, args.flood, args.symbols))
        recording = Recording.load(path)
        count = recording.frames
        headless_s = replayed(path)[0].wall
        desk_s, desk_frames, books = asyncio.run(in_the_desk(recording))
    same = "the same books as live" if books == live_books else "BOOKS DIFFER from live"
    print(f"recording: {count:,} frames over {live_wall:.1f} s live ({count / live_wall:,.0f} frames/s)")
    print(f"headless replay, max speed: {headless_s:.2f} s, {count / headless_s:,.0f} frames/s")
    print(
        f"desk replay, max speed: {desk_s:.2f} s, {count / desk_s:,.0f} frames/s over {desk_frames} desk frames "
        f"(the replay takes up to {FAST_SHARE:.0%} of the time; {same})"
    )
    print(f"desk / headless: {headless_s / desk_s:.2f}; desk / live rate: {live_wall / desk_s:,.1f}x")


if __name__ == "__main__":
    main()
