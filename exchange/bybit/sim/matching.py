"""Order entry and matching for the demo account, following Bybit's order lifecycle (bybit-v5.md §7).

A new order is validated first (instrument filters, margin, duplicate ``orderLinkId``) so every refusal is a
retCode in the REST reply; an accepted order is acknowledged and then walks Bybit's push sequence:
``order`` New -> ``execution`` + ``order`` PartiallyFilled/Filled -> ``position`` + ``wallet``. The crossing
part of an order takes liquidity from the market model as a taker; the rest rests *beside* the market's book
and fills as a maker when public trades or the touch reach its price, at its own price.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING, Any

from exchange.bybit.sim.account import (
    MAX_EXECUTIONS,
    SETTLE_COIN,
    TAKER_FEE_RATE,
    ZERO,
    Rejection,
    plain,
    price_str,
    qty_str,
)
from exchange.numbers import NumberError, read_decimal

if TYPE_CHECKING:
    from exchange.bybit.sim.account import Account, Execution
    from exchange.bybit.sim.instruments import Instrument

log = logging.getLogger(__name__)

SUPPORTED_CATEGORIES = ("linear",)
OPEN_STATUSES = frozenset({"New", "PartiallyFilled", "Untriggered"})
MARKET_PROTECTION = Decimal("0.03")
"""A market order is an IOC limit at the touch +/- 3% (Bybit makes market orders protected IOC limits)."""
MAX_ORDER_LINK_ID = 36
MAX_ORDERS = MAX_EXECUTIONS // 2
"""Closed orders kept for ``order/realtime`` look-ups; the oldest closed ones are forgotten first."""
FOK_DEPTH = 1000


@dataclass
class Order:
    """One order of the demo account, with the cumulative figures Bybit reports."""

    order_id: str
    order_link_id: str
    category: str
    symbol: str
    side: str
    order_type: str
    time_in_force: str
    price: Decimal
    qty: Decimal
    reduce_only: bool
    created_ms: int
    updated_ms: int
    last_price_on_created: Decimal
    instrument: Instrument
    seq: int
    status: str = "New"
    cancel_type: str = "UNKNOWN"
    reject_reason: str = "EC_NoError"
    cum_exec_qty: Decimal = ZERO
    cum_exec_value: Decimal = ZERO
    cum_exec_fee: Decimal = ZERO
    closed_pnl: Decimal = ZERO

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def leaves_qty(self) -> Decimal:
        return self.qty - self.cum_exec_qty if self.is_open else ZERO

    @property
    def avg_price(self) -> Decimal:
        return self.cum_exec_value / self.cum_exec_qty if self.cum_exec_qty else ZERO

    def to_bybit(self) -> dict[str, Any]:
        """The order as ``order/realtime`` and the ``order`` topic show it (the union of both key sets)."""
        inst = self.instrument
        leaves = self.leaves_qty
        avg = self.avg_price
        return {
            "category": self.category,
            "orderId": self.order_id,
            "orderLinkId": self.order_link_id,
            "parentOrderLinkId": "",
            "blockTradeId": "",
            "symbol": self.symbol,
            "price": price_str(inst, self.price),
            "brokerOrderPrice": "",
            "qty": qty_str(inst, self.qty),
            "side": self.side,
            "isLeverage": "",
            "positionIdx": 0,
            "orderStatus": self.status,
            "createType": "CreateByUser",
            "cancelType": self.cancel_type,
            "rejectReason": self.reject_reason,
            "avgPrice": price_str(inst, avg) if self.cum_exec_qty else "0",
            "leavesQty": qty_str(inst, leaves),
            "leavesValue": plain(leaves * self.price),
            "cumExecQty": qty_str(inst, self.cum_exec_qty),
            "cumExecValue": plain(self.cum_exec_value),
            "cumExecFee": plain(self.cum_exec_fee),
            "closedPnl": plain(self.closed_pnl),
            "feeCurrency": SETTLE_COIN if self.cum_exec_qty else "",
            "timeInForce": self.time_in_force,
            "orderType": self.order_type,
            "stopOrderType": "UNKNOWN",
            "ocoTriggerBy": "UNKNOWN",
            "orderIv": "",
            "marketUnit": "",
            "slippageToleranceType": "UNKNOWN",
            "slippageTolerance": "0",
            "triggerPrice": "0.00",
            "takeProfit": "0.00",
            "stopLoss": "0.00",
            "tpslMode": "UNKNOWN",
            "tpLimitPrice": "0",
            "slLimitPrice": "0",
            "tpTriggerBy": "UNKNOWN",
            "slTriggerBy": "UNKNOWN",
            "triggerDirection": 0,
            "triggerBy": "UNKNOWN",
            "lastPriceOnCreated": price_str(inst, self.last_price_on_created),
            "reduceOnly": self.reduce_only,
            "closeOnTrigger": False,
            "placeType": "",
            "smpType": "None",
            "smpGroup": 0,
            "smpOrderId": "",
            "createdTime": str(self.created_ms),
            "updatedTime": str(self.updated_ms),
            "cumFeeDetail": {SETTLE_COIN: plain(self.cum_exec_fee)} if self.cum_exec_qty else {},
            "rpiTakerAccess": False,
            "rpiMatchedQty": "0",
        }


# ------------------------------------------------------------------------------------------ parameter parsing


def _text(params: dict[str, Any], name: str, *, required: bool = True) -> str:
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise Rejection(10001, f"params error: {name} is required")
        return ""
    if not isinstance(value, str):
        raise Rejection(10001, f"params error: {name} invalid")
    return value


def _decimal(params: dict[str, Any], name: str, *, required: bool = True) -> Decimal | None:
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise Rejection(10001, f"params error: {name} is required")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise Rejection(10001, f"params error: {name} invalid")
    try:  # the desk's own range: "1E+999999999" would make the grid check raise DivisionImpossible
        return read_decimal(str(value), name)
    except NumberError:
        raise Rejection(10001, f"params error: {name} invalid") from None


def _flag(params: dict[str, Any], name: str) -> bool:
    value = params.get(name, False)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if value in (0, 1):
        return bool(value)
    raise Rejection(10001, f"params error: {name} invalid")


def _on_grid(value: Decimal, step: Decimal) -> bool:
    return step > 0 and (value % step) == 0


class MatchingEngine:
    """The account's orders: validation, taking from the market, resting, maker fills, cancels, queries."""

    def __init__(self, account: Account) -> None:
        self.account = account
        self.orders: dict[str, Order] = {}
        self.by_link_id: dict[str, str] = {}
        self._resting: dict[str, Order] = {}
        self._taking = False
        self._order_seq = 0

    # -------------------------------------------------------------------------------------------- queries

    def resting_orders(self, category: str | None = None, symbol: str | None = None) -> list[Order]:
        return [
            o
            for o in self._resting.values()
            if (category is None or o.category == category) and (symbol is None or o.symbol == symbol)
        ]

    def find(self, order_id: str = "", order_link_id: str = "") -> Order | None:
        if order_id:
            order = self.orders.get(order_id)
            if order is not None and order_link_id and order.order_link_id != order_link_id:
                return None
            return order
        if order_link_id:
            found = self.by_link_id.get(order_link_id)
            return self.orders.get(found) if found else None
        return None

    def order_im(self) -> Decimal:
        """Initial margin held by resting orders."""
        return sum((o.leaves_qty * o.price / self._leverage(o) for o in self._resting.values()), ZERO)

    def _leverage(self, order: Order) -> Decimal:
        return self.account.position(order.category, order.symbol).leverage

    # ------------------------------------------------------------------------------------------- create

    def create(self, params: dict[str, Any]) -> Order:
        """Validate, acknowledge and process one ``order/create``; raises :class:`Rejection` on refusal."""
        account = self.account
        category = _text(params, "category")
        if category not in SUPPORTED_CATEGORIES:
            raise Rejection(10001, "Illegal category")
        symbol = _text(params, "symbol")
        inst = account.instrument(category, symbol)
        side = _text(params, "side")
        if side not in ("Buy", "Sell"):
            raise Rejection(10001, "params error: side invalid")
        order_type = _text(params, "orderType")
        if order_type not in ("Market", "Limit"):
            raise Rejection(10001, "params error: orderType invalid")
        qty = _decimal(params, "qty")
        assert qty is not None
        tif = _text(params, "timeInForce", required=False) or "GTC"
        if tif not in ("GTC", "IOC", "FOK", "PostOnly"):
            raise Rejection(10001, "params error: timeInForce invalid")
        if order_type == "Market":
            tif = "IOC"
        link_id = _text(params, "orderLinkId", required=False)
        if len(link_id) > MAX_ORDER_LINK_ID:
            raise Rejection(10001, "params error: orderLinkId length must be less than or equal to 36")
        position_idx = params.get("positionIdx", 0)
        if position_idx not in (0, "0", None):
            raise Rejection(10001, "position idx not match position mode")
        reduce_only = _flag(params, "reduceOnly")

        if qty <= 0 or qty < inst.min_qty:
            raise Rejection(10001, "The number of contracts exceeds minimum limit allowed")
        if qty > inst.max_qty:
            raise Rejection(10001, "The number of contracts exceeds maximum limit allowed")
        if not _on_grid(qty, inst.qty_step):
            raise Rejection(10001, "Order quantity has too many decimals.")

        best_bid, best_ask = account.market.best_bid_ask(category, symbol)
        opposite = best_ask if side == "Buy" else best_bid
        if order_type == "Limit":
            price = _decimal(params, "price")
            assert price is not None
            if price <= 0:
                raise Rejection(10001, "params error: price invalid")
            if not _on_grid(price, inst.tick_size):
                raise Rejection(10001, "Order price has too many decimals.")
        else:
            price = self._protected_price(
                inst, side, opposite if opposite is not None else account.mark(category, symbol)
            )

        if link_id and link_id in self.by_link_id:
            raise Rejection(110072, "OrderLinkedID is duplicate")

        pos = account.position(category, symbol)
        reducible = abs(pos.size) if pos.size != 0 and (pos.size > 0) != (side == "Buy") else ZERO
        if reduce_only:
            if reducible == 0:
                raise Rejection(110017, "current position is zero, cannot fix reduce-only order qty")
            qty = min(qty, reducible)
        ref_price = price if order_type == "Limit" else (opposite or price)
        if ref_price * qty < inst.min_notional and not reduce_only:
            raise Rejection(110094, f"Order does not meet minimum order value {plain(inst.min_notional)}USDT")
        opening = max(ZERO, qty - reducible)
        needed = opening * ref_price / pos.leverage + qty * ref_price * TAKER_FEE_RATE[category]
        if opening > 0 and needed > account.available_balance():
            raise Rejection(110007, "ab not enough for new order")

        now = account.clock.now_ms()
        try:
            last = account.market.last_price(category, symbol)
        except Exception:
            last = price
        self._order_seq += 1
        order = Order(
            order_id=account.new_uuid(),
            order_link_id=link_id,
            category=category,
            symbol=symbol,
            side=side,
            order_type=order_type,
            time_in_force=tif,
            price=price,
            qty=qty,
            reduce_only=reduce_only,
            created_ms=now,
            updated_ms=now,
            last_price_on_created=last,
            instrument=inst,
            seq=self._order_seq,
        )
        self._register(order)
        self._process_new(order, best_bid, best_ask)
        return order

    def _protected_price(self, inst: Instrument, side: str, reference: Decimal) -> Decimal:
        tick = inst.tick_size
        if side == "Buy":
            raw = reference * (1 + MARKET_PROTECTION)
            return (raw / tick).to_integral_value(rounding=ROUND_CEILING) * tick
        raw = reference * (1 - MARKET_PROTECTION)
        return max(tick, (raw / tick).to_integral_value(rounding=ROUND_FLOOR) * tick)

    def _register(self, order: Order) -> None:
        self.orders[order.order_id] = order
        if order.order_link_id:
            self.by_link_id[order.order_link_id] = order.order_id
        if len(self.orders) > MAX_ORDERS:
            self._forget_closed()

    def _forget_closed(self) -> None:
        excess = len(self.orders) - MAX_ORDERS
        for order_id in list(self.orders)[: max(excess, 0) + MAX_ORDERS // 10]:
            order = self.orders[order_id]
            if order.is_open:
                continue
            del self.orders[order_id]
            if order.order_link_id and self.by_link_id.get(order.order_link_id) == order_id:
                del self.by_link_id[order.order_link_id]

    def _process_new(self, order: Order, best_bid: Decimal | None, best_ask: Decimal | None) -> None:
        account = self.account
        crosses = (order.side == "Buy" and best_ask is not None and order.price >= best_ask) or (
            order.side == "Sell" and best_bid is not None and order.price <= best_bid
        )
        if order.time_in_force == "PostOnly" and crosses:
            self._close(order, "Cancelled", reject_reason="EC_PostOnlyWillTakeLiquidity")
            account.publish("order", [order.to_bybit()])
            account.publish_position(order.category, order.symbol)
            return
        if order.time_in_force == "FOK" and self._liquidity(order) < order.qty:
            self._close(order, "Cancelled", reject_reason="EC_FOKOrderCancelled")
            account.publish("order", [order.to_bybit()])
            account.publish_position(order.category, order.symbol)
            return
        account.publish("order", [order.to_bybit()])
        executions: list[Execution] = []
        if crosses and order.time_in_force != "PostOnly":
            fills = self._take(order)
            now = account.clock.now_ms()
            for price, qty in fills:
                executions.append(self._fill(order, price, qty, is_maker=False, now_ms=now))
        if order.is_open and order.time_in_force in ("IOC", "FOK"):
            reason = "EC_NoError" if order.cum_exec_qty else "EC_NoImmediateQtyToFill"
            self._close(order, "Cancelled", reject_reason=reason)
        elif order.is_open:
            self._resting[order.order_id] = order
        if executions:
            account.publish("execution", [e.to_bybit() for e in executions])
        if executions or not order.is_open:
            account.publish("order", [order.to_bybit()])
        account.publish_position(order.category, order.symbol)
        if executions:
            account.publish_wallet()

    def _liquidity(self, order: Order) -> Decimal:
        """Quantity available at or better than the order's price (for FOK)."""
        book_side = "ask" if order.side == "Buy" else "bid"
        total = ZERO
        for price, size in self.account.market.levels(order.category, order.symbol, book_side, FOK_DEPTH):
            if (order.side == "Buy" and price > order.price) or (order.side == "Sell" and price < order.price):
                break
            total += size
        return total

    def _take(self, order: Order) -> list[tuple[Decimal, Decimal]]:
        """Consume market liquidity; our own public trades must not fill our own resting orders."""
        self._taking = True
        try:
            return self.account.market.take(order.category, order.symbol, order.side, order.qty, order.price)
        finally:
            self._taking = False

    def _fill(self, order: Order, price: Decimal, qty: Decimal, *, is_maker: bool, now_ms: int) -> Execution:
        qty = min(qty, order.qty - order.cum_exec_qty)
        execution = self.account.apply_fill(order, price, qty, is_maker=is_maker, now_ms=now_ms)
        order.cum_exec_qty += qty
        order.cum_exec_value += price * qty
        order.cum_exec_fee += execution.exec_fee
        order.closed_pnl += execution.exec_pnl - execution.exec_fee if execution.closed_size else ZERO
        order.updated_ms = now_ms
        if order.cum_exec_qty >= order.qty:
            self._close(order, "Filled")
        else:
            order.status = "PartiallyFilled"
        return execution

    def _close(
        self, order: Order, status: str, *, cancel_type: str = "UNKNOWN", reject_reason: str = "EC_NoError"
    ) -> None:
        order.status = status
        order.cancel_type = cancel_type
        order.reject_reason = reject_reason
        order.updated_ms = self.account.clock.now_ms()
        self._resting.pop(order.order_id, None)

    # ------------------------------------------------------------------------------------------- cancel

    def cancel(self, params: dict[str, Any]) -> Order:
        """Cancel a resting order by ``orderId`` or ``orderLinkId``; 110001 when unknown or already closed."""
        category = _text(params, "category")
        if category not in SUPPORTED_CATEGORIES:
            raise Rejection(10001, "Illegal category")
        symbol = _text(params, "symbol")
        order_id = _text(params, "orderId", required=False)
        link_id = _text(params, "orderLinkId", required=False)
        if not order_id and not link_id:
            raise Rejection(10001, "params error: OrderId or orderLinkId is required")
        order = self.find(order_id, link_id)
        if order is None or not order.is_open or order.symbol != symbol or order.category != category:
            raise Rejection(110001, "Order does not exist")
        self._close(order, "Cancelled", cancel_type="CancelByUser")
        self.account.publish("order", [order.to_bybit()])
        self.account.publish_position(order.category, order.symbol)
        return order

    def cancel_all(self, category: str = "linear", symbol: str = "", settle_coin: str = "") -> list[Order]:
        """``order/cancel-all``: the category's resting orders, optionally of one symbol or settle coin."""
        orders = [
            o
            for o in sorted(self._resting.values(), key=lambda o: o.seq)
            if o.category == category
            and (not symbol or o.symbol == symbol)
            and (not settle_coin or o.instrument.settle_coin == settle_coin)
        ]
        for order in orders:
            self.cancel({"category": order.category, "symbol": order.symbol, "orderId": order.order_id})
        return orders

    # ------------------------------------------------------------------------------------------- makers

    def on_public_trade(
        self, category: str, symbol: str, taker_side: str, price: Decimal, qty: Decimal, ts_ms: int
    ) -> None:
        """A public trade at ``price`` fills our resting orders at or through it, as makers at their price."""
        if self._taking or not self._resting:
            return
        try:
            self._fill_resting(category, symbol, price, price, qty, ts_ms)
        except Exception:  # never let the account break the market's loop
            log.exception("maker fill failed on %s %s", category, symbol)

    def on_step(self, now_ms: int) -> None:
        """After a market step, a touch that moved through a resting price fills it (the touch was taker)."""
        if not self._resting:
            return
        try:
            for category, symbol in {(o.category, o.symbol) for o in self._resting.values()}:
                best_bid, best_ask = self.account.market.best_bid_ask(category, symbol)
                if best_ask is not None:
                    depth = self._depth_through(category, symbol, "ask", best_ask, "Buy")
                    self._fill_side(category, symbol, "Buy", best_ask, depth, now_ms)
                if best_bid is not None:
                    depth = self._depth_through(category, symbol, "bid", best_bid, "Sell")
                    self._fill_side(category, symbol, "Sell", best_bid, depth, now_ms)
        except Exception:
            log.exception("maker sweep failed")

    def _depth_through(self, category: str, symbol: str, book_side: str, best: Decimal, side: str) -> Decimal:
        orders = [o for o in self._resting.values() if o.category == category and o.symbol == symbol]
        if side == "Buy":
            limit = max((o.price for o in orders if o.side == "Buy"), default=None)
            if limit is None or limit < best:
                return ZERO
        else:
            limit = min((o.price for o in orders if o.side == "Sell"), default=None)
            if limit is None or limit > best:
                return ZERO
        total = ZERO
        for price, size in self.account.market.levels(category, symbol, book_side, FOK_DEPTH):
            if (side == "Buy" and price > limit) or (side == "Sell" and price < limit):
                break
            total += size
        return total

    def _fill_resting(
        self,
        category: str,
        symbol: str,
        buy_through: Decimal,
        sell_through: Decimal,
        qty: Decimal,
        ts_ms: int,
    ) -> None:
        self._fill_side(category, symbol, "Buy", buy_through, qty, ts_ms)
        self._fill_side(category, symbol, "Sell", sell_through, qty, ts_ms)

    def _fill_side(self, category: str, symbol: str, side: str, through: Decimal, qty: Decimal, ts_ms: int) -> None:
        """Fill resting ``side`` orders priced at or beyond ``through`` with up to ``qty``, best first."""
        if qty <= 0:
            return
        if side == "Buy":
            eligible = [o for o in self._resting.values() if o.side == "Buy" and o.price >= through]
            eligible.sort(key=lambda o: (-o.price, o.seq))
        else:
            eligible = [o for o in self._resting.values() if o.side == "Sell" and o.price <= through]
            eligible.sort(key=lambda o: (o.price, o.seq))
        account = self.account
        remaining = qty
        for order in eligible:
            if order.category != category or order.symbol != symbol:
                continue
            if remaining <= 0:
                break
            take = min(remaining, order.leaves_qty)
            if take <= 0:
                continue
            if order.reduce_only:
                pos = account.position(category, symbol)
                reducible = abs(pos.size) if pos.size != 0 and (pos.size > 0) != (order.side == "Buy") else ZERO
                if reducible <= 0:
                    self._close(order, "Cancelled", cancel_type="CancelByReduceOnly")
                    account.publish("order", [order.to_bybit()])
                    account.publish_position(category, symbol)
                    continue
                take = min(take, reducible)
            remaining -= take
            # At the time of the trade that filled it: a market step stamps all it does (book, fills, funding) with
            # one time, so a position's updatedTime never goes back within a step.
            execution = self._fill(order, order.price, take, is_maker=True, now_ms=ts_ms)
            account.publish("execution", [execution.to_bybit()])
            account.publish("order", [order.to_bybit()])
            account.publish_position(category, symbol)
            account.publish_wallet()

    # ------------------------------------------------------------------------------------------- listing

    def query(
        self,
        *,
        category: str,
        symbol: str = "",
        base_coin: str = "",
        settle_coin: str = "",
        order_id: str = "",
        order_link_id: str = "",
        open_only: int = 0,
    ) -> list[Order]:
        """Orders for ``order/realtime``, newest first.

        ``openOnly=0`` lists open orders, plus a closed one when asked for by ``orderId``/``orderLinkId``
        (how a client resolves an ambiguous submission); ``openOnly=1`` lists recently closed orders.
        """
        if order_id or order_link_id:
            found = self.find(order_id, order_link_id)
            candidates = [found] if found is not None else []
        elif open_only == 0:
            candidates = list(self._resting.values())
        else:
            candidates = [o for o in self.orders.values() if not o.is_open][-500:]
        selected = [
            o
            for o in candidates
            if o.category == category
            and (not symbol or o.symbol == symbol)
            and (not base_coin or o.instrument.base_coin == base_coin)
            and (not settle_coin or o.instrument.settle_coin == settle_coin)
            and (open_only != 1 or not o.is_open or order_id or order_link_id)
        ]
        selected.sort(key=lambda o: o.seq, reverse=True)
        return selected
