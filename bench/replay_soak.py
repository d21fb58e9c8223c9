"""Replay soak: minutes of a five-symbol desk with faults, recorded, replayed headless, compared exactly.

``python -m bench.replay_soak [--minutes 3] [--fault-every 15] [--flood 20000]``

1. Live: the embedded exchange serving BTCUSDT, ETHUSDT, SOLUSDT, XRPUSDT and DOGEUSDT (``orderbook.50``, trades,
   tickers) with the demo trader filling orders on the account, recorded (``--record``'s recorder) for
   ``--minutes``. Every ``--fault-every`` seconds one fault, in rotation: every connection dropped, a skipped
   ``u``, a ``u == 1`` restart snapshot, an unreadable delta, executions pushed twice and late, a 10006 rate
   limit across a reconnect, a public stall, lost pongs on the private link, malformed frames, and a burst of
   ``--flood`` book deltas. The live summary (``fluxum monitor --json``'s last line) is kept.
2. Replay: ``fluxum replay PATH --headless --json --speed max`` in a child process; its summary must equal the
   live one: every book level, every ledger field, orders, positions, wallet and the whole state sequence.
3. Figures: frames, MB, the replay's frames per second (in this process, from the file, as
   :func:`bench.replay_throughput.replayed` times it; the child's whole run, start-up included, besides), against
   the live frame path on the same frames (:func:`bench.replay_throughput.live_ingest`) and the recorded rate.

Exit status 1 when the replay differs from the live run.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from app.runtime import Runtime, open_runtime
from bench.replay_throughput import live_ingest, recorded_frames, replayed
from exchange.bybit.sim.server import SimServer
from exchange.config import load_settings
from exchange.events import LinkState, StateChanged
from exchange.recording.writer import RecordingPlan, SessionRecorder
from exchange.session import Backoff
from exchange.summary import StateTrail, desk_summary

SYMBOLS = "BTCUSDT,ETHUSDT,SOLUSDT,XRPUSDT,DOGEUSDT"
BACKOFF = Backoff(initial_s=0.1, factor=2.0, cap_s=1.0, burst=1000)
Fault = Callable[[SimServer], Awaitable[None]]


async def _drop(sim: SimServer) -> None:
    await sim.faults.drop_connections("", 4000)


async def _skip_u(sim: SimServer) -> None:
    sim.faults.skip_u("orderbook.50.BTCUSDT")


async def _restart(sim: SimServer) -> None:
    sim.faults.restart_snapshot("orderbook.50.ETHUSDT")


async def _unreadable(sim: SimServer) -> None:
    sim.faults.unreadable_delta("orderbook.50.SOLUSDT")


async def _duplicate_and_late(sim: SimServer) -> None:
    sim.faults.duplicate_executions += 2
    sim.faults.execution_delay_s = 0.5
    await asyncio.sleep(3.0)
    sim.faults.execution_delay_s = 0.0


async def _rate_limit(sim: SimServer) -> None:
    sim.faults.rate_limit_for(1.5)
    await sim.faults.drop_connections("private", 4000)


async def _stall(sim: SimServer) -> None:
    sim.faults.stall(6.0, "public")


async def _lost_pongs(sim: SimServer) -> None:
    sim.faults.lose_pongs(3, "private")


async def _malformed(sim: SimServer) -> None:
    for kind in ("bad_json", "wrong_types", "missing_keys"):
        sim.faults.malformed(kind, 2)
    sim.faults.malformed("bad_json", 1, "private")


def _flood(count: int) -> Fault:
    async def flood(sim: SimServer) -> None:
        await sim.faults.flood("orderbook.50.XRPUSDT", count)

    return flood


async def live(path: Path, minutes: float, fault_every: float, flood: int) -> tuple[dict[str, Any], float, int]:
    """The recorded live run: its summary, its wall seconds and the faults injected."""
    recorder = SessionRecorder(RecordingPlan(path))
    recorder.open()
    settings = load_settings(environ={}, symbols=SYMBOLS)
    faults: list[Fault] = [
        _drop,
        _skip_u,
        _restart,
        _unreadable,
        _duplicate_and_late,
        _rate_limit,
        _stall,
        _lost_pongs,
        _malformed,
        _flood(flood),
    ]
    async with open_runtime(settings, demo_trader=True, faults=True, backoff=BACKOFF, recorder=recorder) as rt:
        trail, collector, subscription = _trail(rt)
        task = asyncio.create_task(rt.session.run())
        while rt.session.state.kind is not LinkState.READY:
            await asyncio.sleep(0.05)
        started = time.monotonic()
        injected = 0
        assert rt.sim is not None
        for fault in itertools.cycle(faults):
            await asyncio.sleep(fault_every)
            if time.monotonic() - started > minutes * 60 - fault_every:
                break
            await fault(rt.sim)
            injected += 1
        await asyncio.sleep(max(0.0, minutes * 60 - (time.monotonic() - started)))
        wall = time.monotonic() - started
        await rt.session.stop()
        await task
        await asyncio.sleep(0)
        subscription.close()
        await collector
        return desk_summary(rt.session.desk, trail), wall, injected


def _trail(rt: Runtime) -> tuple[StateTrail, asyncio.Task[None], Any]:
    """The session's state sequence as the monitor keeps it."""
    subscription = rt.hub.subscribe(kinds=[StateChanged], name="replay-soak")
    trail = StateTrail(rt.session.state)

    async def collect() -> None:
        async for event in subscription:
            if isinstance(event, StateChanged):
                trail.add(event.state)

    return trail, asyncio.create_task(collect()), subscription


def replay_child(path: Path) -> tuple[dict[str, Any], float, float]:
    """``fluxum replay --headless --json --speed max`` in a child: its summary, wall and CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "replay", str(path), "--headless", "--json", "--speed", "max"],
        capture_output=True,
        text=True,
        env={**os.environ},
        check=False,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"the replay failed ({done.returncode}): {done.stderr[-500:]}")
    if done.stderr:
        print(done.stderr.strip(), file=sys.stderr)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return json.loads(done.stdout.splitlines()[-1]), wall, cpu


def differences(live: dict[str, Any], replayed: dict[str, Any]) -> list[str]:
    """What the replay's summary holds that the live one does not (a state's own times aside)."""
    keys = ("books", "ledger", "fills", "ledger_counters", "orders", "positions", "wallet", "symbols")
    found = [key for key in keys if live[key] != replayed[key]]

    def states(summary: dict[str, Any]) -> list[tuple[str, str, int]]:
        return [(s["state"], s["reason"], s["attempt"]) for s in summary["states"]]

    if states(live) != states(replayed):
        found.append("states")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--fault-every", type=float, default=15.0)
    parser.add_argument("--flood", type=int, default=20_000)
    parser.add_argument("--keep", type=Path, help="write the recording and both summaries into this directory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        folder = args.keep or Path(temporary)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "soak.jsonl.zst"
        summary, live_wall, injected = asyncio.run(live(path, args.minutes, args.fault_every, args.flood))
        size = sum(p.stat().st_size for p in folder.glob("soak*.jsonl.zst"))
        child, wall, cpu = replay_child(path)
        if args.keep is not None:
            (folder / "live.json").write_text(json.dumps(summary, indent=1))
            (folder / "replay.json").write_text(json.dumps(child, indent=1))
        frames = recorded_frames(path)
        ingest = min((live_ingest(path, frames) for _ in range(3)), key=lambda t: t.cpu)
        played = min((replayed(path)[0] for _ in range(3)), key=lambda t: t.cpu)
    n = len(frames)
    found = differences(summary, child)
    states = len(summary["states"])
    print(
        f"live: {live_wall / 60:.1f} min, 5 symbols, {injected} faults, {states} states, "
        f"{sum(summary['fills'].values())} fills; {n:,} frames ({n / live_wall:,.0f}/s), {size / 1e6:.1f} MB"
    )
    print(
        f"replay, max speed, from the file: {n / played.cpu:,.0f} frames/s of CPU ({n / played.wall:,.0f} of wall), "
        f"{live_wall / played.wall:,.0f}x the recorded pace; the child `fluxum replay` whole: {wall:.1f} s wall, "
        f"{cpu:.1f} s CPU"
    )
    print(
        f"live frame path on the same frames: {n / ingest.cpu:,.0f} frames/s of CPU; "
        f"replay / live: {ingest.cpu / played.cpu:.2f}"
    )
    print("the replay ends as the live run: exactly" if not found else f"DIFFERENT: {', '.join(found)}")
    if "states" in found:
        for was, now in itertools.zip_longest(summary["states"], child["states"]):
            print(f"  live {was and (was['state'], was['reason'])}  replay {now and (now['state'], now['reason'])}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
