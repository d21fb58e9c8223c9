"""Replay throughput: frames per second a recorded session replays at, headless at max speed, from the file into
the books and the ledger, against the live ingest of the same frames, measured side by side in the same run.

``python -m bench.replay_throughput [--seconds 20] [--flood 60000] [--symbols BTCUSDT,ETHUSDT,SOLUSDT]
[--rounds 3] [--profile] [--recording PATH]``

1. A live session on the embedded exchange with the demo trader (the default desk: books, trades, tickers, fills)
   is recorded for ``--seconds`` after Ready, with ``--flood`` extra book deltas pushed as fast as the session
   takes them (``faults.flood``), so the recording has enough frames to time. Its frames per wall-second are the
   live rate.
2. Replay: the recording streamed from the file through the same session (:mod:`exchange.recording.replay`) on
   the recording's clock at max speed: reading, decompressing, pacing, REST answers and ticks included. Its books
   are checked against the live run's.
3. Live ingest: the same frames, held in memory, each handed to the live link's own frame path
   (:class:`exchange.bybit.ws.FrameReader`, parse and classify) and on to a fresh session's handlers, with no
   socket, clock or loop: what the live desk spends on a frame once the socket gave it.

Both are timed in CPU seconds of this process (the machine is shared: CPU time is what a frame costs, whatever else
runs) and in wall seconds, best of ``--rounds`` alternating rounds. ``--profile`` prints cProfile's top lines of
one replay. ``--recording PATH`` times a recording already made instead of step 1 (no live books to compare).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.runtime import open_runtime
from exchange.bybit.ws import FrameReader
from exchange.config import load_settings
from exchange.events import LinkState
from exchange.recording.clock import recording_clock, recording_loop
from exchange.recording.opened import Recording
from exchange.recording.reader import RecordingReader
from exchange.recording.replay import ReplayFigures, recorded_settings, replay
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


class Timed:
    """CPU and wall seconds of one run."""

    def __init__(self) -> None:
        self.cpu = 0.0
        self.wall = 0.0

    def __enter__(self) -> Timed:
        self._cpu, self._wall = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cpu = time.process_time() - self._cpu
        self.wall = time.perf_counter() - self._wall


def replayed(path: Path) -> tuple[Timed, int, dict[str, Any], ReplayFigures]:
    """Replay the file at max speed, reading it included: the times, frames played, books, what did not match."""

    async def run() -> tuple[Timed, int, dict[str, Any], ReplayFigures]:
        with tempfile.TemporaryDirectory() as folder, Timed() as timed:
            from exchange.journal import Journal

            recording = Recording.load(path)
            clock = recording_clock(recording.start_ms / 1000.0)
            settings = recorded_settings(recording, load_settings(environ={}))
            journal = Journal(Path(folder) / "j.sqlite3") if settings.credentials is not None else None
            played = replay(recording, settings, clock=clock, journal=journal)
            await played.run()
            if journal is not None:
                journal.close()
        books = {s: book_record(b) for s, b in played.session.books.items()}
        return timed, played.playback.frames, books, played.figures

    with asyncio.Runner(loop_factory=lambda: recording_loop(None)) as runner:
        return runner.run(run())


def recorded_frames(path: Path) -> list[tuple[str, str, int]]:
    """Every text frame of the recording, in order: (link, text, receive ms)."""
    return [
        (str(r.get("link")), r["text"], int(r.get("wall_ms") or 0))
        for r in RecordingReader(path)
        if r.get("type") == "frame" and isinstance(r.get("text"), str)
    ]


def live_ingest(path: Path, frames: list[tuple[str, str, int]]) -> Timed:
    """The frames through the live link's frame path into a fresh session's handlers."""
    settings = recorded_settings(Recording.load(path), load_settings(environ={}))
    session = Session(settings)
    readers: dict[str, Callable[[str, int], None]] = {
        "public": FrameReader("public", session._on_public_frame).take,
        "private": FrameReader("private", session._on_private_frame).take,
    }
    with Timed() as timed:
        for link, text, received_ms in frames:
            readers[link](text, received_ms)
    return timed


def profile(path: Path, lines: int = 25) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    replayed(path)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--flood", type=int, default=60_000)
    parser.add_argument("--symbols", default="BTCUSDT,ETHUSDT,SOLUSDT")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="print cProfile's top lines of one replay")
    parser.add_argument("--recording", type=Path, help="time this recording instead of recording one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.jsonl.zst"
        if args.recording is None:
            live_wall, live_books = asyncio.run(record_live(path, args.seconds, args.flood, args.symbols))
        else:
            path, live_books = args.recording, None
            header = Recording.load(path)
            last = [int(r.get("wall_ms") or 0) for r in RecordingReader(path) if "wall_ms" in r][-1]
            live_wall = (last - header.start_ms) / 1000.0
        size = sum(p.stat().st_size for p in path.parent.glob(path.name.split(".")[0] + "*"))
        frames = recorded_frames(path)
        replays, ingests = [], []
        for _ in range(args.rounds):
            replays.append(replayed(path))
            ingests.append(live_ingest(path, frames))
        if args.profile:
            profile(path)
    played, books, figures = replays[-1][1], replays[-1][2], replays[-1][3]
    best_cpu, best_wall = min(r[0].cpu for r in replays), min(r[0].wall for r in replays)
    live_cpu, live_wall_s = min(i.cpu for i in ingests), min(i.wall for i in ingests)
    same = (
        "no live books" if live_books is None else "the same books as live" if books == live_books else "BOOKS DIFFER"
    )
    n = len(frames)
    print(f"recording: {n:,} frames over {live_wall:.1f} s live ({n / live_wall:,.0f} frames/s), {size / 1e6:.1f} MB")
    print(
        f"replay, max speed, from the file: {played:,} frames, {n / best_cpu:,.0f} frames/s of CPU "
        f"({n / best_wall:,.0f} of wall), {same}"
    )
    print(f"live ingest of the same frames: {n / live_cpu:,.0f} frames/s of CPU ({n / live_wall_s:,.0f} of wall)")
    print(
        f"replay / live ingest: {live_cpu / best_cpu:.2f} (CPU), {live_wall_s / best_wall:.2f} (wall); "
        f"replay / live rate: {live_wall / best_wall:,.0f}x"
    )
    print(f"not as recorded: {figures}")


if __name__ == "__main__":
    main()
