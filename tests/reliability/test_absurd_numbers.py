"""An execution whose numbers do not fit (``execPrice "1E+999999999"``, a 5000-digit ``execTime``, a qty of
``1e-999999``) is a counted, rejected record with a notice, on the live stream and in the REST listing alike:
the desk stays Ready, the other fills of the same push are applied, nothing bad is journaled, a restart is Ready.

The exchange itself shows the execution wrong (``faults.corrupt_executions``: pushed and listed alike), so the
re-read that a rejected push asks for finds the same bad record: it must not be counted or told twice.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

import pytest

from exchange.events import LinkState, Notice, StateChanged
from exchange.hub import EventHub
from exchange.session import Session
from tests.support.fills import place_market
from tests.support.runtime import CATEGORY, FAST_BACKOFF, running_session
from tests.support.waiting import until

ABSURD = [
    {"execPrice": "1E+999999999"},
    {"execTime": "1" * 5000},
    {"execQty": "1e-999999"},
    {"execFee": "NaN"},
]


def sweeping_qty(sim: Any, symbol: str) -> str:
    """A buy that takes the whole best ask and half of the next level: one order, several fills, one push."""
    levels = sim.market.levels(CATEGORY, symbol, "ask", 5)
    first, second = Decimal(levels[0][1]), Decimal(levels[1][1])
    return str((first + second / 2).quantize(Decimal("0.001")))


@pytest.mark.parametrize("fields", ABSURD, ids=[next(iter(f)) for f in ABSURD])
async def test_an_absurd_execution_is_rejected_alone_and_the_desk_stays_ready(tmp_path, fields):
    async with running_session(journal_dir=tmp_path) as rt:
        session, journal = rt.session, rt.journal
        assert journal is not None
        rt.sim.faults.pause_market()  # the book stays as read, so the sweep takes two levels
        notices = rt.hub.subscribe([Notice], name="test-notices")
        states = rt.hub.subscribe([StateChanged], name="test-states")
        told: list[Notice] = []

        def rejection_told() -> bool:
            told.extend(e for e in notices.drain() if isinstance(e, Notice) and "rejected" in e.text)
            return bool(told)

        rt.sim.faults.corrupt_executions(fields)
        started = time.perf_counter()
        place_market(rt.sim, "BTCUSDT", "Buy", sweeping_qty(rt.sim, "BTCUSDT"), "absurd-1")
        await until(rejection_told, what="the rejection notice")
        took_ms = 1000 * (time.perf_counter() - started)
        print(f"\n{str(fields)[:60]}: notice {took_ms:.1f} ms after the order: {told[0].text}")

        made = [e for e in rt.sim.account.executions if e.order_link_id == "absurd-1"]
        bad, good = made[0], made[1:]
        assert good, "the sweep made more than one fill"
        assert next(iter(fields)) in told[0].text and bad.exec_id in told[0].text
        await until(lambda: {e.exec_id for e in good} <= journal.exec_ids(), what="the good fills journaled")
        await until(lambda: session.account.history_complete, what="the re-read of history")
        assert bad.exec_id not in journal.exec_ids()
        entry = session.ledger.entry("BTCUSDT")
        assert entry is not None and entry.position == sum(e.exec_qty for e in good)
        assert session.counters["rejected_executions"] == 1, "the re-read lists it again: counted once"
        assert session.state.kind is LinkState.READY and session.reconnects == 0
        assert not [e for e in states.drain() if isinstance(e, StateChanged)], "no state change at all"

        await session.stop()
        await asyncio.wait_for(rt.task, 15)
        restarted = Session(rt.settings, hub=EventHub(), journal=journal, rest=rt.rest, backoff=FAST_BACKOFF)
        task = asyncio.create_task(restarted.run())
        try:
            await until(lambda: restarted.state.kind is LinkState.READY or task.done(), what="Ready after restart")
            assert restarted.state.kind is LinkState.READY
            assert bad.exec_id not in journal.exec_ids()
            assert restarted.counters["rejected_executions"] <= 1  # listed again if the backfill reaches back
        finally:
            await restarted.stop()
            await asyncio.wait_for(task, 15)
