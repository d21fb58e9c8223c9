"""Exact replay: a session recorded live against the local exchange, with a fault, then played back headless at max
speed (``fluxum replay PATH --headless --json --speed max``), ends as the live run ended.

What must match, field for field (the summary line of :mod:`exchange.summary`):

* the books: every level of both sides, ``u``, ``seq``, the state and what each book counted;
* the ledger: every field of every entry (marks and their times included: the session's maintenance ticks are
  recorded and replayed at the same moments), the fills applied and the ledger's counters;
* open orders, positions and the wallet, exactly;
* the state sequence: each transition's state, reason and attempt, in order (its times are the replay's);
* the fill lines printed, by execution id, in order.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from app.commands.replay import speed
from app.runtime import Runtime, open_runtime
from exchange.config import load_settings
from exchange.events import FillReceived, LinkState, StateChanged
from exchange.recording.clock import recording_loop
from exchange.recording.replay import Recording
from exchange.recording.writer import RecordingPlan, SessionRecorder
from exchange.session import Backoff
from exchange.summary import StateTrail, desk_summary
from tests.support.fills import place_market
from tests.support.waiting import until

REPO = Path(__file__).resolve().parents[1]
FAST = Backoff(initial_s=0.05, factor=2.0, cap_s=0.3, burst=1000)
Scenario = Callable[[Runtime], Awaitable[None]]


def sim_of(rt: Runtime) -> Any:
    assert rt.sim is not None
    return rt.sim


def ready(rt: Runtime) -> bool:
    return rt.session.state.kind is LinkState.READY


async def ready_again(rt: Runtime, before: int) -> None:
    await until(lambda: rt.session.reconnects > before and ready(rt), what="Ready again after the fault")


async def clean(rt: Runtime) -> None:
    place_market(sim_of(rt), "BTCUSDT", "Buy", "0.01", "replay-clean")
    await asyncio.sleep(1.0)


async def socket_drop(rt: Runtime) -> None:
    before = rt.session.reconnects
    assert await sim_of(rt).faults.drop_connections("public", 4000) == 1
    place_market(sim_of(rt), "ETHUSDT", "Sell", "0.2", "replay-drop")
    await ready_again(rt, before)


async def skipped_u(rt: Runtime) -> None:
    sim_of(rt).faults.skip_u("orderbook.50.BTCUSDT")
    await until(lambda: rt.session.counters["resubscribes"] > 0, what="the resync")
    await until(lambda: rt.session.books["BTCUSDT"].synced, what="the book SYNCED again")


async def duplicate_and_late_executions(rt: Runtime) -> None:
    faults = sim_of(rt).faults
    faults.duplicate_executions += 2
    place_market(sim_of(rt), "SOLUSDT", "Buy", "3", "replay-dup")
    faults.execution_delay_s = 0.3
    place_market(sim_of(rt), "BTCUSDT", "Sell", "0.02", "replay-late")
    before = rt.session.reconnects
    assert await sim_of(rt).faults.drop_connections("private", 4000) == 1  # the late one lands after the backfill
    place_market(sim_of(rt), "ETHUSDT", "Buy", "0.1", "replay-late-2")
    await ready_again(rt, before)
    await asyncio.sleep(0.6)
    faults.execution_delay_s = 0.0


async def restart_snapshot(rt: Runtime) -> None:
    sim_of(rt).faults.restart_snapshot("orderbook.50.ETHUSDT")
    await asyncio.sleep(1.0)
    await until(lambda: rt.session.books["ETHUSDT"].synced, what="the book SYNCED after the restart")


async def unreadable_delta(rt: Runtime) -> None:
    sim_of(rt).faults.unreadable_delta("orderbook.50.SOLUSDT")
    await until(lambda: rt.session.counters["resubscribes"] > 0, what="the resync")
    await until(lambda: rt.session.books["SOLUSDT"].synced, what="the book SYNCED again")


async def stall(rt: Runtime) -> None:
    before = rt.session.reconnects
    sim_of(rt).faults.stall(8.0, "public")
    await ready_again(rt, before)


async def trailing_execution_list(rt: Runtime) -> None:
    sim_of(rt).faults.lag_execution_list(2)
    before = rt.session.reconnects
    assert await sim_of(rt).faults.drop_connections("private", 4000) == 1
    place_market(sim_of(rt), "BTCUSDT", "Buy", "0.03", "replay-trailing")
    await ready_again(rt, before)
    await asyncio.sleep(1.5)  # the reread the account asks for


async def rate_limit(rt: Runtime) -> None:
    sim_of(rt).faults.rate_limit_for(1.5)
    before = rt.session.reconnects
    assert await sim_of(rt).faults.drop_connections("", 4000) >= 1
    place_market(sim_of(rt), "SOLUSDT", "Sell", "2", "replay-limit")
    await ready_again(rt, before)


async def live_run(path: Path, scenario: Scenario) -> tuple[dict[str, Any], list[str]]:
    """The scenario on a recorded live session: its summary as ``fluxum monitor --json`` prints it, and the
    execution ids of the fills it published, in order."""
    recorder = SessionRecorder(RecordingPlan(path))
    recorder.open()
    settings = load_settings(environ={})
    async with open_runtime(settings, demo_trader=False, faults=True, backoff=FAST, recorder=recorder) as rt:
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


def replayed(path: Path) -> list[dict[str, Any]]:
    """The lines of ``fluxum replay PATH --headless --json --speed max``."""
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "replay", str(path), "--headless", "--json", "--speed", "max"],
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
    """The state sequence, without the slow-step words a Connected state gains while it lasts ("reading the
    account" once a step took over a second): those are read off the clock at the session's checks, which a
    replay at max speed does not hit at the same frames. Every change of state, with its reason and attempt,
    stays."""
    states = [(s["state"], s["reason"], s["attempt"]) for s in summary["states"]]
    return [s for i, s in enumerate(states) if not (i and s[0] == "Connected" and states[i - 1][0] == "Connected")]


SCENARIOS = {
    "clean": clean,
    "socket-drop": socket_drop,
    "skipped-u": skipped_u,
    "duplicate-late-executions": duplicate_and_late_executions,
    "restart-snapshot": restart_snapshot,
    "unreadable-delta": unreadable_delta,
    "stall": stall,
    "trailing-execution-list": trailing_execution_list,
    "rate-limit": rate_limit,
}


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_a_replay_ends_as_the_live_run_ended(tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.jsonl.zst"
    live, live_fills = await live_run(path, SCENARIOS[name])
    lines = replayed(path)
    summary = lines[-1]
    assert summary["type"] == "summary"
    assert summary["books"] == live["books"]
    for key in ("ledger", "fills", "ledger_counters", "orders", "positions", "wallet", "environment", "symbols"):
        assert summary[key] == live[key], key
    assert states_of(summary) == states_of(live)
    assert [line["exec_id"] for line in lines if line["type"] == "fill"] == live_fills
    assert lines[0]["type"] == "start"
    if name != "clean":
        assert len(states_of(live)) > 5 or any(b["counters"]["snapshots"] > 1 for b in live["books"].values()), (
            "the fault showed"
        )


def test_a_file_that_is_no_recording_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bogus = tmp_path / "not.jsonl.zst"
    bogus.write_bytes(b"\x1b[31mnot zstd at all")
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "replay", str(bogus), "--headless", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "not a Fluxum recording" in done.stderr and "\x1b" not in done.stderr
    with pytest.raises(Exception, match="no header"):
        Recording.load(bogus)


def test_the_recording_loop_jumps_at_max_speed_and_scales_at_a_finite_one() -> None:
    """At max speed an hour's sleep costs the loop an hour of its own time and none of the wall's waiting; at a
    finite speed the loop's time runs at that multiple (both read on the loop, never the wall)."""

    async def slept(seconds: float) -> float:
        loop = asyncio.get_running_loop()
        before = loop.time()
        await asyncio.wait_for(asyncio.sleep(seconds), seconds * 2)  # a deadline on the same clock is not hit
        return loop.time() - before

    with asyncio.Runner(loop_factory=lambda: recording_loop(None)) as runner:
        assert 3600.0 <= runner.run(slept(3600.0)) < 3600.01
    with asyncio.Runner(loop_factory=lambda: recording_loop(500.0)) as runner:
        assert runner.run(slept(5.0)) >= 5.0


@pytest.mark.parametrize("text", ["0", "-1", "fast", "nan"])
def test_a_bad_speed_is_a_usage_error(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        speed(text)
    assert speed("max") is None and speed("2.5") == 2.5
