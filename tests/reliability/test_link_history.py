"""The link history against the local exchange: an injected outage is recorded with its cause and a duration
within 10% of the injected one, the outage clock counts the whole outage across attempts, the history survives
the process (the same store opened again), and ``fluxum history --json`` prints it."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import time
from pathlib import Path

import pytest

from app.cli import main
from app.runtime import open_history
from exchange.events import LinkState
from exchange.link_figures import outages
from tests.support.runtime import is_ready, running_session, sim_settings
from tests.support.waiting import until

pytestmark = pytest.mark.timeout(120)

OUTAGE_S = 8.0


@pytest.mark.slow
async def test_an_injected_outage_is_in_the_history_with_its_cause_and_duration(tmp_path: Path) -> None:
    async with running_session(journal_dir=tmp_path) as rt:
        desk = rt.session.desk
        assert rt.history is not None
        seen: list[tuple[int, int | None]] = []  # (attempt, outage clock start) while Reconnecting

        async def watch() -> None:
            while True:
                state = desk.state
                if state.kind is LinkState.RECONNECTING:
                    seen.append((state.attempt, desk.outage_started_ms))
                await asyncio.sleep(0.01)

        watcher = asyncio.create_task(watch())
        rt.sim.faults.rate_limit_for(OUTAGE_S)  # every reconnect is refused (10006) until it resets
        started = time.time()
        await rt.sim.faults.drop_connections()
        await until(lambda: not is_ready(rt), what="the link to be lost")
        # the second attempt's sockets open, its REST reads wait out the limit: drop them too (a second attempt)
        await until(lambda: desk.state.kind is LinkState.CONNECTED, what="the first attempt's sockets")
        await rt.sim.faults.drop_connections()
        await until(lambda: is_ready(rt), timeout=OUTAGE_S + 20, what="Ready again after the rate limit")
        injected_end = time.time()
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        assert desk.outage_started_ms is None
        attempts = {attempt for attempt, _ in seen}
        clocks = {start for _, start in seen}
        assert len(attempts) >= 2, f"expected several attempts in the outage, saw {attempts}"
        assert len(clocks) == 1 and None not in clocks  # one outage clock across every attempt
        history = rt.history
        assert history is not None
        await until(
            lambda: any(r.state == "Ready" and r.time_ms >= started * 1000 for r in history.rows()),
            what="the recovery to be committed",
        )
    history = open_history(sim_settings(), tmp_path, int(time.time() * 1000))  # a new process's view
    rows = history.rows()
    found = outages(rows, history.runs())
    history.close()
    (outage,) = found
    measured = outage.duration_ms / 1000
    print(f"\ninjected {OUTAGE_S:g} s (observed {injected_end - started:.2f} s), recorded {measured:.2f} s")
    assert outage.recovered and outage.attempts >= 2
    assert outage.start_ms == next(iter(clocks))
    assert abs(measured - OUTAGE_S) <= OUTAGE_S * 0.1
    assert outage.cause  # the session's words for the loss
    assert [r.state for r in rows if r.kind == "link"][-1] == "Disconnected"  # the stop is recorded too

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["history", "-cfg", "sim", "--journal-dir", str(tmp_path), "--json", "--since", "1h"])
    assert code == 0
    objects = [json.loads(line) for line in out.getvalue().splitlines()]
    assert objects and all({"time_ms", "reason", "duration_ms"} <= item.keys() for item in objects)
    assert all("state" in item or "kind" in item for item in objects)
    (recorded,) = [item for item in objects if item["kind"] == "outage"]
    assert recorded["duration_ms"] == outage.duration_ms and recorded["time_ms"] == outage.start_ms


@pytest.mark.slow
async def test_a_stalled_link_is_an_outage_caused_by_no_pong(tmp_path: Path) -> None:
    """A stall is found by the idle probe (no pong): one outage with that cause, from the silence (the last frame)
    to Ready on a fresh link (the silence before the detection is shorter than the 5 s staleness floor: no stale
    period)."""
    async with running_session(journal_dir=tmp_path) as rt:
        session = rt.session
        link = session._public
        assert link is not None
        frames = link.frames
        await until(lambda: link.frames > frames + 20, what="Ready for a while, with frames")
        before = session.reconnects
        rt.sim.faults.stall(30.0, "public")  # longer than any detection: only the session ends it
        await until(lambda: session.reconnects > before, what="the stalled link to be declared dead")
        await until(lambda: is_ready(rt), what="Ready on a fresh link")
        assert rt.history is not None
        history = rt.history
        await until(
            lambda: (
                len(outages(history.rows(), history.runs())) == 1
                and outages(history.rows(), history.runs())[0].recovered
            ),
            what="the recovery to be committed",
        )
        (outage,) = outages(history.rows(), history.runs())
        assert "no pong" in outage.cause and outage.cause.startswith("public"), outage.cause
        assert outage.attempts == 1
        reconnecting = [r for r in history.rows() if r.state == LinkState.RECONNECTING.value]
        assert reconnecting[0].duration_ms is not None and reconnecting[0].duration_ms > 0  # how long Ready lasted
