"""Bybit's official SDK (pybit 5.17.0) against the local exchange, unchanged except for its URLs.

pybit is synchronous and runs its WebSockets in threads, so the exchange runs in its own thread with its own
event loop (tests/support/pybit_thread.py), and the tests wait on ``threading.Event``s with deadlines. Only
module attributes and instance attributes are overridden (the REST endpoint, the WebSocket URL templates);
pybit's files are never touched.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from pybit import unified_trading
from pybit.exceptions import InvalidRequestError

from exchange.bybit.sim.demo_credentials import DEMO_API_KEY, DEMO_API_SECRET
from exchange.bybit.sim.server import SimConfig
from tests.support.pybit_thread import (
    DEADLINE_S,
    ExchangeThread,
    Inbox,
    eventually,
    http,
    tolerate_fast_acks,
    wait_subscribed,
)


@pytest.fixture(scope="module")
def exchange() -> Iterator[ExchangeThread]:
    config = SimConfig(seed=41, demo_trader=False, market_interval_s=0.02)
    with ExchangeThread(config) as running:
        yield running


# ---------------------------------------------------------------------------------------------------- HTTP


def test_http_server_time_and_order_book(exchange: ExchangeThread) -> None:
    session = http(exchange)
    now = exchange.sim.clock.now_ms()
    server_time = session.get_server_time()
    assert server_time["retCode"] == 0
    assert abs(int(server_time["result"]["timeSecond"]) - now // 1000) <= 5
    book = session.get_orderbook(category="linear", symbol="BTCUSDT", limit=50)
    result = book["result"]
    assert result["s"] == "BTCUSDT" and len(result["b"]) == 50 and len(result["a"]) == 50
    assert float(result["b"][0][0]) < float(result["a"][0][0])


def test_http_place_and_cancel_with_the_demo_key(exchange: ExchangeThread) -> None:
    session = http(exchange)
    bid, _ = exchange.run(exchange.sim.market.best_bid_ask, "linear", "BTCUSDT")
    assert bid is not None
    price = f"{bid * 9 / 10:.1f}"
    placed = session.place_order(
        category="linear",
        symbol="BTCUSDT",
        side="Buy",
        orderType="Limit",
        qty="0.001",
        price=price,
        orderLinkId="pybit-1",
    )
    assert placed["retCode"] == 0 and placed["result"]["orderLinkId"] == "pybit-1"
    order_id = placed["result"]["orderId"]
    open_orders = session.get_open_orders(category="linear", symbol="BTCUSDT")
    assert order_id in [o["orderId"] for o in open_orders["result"]["list"]]
    cancelled = session.cancel_order(category="linear", symbol="BTCUSDT", orderId=order_id)
    assert cancelled["result"] == {"orderId": order_id, "orderLinkId": "pybit-1"}
    with pytest.raises(InvalidRequestError) as gone:
        session.cancel_order(category="linear", symbol="BTCUSDT", orderId=order_id)
    assert gone.value.status_code == 110001
    wallet = session.get_wallet_balance(accountType="UNIFIED")
    assert wallet["result"]["list"][0]["accountType"] == "UNIFIED"
    positions = session.get_positions(category="linear", symbol="BTCUSDT")
    assert positions["result"]["list"][0]["symbol"] == "BTCUSDT"
    executions = session.get_executions(category="linear", limit=5)
    assert executions["retCode"] == 0


def test_http_wrong_secret_is_10004(exchange: ExchangeThread) -> None:
    session = http(exchange, secret="not-the-demo-secret")
    with pytest.raises(InvalidRequestError) as refused:
        session.get_wallet_balance(accountType="UNIFIED")
    assert refused.value.status_code == 10004
    assert "error sign!" in refused.value.message and DEMO_API_SECRET not in str(refused.value)


# ------------------------------------------------------------------------------------------------ WebSocket


def test_ws_orderbook_50_snapshot_then_deltas(exchange: ExchangeThread, ws_urls: None) -> None:
    raw = Inbox()
    books = Inbox()
    ws = unified_trading.WebSocket(testnet=False, channel_type="linear")
    original = ws.callback

    def record_raw(message: dict[str, Any]) -> None:  # pybit relabels deltas as snapshots: keep the wire type
        if str(message.get("topic", "")).startswith("orderbook."):
            raw({"type": message["type"], "u": message["data"]["u"]})
        original(message)

    ws.callback = record_raw
    tolerate_fast_acks(ws)
    try:
        ws.orderbook_stream(depth=50, symbol="BTCUSDT", callback=books)
        seen = raw.wait(lambda items: sum(1 for m in items if m["type"] == "delta") >= 5)
        assert seen[0]["type"] == "snapshot"
        us = [m["u"] for m in seen]
        assert us == list(range(us[0], us[0] + len(us)))  # u advances by exactly one per delta
        latest = books.wait(lambda items: len(items) >= len(seen))[-1]["data"]
        assert latest["s"] == "BTCUSDT" and len(latest["b"]) == 50 and len(latest["a"]) == 50
    finally:
        ws.exit()


def test_ws_private_auth_and_execution_after_a_fill(exchange: ExchangeThread, ws_urls: None) -> None:
    executions = Inbox()
    ws = unified_trading.WebSocket(
        testnet=False,
        channel_type="private",
        api_key=DEMO_API_KEY,
        api_secret=DEMO_API_SECRET,
        private_auth_expire=10,
    )
    tolerate_fast_acks(ws)
    try:
        ws.execution_stream(callback=executions)
        session = http(exchange)
        # the subscription is acknowledged asynchronously; poll the exchange's view with a deadline
        wait_subscribed(exchange, "execution")
        eventually(lambda: ws.auth is True, "pybit's auth flag")  # set by pybit's thread on the ack
        placed = session.place_order(
            category="linear",
            symbol="BTCUSDT",
            side="Buy",
            orderType="Market",
            qty="0.002",
            orderLinkId="pybit-x",
        )
        assert placed["retCode"] == 0
        got = executions.wait(lambda items: any(r["orderLinkId"] == "pybit-x" for m in items for r in m["data"]))
        message = next(m for m in got if any(r["orderLinkId"] == "pybit-x" for r in m["data"]))
        assert message["topic"] == "execution" and "ts" not in message and "type" not in message
        assert message["data"][0]["execType"] == "Trade" and message["data"][0]["side"] == "Buy"
        session.place_order(
            category="linear", symbol="BTCUSDT", side="Sell", orderType="Market", qty="0.002", reduceOnly=True
        )
    finally:
        ws.exit()


def test_ws_private_wrong_secret_is_refused(exchange: ExchangeThread, ws_urls: None, caplog: Any) -> None:
    replies = Inbox()
    holder: dict[str, Any] = {}
    ready = threading.Event()

    def callback(message: dict[str, Any]) -> None:
        replies(message)
        ready.wait(DEADLINE_S)
        holder["ws"]._handle_incoming_message(message)  # pybit's own handling: raises on a failed auth

    caplog.set_level(logging.CRITICAL)
    before = exchange.sim.counters["ws.private.auth_fail"]
    ws = unified_trading.WebSocket(
        testnet=False,
        channel_type="private",
        api_key=DEMO_API_KEY,
        api_secret="wrong",
        callback_function=callback,
        restart_on_error=False,
        private_auth_expire=10,
    )
    holder["ws"] = ws
    ready.set()
    try:
        got = replies.wait(lambda items: any(m.get("op") == "auth" for m in items))
        auth_reply = next(m for m in got if m.get("op") == "auth")
        assert auth_reply["success"] is False and auth_reply["ret_msg"] == "Invalid sign"
        assert ws.auth is False
        assert exchange.sim.counters["ws.private.auth_fail"] == before + 1
    finally:
        ws.exit()
