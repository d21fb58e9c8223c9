"""The session's state sequence: a clean start, a rejected key, a server that is gone for good."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from app.runtime import open_runtime
from exchange.bybit.sim.server import SimConfig, SimServer
from exchange.config import load_settings
from exchange.events import LinkState, StateChanged
from exchange.session import Backoff, Session
from tests.support.runtime import is_ready, sim_settings
from tests.support.waiting import until


async def test_start_is_exactly_connecting_connected_ready() -> None:
    async with open_runtime(sim_settings(), demo_trader=False, faults=True) as rt:
        states = rt.hub.subscribe([StateChanged], name="test")
        task = asyncio.create_task(rt.session.run())
        await until(lambda: is_ready(rt), what="Ready")
        seen = [event for event in states.drain() if isinstance(event, StateChanged)]
        await rt.session.stop()
        await task
        kinds = [kind for i, kind in enumerate(e.state.kind for e in seen) if i == 0 or seen[i - 1].state.kind != kind]
        assert kinds == [LinkState.CONNECTING, LinkState.CONNECTED, LinkState.READY], [str(e.state) for e in seen]
        # a step that took over a second on a loaded machine is named within Connected: no transition of its own
        assert seen[1].state.reason == "sockets open"
        assert seen[0].previous.kind is LinkState.DISCONNECTED
        assert all(b.previous == a.state for a, b in zip(seen, seen[1:], strict=False)), "a transition was skipped"
        assert all(event.state.reason for event in seen), "every transition carries a reason"
        assert [e.state.since_ms for e in seen] == sorted(e.state.since_ms for e in seen)
        after = [event.state.kind for event in states.drain() if isinstance(event, StateChanged)]
        assert after == [LinkState.DISCONNECTED]
        assert rt.session.reconnects == 0


async def _run_with_key(sim: SimServer, key: str, secret: str, journal_dir: Path) -> tuple[list[StateChanged], Session]:
    settings = load_settings(environ={"BYBIT_SIM_API_KEY": key, "BYBIT_SIM_API_SECRET": secret}, base_url=sim.base_url)
    async with open_runtime(settings, journal_dir=journal_dir, backoff=Backoff(initial_s=0.05, cap_s=0.2)) as rt:
        states = rt.hub.subscribe([StateChanged], name="test")
        await asyncio.wait_for(rt.session.run(), 20.0)  # run() must END by itself: Failed stops retrying
        return [e for e in states.drain() if isinstance(e, StateChanged)], rt.session


async def test_bad_key_fails_with_reason_and_stops_retrying(tmp_path: Path) -> None:
    async with SimServer(SimConfig(demo_trader=False, faults_enabled=True)) as sim:
        sim.exchange.api_keys.add("reliability-key-01", "reliability-secret-01", note="good key, wrong secret below")
        for key, secret, expected in (
            ("no-such-key-000001", "whatever-secret", "Invalid apikey"),
            ("reliability-key-01", "not-the-right-secret", "Invalid sign"),
        ):
            before = sim.counters["ws.connections.private"]
            seen, session = await _run_with_key(sim, key, secret, tmp_path / key)
            kinds = [e.state.kind for e in seen]
            assert kinds[:2] == [LinkState.CONNECTING, LinkState.CONNECTED], [str(e.state) for e in seen]
            assert kinds[2] is LinkState.FAILED, [str(e.state) for e in seen]
            assert LinkState.RECONNECTING not in kinds and LinkState.READY not in kinds
            failed = seen[2].state
            assert "rejected" in failed.reason and expected in failed.reason, failed.reason
            assert session.state.kind is LinkState.FAILED  # stays Failed after run() ended
            assert session.reconnects == 0
            assert sim.counters["ws.connections.private"] - before == 1, "a rejected key must not be retried"
            print(f"\n{key}: {failed}")


async def test_server_gone_for_good_keeps_reconnecting_with_growing_delays() -> None:
    backoff = Backoff(initial_s=0.05, factor=2.0, cap_s=0.8)
    async with open_runtime(sim_settings(), demo_trader=False, faults=True, backoff=backoff) as rt:
        task = asyncio.create_task(rt.session.run())
        await until(lambda: is_ready(rt), what="Ready")
        states = rt.hub.subscribe([StateChanged], name="test")
        assert rt.sim is not None
        await rt.sim.stop()  # the exchange goes away and never comes back
        retries: list[StateChanged] = []

        def collect() -> bool:
            retries.extend(e for e in states.drain() if isinstance(e, StateChanged))
            return sum(e.state.kind is LinkState.RECONNECTING for e in retries) >= 8

        await until(collect, 30.0, "eight reconnect attempts")
        await rt.session.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10.0)
    waits = [e.state for e in retries if e.state.kind is LinkState.RECONNECTING]
    assert all(e.state.kind is not LinkState.FAILED for e in retries), "an absent server is never Failed"
    assert [s.attempt for s in waits] == list(range(1, len(waits) + 1)), "attempts count up and never reset"
    delays = [(s.next_retry_ms - s.since_ms) / 1000 for s in waits]  # type: ignore[operator]
    for attempt, delay in enumerate(delays, start=1):
        base = min(backoff.cap_s, backoff.initial_s * backoff.factor ** (attempt - 1))
        assert base / 2 - 0.01 <= delay <= base + 0.002, (attempt, delay, base)  # since_ms is stamped later
    assert delays[-1] > delays[0] * 4, delays  # grew (at least 0.4 s at the cap vs at most 0.05 s at first)
    assert all("cannot connect" in s.reason for s in waits[1:]), [s.reason for s in waits]
    print("\nserver gone: delays (s) " + ", ".join(f"{d:.3f}" for d in delays))
