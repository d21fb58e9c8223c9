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
import time

import pytest

from exchange.events import LinkState, StateChanged
from exchange.session import Backoff, Timeouts
from tests.support.runtime import is_ready, running_session
from tests.support.waiting import until

STALLS = 4
STALL_S = 3.0
APART_S = 6.0
BACKOFF = Backoff()  # the desk's own: 0.5 s doubling to the 30 s cap
TIMEOUTS = Timeouts(idle_probe_s=1.0, probe_timeout_s=1.0)
SLACK_S = 2.0  # "Ready within about 1 s of the stall's end", with room for a loaded CI machine; the attempts decide


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
