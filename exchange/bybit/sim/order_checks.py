"""Bybit's checks of an order's price and quantity against its instrument, with Bybit's codes and words: an order
created and an order amended are held to the same grid and limits."""

from __future__ import annotations

from decimal import Decimal

from exchange.bybit.sim.instruments import Instrument
from exchange.bybit.sim.records import Rejection

__all__ = ["check_price", "check_qty"]


def _on_grid(value: Decimal, step: Decimal) -> bool:
    return step > 0 and value % step == 0


def check_price(price: Decimal, inst: Instrument) -> None:
    """A positive price on the instrument's tick; :class:`Rejection` 10001 otherwise."""
    if price <= 0:
        raise Rejection(10001, "params error: price invalid")
    if not _on_grid(price, inst.tick_size):
        raise Rejection(10001, "Order price has too many decimals.")


def check_qty(qty: Decimal, inst: Instrument) -> None:
    """A quantity within the instrument's minimum and maximum, on its lot step; :class:`Rejection` 10001
    otherwise."""
    if qty <= 0 or qty < inst.min_qty:
        raise Rejection(10001, "The number of contracts exceeds minimum limit allowed")
    if qty > inst.max_qty:
        raise Rejection(10001, "The number of contracts exceeds maximum limit allowed")
    if not _on_grid(qty, inst.qty_step):
        raise Rejection(10001, "Order quantity has too many decimals.")
