"""A flapping server: every connection is cut shortly after it opens, over and over.

The session must not storm: its connection attempts stay within what the backoff allows (counted at the
exchange), its delays grow to the cap with jitter, and its attempt counter starts over at each Ready. A server
that lets the link reach Ready and then drops it, over and over, is held to the backoff's connection budget.

Wall time is compressed: the default backoff (0.5 s doubling to a 30 s cap, healthy after 30 s) flapping for a
minute would take a minute; here the same shape runs with 0.05 s doubling to a 1 s cap, healthy after 1.5 s,
for ``FLAP_S`` seconds (about the default's first minute scaled down eightfold). ``FLUXUM_FLAP_REAL=1`` runs
the real default backoff for a real minute instead (about two and a half minutes in all).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import random

import pytest

from exchange.events import LinkState, SessionState, StateChanged
from exchange.session import Backoff
from tests.support.runtime import is_ready, running_session
from tests.support.waiting import until

REAL = os.environ.get("FLUXUM_FLAP_REAL") == "1"
FLAP_S = 60.0 if REAL else 8.0
LIFE_S = 0.1  # how long the flapping server lets a connection live
BACKOFF = Backoff() if REAL else Backoff(initial_s=0.05, factor=2.0, cap_s=1.0, burst=1000)  # the delays alone
WAIT_S = 2 * BACKOFF.cap_s + 10.0  # a failure bound for one reconnect


def max_attempts(backoff: Backoff, window_s: float) -> int:
    """The most reconnect attempts possible in ``window_s``: each waits at least half its base delay."""
    elapsed, attempts = 0.0, 0
    while True:
        base = min(backoff.cap_s, backoff.initial_s * backoff.factor**attempts)
        if elapsed + base / 2 > window_s:
            return attempts
        elapsed += base / 2
        attempts += 1


async def _flap(sim, life_s: float, stop: asyncio.Event) -> int:
    """Abort every socket that has lived ``life_s``; returns how many were cut."""
    loop = asyncio.get_running_loop()
    born: dict[str, float] = {}
    cut = 0
    while not stop.is_set():
        now = loop.time()
        for conn in sim.connections.all():
            if not conn.closed and now - born.setdefault(conn.conn_id, now) >= life_s:
                conn.abort()
                cut += 1
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.01)  # the fault's own tick
    return cut


def test_real_backoff_stays_far_below_bybits_connection_limit() -> None:
    """Bybit allows 500 connections per 5 minutes per IP; each attempt opens two (public and private)."""
    worst = max_attempts(Backoff(), 300.0) + 1
    assert 2 * worst < 500 / 4, worst
    delays = [Backoff().delay(n, random.Random(n)) for n in range(1, 12)]
    assert delays[-1] >= Backoff().cap_s / 2
    print(f"\ndefault backoff: at most {worst} attempts ({2 * worst} sockets) in 5 minutes of flapping")


@pytest.mark.slow
@pytest.mark.timeout(400 if REAL else 120)
async def test_flapping_server_causes_no_storm() -> None:
    async with running_session(backoff=BACKOFF) as rt:
        session, sim = rt.session, rt.sim
        states = rt.hub.subscribe([StateChanged], name="test")
        loop = asyncio.get_running_loop()
        opened_before = sim.counters["ws.connections.public"]
        stop = asyncio.Event()
        started = loop.time()
        # No connection lives to Ready, so the delays grow and never reset: the ack comes ten lives late, so a cut
        # that a busy machine runs late still comes first.
        sim.faults.auth_delay_s = 10 * LIFE_S
        flapper = asyncio.create_task(_flap(sim, LIFE_S, stop))
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(flapper), FLAP_S)  # the flapping period itself
        stop.set()
        cut = await flapper
        sim.faults.auth_delay_s = 0.0
        window = loop.time() - started
        attempts_seen = sim.counters["ws.connections.public"] - opened_before
        retries = [
            e.state for e in states.drain() if isinstance(e, StateChanged) and e.state.kind is LinkState.RECONNECTING
        ]
        allowed = max_attempts(BACKOFF, window) + 1
        storm = math.ceil(window / LIFE_S)

        # No storm: the exchange saw no more connections than the backoff permits.
        assert 3 <= attempts_seen <= allowed, (attempts_seen, allowed)
        # Delays grow, per attempt, within [base / 2, base], up to the cap, with jitter.
        assert [s.attempt for s in retries] == list(range(1, len(retries) + 1)), [s.attempt for s in retries]
        delays = [_delay(s) for s in retries]
        for state, delay in zip(retries, delays, strict=True):
            base = min(BACKOFF.cap_s, BACKOFF.initial_s * BACKOFF.factor ** (state.attempt - 1))
            assert base / 2 - 0.01 <= delay <= base + 0.002, (state.attempt, delay, base)
        at_cap = [
            d
            for s, d in zip(retries, delays, strict=True)
            if BACKOFF.initial_s * BACKOFF.factor ** (s.attempt - 1) >= BACKOFF.cap_s
        ]
        assert len(at_cap) >= (1 if REAL else 3), delays
        assert len(at_cap) == 1 or len({round(d, 3) for d in at_cap}) > 1, f"no jitter at the cap: {at_cap}"

        # The attempt counter starts over once the link is Ready again, however short the healthy spell.
        await until(lambda: is_ready(rt), WAIT_S, "Ready once the server stops flapping")
        await sim.faults.drop_connections("")
        await until(lambda: session.state.kind is LinkState.RECONNECTING, what="Reconnecting")
        assert session.state.attempt == 1, session.state
        await until(lambda: is_ready(rt), WAIT_S, "Ready at the end")
        print(
            f"\nflapping {window:.1f} s (connections live {LIFE_S:g} s): {attempts_seen} connection attempts "
            f"(backoff allows at most {allowed}; without backoff ~{storm}), {cut} sockets cut; delays "
            + ", ".join(f"{d:.3f}" for d in delays)
        )


def _delay(state: SessionState) -> float:
    assert state.next_retry_ms is not None
    return (state.next_retry_ms - state.since_ms) / 1000


def test_the_connection_budget_holds_a_flapping_server_back() -> None:
    """A bucket of ``burst`` connections refilled one per ``refill_s``: bursts pass, a steady storm waits."""
    backoff = Backoff(burst=3, refill_s=10.0)
    assert backoff.budget_wait([], 0.0) == 0.0
    assert backoff.budget_wait([1.0, 2.0], 3.0) == 0.0
    assert backoff.budget_wait([1.0, 2.0, 3.0], 4.0) == pytest.approx(7.0)  # 0.3 token back by 4.0
    assert backoff.budget_wait([1.0, 2.0, 3.0], 40.0) == 0.0
    assert backoff.budget_wait([20.0 * n for n in range(20)], 400.0) == 0.0  # an outage every 20 s never waits
    default, window = Backoff(), 300.0
    worst = default.burst + window / default.refill_s  # connections in 5 minutes when each is cut at Ready
    assert 2 * worst <= 500 / 4, worst


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_a_server_that_flaps_after_ready_is_held_to_the_budget() -> None:
    """The attempt counter starts over at each Ready, so only the budget stops a reconnect every half second."""
    backoff = Backoff(initial_s=0.05, factor=2.0, cap_s=1.0, burst=3, refill_s=2.0)
    window = 6.0
    async with running_session(backoff=backoff) as rt:
        sim = rt.sim
        opened_before = sim.counters["ws.connections.public"]
        cuts = 0

        async def cut_at_ready() -> None:
            nonlocal cuts
            while True:
                await until(lambda: is_ready(rt), 3600.0, "Ready")
                await sim.faults.drop_connections("")
                cuts += 1
                await until(lambda: not is_ready(rt), what="the cut seen")

        cutter = asyncio.create_task(cut_at_ready())
        await asyncio.sleep(window)
        cutter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await cutter
        opened = sim.counters["ws.connections.public"] - opened_before
        allowed = backoff.burst + window / backoff.refill_s  # the first connection took a token too
        assert cuts >= 2, cuts
        assert opened <= allowed, (opened, allowed, cuts)
        print(f"\nflapping after Ready for {window:g} s: {cuts} cuts, {opened} new connections (budget {allowed:g})")
