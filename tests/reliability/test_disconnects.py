"""A hundred forced disconnects (abrupt and with close codes, public and private) while fills flow.

After every cycle the session must be Ready again with every desired topic subscribed at the exchange and
every book SYNCED; every tenth cycle (and at the end) the market is paused and each book must equal the
exchange's, level for level. Nothing private may be sent before the auth ack. Fills are made during the churn
(the demo trader, market orders straight through the exchange while the link is down, and REST market orders
while it is up), some pushed twice or late by the exchange's faults; at the end the journal's execIds are
exactly the exchange's executions, each applied once, and the ledger agrees with one computed from the
exchange's records.

``FLUXUM_DISCONNECT_CYCLES`` sets the number of cycles (100 by default).
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import pytest

from exchange.bybit.protocol import PRIVATE_TOPICS
from exchange.bybit.rest import RestClient
from exchange.bybit.sim.demo_credentials import DEMO_API_KEY, DEMO_API_SECRET
from exchange.events import FillReceived
from exchange.secrets import Credentials, Secret
from tests.support.fills import ledger_figures, ledger_from_records, place_market, sim_exec_ids, sim_records
from tests.support.runtime import CATEGORY, books_mismatch, is_ready, quiesce, resume, running_session
from tests.support.waiting import Stopwatch, until

CYCLES = int(os.environ.get("FLUXUM_DISCONNECT_CYCLES", "100"))
KINDS = ("public", "private", "")  # "" drops both
CODES = (None, 1000, 1006, 1001, 4000, 1011, 3000)  # None and 1006: abrupt (no close frame)
ORDERS = (("BTCUSDT", "0.001"), ("ETHUSDT", "0.01"), ("SOLUSDT", "0.1"))


def subscribed_everything(rt) -> bool:
    """The exchange sees one public socket with exactly the desired topics and one private with ours."""
    desired = set(rt.session.desired_topics())
    public = [c for c in rt.sim.connections.all("public") if not c.closed and c.subscriptions == desired]
    private = [c for c in rt.sim.connections.all("private") if not c.closed and c.subscriptions == set(PRIVATE_TOPICS)]
    return len(public) == 1 and len(private) == 1


@pytest.mark.slow
async def test_hundred_forced_disconnects(tmp_path: Path) -> None:
    clock = Stopwatch()
    async with running_session(demo_trader=True, journal_dir=tmp_path) as rt:
        sim, session = rt.sim, rt.session
        fill_events = rt.hub.subscribe([FillReceived], name="test-fills")
        orders = RestClient(sim.base_url, Credentials(DEMO_API_KEY, Secret(DEMO_API_SECRET)))
        recovery: list[float] = []
        dropped_total = 0
        try:
            for cycle in range(CYCLES):
                kind, code = KINDS[cycle % len(KINDS)], CODES[cycle % len(CODES)]
                symbol, qty = ORDERS[cycle % len(ORDERS)]
                side = "Buy" if (cycle // len(ORDERS)) % 2 == 0 else "Sell"
                if cycle % 7 == 3:  # the next executions are pushed twice (same execId)
                    sim.faults.duplicate_executions += 2
                if cycle % 20 == 10:  # executions pushed late for a while: some land after the backfill
                    sim.faults.execution_delay_s = 0.15
                elif cycle % 20 == 15:
                    sim.faults.execution_delay_s = 0.0
                before = session.reconnects
                dropped = await sim.faults.drop_connections(kind, code)
                assert dropped >= 1, f"cycle {cycle}: nothing to drop"
                dropped_total += dropped
                if cycle % 2 == 0:  # a fill while the link is (probably) down: only the backfill can bring it
                    place_market(sim, symbol, side, qty, f"churn-{cycle}")
                recovery.append(
                    await until(
                        lambda: session.reconnects > before and is_ready(rt),  # noqa: B023 - awaited at once
                        what=f"Ready again after drop {cycle} ({kind or 'all'}, {code})",
                    )
                )
                assert all(book.synced for book in session.books.values())
                await until(lambda: subscribed_everything(rt), 5.0, f"every topic resubscribed (cycle {cycle})")
                assert session.private_sends_before_auth == 0
                if cycle % 2 == 1:  # a fill while the link is up, through REST like a real client
                    await orders.place_order(
                        CATEGORY, symbol, side, "Market", Decimal(qty), order_link_id=f"churn-rest-{cycle}"
                    )
                if cycle % 10 == 9:
                    await quiesce(rt)
                    resume(rt)
            sim.faults.execution_delay_s = 0.0
            await quiesce(rt)
            if sim.demo_trader is not None:
                await sim.demo_trader.stop()  # no new fills from here on
            expected = sim_exec_ids(sim)
            await until(lambda: rt.journal.exec_ids() == expected, what="the journal to hold every execution")
        finally:
            await orders.close()

        assert books_mismatch(rt) == []
        assert session.reconnects >= CYCLES
        assert session.private_sends_before_auth == 0
        assert sim.counters["ws.private.unauthorized_subscribe"] == 0, (
            "a private subscribe reached the exchange before auth"
        )
        assert sim.counters["ws.private.auth_fail"] == 0
        journal_ids = rt.journal.exec_ids()
        assert journal_ids == expected, f"lost {len(expected - journal_ids)}, unknown {len(journal_ids - expected)}"
        assert len(rt.journal) == len(sim.account.executions)
        assert session.counters["fills"] == len(expected), "every execution applied to the ledger exactly once"
        assert ledger_figures(session.ledger) == ledger_figures(ledger_from_records(sim_records(sim)))
        assert session.counters["rejected_frames"] == 0
        assert sim.counters["ws.private.duplicated_executions"] > 0, "the duplicate fault never fired"
        assert sim.counters["ws.private.delayed_executions"] > 0, "the late-execution fault never fired"
        backfilled = sum(1 for e in fill_events.drain() if isinstance(e, FillReceived) and e.backfilled)
        recovery.sort()
        print(
            f"\n{CYCLES} drops ({dropped_total} sockets) in {clock():.1f} s; {len(expected)} fills "
            f"({sum(e.exec_type == 'Funding' for e in sim.account.executions)} funding); "
            f"Ready again after median {recovery[len(recovery) // 2] * 1000:.0f} ms, "
            f"max {recovery[-1] * 1000:.0f} ms; "
            f"reconnects {session.reconnects}, resubscribes {session.counters['resubscribes']}, "
            f"fills that came by backfill {backfilled}, duplicated pushes "
            f"{sim.counters['ws.private.duplicated_executions']}, late pushes "
            f"{sim.counters['ws.private.delayed_executions']}"
        )
