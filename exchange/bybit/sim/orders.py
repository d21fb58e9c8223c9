"""The demo account's orders: every order by id and ``orderLinkId``, the resting ones, and the listing rules.

Kept apart from matching so the account can read the margin resting orders hold without knowing how orders
are matched, and so ``order/realtime`` reads one plain store.
"""

from __future__ import annotations

from exchange.bybit.sim.records import MAX_EXECUTIONS, Order

MAX_ORDERS = MAX_EXECUTIONS // 2
"""Closed orders kept for ``order/realtime`` look-ups; the oldest closed ones are forgotten first."""
CLOSED_LISTED = 500


class OpenOrders:
    """Every known order (bounded), the resting ones beside the market's book, and the order sequence."""

    def __init__(self) -> None:
        self.orders: dict[str, Order] = {}
        self.by_link_id: dict[str, str] = {}
        self._resting: dict[str, Order] = {}
        self._seq = 0

    def next_seq(self) -> int:
        """The creation sequence of the next order (``order/realtime`` pages and sorts on it)."""
        self._seq += 1
        return self._seq

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

    def has_link_id(self, order_link_id: str) -> bool:
        return order_link_id in self.by_link_id

    def register(self, order: Order) -> None:
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

    def rest(self, order: Order) -> None:
        """The order now rests beside the book and waits for makers' fills."""
        self._resting[order.order_id] = order

    def unrest(self, order: Order) -> None:
        self._resting.pop(order.order_id, None)

    @property
    def any_resting(self) -> bool:
        return bool(self._resting)

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
            candidates = [o for o in self.orders.values() if not o.is_open][-CLOSED_LISTED:]
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
