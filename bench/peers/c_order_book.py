"""The ``order-book`` C extension (what cryptofeed uses) with float keys, fed the simplest way.

No ``u`` check and no validation: ``float`` of both strings, ``ob.bids[price] = size``, ``del`` for ``"0"``.
The extension keeps a dict per side and re-sorts all its keys on the first ordered read after a change, so
its read cost lands on the read after every message. The top-25 read is ``keys()[:25]`` plus item lookups,
the fastest correct read its API offers (``to_list()[:25]`` builds all 200 pairs; ``index(i)`` is 25 calls);
the runner times all three and prints them under the table.
"""

from __future__ import annotations

from order_book import OrderBook

from bench.peers import TOP, Adapter


def read_top(side: object) -> list[tuple[float, float]]:
    """Best 25 ``(price, size)`` of one side of an ``order_book.OrderBook``."""
    return [(price, side[price]) for price in side.keys()[:TOP]]  # type: ignore[attr-defined,index]


def read_to_list(side: object) -> list[tuple[float, float]]:
    return side.to_list()[:TOP]  # type: ignore[attr-defined]


def read_index(side: object) -> list[tuple[float, float]]:
    index = side.index  # type: ignore[attr-defined]
    return [index(i) for i in range(min(TOP, len(side)))]  # type: ignore[arg-type]


def make(topic: str = "", category: str = "") -> Adapter:
    """A fresh book (it takes any topic and category)."""
    book = OrderBook()
    sides = [book.bids, book.asks]

    def apply(message: dict) -> None:
        data = message["data"]
        if message["type"] == "snapshot":
            fresh = OrderBook()
            sides[:] = [fresh.bids, fresh.asks]
        bids, asks = sides
        for price, size in data["b"]:
            qty = float(size)
            if qty:
                bids[float(price)] = qty
            else:
                del bids[float(price)]
        for price, size in data["a"]:
            qty = float(size)
            if qty:
                asks[float(price)] = qty
            else:
                del asks[float(price)]

    def read() -> object:
        bids, asks = sides
        return (
            [(price, bids[price]) for price in bids.keys()[:TOP]],
            [(price, asks[price]) for price in asks.keys()[:TOP]],
        )

    def levels() -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        bids, asks = sides
        return bids.to_list(), asks.to_list()

    return Adapter(apply, read, levels)
