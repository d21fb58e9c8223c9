"""The order-book implementations the throughput benchmark compares, one module each.

Every adapter has the same shape so the timed loop is identical for all of them: ``apply(message)`` takes the
parsed envelope (orjson's dict, the same object for everyone), ``read()`` returns the best 25 levels of each
side the way that library's user would read them, and ``levels()`` returns the whole book as ``(price, size)``
floats per side for the correctness check (in the library's own order).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import Any

__all__ = ["Adapter", "IMPLEMENTATIONS", "make"]

TOP = 25


@dataclass
class Adapter:
    """One implementation, ready to be fed a stream from its snapshot on."""

    apply: Callable[[Any], Any]
    read: Callable[[], Any]
    levels: Callable[[], tuple[list[tuple[float, float]], list[tuple[float, float]]]]
    ordered: bool = True  # False when the book's natural order is not best-first (pybit)


# key -> (module, factory, label in the table)
IMPLEMENTATIONS: dict[str, tuple[str, str, str]] = {
    "fluxum": ("bench.peers.fluxum", "make", "Fluxum exchange.book.OrderBook (as installed)"),
    "fluxum-source": ("bench.peers.fluxum_source", "make", "Fluxum, exchange/book.py as Python source"),
    "fluxum-before": ("bench.peers.fluxum_before", "make", "Fluxum, the book at $FLUXUM_BOOK_BEFORE"),
    "pybit": ("bench.peers.pybit_book", "make_natural", "pybit 5.17.0 (natural read b[:25], WRONG order)"),
    "pybit-sorted": ("bench.peers.pybit_book", "make_sorted", "pybit 5.17.0 + sorted top-25 read"),
    "ccxt": ("bench.peers.ccxt_book", "make", "ccxt 4.5.90 pro bybit OrderBook"),
    "order-book": ("bench.peers.c_order_book", "make", "order-book 0.6.1 C extension (cryptofeed)"),
    "sorteddict": ("bench.peers.sorted_dict", "make", "sortedcontainers SortedDict baseline"),
}


def make(key: str, topic: str = "orderbook.200.BTCUSDT", category: str = "linear") -> Adapter:
    """A fresh adapter for ``key`` fed ``topic`` of ``category`` (imports the peer library only when asked)."""
    module, factory, _ = IMPLEMENTATIONS[key]
    return getattr(import_module(module), factory)(topic, category)
