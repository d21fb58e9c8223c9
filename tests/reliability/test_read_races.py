"""REST reads racing the live stream on the embedded exchange: what changes while a read is in flight.

The backfill reads positions, open orders and executions while the private stream already runs, so a push can
land before the answer of a read that was served earlier (or later) than it. None of that may invent a ledger
leg, drop an order that rests on the exchange, or realize what the exchange did not.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from exchange.events import LinkState
from tests.support.fills import place_market, sim_exec_ids
from tests.support.runtime import CATEGORY, running_session
from tests.support.waiting import until


async def test_a_position_closed_while_the_position_read_is_in_flight_gets_no_phantom_leg(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with running_session() as rt:
        session, sim, rest = rt.session, rt.sim, rt.rest
        place_market(sim, "ETHUSDT", "Buy", "0.05", "open")
        await until(lambda: rt.journal.exec_ids() == sim_exec_ids(sim), what="the opening fill journaled")

        made: dict[str, Any] = {}
        real_positions = rest.positions

        async def positions(*args: Any, **kwargs: Any) -> Any:
            """Asked; the close lands on the exchange before it serves the read (flat: no row)."""
            if "close" not in made:
                await asyncio.sleep(0.03)
                made["close"] = place_market(sim, "ETHUSDT", "Sell", "0.05", "close-in-flight")
            return await real_positions(*args, **kwargs)

        monkeypatch.setattr(rest, "positions", positions)
        await sim.faults.drop_connections("")
        await until(lambda: session.state.kind is LinkState.RECONNECTING, what="Reconnecting")
        await until(lambda: session.state.kind is LinkState.READY and "close" in made, what="Ready again")
        await until(lambda: rt.journal.exec_ids() == sim_exec_ids(sim), what="everything journaled")
        entry = session.ledger.entry("ETHUSDT")
        assert entry is not None and entry.position == sim.account.position(CATEGORY, "ETHUSDT").size == 0
        assert str(entry.update_source) != "External_trade"


async def test_an_order_placed_while_the_open_orders_answer_is_in_flight_stays_on_the_desk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with running_session() as rt:
        session, sim, rest = rt.session, rt.sim, rt.rest
        made: dict[str, Any] = {}
        real_open_orders = rest.open_orders

        async def open_orders(*args: Any, **kwargs: Any) -> Any:
            """The exchange serves the read, then the order is placed; its push overtakes the answer."""
            answer = await real_open_orders(*args, **kwargs)
            if "order" not in made:
                bid, _ = sim.market.best_bid_ask(CATEGORY, "ETHUSDT")
                assert bid is not None
                tick = sim.market.instrument(CATEGORY, "ETHUSDT").tick_size
                params = {"category": CATEGORY, "symbol": "ETHUSDT", "side": "Buy", "orderType": "Limit"}
                params |= {"qty": "0.05", "price": str((bid * Decimal("0.9")).quantize(tick))}
                made["order"] = sim.exchange.place_order(params | {"orderLinkId": "resting-during-backfill"})
                await until(lambda: made["order"].order_id in session.orders, what="the New push applied")
            return answer

        monkeypatch.setattr(rest, "open_orders", open_orders)
        await sim.faults.drop_connections("")
        await until(lambda: session.state.kind is LinkState.RECONNECTING, what="Reconnecting")
        await until(lambda: session.state.kind is LinkState.READY and "order" in made, what="Ready again")
        order = made["order"]
        assert order.is_open, "still resting on the exchange"
        assert order.order_id in session.orders, "an order resting on the exchange vanished from the desk"


async def test_a_flip_across_book_levels_realizes_what_the_exchange_realized() -> None:
    """One taker order closes a long and opens a short across several levels, all in one millisecond: the ledger
    must apply them in the exchange's (seq) order, not by execId."""
    async with running_session() as rt:
        session, sim = rt.session, rt.sim
        for attempt in range(6):
            place_market(sim, "ETHUSDT", "Buy", "2", f"open-{attempt}")
            place_market(sim, "ETHUSDT", "Sell", "6", f"flip-{attempt}")
            await until(lambda: rt.journal.exec_ids() == sim_exec_ids(sim), what="the flip journaled")
            entry = session.ledger.entry("ETHUSDT")
            realized = sum((e.exec_pnl for e in sim.account.executions), Decimal(0))
            assert entry is not None and entry.position == sim.account.position(CATEGORY, "ETHUSDT").size
            assert entry.realized_pnl == realized, f"flip {attempt}: ledger {entry.realized_pnl}, exchange {realized}"
            place_market(sim, "ETHUSDT", "Buy", "4", f"flat-{attempt}")
            await until(lambda: rt.journal.exec_ids() == sim_exec_ids(sim), what="flat again, journaled")


@pytest.mark.parametrize("lagged_reads", [1, 2], ids=["caught-up-at-the-re-read", "still-behind-at-the-re-read"])
async def test_an_execution_list_trailing_the_position_read(lagged_reads: int) -> None:
    """Bybit's execution list may not show yet a fill its position view holds. A fill made while the link was down
    is in the position read but not in the first execution read: the desk reads the list again a second later
    and books the real fill, never an invented External_trade leg for it. If the list still trails then, the
    difference is one External_trade leg: the position equals the exchange's and nothing is counted twice."""
    async with running_session() as rt:
        session, sim = rt.session, rt.sim
        await sim.faults.drop_connections("")
        await until(lambda: session.state.kind is LinkState.RECONNECTING, what="Reconnecting")
        sim.faults.lag_execution_list(lagged_reads)
        place_market(sim, "SOLUSDT", "Buy", "3", "while-away")
        await until(lambda: session.state.kind is LinkState.READY, what="Ready again")
        assert sim.counters["rest.execution_list_lagged"] == lagged_reads, "the first read(s) after the fault trailed"
        entry = session.ledger.entry("SOLUSDT")
        assert entry is not None and entry.position == sim.account.position(CATEGORY, "SOLUSDT").size == 3
        assert entry.total_buy_qty == 3  # counted once
        if lagged_reads == 1:
            assert rt.journal.exec_ids() == sim_exec_ids(sim), "the re-read found the fill"
            assert str(entry.update_source) != "External_trade"
        else:
            assert str(entry.update_source) == "External_trade"
