"""Fills placed straight on the local exchange, and ledgers compared with the exchange's executions."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from exchange.bybit.executions import fill_from_execution
from exchange.bybit.sim.server import SimServer
from exchange.bybit.sim.wire import execution_record
from exchange.ledger import Ledger, LedgerEntry
from tests.support.runtime import CATEGORY

ORDER_INDEPENDENT_FIELDS = (
    "position",
    "notional",
    "fees",
    "funding",
    "total_buy_qty",
    "total_sell_qty",
    "buy_notional",
    "sell_notional",
    "avg_buy_price",
    "avg_sell_price",
)
"""Ledger fields that depend only on the *set* of fills, not on the order they were applied in (average-cost
realized P&L does depend on it: a fill backfilled after a later live push is applied out of order)."""


def place_market(sim: SimServer, symbol: str, side: str, qty: str, link_id: str) -> Any:
    """A market order straight through the exchange's account API (synchronous: fills before it returns)."""
    return sim.exchange.place_order(
        {
            "category": CATEGORY,
            "symbol": symbol,
            "side": side,
            "orderType": "Market",
            "qty": qty,
            "orderLinkId": link_id,
        }
    )


def sim_exec_ids(sim: SimServer) -> set[str]:
    return {execution.exec_id for execution in sim.account.executions}


def sim_records(sim: SimServer) -> list[dict[str, Any]]:
    """The exchange's executions as Bybit records, in the order they happened."""
    return [execution_record(execution) for execution in sim.account.executions]


def ledger_from_records(records: list[dict[str, Any]]) -> Ledger:
    ledger = Ledger()
    for record in records:
        assert ledger.apply_fill(fill_from_execution(record, category=CATEGORY)) is not None
    return ledger


def ledger_figures(ledger: Ledger, fields: tuple[str, ...] = ORDER_INDEPENDENT_FIELDS) -> dict[str, dict[str, Decimal]]:
    """Per symbol, the figures that must agree between two ledgers fed the same set of fills."""
    out = {}
    for entry in ledger.entries():
        figures = {name: getattr(entry, name) for name in fields}
        if any(figures.values()):
            out[entry.symbol] = figures
    return out


def entry_sources(ledger: Ledger) -> dict[str, str]:
    return {entry.symbol: str(entry.update_source) for entry in ledger.entries()}


def no_external_legs(entries: list[LedgerEntry]) -> bool:
    return all(entry.update_source != "External_trade" for entry in entries)
