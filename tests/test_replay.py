"""Exact replay: a session recorded live against the local exchange, with a fault, then played back headless
(``fluxum replay PATH --headless --json --speed max``, and at a finite speed), ends as the live run ended.

What must match, field for field (the summary line of :mod:`exchange.summary`):

* the books: every level of both sides, ``u``, ``seq``, the state and what each book counted;
* the ledger: every field of every entry (marks and their times included: the session's maintenance ticks are
  recorded and replayed at the same moments), the fills applied and the ledger's counters;
* open orders, positions and the wallet, exactly;
* the state sequence: each transition's state, reason and attempt, in order (its times are the replay's), the
  slow-step words a Connected state gains at the session's ticks included (the recording's word, not the clock's);
* the fill lines printed, by execution id, in order.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
import zstandard

from app.commands.replay import speed
from app.runtime import Runtime
from exchange.config import load_settings
from exchange.events import LinkState
from exchange.recording.clock import recording_clock, recording_loop
from exchange.recording.opened import Recording
from exchange.recording.reader import RecordingReader
from exchange.recording.replay import recorded_settings, replay
from tests.support.fills import place_market
from tests.support.gate import Gate
from tests.support.replay_recording import (
    Gated,
    assert_as_live,
    live_run,
    ready_again,
    replayed,
    sim_of,
    socket_drop,
    states_of,
)
from tests.support.runtime import one_expired_looking_auth
from tests.support.waiting import until

REPO = Path(__file__).resolve().parents[1]


async def clean(rt: Runtime) -> None:
    place_market(sim_of(rt), "BTCUSDT", "Buy", "0.01", "replay-clean")
    await asyncio.sleep(1.0)


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


async def refused_connections(rt: Runtime, gate: Gate) -> None:
    """The exchange off the network for two seconds: the link cut, then connections refused, then back."""
    before = rt.session.reconnects
    await gate.down()
    await asyncio.sleep(2.0)
    await gate.up()
    await ready_again(rt, before)


async def forbidden(rt: Runtime) -> None:
    """Bybit's IP ban: every REST request answers HTTP 403 for a while, across a reconnect (its cool-down)."""
    sim_of(rt).faults.forbid_for(1.0)
    before = rt.session.reconnects
    assert await sim_of(rt).faults.drop_connections("", 4000) >= 1
    await ready_again(rt, before)


async def lost_pongs(rt: Runtime) -> None:
    """The private link's pongs are lost: asked again, lost again, the link declared dead and replaced."""
    before = rt.session.reconnects
    sim_of(rt).faults.lose_pongs(3, "private")
    await ready_again(rt, before)


async def malformed_frames(rt: Runtime) -> None:
    """Every malformed kind on the public link, and a frame that is no JSON on the private one (a lost fill?)."""
    faults = sim_of(rt).faults
    for kind in ("bad_json", "wrong_types", "missing_keys", "oversized"):
        assert faults.malformed(kind, 2) >= 1
    assert faults.malformed("bad_json", 1, "private") >= 1
    place_market(sim_of(rt), "ETHUSDT", "Buy", "0.1", "replay-malformed")
    await until(lambda: rt.session.counters["rejected_frames"] >= 4, what="the malformed frames rejected")
    await asyncio.sleep(2.0)  # the executions read again


async def slow_auth(rt: Runtime) -> None:
    """An auth ack 1.5 s late on the reconnect: the bar names the step ("authenticating") at a tick."""
    sim_of(rt).faults.auth_delay_s = 1.5
    before = rt.session.reconnects
    assert await sim_of(rt).faults.drop_connections("private", 4000) == 1
    await ready_again(rt, before)
    sim_of(rt).faults.auth_delay_s = 0.0


async def rejected_auth(rt: Runtime) -> None:
    """A "Params Error" auth: the clock measured again and the auth asked again on the same link, taken."""
    refused = sim_of(rt).counters["ws.private.auth_rejected_by_fault"]
    before = rt.session.reconnects
    with one_expired_looking_auth(sim_of(rt), rt):
        assert await sim_of(rt).faults.drop_connections("private", 4000) == 1
        await ready_again(rt, before)
    assert sim_of(rt).counters["ws.private.auth_rejected_by_fault"] == refused + 1
    assert rt.session.reconnects == before + 1, "the drop only"


async def clock_offset(rt: Runtime) -> None:
    """The exchange's clock jumps 30 s ahead: the next auth arrives expired, the clock is measured, it recovers."""
    sim_of(rt).faults.set_clock_offset(30_000)
    before = rt.session.reconnects
    assert await sim_of(rt).faults.drop_connections("private", 4000) == 1
    place_market(sim_of(rt), "BTCUSDT", "Buy", "0.01", "replay-skew")
    await ready_again(rt, before)


async def paused_market(rt: Runtime) -> None:
    """The market stops for 2.5 s: the books go STALE (the overlay) and the marks with them, then live again."""
    sim_of(rt).faults.pause_market()
    await until(lambda: any(h.stale for h in rt.session.topic_health()), what="a STALE topic")
    await asyncio.sleep(1.0)
    sim_of(rt).faults.resume_market()
    await until(lambda: not any(h.stale for h in rt.session.topic_health()), what="live again")


async def corrupt_executions(rt: Runtime) -> None:
    """An execution the exchange recorded with an absurd price: rejected, counted, the other fills applied."""
    sim_of(rt).faults.corrupt_executions({"execPrice": "1E+999999999"})
    place_market(sim_of(rt), "SOLUSDT", "Buy", "1", "replay-corrupt")
    place_market(sim_of(rt), "SOLUSDT", "Sell", "1", "replay-after-corrupt")
    await until(lambda: rt.session.counters["rejected_executions"] > 0, what="the absurd execution rejected")
    await asyncio.sleep(1.0)


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
    "forbidden": forbidden,
    "lost-pongs": lost_pongs,
    "malformed": malformed_frames,
    "slow-auth": slow_auth,
    "rejected-auth": rejected_auth,
    "clock-offset": clock_offset,
    "paused-market": paused_market,
    "corrupt-executions": corrupt_executions,
}
GATED: dict[str, Gated] = {"refused-connections": refused_connections}


@pytest.mark.parametrize("name", [*SCENARIOS, *GATED])
async def test_a_replay_ends_as_the_live_run_ended(tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.jsonl.zst"
    live, live_fills = await live_run(path, GATED.get(name) or SCENARIOS[name], gated=name in GATED)
    assert_as_live(replayed(path), live, live_fills)
    if name not in ("clean", "malformed", "paused-market", "corrupt-executions"):  # those wait for their evidence
        assert len(states_of(live)) > 5 or any(b["counters"]["snapshots"] > 1 for b in live["books"].values()), (
            "the fault showed"
        )


@pytest.mark.parametrize("name", ["slow-auth", "socket-drop", "paused-market"])
async def test_a_replay_at_a_finite_speed_ends_as_the_live_run_ended(tmp_path: Path, name: str) -> None:
    """At ``--speed 20`` the loop waits on the wall between records, yet every decision reads the recording's
    time (a step named slow, a book gone STALE, a mark's time): the same end as live, and as at max speed."""
    path = tmp_path / f"{name}.jsonl.zst"
    live, live_fills = await live_run(path, SCENARIOS[name])
    assert_as_live(replayed(path, "20"), live, live_fills)


def stretched(source: Path, target: Path, extra: int) -> None:
    """``source`` (a short recording) with ``extra`` copies of its last ticker frame inserted after it, as one more
    busy stretch of the same connection: a long recording, written as the recorder does (JSON lines in zstd
    frames of a few thousand lines)."""
    records = list(RecordingReader(source))
    last = max(i for i, r in enumerate(records) if r.get("type") == "frame" and '"tickers.' in str(r.get("text")))
    copies = [records[last]] * extra
    lines = [orjson.dumps(r) + b"\n" for r in [*records[: last + 1], *copies, *records[last + 1 :]]]
    compressor = zstandard.ZstdCompressor(level=1)
    with open(target, "wb") as file:
        for start in range(0, len(lines), 4000):
            file.write(compressor.compress(b"".join(lines[start : start + 4000])))


@pytest.mark.slow
def test_a_long_recording_replays_in_bounded_memory(tmp_path: Path) -> None:
    """A recording of 200,000 frames is played without holding them: the replay reads each record as its time
    comes, so what it holds at once (records read but not yet played) stays a handful, not the recording."""
    short, long = tmp_path / "short.jsonl.zst", tmp_path / "long.jsonl.zst"
    asyncio.run(live_run(short, clean))
    stretched(short, long, 200_000)

    async def play() -> Any:
        recording = Recording.load(long)
        settings = recorded_settings(recording, load_settings(environ={}))
        played = replay(recording, settings, clock=recording_clock(recording.start_ms / 1000.0))
        await played.run()
        return played

    with asyncio.Runner(loop_factory=lambda: recording_loop(None)) as runner:
        played = runner.run(play())
    assert played.playback.frames > 200_000, "every frame was played"
    assert played.session.state.kind is LinkState.DISCONNECTED and played.session.state.reason == "stopped"
    assert 1 <= played.figures.held_peak <= 10, played.figures


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
        assert runner.run(slept(5.0)) == 5.0


def test_work_costs_no_recorded_time_at_a_finite_speed() -> None:
    """At speed 500, 50 ms of work would be 25 s of recording if the loop's time were the wall's scaled: it is
    none (the next timer is reached as if the work took no time), so a deadline is never hit by slowness."""

    async def busy() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        before = loop.time()
        time.sleep(0.05)  # the session's own work, blocking the loop
        worked = loop.time() - before
        await asyncio.sleep(1.0)
        return worked, loop.time() - before

    with asyncio.Runner(loop_factory=lambda: recording_loop(500.0)) as runner:
        assert runner.run(busy()) == (0.0, 1.0)


@pytest.mark.parametrize("text", ["0", "-1", "fast", "nan"])
def test_a_bad_speed_is_a_usage_error(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        speed(text)
    assert speed("max") is None and speed("2.5") == 2.5
