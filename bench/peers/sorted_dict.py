"""A plain ``sortedcontainers.SortedDict`` book (float keys, bids negated): the pure-Python baseline."""

from __future__ import annotations

from itertools import islice

from sortedcontainers import SortedDict

from bench.peers import TOP, Adapter


def make(topic: str = "", category: str = "") -> Adapter:
    """A fresh book (it takes any topic and category)."""
    sides = [SortedDict(), SortedDict()]  # bids keyed by -price, asks by price: both iterate best first

    def apply(message: dict) -> None:
        data = message["data"]
        if message["type"] == "snapshot":
            sides[:] = [SortedDict(), SortedDict()]
        bids, asks = sides
        for price, size in data["b"]:
            qty = float(size)
            if qty:
                bids[-float(price)] = qty
            else:
                del bids[-float(price)]
        for price, size in data["a"]:
            qty = float(size)
            if qty:
                asks[float(price)] = qty
            else:
                del asks[float(price)]

    def read() -> object:
        bids, asks = sides
        return (
            [(-key, size) for key, size in islice(bids.items(), TOP)],
            list(islice(asks.items(), TOP)),
        )

    def levels() -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        bids, asks = sides
        return [(-key, size) for key, size in bids.items()], list(asks.items())

    return Adapter(apply, read, levels)
