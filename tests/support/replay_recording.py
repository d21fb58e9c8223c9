"""Live sessions on the local exchange, recorded, for the replay tests: the scenario runs on a recorded runtime and
the desk's summary as it ended is what a replay must end with.

:func:`record_an_outage` is the desk's replay session: Ready with a fill, a second of market, the public link
dropped by the exchange, Ready again, a second more. ``python -m tests.support.replay_recording PATH`` writes one
(the fixed recording of the replay snapshot, ``tests/data/replay/drop.jsonl.zst``, was made so).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from app.runtime import DEFAULT_TIMEOUTS, Runtime, open_runtime
from exchange.bybit.sim.server import SimConfig, SimServer
from exchange.config import load_settings
from exchange.events import FillReceived, LinkState, StateChanged
from exchange.recording.writer import RecordingPlan, SessionRecorder
from exchange.retry import Timeouts
from exchange.summary import StateTrail, desk_summary
from tests.support.fills import place_market
from tests.support.gate import Gate
from tests.support.runtime import FAST_BACKOFF
from tests.support.waiting import until

QUICK = Timeouts(stale_floor_s=1.0, private_idle_probe_s=2.0)
"""A topic is STALE after a second of silence and a quiet private link is probed after two: the overlay and the
lost pongs show within a test's seconds."""
FIXED_RECORDING = Path(__file__).resolve().parents[1] / "data" / "replay" / "drop.jsonl.zst"
QUIET_S = 1.0
Scenario = Callable[[Runtime], Awaitable[None]]
Gated = Callable[[Runtime, Gate], Awaitable[None]]


def sim_of(rt: Runtime) -> Any:
    assert rt.sim is not None
    return rt.sim


def ready(rt: Runtime) -> bool:
    return rt.session.state.kind is LinkState.READY


REPO = Path(__file__).resolve().parents[2]


async def ready_again(rt: Runtime, before: int) -> None:
    await until(lambda: rt.session.reconnects > before and ready(rt), what="Ready again after the fault")


async def socket_drop(rt: Runtime) -> None:
    """The exchange drops the public link with a fill in flight."""
    before = rt.session.reconnects
    assert await sim_of(rt).faults.drop_connections("public", 4000) == 1
    place_market(sim_of(rt), "ETHUSDT", "Sell", "0.2", "replay-drop")
    await ready_again(rt, before)


async def an_outage(rt: Runtime) -> None:
    """A fill, a quiet second, the public link dropped by the exchange, Ready again, a quiet second."""
    place_market(sim_of(rt), "BTCUSDT", "Buy", "0.01", "replay-desk-fill")
    # the fill reaches the ledger while Ready, however loaded the machine: the replay tests look for it there
    await until(lambda: rt.session.desk.ledger.fill_count("BTCUSDT") > 0, what="the fill applied")
    await asyncio.sleep(QUIET_S)
    before = rt.session.reconnects
    assert await sim_of(rt).faults.drop_connections("public", 4000) == 1
    await ready_again(rt, before)
    await asyncio.sleep(QUIET_S)


@contextlib.asynccontextmanager
async def live_runtime(
    recorder: SessionRecorder, gated: bool, *, symbols: str | None = None, seed: int = 1, timeouts: Timeouts = QUICK
) -> AsyncIterator[tuple[Runtime, Gate | None]]:
    """A recorded runtime on the local exchange: embedded, or (``gated``) behind a :class:`Gate` that can take it
    off the network."""
    if not gated:
        settings = load_settings(symbols=symbols, environ={})
        async with open_runtime(
            settings,
            seed=seed,
            demo_trader=False,
            faults=True,
            backoff=FAST_BACKOFF,
            timeouts=timeouts,
            recorder=recorder,
        ) as rt:
            yield rt, None
        return
    async with SimServer(SimConfig(seed=seed, faults_enabled=True, demo_trader=False)) as sim:
        gate = Gate(sim.port)
        await gate.up()
        try:
            settings = load_settings(cfg="sim", base_url=gate.base_url, symbols=symbols, environ={})
            async with open_runtime(
                settings, faults=True, backoff=FAST_BACKOFF, timeouts=timeouts, recorder=recorder
            ) as rt:
                yield rt, gate
        finally:
            await gate.close()


async def live_run(
    path: Path,
    scenario: Scenario | Gated,
    gated: bool = False,
    *,
    symbols: str | None = None,
    seed: int = 1,
    timeouts: Timeouts = QUICK,
) -> tuple[dict[str, Any], list[str]]:
    """The scenario on a live session recorded into ``path``: its summary as ``fluxum monitor --json`` prints it,
    and the execution ids of the fills it published, in order."""
    recorder = SessionRecorder(RecordingPlan(path))
    recorder.open()
    async with live_runtime(recorder, gated, symbols=symbols, seed=seed, timeouts=timeouts) as (rt, gate):
        if gate is not None:
            return await recorded_run(rt, lambda rt: scenario(rt, gate))  # type: ignore[call-arg]
        return await recorded_run(rt, scenario)  # type: ignore[arg-type]


async def recorded_run(rt: Runtime, scenario: Scenario) -> tuple[dict[str, Any], list[str]]:
    """``rt``'s session run to Ready, through ``scenario`` and stopped: its summary as ``fluxum monitor --json``
    prints it, and the execution ids of the fills it published, in order."""
    subscription = rt.hub.subscribe(name="test-live")
    trail = StateTrail(rt.session.state)
    fills: list[str] = []

    async def collect() -> None:
        async for event in subscription:
            if isinstance(event, StateChanged):
                trail.add(event.state)
            elif isinstance(event, FillReceived):
                fills.append(event.fill.exec_id)

    collector = asyncio.create_task(collect())
    task = asyncio.create_task(rt.session.run())
    await until(lambda: ready(rt) or task.done(), what="Ready")
    await scenario(rt)
    await asyncio.sleep(0.5)
    await rt.session.stop()
    await task
    await asyncio.sleep(0)
    subscription.close()
    await collector
    return desk_summary(rt.session.desk, trail), fills


async def record_an_outage(path: Path, symbols: str = "BTCUSDT,ETHUSDT") -> dict[str, Any]:
    """Record :func:`an_outage` into ``path``; the live desk's summary as it ended (its books and ledger:
    :func:`exchange.summary.desk_summary`)."""
    summary, _ = await live_run(path, an_outage, symbols=symbols, seed=7, timeouts=DEFAULT_TIMEOUTS)
    return summary


def replayed(path: Path, speed: str = "max") -> list[dict[str, Any]]:
    """The lines of ``fluxum replay PATH --headless --json --speed SPEED``."""
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "replay", str(path), "--headless", "--json", "--speed", speed],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return [json.loads(line) for line in done.stdout.splitlines()]


def states_of(summary: dict[str, Any]) -> list[tuple[str, str, int]]:
    """The state sequence: every change of state with its reason and attempt, the slow-step words included."""
    return [(s["state"], s["reason"], s["attempt"]) for s in summary["states"]]


def assert_as_live(lines: list[dict[str, Any]], live: dict[str, Any], live_fills: list[str]) -> None:
    """The replay's lines end as the live run did: books, ledger, account, states, fills."""
    summary = lines[-1]
    assert summary["type"] == "summary"
    assert summary["books"] == live["books"]
    for key in ("ledger", "fills", "orders", "positions", "wallet", "environment", "symbols"):
        assert summary[key] == live[key], (key, summary[key], live[key])
    # a REST reply and a frame recorded within the same instant may be taken in the other order: the ledger is the
    # same either way, only its arrival counters (a fill seen twice, a fill out of order) can tell them apart
    arrival = ("duplicates", "reordered")
    kept = {key: value for key, value in summary["ledger_counters"].items() if key not in arrival}
    assert kept == {key: value for key, value in live["ledger_counters"].items() if key not in arrival}
    assert states_of(summary) == states_of(live)
    assert [line["exec_id"] for line in lines if line["type"] == "fill"] == live_fills
    assert lines[0]["type"] == "start"


if __name__ == "__main__":
    asyncio.run(record_an_outage(Path(sys.argv[1])))
