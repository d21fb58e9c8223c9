"""A restart backfills from the journal's persisted completeness mark, not from the newest journaled fill.

The case: a session dies (SIGKILL) right after a live push was journaled but before its backfill finished; the
fills made while the link was down are older than that push. Restarting from the newest journaled execTime
would skip them; restarting from the watermark finds them.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

from exchange.hub import EventHub
from exchange.session import Session
from tests.support.expect import held
from tests.support.fills import place_market, sim_exec_ids, sim_records
from tests.support.runtime import FAST_BACKOFF, running_session
from tests.support.waiting import until


async def test_restart_backfills_fills_older_than_a_journaled_live_push(tmp_path):
    async with running_session(journal_dir=tmp_path) as rt:
        await rt.session.stop()
        await asyncio.wait_for(rt.task, 15)
        assert rt.journal is not None
        watermark = rt.journal.complete_until_ms()
        assert watermark is not None, "a finished backfill leaves a completeness mark"

        # A second after the mark, while nobody watched: the mark is the session's reading of the exchange's clock,
        # right to a millisecond or so, and a fill in the same millisecond would test nothing.
        rt.sim.faults.set_clock_offset(1_000)
        place_market(rt.sim, "BTCUSDT", "Buy", "0.010", "outage-1")
        rt.sim.faults.set_clock_offset(11_000)
        place_market(rt.sim, "BTCUSDT", "Buy", "0.020", "outage-2")
        records = sim_records(rt.sim)
        outage, late = records[-2], records[-1]
        assert int(late["execTime"]) - int(outage["execTime"]) >= 10_000
        rt.journal.record([late], received_ms=0)  # the live push journaled just before the process died
        assert rt.journal.complete_until_ms() == watermark < int(outage["execTime"])

        restarted = Session(rt.settings, hub=EventHub(), journal=rt.journal, rest=rt.rest, backoff=FAST_BACKOFF)
        task = asyncio.create_task(restarted.run())
        try:
            await until(lambda: restarted.state.kind.value == "Ready" or task.done(), what="Ready after restart")
            assert {outage["execId"], late["execId"]} <= rt.journal.exec_ids()
            # Funding may settle meanwhile (the embedded exchange settles it every minute): compare with what the
            # exchange holds now, once the live stream has delivered it.
            await until(lambda: rt.journal.exec_ids() == sim_exec_ids(rt.sim), what="journal == exchange")
            trades = [r for r in sim_records(rt.sim) if r["symbol"] == "BTCUSDT" and r["execType"] == "Trade"]
            assert held(restarted.ledger, "BTCUSDT").position == sum(
                (1 if r["side"] == "Buy" else -1) * Decimal(r["execQty"]) for r in trades
            )
        finally:
            await restarted.stop()
            await asyncio.wait_for(task, 15)
