"""A desk on a relay is recorded like any other: what its session received from the relay (the subscribe acks,
each topic's snapshot and deltas) and from its own private link and REST, replayed headless through the same
session, ends as the live desk ended (books, ledger, states, fills), a relay restart included."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from app.runtime import Runtime, open_runtime
from exchange.recording.writer import RecordingPlan, SessionRecorder
from tests.support.fills import place_market
from tests.support.relay import floor, running_relay
from tests.support.replay_recording import QUICK, assert_as_live, ready_again, recorded_run, replayed
from tests.support.runtime import FAST_BACKOFF
from tests.support.waiting import until


@pytest.mark.slow
async def test_a_desk_on_a_relay_replays_as_it_ran_live(tmp_path: Path) -> None:
    path = tmp_path / "relayed.jsonl.zst"
    recorder = SessionRecorder(RecordingPlan(path))
    recorder.open()
    async with floor(tmp_path) as f:

        async def scenario(rt: Runtime) -> None:
            place_market(f.sim, "BTCUSDT", "Buy", "0.01", "relayed-fill")
            await asyncio.sleep(1.0)
            before = rt.session.reconnects
            await f.relay.kill()
            await until(lambda: "no heartbeat" in rt.session.state.reason, what="an opening refused: no relay")
            async with running_relay(f.relay_settings(), f.nats.url):
                await ready_again(rt, before)
                place_market(f.sim, "ETHUSDT", "Sell", "0.1", "relayed-fill-2")
                await asyncio.sleep(1.0)

        async with open_runtime(
            f.desk_settings(), backoff=FAST_BACKOFF, timeouts=QUICK, recorder=recorder, feed=f.nats.url
        ) as rt:
            live, live_fills = await recorded_run(rt, scenario)
    reasons = [s["reason"] for s in live["states"]]
    assert len(live_fills) >= 2 and any("relay down: silent" in r for r in reasons), reasons
    assert any("relay down: no heartbeat" in r for r in reasons), reasons
    assert_as_live(replayed(path), live, live_fills)
