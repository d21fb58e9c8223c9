"""ccxt's Python order book, fed by ccxt.pro's own bybit message handler.

Per message this calls ``ccxt.pro.bybit.handle_message(client, message)``, the entry point ccxt's websocket
client hands every parsed frame to: error/pong/subscription checks, the topic dispatch table, then
``handle_order_book``: ``safe_market`` (one loaded linear market, as after ``load_markets``), ``iso8601`` of
``ts``, for a snapshot ``parse_order_book`` + ``OrderBook.reset``, for a delta ``handle_deltas`` ->
``parse_order_book_bid_ask`` (``safe_float`` of both strings) -> ``OrderBookSide.storeArray`` (bisect on a
parallel key list), then ``client.resolve`` (no watcher is awaiting, so no future wakes up). The client is
ccxt's real ``Client`` object, never connected. The user's read is ``orderbook['bids'][:25]``.
"""

from __future__ import annotations

import asyncio

import ccxt.pro as ccxtpro
from ccxt.async_support.base.ws.client import Client

from bench.peers import TOP, Adapter

URL = "wss://stream.bybit.com/v5/public/{category}"  # ccxt tells spot from contract frames by the URL


def _market(symbol: str, category: str) -> dict[str, object]:
    """The one market ccxt needs loaded for ``symbol`` (a ``...USDT`` pair) in ``category``."""
    base = symbol.removesuffix("USDT")
    spot = category == "spot"
    return {
        "id": symbol,
        "symbol": f"{base}/USDT" if spot else f"{base}/USDT:USDT",
        "base": base,
        "quote": "USDT",
        "settle": None if spot else "USDT",
        "baseId": base,
        "quoteId": "USDT",
        "settleId": None if spot else "USDT",
        "type": "spot" if spot else "swap",
        "spot": spot,
        "margin": False,
        "swap": not spot,
        "future": False,
        "option": False,
        "active": True,
        "contract": not spot,
        "linear": None if spot else True,
        "inverse": None if spot else False,
        "contractSize": None if spot else 1.0,
        "precision": {"amount": 0.001, "price": 0.1},
    }


def make(topic: str = "orderbook.200.BTCUSDT", category: str = "linear") -> Adapter:
    # ccxt's Client makes a Future when constructed, which needs a current event loop; an earlier async test in
    # the same thread may have closed the default one, so give it its own.
    asyncio.set_event_loop(asyncio.new_event_loop())
    exchange = ccxtpro.bybit()
    market = _market(topic.rsplit(".", 1)[1], category)
    exchange.set_markets([market])
    symbol = market["symbol"]
    client = Client(URL.format(category=category), None, None, None, None, {})
    handle = exchange.handle_message
    orderbooks = exchange.orderbooks

    def apply(message: dict) -> None:
        handle(client, message)

    def read() -> object:
        book = orderbooks[symbol]
        return book["bids"][:TOP], book["asks"][:TOP]

    def levels() -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        book = orderbooks[symbol]
        return [(p, s) for p, s in book["bids"]], [(p, s) for p, s in book["asks"]]

    return Adapter(apply, read, levels)
