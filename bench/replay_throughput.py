"""Replay throughput: frames per second a recorded session replays at, headless at max speed, into the books and
the ledger, against the ingest of the same frames alone, measured in the same run.

``python -m bench.replay_throughput [--seconds 20] [--flood 60000] [--symbols BTCUSDT,ETHUSDT,SOLUSDT]``

1. A live session on the embedded exchange with the demo trader (the default desk: books, trades, tickers, fills)
   is recorded for ``--seconds`` after Ready, with ``--flood`` extra book deltas pushed as fast as the session
   takes them (``faults.flood``), so the recording has enough frames to time. Its frames per wall-second are the
   live rate.
2. The recording is replayed through the same session (:mod:`exchange.recording.replay`) on the recording's clock
   at max speed; frames per wall-second of the replay (reading the file excluded, timed on its own). The replay's
   books and ledger are checked against the live run's.
3. Ingest alone: the same frames, in the same order, parsed and handed straight to a fresh session's frame
   handlers, with no clock, loop or links: the ceiling a replay can approach. The ratio of 2 to 3 is what the
   replay's machinery (timers, the loop, REST answers, ticks) costs.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from app.runtime import open_runtime
from exchange.config import load_settings
from exchange.events import LinkState
from exchange.recording.clock import recording_clock, recording_loop
from exchange.recording.replay import Recording, recorded_settings, replay
from exchange.session import Session
from exchange.summary import book_record


async def record_live(path: Path, seconds: float, flood: int, symbols: str) -> tuple[float, dict[str, Any]]:
    """The recorded live run: its wall seconds after Ready, and its books' records."""
    from exchange.recording.writer import RecordingPlan, SessionRecorder

    recorder = SessionRecorder(RecordingPlan(path))
    recorder.open()
    settings = load_settings(environ={}, symbols=symbols)
    async with open_runtime(settings, demo_trader=True, faults=True, recorder=recorder) as rt:
        task = asyncio.create_task(rt.session.run())
        while rt.session.state.kind is not LinkState.READY:
            await asyncio.sleep(0.05)
        started = time.monotonic()
        if flood:
            assert rt.sim is not None
            await rt.sim.faults.flood(f"orderbook.{settings.depth}.{settings.symbols[0]}", flood)
        await asyncio.sleep(max(0.0, seconds - (time.monotonic() - started)))
        wall = time.monotonic() - started
        await rt.session.stop()
        await task
        books = {s: book_record(b) for s, b in rt.session.books.items()}
        return wall, books


def replayed(recording: Recording) -> tuple[float, dict[str, Any], Any]:
    """Replay at max speed: wall seconds, the books' records, the figures of what did not match."""

    async def run() -> tuple[float, dict[str, Any], Any]:
        clock = recording_clock(recording.start_ms / 1000.0)
        with tempfile.TemporaryDirectory() as folder:
            from exchange.journal import Journal

            settings = recorded_settings(recording, load_settings(environ={}))
            journal = Journal(Path(folder) / "j.sqlite3") if settings.credentials is not None else None
            played = replay(recording, settings, clock=clock, journal=journal)
            started = time.perf_counter()
            await played.run()
            elapsed = time.perf_counter() - started
            if journal is not None:
                journal.close()
            books = {s: book_record(b) for s, b in played.session.books.items()}
            return elapsed, books, played.figures

    with asyncio.Runner(loop_factory=lambda: recording_loop(None)) as runner:
        return runner.run(run())


def ingest_alone(recording: Recording) -> float:
    """The recorded frames parsed and handed to a fresh session's handlers in order: wall seconds."""
    settings = recorded_settings(recording, load_settings(environ={}))
    session = Session(settings)
    handlers = {"public": session._on_public_frame, "private": session._on_private_frame}
    frames: list[tuple[float, Any, int, str | bytes]] = []
    for attempt in recording.attempts:
        for name, connection in attempt.opens.items():
            frames.extend((at, handlers[name], wall, data) for at, wall, data in connection.frames)
    frames.sort(key=lambda item: item[0])
    loads = orjson.loads
    started = time.perf_counter()
    for _, handler, wall, data in frames:
        try:
            frame = loads(data)
        except orjson.JSONDecodeError:
            continue
        if isinstance(frame, dict):
            handler(frame, wall)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--flood", type=int, default=60_000)
    parser.add_argument("--symbols", default="BTCUSDT,ETHUSDT,SOLUSDT")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.jsonl.zst"
        live_wall, live_books = asyncio.run(record_live(path, args.seconds, args.flood, args.symbols))
        started = time.perf_counter()
        recording = Recording.load(path)
        load_s = time.perf_counter() - started
        size = sum(p.stat().st_size for p in Path(folder).iterdir())
    frames = recording.frames
    replay_s, books, figures = replayed(recording)
    alone_s = ingest_alone(recording)
    same = "the same books as live" if books == live_books else "BOOKS DIFFER from live"
    live_rate = frames / live_wall
    print(f"recording: {frames:,} frames over {live_wall:.1f} s live ({live_rate:,.0f} frames/s), {size / 1e6:.1f} MB")
    print(f"reading the file: {load_s:.2f} s ({frames / load_s:,.0f} frames/s)")
    print(f"replay, max speed: {replay_s:.2f} s, {frames / replay_s:,.0f} frames/s into books and ledger ({same})")
    print(f"ingest alone (same frames, no replay machinery): {alone_s:.2f} s, {frames / alone_s:,.0f} frames/s")
    print(f"replay / ingest alone: {alone_s / replay_s:.2f}; replay / live rate: {live_wall / replay_s:,.0f}x")
    print(f"not as recorded: {figures}")


if __name__ == "__main__":
    main()
