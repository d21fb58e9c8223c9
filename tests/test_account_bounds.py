"""The private account state under a hostile host: distinct open orders, position symbols and wallet coins past
what Bybit holds are rejected and counted, with one notice each, and the maps stay at their bounds."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

from exchange.account_state import OPEN_ORDERS_KEPT, POSITION_SYMBOLS_KEPT, WALLET_COINS_KEPT, AccountState
from exchange.book import OrderBook
from exchange.desk import Desk
from exchange.events import CoinBalance, Notice, OpenOrder, PositionSnapshot, WalletSnapshot
from exchange.hub import EventHub, Subscription
from tests.support.expect import all_of


def account() -> tuple[AccountState, Subscription]:
    desk = Desk(environment="SIM", category="linear", symbols=["BTCUSDT"], books={"BTCUSDT": OrderBook()})
    hub = EventHub()
    notices = hub.subscribe([Notice], name="test")
    return AccountState(desk, hub, Counter(), None, "mark", reread=lambda: None), notices


def order(n: int, status: str = "New", symbol: str = "BTCUSDT") -> OpenOrder:
    qty = Decimal(1)
    return OpenOrder(f"o{n}", "", symbol, "Buy", "Limit", Decimal(100), qty, Decimal(0), qty, status, "GTC", n)


def position(symbol: str, size: str = "1") -> PositionSnapshot:
    return PositionSnapshot(symbol, Decimal(size), Decimal(100), None, None, None, None, None, None, 1)


def test_a_hundred_thousand_distinct_open_orders_keep_the_map_at_its_bound():
    state, notices = account()
    for n in range(100_000):
        state.take_order(order(n, symbol=f"S{n % 50}"))
    assert len(state.desk.orders) == OPEN_ORDERS_KEPT and len(state._order_heard) == OPEN_ORDERS_KEPT
    assert state.counters["open_orders_over_bound"] == 100_000 - OPEN_ORDERS_KEPT
    told = [e.text for e in notices.drain() if isinstance(e, Notice)]
    assert len(told) == 1 and "open orders" in told[0]
    state.take_order(order(5, "Filled", symbol="S5"))  # an order held still moves, and a closed one leaves
    assert "o5" not in state.desk.orders and len(state.desk.orders) == OPEN_ORDERS_KEPT - 1
    state.take_order(order(200_000))  # room again: taken
    assert "o200000" in state.desk.orders


def test_closed_orders_leave_the_map_and_unknown_closed_ones_leave_no_ledger_entry():
    state, _ = account()
    for n in range(10):
        state.take_order(order(n))
    for n in range(10):
        state.take_order(order(n, "Cancelled" if n % 2 else "Filled"))
    assert state.desk.orders == {}
    for n in range(1_000):  # closed orders never held, each of a symbol never seen
        state.take_order(order(10 + n, "Rejected", symbol=f"X{n}"))
    assert state.desk.orders == {} and state.ledger.entry("X1") is None and len(state.ledger.entries()) <= 1


def test_position_symbols_past_the_bound_are_rejected_and_flat_views_make_way():
    state, notices = account()
    for n in range(POSITION_SYMBOLS_KEPT * 3):
        state.take_position(position(f"P{n}", "0" if n < 10 else "1"))  # ten flat views first
    assert len(state.desk.positions) == len(state._position_views) == POSITION_SYMBOLS_KEPT  # the flat ones went
    assert state.counters["position_symbols_over_bound"] == POSITION_SYMBOLS_KEPT * 2 - 10
    assert len([e for e in all_of(Notice, notices.drain()) if "position symbols" in e.text]) == 1


def test_a_wallet_of_thousands_of_coins_keeps_the_first_ones():
    state, notices = account()
    coins = tuple(CoinBalance(f"C{n}", Decimal(1), Decimal(1), Decimal(0)) for n in range(10_000))
    for _ in range(3):
        state.take_wallet(WalletSnapshot(Decimal(1), Decimal(1), Decimal(1), coins))
    assert state.desk.wallet is not None and len(state.desk.wallet.coins) == WALLET_COINS_KEPT
    assert state.counters["wallet_coins_over_bound"] == 3 * (10_000 - WALLET_COINS_KEPT)
    assert len([e for e in all_of(Notice, notices.drain()) if "wallet coins" in e.text]) == 1
