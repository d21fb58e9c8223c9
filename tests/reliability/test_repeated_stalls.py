"""Repeated outages: each one is recovered as fast as the first, never slower than the exchange came back.

Issue 10's case is four 10 s stalls 20 s apart, each found by the idle probe (~5 s with the defaults). Here the
same shape is scaled to keep the wall time short: the public idle probe and its deadline at 1 s each (found in
~2 s), four 3 s stalls 6 s apart (Ready between them for less than any "healthy period"). The attempt counter
must start over at each Ready, so every outage's first retry waits only the backoff's first delay; were it to
compound, the fourth outage's retry would wait 2-4 s and the desk would stay blind seconds after the exchange
was back.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.runtime import Runtime
from exchange.bybit.sim.server import SimConfig, SimServer
from exchange.config import load_settings
from exchange.events import LinkState, StateChanged
from exchange.session import Backoff, Timeouts
from tests.support.gate import Gate
from tests.support.runtime import is_ready, running_session
from tests.support.waiting import until

STALLS = 4
STALL_S = 3.0
APART_S = 6.0
BACKOFF = Backoff()  # the desk's own: 0.5 s doubling to the 30 s cap
TIMEOUTS = Timeouts(idle_probe_s=1.0, probe_timeout_s=1.0)
SLACK_S = 2.0  # "Ready within about 1 s of the stall's end", with room for a loaded CI machine; the attempts decide


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_each_repeated_stall_recovers_within_a_second_of_its_end() -> None:
    async with running_session(backoff=BACKOFF, timeouts=TIMEOUTS) as rt:
        session = rt.session
        states = rt.hub.subscribe([StateChanged], name="test")
        blind_after: list[float] = []
        for n in range(STALLS):
            link = session._public
            assert link is not None
            frames = link.frames
            busy_after = frames + 20
            await until(lambda: link.frames > busy_after, what="a busy public stream")  # noqa: B023 - awaited here
            before = session.reconnects
            started = time.monotonic()
            rt.sim.faults.stall(STALL_S, "")
            await until(lambda: session.reconnects > before, 4 * STALL_S, f"stall {n + 1} found")  # noqa: B023
            await until(lambda: is_ready(rt), 4 * STALL_S + 10, f"Ready after stall {n + 1}")
            blind_after.append(max(0.0, time.monotonic() - started - STALL_S))
            await asyncio.sleep(max(0.0, started + APART_S - time.monotonic()))
        attempts = [
            e.state.attempt
            for e in states.drain()
            if isinstance(e, StateChanged) and e.state.kind is LinkState.RECONNECTING
        ]
        print("\nrepeated stalls: Ready after each stall's end: " + ", ".join(f"{s:.2f} s" for s in blind_after))
        print(f"reconnect attempts announced: {attempts}")
        assert all(s <= SLACK_S for s in blind_after), blind_after
        assert attempts and set(attempts) == {1}, attempts  # every outage starts over at attempt 1


ISSUE_STALLS = 4
ISSUE_STALL_S = 10.0
ISSUE_APART_S = 20.0


@contextlib.asynccontextmanager
async def _through_a_gate(journal_dir: Path) -> AsyncIterator[tuple[Runtime, Gate]]:
    async with SimServer(SimConfig(seed=1, faults_enabled=True, demo_trader=False)) as sim:
        gate = Gate(sim.port)
        await gate.up()
        try:
            settings = load_settings(cfg="sim", base_url=gate.base_url, environ={})
            async with running_session(settings, journal_dir=journal_dir, backoff=BACKOFF, exchange=sim) as rt:
                yield rt, gate
        finally:
            await gate.close()


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_the_issue_s_four_network_stalls_each_end_in_ready_within_a_second(tmp_path: Path) -> None:
    """Issue 10's case as it was met: four 10 s stalls 20 s apart of the whole path (new connections stall too,
    as through a dead route), the desk's own backoff and heartbeat. Each is found by the idle probe, and the
    desk is Ready again within about a second of the path coming back: the reconnect made during the stall goes
    through the moment it does."""
    async with _through_a_gate(tmp_path) as (rt, gate):
        session = rt.session
        states = rt.hub.subscribe([StateChanged], name="test")
        after_end: list[float] = []
        for n in range(ISSUE_STALLS):
            started = time.monotonic()
            before = session.reconnects
            await gate.hold(ISSUE_STALL_S)
            ended = time.monotonic()
            await until(lambda: session.reconnects > before, 5.0, f"stall {n + 1} found")  # noqa: B023 - awaited here
            await until(lambda: is_ready(rt), ISSUE_STALL_S + 10, f"Ready after stall {n + 1}")
            after_end.append(time.monotonic() - ended)
            await asyncio.sleep(max(0.0, started + ISSUE_APART_S - time.monotonic()))
        attempts = [
            e.state.attempt
            for e in states.drain()
            if isinstance(e, StateChanged) and e.state.kind is LinkState.RECONNECTING
        ]
        print(
            "\nfour 10 s network stalls: Ready after the path came back: "
            + ", ".join(f"{s:.2f} s" for s in after_end)
            + f" (median {statistics.median(after_end):.2f} s, max {max(after_end):.2f} s); attempts {attempts}"
        )
        assert all(s <= SLACK_S for s in after_end), after_end
        assert attempts and set(attempts) == {1}, attempts
