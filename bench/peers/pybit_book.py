"""pybit 5.17.0's own order-book handling, called on a socket-less ``unified_trading.WebSocket``.

Per message this does exactly what pybit's ``_WebSocketManager._on_message`` does after its ``json.loads``
(the harness parses with orjson for every implementation): ``_is_custom_pong``, then the stored callback
``_V5WebSocketManager._handle_incoming_message``, which builds its three predicate closures, dispatches to
``_process_normal_message``: ``_process_delta_orderbook`` (linear scans over the unsorted side lists),
``copy.deepcopy`` of the incoming message, relabelling it as a snapshot that aliases the live book, the
callback lookup, and the user's callback (a no-op here). The book is ``ws.data[topic]``: the snapshot's own
``data`` dict whose ``b``/``a`` are unsorted lists of ``[price, size]`` strings, new levels appended last.
"""

from __future__ import annotations

from heapq import nlargest, nsmallest

from pybit.unified_trading import WebSocket

from bench.peers import TOP, Adapter


def _socketless(topic: str) -> WebSocket:
    """The attributes the message path touches, without the constructor's thread and connection."""
    ws = object.__new__(WebSocket)
    ws.data = {}
    ws.callback_directory = {topic: _user_callback}
    ws.subscriptions = {}
    return ws


def _user_callback(message: dict) -> None:
    """What a pybit user registers with ``orderbook_stream``; it does nothing here."""


def _price(level: list[str]) -> float:
    return float(level[0])


def _make(correct: bool, topic: str) -> Adapter:
    ws = _socketless(topic)
    is_pong = ws._is_custom_pong
    handle = ws._handle_incoming_message
    data = ws.data

    def apply(message: dict) -> None:
        if not is_pong(message):
            handle(message)

    if correct:

        def read() -> object:
            book = data[topic]
            return nlargest(TOP, book["b"], key=_price), nsmallest(TOP, book["a"], key=_price)

    else:

        def read() -> object:
            book = data[topic]
            return book["b"][:TOP], book["a"][:TOP]

    def levels() -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        book = data[topic]
        return [(float(p), float(s)) for p, s in book["b"]], [(float(p), float(s)) for p, s in book["a"]]

    return Adapter(apply, read, levels, ordered=False)


def make_natural(topic: str = "orderbook.200.BTCUSDT", category: str = "linear") -> Adapter:
    return _make(False, topic)


def make_sorted(topic: str = "orderbook.200.BTCUSDT", category: str = "linear") -> Adapter:
    return _make(True, topic)
