"""Fills that race the recovery: one made during a long outage, one pushed live while the backfill runs.

Recovery subscribes the private stream before the REST backfill, so live pushes can land in the journal while
the backfill is still reading. The backfill must still start from what was journaled *before* the outage (else
a fill made more than the one-second overlap earlier is never fetched), and a position read before a live fill
must not be "reconciled" with an invented External_trade leg for the fill it could not contain yet.
"""

from __future__ import annotations

from typing import Any

import pytest

from exchange.bybit.errors import ServerUnavailable
from exchange.events import FillReceived, LinkState
from exchange.session import Backoff
from tests.support.fills import ledger_figures, ledger_from_records, place_market, sim_exec_ids, sim_records
from tests.support.runtime import CATEGORY, running_session
from tests.support.waiting import until

SLOW = Backoff(initial_s=3.0, factor=2.0, cap_s=3.0)  # every retry waits 1.5-3 s


@pytest.mark.parametrize("backfill_fails_once", [False, True], ids=["backfill-ok", "backfill-fails-once"])
async def test_fills_racing_the_backfill_are_neither_lost_nor_invented(
    backfill_fails_once: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``backfill_fails_once`` the first backfill dies right after the live push was journaled (a REST
    outage), so the next connection must still start from before the outage, not from the live fill."""
    async with running_session(backoff=SLOW) as rt:
        session, sim, rest = rt.session, rt.sim, rt.rest
        fills = rt.hub.subscribe([FillReceived], name="test")
        place_market(sim, "ETHUSDT", "Buy", "0.05", "before")  # a position both sides agree on
        await until(lambda: rt.journal.exec_ids() == sim_exec_ids(sim), what="the first fill journaled")

        made: dict[str, Any] = {}
        real_open_orders = rest.open_orders

        async def open_orders(*args: Any, **kwargs: Any) -> Any:
            """Between the backfill's position read and its execution read, a fill arrives live."""
            if "live" not in made:
                live = made["live"] = place_market(sim, "ETHUSDT", "Buy", "0.02", "during-backfill")
                # The live order's own executions: the exchange may also have settled funding during the outage
                # (every simulated 8 h is a minute here), and those come from the backfill, never live.
                live_ids = {e.exec_id for e in sim.account.executions if e.order_id == live.order_id}
                try:
                    await until(lambda: live_ids <= rt.journal.exec_ids(), what="the live push journaled")
                except AssertionError as failure:  # the session would take it for a failed recovery and retry
                    made["failure"] = failure
                    raise
                if backfill_fails_once:
                    raise ServerUnavailable(None, "injected outage", 503, path="/v5/order/realtime")
            return await real_open_orders(*args, **kwargs)

        monkeypatch.setattr(rest, "open_orders", open_orders)
        await sim.faults.drop_connections("")
        await until(lambda: session.state.kind is LinkState.RECONNECTING, what="Reconnecting")
        place_market(sim, "BTCUSDT", "Sell", "0.002", "during-outage")  # >= 1.5 s before the live fill
        settled = sim.exchange.funding.settle(sim.clock.now_ms())  # funding on both positions, made while away
        assert len(settled) == 2, settled
        await until(lambda: "failure" in made or (session.state.kind is LinkState.READY and "live" in made))
        assert "failure" not in made, made["failure"]
        assert session.reconnects == (2 if backfill_fails_once else 1), session.last_reconnect_reason

        expected = sim_exec_ids(sim)
        assert rt.journal.exec_ids() == expected, f"lost: {expected - rt.journal.exec_ids()}"
        for symbol in ("BTCUSDT", "ETHUSDT"):
            entry = session.ledger.entry(symbol)
            held = entry.position if entry is not None else 0
            assert held == sim.account.position(CATEGORY, symbol).size, (symbol, held)
        sources = [str(e.update_source) for e in session.ledger.entries()]
        assert "External_trade" not in sources, "a position read before a live fill was 'reconciled'"
        assert ledger_figures(session.ledger) == ledger_figures(ledger_from_records(sim_records(sim)))
        backfilled = [e.fill for e in fills.drain() if isinstance(e, FillReceived) and e.backfilled]
        assert "during-outage" in [fill.order_link_id for fill in backfilled]
        assert {e.exec_id for e in settled} <= {fill.exec_id for fill in backfilled}, "funding made while away"
