"""Fills built by hand for a ledger, ledger entries compared by their money alone, and the events hypothesis feeds
a ledger."""

from __future__ import annotations

import itertools
from dataclasses import replace
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from exchange.ledger import ContractKind, Fill, Ledger, LedgerEntry

_ids = itertools.count(1)


def fill(
    side: str,
    qty: str | int | Decimal,
    price: str | Decimal,
    fee: str | Decimal = "0",
    *,
    symbol: str = "BTCUSDT",
    exec_type: str = "Trade",
    time_ms: int | None = None,
    exec_id: str | None = None,
    contract: ContractKind = ContractKind.LINEAR,
    settle_coin: str = "",
) -> Fill:
    """A fill with a fresh id and a fresh millisecond (both counted up across the suite) unless given."""
    number = next(_ids)
    return Fill(
        exec_id=exec_id or f"x{number}",
        symbol=symbol,
        side=side,
        qty=Decimal(qty),
        price=Decimal(price),
        fee=Decimal(fee),
        time_ms=time_ms if time_ms is not None else 1_700_000_000_000 + number,
        exec_type=exec_type,
        contract=contract,
        settle_coin=settle_coin,
    )


def apply(ledger: Ledger, item: Fill) -> LedgerEntry:
    """Apply a fill the ledger must take; its entry."""
    entry = ledger.apply_fill(item)
    assert entry is not None
    return entry


def money_of(entry: LedgerEntry) -> LedgerEntry:
    """``entry`` without what describes the last event applied (its time, source and leg): that is about arrival,
    so two ledgers fed the same fills in another order differ there and nowhere else."""
    arrival: dict[str, Any] = {"update_source": None}  # blanked on both sides of a comparison, never a real source
    return replace(entry, package_price=None, update_time=0, price=None, side=None, qty=None, **arrival)


def ledger_events(
    quantities: st.SearchStrategy[Decimal], prices: st.SearchStrategy[Decimal], fees: st.SearchStrategy[Decimal]
) -> st.SearchStrategy[list[tuple[Any, ...]]]:
    """Up to 40 events for one symbol's ledger: ``("fill", side, qty, price, fee)``, ``("funding", fee)`` and
    ``("mark", price)``, drawn from the contract's own quantities, prices and fees."""
    return st.lists(
        st.one_of(
            st.tuples(st.just("fill"), st.sampled_from(["Buy", "Sell"]), quantities, prices, fees),
            st.tuples(st.just("funding"), fees),
            st.tuples(st.just("mark"), prices),
        ),
        min_size=1,
        max_size=40,
    )
