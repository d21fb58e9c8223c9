"""Fluxum's own book, read the way the ladder reads it."""

from __future__ import annotations

from types import ModuleType

from bench.peers import TOP, Adapter
from exchange import book as book_module


def adapter(module: ModuleType) -> Adapter:
    """A fresh book of ``module`` (an ``exchange/book.py``) and cold number memos: every pass meets the stream's
    numbers for the first time, as a live desk meets a market's."""
    module._PRICES.clear()
    module._SIZES.clear()
    book = module.OrderBook()
    bids = book.bids
    asks = book.asks
    synced = module.BookState.SYNCED

    def read() -> object:
        return bids(TOP), asks(TOP)

    def levels() -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        # A book that lost sync or dropped anything would be wrong even with the right levels.
        c = book.counters
        if book.state is not synced or c.gaps or c.rejected or c.crossed or c.stale:
            raise AssertionError(f"book not cleanly synced: {book!r} {c}")
        return book.bids(), book.asks()

    return Adapter(book.apply, read, levels)


def make(topic: str = "", category: str = "") -> Adapter:
    """A fresh book (it takes any topic and category) with cold number memos."""
    return adapter(book_module)
