"""Recording cost: the CPU ``--record`` adds to a live session, and the megabytes an hour of it takes.

``python -m bench.record_cost [--seconds 30] [--rounds 2] [--symbols BTCUSDT,ETHUSDT,SOLUSDT]``

The default desk load: the embedded local exchange with the demo trader, the default symbols, the session as
``fluxum monitor`` runs it. Rounds alternate without and with a recorder in one process, so both see the same
machine; each measures the process's CPU seconds (exchange and session together, the recorder's thread included)
per thousand frames the session read, and the ratio of the two is the recorder's cost. The recorded rounds' bytes
per second of session, scaled to an hour, are the MB per hour. First, the cost per frame of each half alone: the
tap's call on the event loop, and the writing thread's lines, scrubbing and compression.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from app.runtime import open_runtime
from exchange.config import load_settings
from exchange.events import LinkState
from exchange.recording.reader import RecordingReader
from exchange.recording.writer import RecordingPlan, SessionRecorder


@dataclass
class Round:
    recorded: bool
    seconds: float
    cpu_s: float
    frames: int
    bytes_written: int = 0


async def one_round(seconds: float, symbols: str, path: Path | None) -> Round:
    """A session for ``seconds`` after it is Ready; its CPU and frames (and its recording's size)."""
    recorder = None
    if path is not None:
        recorder = SessionRecorder(RecordingPlan(path))
        recorder.open()
    settings = load_settings(environ={}, symbols=symbols)
    async with open_runtime(settings, demo_trader=True, recorder=recorder) as rt:
        task = asyncio.create_task(rt.session.run())
        while rt.session.state.kind is not LinkState.READY:
            await asyncio.sleep(0.05)
        frames_before = _frames(rt.session)
        cpu, wall = time.process_time(), time.monotonic()
        await asyncio.sleep(seconds)
        cpu, wall = time.process_time() - cpu, time.monotonic() - wall
        frames = _frames(rt.session) - frames_before
        await rt.session.stop()
        await task
    size = sum(p.stat().st_size for p in path.parent.glob(path.name.split(".")[0] + "*")) if path else 0
    if path is not None:
        assert sum(r["type"] == "frame" for r in RecordingReader(path)) >= frames
    return Round(path is not None, wall, cpu, frames, size)


def _frames(session: object) -> int:
    links = (getattr(session, "_public", None), getattr(session, "_private", None))
    return sum(link.frames + link.rejected for link in links if link is not None)


DELTA = (
    '{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1700000000000,"data":{"s":"BTCUSDT",'
    '"b":[["60000.1","0.512"],["59999.8","0"]],"a":[["60000.4","1.2"]],"u":5123,"seq":71234},"cts":1700000000000}'
)


def per_frame_cost(folder: Path, frames: int = 200_000) -> tuple[float, float]:
    """Microseconds per frame: the tap on the event loop, and the writing thread's turn."""
    recorder = SessionRecorder(RecordingPlan(folder / "micro.jsonl.zst"), max_pending=frames)
    recorder.open()
    recorder.begin({})
    recorder._stop.set()  # the thread's turns are timed here, by hand
    assert recorder._thread is not None
    recorder._thread.join()
    started = time.perf_counter()
    for i in range(frames):
        recorder.frame_received("public", 1, DELTA, i)
    tap = time.perf_counter() - started
    started = time.perf_counter()
    recorder._drain()
    writer = time.perf_counter() - started
    recorder.close()
    return tap / frames * 1e6, writer / frames * 1e6


def per_thousand(rounds: list[Round]) -> float:
    return sum(r.cpu_s for r in rounds) / max(1, sum(r.frames for r in rounds)) * 1000


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--symbols", default="BTCUSDT,ETHUSDT,SOLUSDT")
    args = parser.parse_args()
    rounds: list[Round] = []
    with tempfile.TemporaryDirectory(prefix="fluxum-record-cost-") as folder:
        tap_us, writer_us = per_frame_cost(Path(folder))
        print(f"per frame: {tap_us:.2f} us on the event loop, {writer_us:.2f} us in the writing thread")
        for n in range(args.rounds):
            rounds.append(await one_round(args.seconds, args.symbols, None))
            rounds.append(await one_round(args.seconds, args.symbols, Path(folder) / f"r{n}.jsonl.zst"))
    plain = [r for r in rounds if not r.recorded]
    recorded = [r for r in rounds if r.recorded]
    for r in rounds:
        print(
            f"{'recorded' if r.recorded else 'plain   '}: {r.seconds:5.1f} s, {r.frames:7,} frames "
            f"({r.frames / r.seconds:6.1f}/s), CPU {r.cpu_s:6.2f} s ({r.cpu_s / r.seconds:.3f} per s)"
            + (f", {r.bytes_written:,} bytes" if r.recorded else "")
        )
    base, with_record = per_thousand(plain), per_thousand(recorded)
    print(f"CPU per 1000 frames: plain {base:.4f} s, recorded {with_record:.4f} s, ratio {with_record / base:.3f}")
    rate = sum(r.bytes_written for r in recorded) / sum(r.seconds for r in recorded)
    print(f"recording size: {rate / 1024:.1f} kB/s = {rate * 3600 / 1e6:.1f} MB per hour")


if __name__ == "__main__":
    asyncio.run(main())
