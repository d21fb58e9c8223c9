"""Where Fluxum's book spends its time on one stream, and how often its number memos hit.

Each stage is a loop over the stream's deltas that does one more part of the book's work than the stage before
(parse; walk the levels; convert them through the memos; the side dicts' stores and deletes; the whole level
loop of the book, with its sorted front; the whole ``apply``), timed as CPU time, best of a few interleaved
passes. A part's cost is the difference between two stages, so on a busy machine a small part can read a
little below zero: it is shown as measured. The stages are Python; when ``exchange.book`` is compiled (mypyc) only
the parse, the book's own level loop and the rest of ``apply`` are its own code, so the profile reports those
three parts only.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from exchange import book as book_module
from exchange import book_build
from exchange.book import OrderBook

__all__ = ["profile"]


def _stages(messages: Sequence[bytes]) -> dict[str, Callable[[], object]]:  # noqa: C901 - the stages' sum
    """The book's delta path cut into cumulative stages, each a closure over the same locals, so two stages differ
    only by the work the later one adds (their loops repeat the book's on purpose; a helper per stage would add
    a call the book does not make)."""
    loads = orjson.loads
    deltas = messages[1:]
    first = messages[0]
    price_of = book_module._PRICE_VALUES.get
    read_price = book_module._new_price
    size_of = book_module._SIZE_VALUES.get
    read_size = book_module._new_size

    def parse() -> None:
        for raw in deltas:
            loads(raw)

    def walk() -> None:
        for raw in deltas:
            data = loads(raw)["data"]
            for side in (data["b"], data["a"]):
                for level in side:
                    if level.__class__ is not list:
                        raise ValueError(level)
                    p, s = level

    def memo() -> None:
        for raw in deltas:
            data = loads(raw)["data"]
            for side in (data["b"], data["a"]):
                for level in side:
                    if level.__class__ is not list:
                        raise ValueError(level)
                    p, s = level
                    price_of(p) or read_price(p)
                    if size_of(s) is None:
                        read_size(s)

    def stores() -> None:
        snapshot = loads(first)["data"]
        books = ({float(p): float(s) for p, s in snapshot["b"]}, {float(p): float(s) for p, s in snapshot["a"]})
        for raw in deltas:
            data = loads(raw)["data"]
            for side, levels in zip((data["b"], data["a"]), books, strict=True):
                for level in side:
                    if level.__class__ is not list:
                        raise ValueError(level)
                    p, s = level
                    price = price_of(p) or read_price(p)
                    size = size_of(s)
                    if size is None:
                        size = read_size(s)
                    if price in levels:
                        if size:
                            levels[price] = size
                        else:
                            del levels[price]
                    elif size:
                        levels[price] = size

    def level_loop() -> None:
        book = OrderBook()
        book.apply(loads(first))
        apply_levels = book._apply_levels
        side_of = book_module._side_of
        for raw in deltas:
            message = loads(raw)
            data = message["data"]
            if message["type"] == "snapshot":  # a stream of snapshots (level 1): each side read whole
                side_of(data["b"])
                side_of(data["a"])
            else:
                apply_levels(data)

    def whole() -> None:
        book = OrderBook()
        apply = book.apply
        for raw in messages:
            apply(loads(raw))

    return {
        "parse": parse,
        "walk": walk,
        "memo": memo,
        "stores": stores,
        "levels": level_loop,
        "apply": whole,
    }


def _hit_rates(messages: Sequence[bytes]) -> dict[str, Any]:
    """Memo hits over a first pass on cold memos, then over a second pass of the same stream."""
    prices, sizes = book_module._PRICES, book_module._SIZES
    parsed = [orjson.loads(raw) for raw in messages]
    out: dict[str, Any] = {}
    for suffix in ("", "_again"):
        if not suffix:
            prices.clear()
            sizes.clear()
        book = OrderBook()
        price_hits = size_hits = lookups = 0
        for message in parsed:
            data = message["data"]
            for p, s in data["b"] + data["a"]:
                price_hits += p in prices
                size_hits += s in sizes
                lookups += 1
            book.apply(message)
        out[f"price_hits{suffix}"] = price_hits / max(1, lookups)
        out[f"size_hits{suffix}"] = size_hits / max(1, lookups)
    levels = [level for m in parsed for level in m["data"]["b"] + m["data"]["a"]]
    out["plain_sizes"] = sum(book_module._plain_size(s) is not None for _, s in levels) / max(1, len(levels))
    out["distinct_sizes"] = len({s for _, s in levels})
    out["distinct_prices"] = len({p for p, _ in levels})
    return out


def profile(messages: Sequence[bytes], reps: int = 3) -> dict[str, Any]:
    """µs per delta for each part of the book's work, and the memos' hit rates."""
    stages = _stages(messages)
    best = dict.fromkeys(stages, float("inf"))
    gc.collect()
    gc.disable()
    try:
        for _ in range(reps):
            for name, stage in stages.items():
                book_module._PRICES.clear()  # cold, as in the timed passes
                book_module._SIZES.clear()
                t0 = time.thread_time()
                stage()
                best[name] = min(best[name], time.thread_time() - t0)
    finally:
        gc.enable()
    us = {name: seconds / max(1, len(messages) - 1) * 1e6 for name, seconds in best.items()}
    if book_build.build_of(book_module) == "compiled":
        parts = {
            "parse": us["parse"],
            "level loop (compiled: convert, memos, stores, front)": us["levels"] - us["parse"],
            "checks (envelope, u, depth, crossed, counters)": us["apply"] - us["levels"],
        }
        return {"us_per_msg": parts, **_hit_rates(messages)}
    parts = {
        "parse": us["parse"],
        "walk the levels": us["walk"] - us["parse"],
        "memo lookups": us["memo"] - us["walk"],
        "dict stores": us["stores"] - us["memo"],
        "front (bisect, list insert/delete, refits)": us["levels"] - us["stores"],
        "checks (envelope, u, depth, crossed, counters)": us["apply"] - us["levels"],
    }
    return {"us_per_msg": parts, **_hit_rates(messages)}
