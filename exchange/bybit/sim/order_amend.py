"""``/v5/order/amend`` read the way Bybit reads it: which order, and its new price or quantity.

Only an open (New or PartiallyFilled) order of the category and symbol can be amended; any other, or an id
nobody knows, is 110001. A price or quantity off the instrument's grid, a quantity not above what already
filled, or a request that changes nothing is 10001. What the change does to the order (it may now cross the
book) is the matching engine's (:meth:`~exchange.bybit.sim.matching.MatchingEngine.amend`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from exchange.bybit.sim.instruments import Instrument
from exchange.bybit.sim.order_checks import check_price, check_qty
from exchange.bybit.sim.orders import OpenOrders
from exchange.bybit.sim.records import Order, Rejection
from exchange.numbers import NumberError, read_decimal

__all__ = ["AmendRequest", "GONE", "UNCHANGED", "read_amend"]

SUPPORTED_CATEGORIES = ("linear", "inverse")
GONE = "order not exists or too late to replace"
"""Bybit's 110001 message for an amend of an order that is filled, cancelled or unknown."""
UNCHANGED = "The order remains unchanged as the parameters entered match the existing ones."


@dataclass(frozen=True)
class AmendRequest:
    """The order to change and its new figures (None: unchanged)."""

    order: Order
    price: Decimal | None
    qty: Decimal | None


def _text(params: dict[str, Any], name: str) -> str:
    value = params.get(name)
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise Rejection(10001, f"params error: {name} invalid")
    return value


def _number(params: dict[str, Any], name: str) -> Decimal | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise Rejection(10001, f"params error: {name} invalid")
    try:
        return read_decimal(str(value), name)
    except NumberError:
        raise Rejection(10001, f"params error: {name} invalid") from None


def _check(order: Order, price: Decimal | None, qty: Decimal | None, inst: Instrument) -> None:
    if price is not None:
        check_price(price, inst)
    if qty is not None:
        check_qty(qty, inst)
        if qty <= order.cum_exec_qty:
            raise Rejection(10001, "params error: qty must be greater than the filled qty")


def read_amend(params: dict[str, Any], orders: OpenOrders) -> AmendRequest:
    """The checked request; raises :class:`Rejection` with Bybit's code on the first bad field."""
    category = _text(params, "category")
    if not category:
        raise Rejection(10001, "params error: category is required")
    if category not in SUPPORTED_CATEGORIES:
        raise Rejection(10001, "Illegal category")
    symbol = _text(params, "symbol")
    if not symbol:
        raise Rejection(10001, "params error: symbol is required")
    order_id, link_id = _text(params, "orderId"), _text(params, "orderLinkId")
    if not order_id and not link_id:
        raise Rejection(10001, "params error: OrderId or orderLinkId is required")
    price, qty = _number(params, "price"), _number(params, "qty")
    order = orders.find(order_id, link_id)
    if order is None or not order.is_open or order.symbol != symbol or order.category != category:
        raise Rejection(110001, GONE)
    price = None if price == order.price else price
    qty = None if qty == order.qty else qty
    if price is None and qty is None:
        raise Rejection(10001, UNCHANGED)
    if price is not None and order.order_type == "Market":
        raise Rejection(10001, "params error: a market order has no price to amend")
    _check(order, price, qty, order.instrument)
    return AmendRequest(order, price, qty)
