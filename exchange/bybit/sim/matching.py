"""Order entry and matching for the demo account, following Bybit's order lifecycle.

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
from typing import Any, Protocol

from exchange.bybit.sim.account import Account
from exchange.bybit.sim.instruments import Instrument
from exchange.bybit.sim.order_amend import read_amend
from exchange.bybit.sim.order_checks import check_price, check_qty
from exchange.bybit.sim.orders import OpenOrders
from exchange.bybit.sim.pushes import AccountPushes
from exchange.bybit.sim.records import TAKER_FEE_RATE, ZERO, Execution, Order, Rejection, contract_value
from exchange.bybit.sim.wire import plain
from exchange.numbers import NumberError, read_decimal

log = logging.getLogger(__name__)

SUPPORTED_CATEGORIES = ("linear", "inverse")
MARKET_PROTECTION = Decimal("0.03")
"""A market order is an IOC limit at the touch +/- 3% (Bybit makes market orders protected IOC limits)."""
MAX_ORDER_LINK_ID = 36
FOK_DEPTH = 1000


class TakerMarket(Protocol):
    """What matching needs from the market: the touch, depth, the last price, and taking liquidity."""

    def best_bid_ask(self, category: str, symbol: str) -> tuple[Decimal | None, Decimal | None]: ...

    def levels(self, category: str, symbol: str, side: str, n: int) -> list[tuple[Decimal, Decimal]]: ...

    def last_price(self, category: str, symbol: str) -> Decimal: ...

    def take(
        self, category: str, symbol: str, side: str, qty: Decimal, limit: Decimal | None
    ) -> list[tuple[Decimal, Decimal]]: ...


@dataclass(frozen=True)
class OrderRequest:
    """The checked fields of one ``order/create`` (price and funds are checked against the market later)."""

    category: str
    symbol: str
    instrument: Instrument
    side: str
    order_type: str
    qty: Decimal
    time_in_force: str
    order_link_id: str
    reduce_only: bool


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


def read_request(params: dict[str, Any], account: Account) -> OrderRequest:
    """The fields of ``order/create`` in Bybit's order of checks; raises :class:`Rejection` on the first bad one."""
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
    link_id = _text(params, "orderLinkId", required=False)
    if len(link_id) > MAX_ORDER_LINK_ID:
        raise Rejection(10001, "params error: orderLinkId length must be less than or equal to 36")
    if params.get("positionIdx", 0) not in (0, "0", None):
        raise Rejection(10001, "position idx not match position mode")
    reduce_only = _flag(params, "reduceOnly")
    check_qty(qty, inst)
    tif = "IOC" if order_type == "Market" else tif
    return OrderRequest(category, symbol, inst, side, order_type, qty, tif, link_id, reduce_only)


def _limit_price(params: dict[str, Any], inst: Instrument) -> Decimal:
    price = _decimal(params, "price")
    assert price is not None
    check_price(price, inst)
    return price


def _protected_price(inst: Instrument, side: str, reference: Decimal) -> Decimal:
    tick = inst.tick_size
    if side == "Buy":
        raw = reference * (1 + MARKET_PROTECTION)
        return (raw / tick).to_integral_value(rounding=ROUND_CEILING) * tick
    raw = reference * (1 - MARKET_PROTECTION)
    return max(tick, (raw / tick).to_integral_value(rounding=ROUND_FLOOR) * tick)


class MatchingEngine:
    """The account's orders against the market: validation, taking, resting, maker fills, cancels."""

    def __init__(self, account: Account, market: TakerMarket, orders: OpenOrders, pushes: AccountPushes) -> None:
        self.account = account
        self.market = market
        self.orders = orders
        self.pushes = pushes
        self._taking = False

    def resting_orders(self, category: str | None = None, symbol: str | None = None) -> list[Order]:
        return self.orders.resting_orders(category, symbol)

    def order_im(self) -> Decimal:
        """Initial margin held by resting orders."""
        return self.account.order_im()

    # ------------------------------------------------------------------------------------------- create

    def create(self, params: dict[str, Any]) -> Order:
        """Validate, acknowledge and process one ``order/create``; raises :class:`Rejection` on refusal."""
        request = read_request(params, self.account)
        best_bid, best_ask = self.market.best_bid_ask(request.category, request.symbol)
        opposite = best_ask if request.side == "Buy" else best_bid
        if request.order_type == "Limit":
            price = _limit_price(params, request.instrument)
        else:
            reference = opposite if opposite is not None else self.account.mark(request.category, request.symbol)
            price = _protected_price(request.instrument, request.side, reference)
        if request.order_link_id and self.orders.has_link_id(request.order_link_id):
            raise Rejection(110072, "OrderLinkedID is duplicate")
        ref_price = price if request.order_type == "Limit" else (opposite or price)
        qty = self._funded_qty(request, ref_price)
        order = self._new_order(request, price, qty)
        self.orders.register(order)
        self._process_new(order, best_bid, best_ask)
        return order

    def _funded_qty(self, request: OrderRequest, ref_price: Decimal) -> Decimal:
        """The quantity after reduce-only trimming, once minimum value and margin are checked."""
        inst = request.instrument
        pos = self.account.position(request.category, request.symbol)
        reducible = pos.reducible_by(request.side)
        qty = request.qty
        if request.reduce_only:
            if reducible == 0:
                raise Rejection(110017, "current position is zero, cannot fix reduce-only order qty")
            qty = min(qty, reducible)
        if ref_price * qty < inst.min_notional and not request.reduce_only:
            raise Rejection(110094, f"Order does not meet minimum order value {plain(inst.min_notional)}USDT")
        opening = max(ZERO, qty - reducible)
        category = request.category
        needed = (
            contract_value(category, opening, ref_price) / pos.leverage
            + contract_value(category, qty, ref_price) * TAKER_FEE_RATE[category]
        )
        if opening > 0 and needed > self.account.available_balance(self.account.margin_coin(inst)):
            raise Rejection(110007, "ab not enough for new order")
        return qty

    def _new_order(self, request: OrderRequest, price: Decimal, qty: Decimal) -> Order:
        now = self.account.clock.now_ms()
        try:
            last = self.market.last_price(request.category, request.symbol)
        except Exception:
            last = price
        seq = self.orders.next_seq()
        return Order(
            order_id=self.account.new_uuid(),
            order_link_id=request.order_link_id,
            category=request.category,
            symbol=request.symbol,
            side=request.side,
            order_type=request.order_type,
            time_in_force=request.time_in_force,
            price=price,
            qty=qty,
            reduce_only=request.reduce_only,
            created_ms=now,
            updated_ms=now,
            last_price_on_created=last,
            instrument=request.instrument,
            seq=seq,
        )

    def _process_new(self, order: Order, best_bid: Decimal | None, best_ask: Decimal | None) -> None:
        crosses = (order.side == "Buy" and best_ask is not None and order.price >= best_ask) or (
            order.side == "Sell" and best_bid is not None and order.price <= best_bid
        )
        if order.time_in_force == "PostOnly" and crosses:
            self._close(order, "Cancelled", reject_reason="EC_PostOnlyWillTakeLiquidity")
            self.pushes.order(order)
            self.pushes.position(order.category, order.symbol)
            return
        if order.time_in_force == "FOK" and self._liquidity(order) < order.qty:
            self._close(order, "Cancelled", reject_reason="EC_FOKOrderCancelled")
            self.pushes.order(order)
            self.pushes.position(order.category, order.symbol)
            return
        self.pushes.order(order)
        executions: list[Execution] = []
        if crosses and order.time_in_force != "PostOnly":
            fills = self._take(order)
            now = self.account.clock.now_ms()
            for price, qty in fills:
                executions.append(self._fill(order, price, qty, is_maker=False, now_ms=now))
        if order.is_open and order.time_in_force in ("IOC", "FOK"):
            reason = "EC_NoError" if order.cum_exec_qty else "EC_NoImmediateQtyToFill"
            self._close(order, "Cancelled", reject_reason=reason)
        elif order.is_open:
            self.orders.rest(order)
        if executions:
            self.pushes.executions(executions)
        if executions or not order.is_open:
            self.pushes.order(order)
        self.pushes.position(order.category, order.symbol)
        if executions:
            self.pushes.wallet()

    def _liquidity(self, order: Order) -> Decimal:
        """Quantity available at or better than the order's price (for FOK)."""
        book_side = "ask" if order.side == "Buy" else "bid"
        total = ZERO
        for price, size in self.market.levels(order.category, order.symbol, book_side, FOK_DEPTH):
            if (order.side == "Buy" and price > order.price) or (order.side == "Sell" and price < order.price):
                break
            total += size
        return total

    def _take(self, order: Order) -> list[tuple[Decimal, Decimal]]:
        """Consume market liquidity; our own public trades must not fill our own resting orders."""
        self._taking = True
        try:
            return self.market.take(order.category, order.symbol, order.side, order.qty, order.price)
        finally:
            self._taking = False

    def _fill(self, order: Order, price: Decimal, qty: Decimal, *, is_maker: bool, now_ms: int) -> Execution:
        qty = min(qty, order.qty - order.cum_exec_qty)
        execution = self.account.apply_fill(order, price, qty, is_maker=is_maker, now_ms=now_ms)
        order.cum_exec_qty += qty
        order.cum_exec_value += execution.exec_value
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
        self.orders.unrest(order)

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
        order = self.orders.find(order_id, link_id)
        if order is None or not order.is_open or order.symbol != symbol or order.category != category:
            raise Rejection(110001, "Order does not exist")
        self._close(order, "Cancelled", cancel_type="CancelByUser")
        self.pushes.order(order)
        self.pushes.position(order.category, order.symbol)
        return order

    # ------------------------------------------------------------------------------------------- amend

    def amend(self, params: dict[str, Any]) -> Order:
        """``order/amend``: a resting order's new price or quantity (:func:`read_amend` checks them). A price that
        now crosses the book trades at once as a taker, except a post-only order, which is cancelled instead
        (``EC_PostOnlyWillTakeLiquidity``, as on create)."""
        request = read_amend(params, self.orders)
        order = request.order
        self._check_amend_margin(order, request.price, request.qty)
        if request.price is not None:
            order.price = request.price
        if request.qty is not None:
            order.qty = request.qty
        order.updated_ms = self.account.clock.now_ms()
        best_bid, best_ask = self.market.best_bid_ask(order.category, order.symbol)
        crosses = (order.side == "Buy" and best_ask is not None and order.price >= best_ask) or (
            order.side == "Sell" and best_bid is not None and order.price <= best_bid
        )
        if crosses and order.time_in_force == "PostOnly":
            self._close(order, "Cancelled", reject_reason="EC_PostOnlyWillTakeLiquidity")
        elif crosses:
            self._take_resting(order)
        self.pushes.order(order)
        self.pushes.position(order.category, order.symbol)
        return order

    def _check_amend_margin(self, order: Order, price: Decimal | None, qty: Decimal | None) -> None:
        """An amend that makes a resting order hold more margin than is available is refused as on create
        (110007); one that holds less always goes."""
        if order.reduce_only:
            return
        leverage = self.account.position(order.category, order.symbol).leverage
        new_leaves = (qty if qty is not None else order.qty) - order.cum_exec_qty
        held = contract_value(order.category, order.leaves_qty, order.price) / leverage
        wanted = contract_value(order.category, new_leaves, price if price is not None else order.price) / leverage
        coin = self.account.margin_coin(order.instrument)
        if wanted > held and wanted - held > self.account.available_balance(coin):
            raise Rejection(110007, "ab not enough for new order")

    def _take_resting(self, order: Order) -> None:
        """An amended order that crosses takes liquidity for what is left of it, as a taker."""
        self._taking = True
        try:
            fills = self.market.take(order.category, order.symbol, order.side, order.leaves_qty, order.price)
        finally:
            self._taking = False
        now = self.account.clock.now_ms()
        executions = [self._fill(order, price, qty, is_maker=False, now_ms=now) for price, qty in fills]
        if executions:
            self.pushes.executions(executions)
            self.pushes.wallet()

    def cancel_all(self, category: str = "linear", symbol: str = "", settle_coin: str = "") -> list[Order]:
        """``order/cancel-all``: the category's resting orders, optionally of one symbol or settle coin."""
        orders = [
            o
            for o in sorted(self.orders.resting_orders(), key=lambda o: o.seq)
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
        if self._taking or not self.orders.any_resting:
            return
        try:
            self._fill_resting(category, symbol, price, price, qty, ts_ms)
        except Exception:  # never let the account break the market's loop
            log.exception("maker fill failed on %s %s", category, symbol)

    def on_step(self, now_ms: int) -> None:
        """After a market step, a touch that moved through a resting price fills it (the touch was taker)."""
        if not self.orders.any_resting:
            return
        try:
            for category, symbol in {(o.category, o.symbol) for o in self.orders.resting_orders()}:
                best_bid, best_ask = self.market.best_bid_ask(category, symbol)
                if best_ask is not None:
                    depth = self._depth_through(category, symbol, "ask", best_ask, "Buy")
                    self._fill_side(category, symbol, "Buy", best_ask, depth, now_ms)
                if best_bid is not None:
                    depth = self._depth_through(category, symbol, "bid", best_bid, "Sell")
                    self._fill_side(category, symbol, "Sell", best_bid, depth, now_ms)
        except Exception:
            log.exception("maker sweep failed")

    def _depth_through(self, category: str, symbol: str, book_side: str, best: Decimal, side: str) -> Decimal:
        orders = [o for o in self.orders.resting_orders() if o.category == category and o.symbol == symbol]
        if side == "Buy":
            limit = max((o.price for o in orders if o.side == "Buy"), default=None)
            if limit is None or limit < best:
                return ZERO
        else:
            limit = min((o.price for o in orders if o.side == "Sell"), default=None)
            if limit is None or limit > best:
                return ZERO
        total = ZERO
        for price, size in self.market.levels(category, symbol, book_side, FOK_DEPTH):
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
            eligible = [o for o in self.orders.resting_orders() if o.side == "Buy" and o.price >= through]
            eligible.sort(key=lambda o: (-o.price, o.seq))
        else:
            eligible = [o for o in self.orders.resting_orders() if o.side == "Sell" and o.price <= through]
            eligible.sort(key=lambda o: (o.price, o.seq))
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
                reducible = self.account.position(category, symbol).reducible_by(order.side)
                if reducible <= 0:
                    self._close(order, "Cancelled", cancel_type="CancelByReduceOnly")
                    self.pushes.order(order)
                    self.pushes.position(category, symbol)
                    continue
                take = min(take, reducible)
            remaining -= take
            # At the time of the trade that filled it: a market step stamps all it does (book, fills, funding) with
            # one time, so a position's updatedTime never goes back within a step.
            execution = self._fill(order, order.price, take, is_maker=True, now_ms=ts_ms)
            self.pushes.executions([execution])
            self.pushes.order(order)
            self.pushes.position(category, symbol)
            self.pushes.wallet()
