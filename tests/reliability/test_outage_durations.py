"""Each fault kind against the local exchange leaves one outage in the link history, with its cause, starting at
the first loss and ending at Ready again, so its duration is the one the desk lived through.

Where the exchange itself decides how long the fault lasts (a 10006 until its reset, a slow auth, connections
refused while it is down), the recorded duration is within 10% of the injected one; an IP ban (403) lasts as
long as the client's cool-downs, which the history records as they were. The exchange's stall fault silences only the
sockets open when it starts: a new connection is served at once, so the desk is blind from the stall's start to
its reconnect (the idle probe's verdict, ~5 s), not for the whole stall; that blind span is what the history must
hold, from the last frame received, not from the verdict. The reconnect delays are the suite's short ones
(``FAST_BACKOFF``), so the outage is the fault's length, not a backoff step's.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from app.runtime import Runtime
from exchange.bybit.sim.server import SimConfig, SimServer
from exchange.config import load_settings
from exchange.link_figures import Outage, outages
from tests.support.gate import Gate
from tests.support.runtime import is_ready, running_session
from tests.support.waiting import until

pytestmark = pytest.mark.timeout(120)

FAULT_S = 6.0
STALL_S = 10.0


async def _outage(rt: Runtime, inject: Callable[[], Awaitable[None]]) -> tuple[Outage, float, float]:
    """Inject a fault on a Ready desk; return the outage the history recorded, when the fault went in and when
    the desk was Ready again (epoch s)."""
    history = rt.history
    assert history is not None
    session = rt.session
    known = len(outages(history.rows(), history.runs()))
    before = session.reconnects
    started = time.time()
    await inject()
    await until(lambda: session.reconnects > before and is_ready(rt), 60.0, "Ready after the fault")
    ready = time.time()

    def recorded() -> list[Outage]:
        found = outages(history.rows(), history.runs())
        return found[known:] if len(found) > known and found[-1].recovered else []

    await until(lambda: bool(recorded()), what="the outage committed to the history")
    (outage,) = recorded()
    print(
        f"\ninjected at 0, Ready at {ready - started:.2f} s; recorded {outage.start_ms / 1000 - started:+.2f} s "
        f"for {outage.duration_ms / 1000:.2f} s, {outage.attempts} attempts, cause {outage.cause!r}"
    )
    return outage, started, ready


def _close(measured_s: float, expected_s: float) -> bool:
    return abs(measured_s - expected_s) <= 0.1 * expected_s


@contextlib.asynccontextmanager
async def gated_session(journal_dir: Path) -> AsyncIterator[tuple[Runtime, Gate]]:
    """A session on the local exchange through a :class:`Gate` (the network between them)."""
    async with SimServer(SimConfig(seed=1, faults_enabled=True, demo_trader=False)) as sim:
        gate = Gate(sim.port)
        await gate.up()
        try:
            settings = load_settings(cfg="sim", base_url=gate.base_url, environ={})
            async with running_session(settings, journal_dir=journal_dir, exchange=sim) as rt:
                yield rt, gate
        finally:
            await gate.close()


@pytest.mark.slow
async def test_an_exchange_away_is_one_outage_as_long_as_it_is_away(tmp_path: Path) -> None:
    """The exchange off the network for FAULT_S (connections cut, connects refused), then back."""
    async with gated_session(tmp_path) as (rt, gate):

        async def away() -> None:
            await gate.down()
            await asyncio.sleep(FAULT_S)
            await gate.up()

        outage, _, _ = await _outage(rt, away)
        assert outage.attempts >= 2, "the refused attempts are in the one outage"
        assert "closed" in outage.cause or "reset" in outage.cause, outage.cause
        assert _close(outage.duration_ms / 1000, FAULT_S), outage.duration_ms


@pytest.mark.slow
async def test_a_stalled_network_is_an_outage_from_the_last_frame_to_ready(tmp_path: Path) -> None:
    """Every path silent for STALL_S, new connections included (as through a dead route): found by the idle
    probe after ~5 s, recorded from the silence, Ready again when the path is."""
    async with gated_session(tmp_path) as (rt, gate):

        async def hold() -> None:
            await gate.hold(STALL_S)

        outage, _, _ = await _outage(rt, hold)
        assert "no pong" in outage.cause, outage.cause
        assert _close(outage.duration_ms / 1000, STALL_S), outage.duration_ms


@pytest.mark.slow
async def test_a_stall_is_an_outage_from_the_last_frame_to_ready(tmp_path: Path) -> None:
    async with running_session(journal_dir=tmp_path) as rt:
        link = rt.session._public
        assert link is not None
        frames = link.frames
        await until(lambda: link.frames > frames + 20, what="a busy public stream")

        async def stall() -> None:
            rt.sim.faults.stall(STALL_S, "")

        outage, started, ready = await _outage(rt, stall)
        blind = ready - started
        assert "no pong" in outage.cause, outage.cause
        assert abs(outage.start_ms / 1000 - started) <= 0.1 * blind, "the outage starts at the silence"
        assert _close(outage.duration_ms / 1000, blind), (outage.duration_ms, blind)


@pytest.mark.slow
async def test_an_ip_ban_is_one_outage_over_its_cool_downs(tmp_path: Path) -> None:
    """Every request answered HTTP 403 for FAULT_S, the sockets dropped: one outage over every refused attempt,
    caused by the drop. The client cannot know when a ban ends and must not knock during its cool-down (3 s, then
    doubling), so the desk may be down up to one cool-down step past the ban: the history holds what the desk
    lived through, from the drop to Ready."""
    async with running_session(journal_dir=tmp_path) as rt:

        async def refuse() -> None:
            rt.sim.faults.forbid_for(FAULT_S)
            await rt.sim.faults.drop_connections("", None)

        outage, started, ready = await _outage(rt, refuse)
        assert outage.attempts >= 2, "the refused attempts are in the one outage"
        assert "closed" in outage.cause, outage.cause
        assert abs(outage.start_ms / 1000 - started) <= 0.1 * FAULT_S
        assert _close(outage.duration_ms / 1000, ready - started), (outage.duration_ms, ready - started)
        assert outage.duration_ms / 1000 >= FAULT_S * 0.9


@pytest.mark.slow
async def test_a_rate_limit_is_one_outage_until_its_reset(tmp_path: Path) -> None:
    async with running_session(journal_dir=tmp_path) as rt:

        async def limit() -> None:
            rt.sim.faults.rate_limit_for(FAULT_S)
            await rt.sim.faults.drop_connections("", None)

        outage, _, _ = await _outage(rt, limit)
        assert "closed" in outage.cause, outage.cause
        assert _close(outage.duration_ms / 1000, FAULT_S), outage.duration_ms


@pytest.mark.slow
async def test_a_slow_auth_after_a_drop_is_one_outage_as_long_as_the_auth(tmp_path: Path) -> None:
    async with running_session(journal_dir=tmp_path) as rt:
        rt.sim.faults.auth_delay_s = FAULT_S

        async def drop_private() -> None:
            await rt.sim.faults.drop_connections("private", None)

        outage, _, _ = await _outage(rt, drop_private)
        assert outage.cause.startswith("private") and "closed" in outage.cause, outage.cause
        assert _close(outage.duration_ms / 1000, FAULT_S), outage.duration_ms


async def test_a_dropped_socket_is_an_outage_from_the_drop_to_ready(tmp_path: Path) -> None:
    """A drop alone is healed in one quick reconnect: the outage is that span, no longer and no shorter."""
    async with running_session(journal_dir=tmp_path) as rt:

        async def drop() -> None:
            await rt.sim.faults.drop_connections("", 1006)

        outage, started, ready = await _outage(rt, drop)
        assert "closed" in outage.cause, outage.cause
        assert outage.attempts == 1
        assert started * 1000 - 1 <= outage.start_ms <= outage.start_ms + outage.duration_ms <= ready * 1000 + 1
