"""The open orders a host may make the desk keep: a fixed number, each with short fields.

A hostile host can push a stream of orders with fresh ids that never close, or with megabytes in a status: the
desk would keep every one (and sum them all again on each push: 14,000 such orders took 79 s of the event loop).
So the desk keeps at most :data:`~exchange.account_state.OPEN_ORDERS_KEPT` (the flood itself is in
``tests/test_account_bounds.py``), and a record whose text fields are not Bybit's short words is rejected.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from exchange.account_state import OPEN_ORDERS_KEPT, AccountState
from exchange.book import OrderBook
from exchange.desk import Desk
from exchange.events import Notice
from exchange.hub import EventHub


def _account() -> tuple[AccountState, Any]:
    desk = Desk(environment="SIM", category="linear", symbols=["BTCUSDT"], books={"BTCUSDT": OrderBook()})
    hub = EventHub()
    notices = hub.subscribe([Notice], name="test")
    return AccountState(desk, hub, Counter(), None, "mark", reread=lambda: None), notices


def _order(order_id: str, **fields: str) -> dict[str, Any]:
    record = {
        "orderId": order_id,
        "orderLinkId": "",
        "symbol": "BTCUSDT",
        "side": "Buy",
        "orderType": "Limit",
        "price": "100",
        "qty": "1",
        "cumExecQty": "0",
        "leavesQty": "1",
        "orderStatus": "New",
        "timeInForce": "GTC",
        "updatedTime": "1700000000000",
        "category": "linear",
    }
    record.update(fields)
    return record


def _texts(subscription: Any) -> list[str]:
    texts = []
    while (event := subscription.get_nowait()) is not None:
        texts.append(event.text)
    return texts


def test_a_kept_order_still_updates_and_closes_at_the_bound() -> None:
    account, _ = _account()
    account.take("order", {"data": [_order(f"o{j}") for j in range(OPEN_ORDERS_KEPT)]}, 1)
    account.take("order", {"data": [_order("o0", orderStatus="Cancelled", updatedTime="1700000000001")]}, 1)
    assert "o0" not in account.desk.orders
    account.take("order", {"data": [_order("fresh")]}, 1)  # room again
    assert "fresh" in account.desk.orders and account.counters["open_orders_over_bound"] == 0


def test_an_order_with_megabytes_in_a_text_field_is_rejected() -> None:
    for field in ("orderStatus", "orderType", "side", "timeInForce"):
        account, _ = _account()
        account.take("order", {"data": [_order("o1", **{field: "New" + "x" * 10_000_000})]}, 1)
        assert account.desk.orders == {} and account.counters["rejected_frames"] == 1, field
