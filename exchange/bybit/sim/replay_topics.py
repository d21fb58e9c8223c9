"""What a client that subscribes late to a served recording gets first: the state of each book and ticker now.

Bybit answers a subscribe with a snapshot of the book (and of a linear ticker) as it is at that moment, then
deltas. A recording holds the snapshot its own session got, and the deltas since; replaying those to a late
client would be right but unbounded (an hour of 20 ms deltas). So the host keeps, per topic, the state the
recorded frames built (every level of the book, each price and size as the text Bybit sent; the ticker's fields
merged), and a late subscriber is sent one snapshot of it: the recorded snapshot itself, byte for byte, when no
delta came after it, else one made from the state, in the recorded frames' own shape (key order, ``ts``, ``cts``,
``u``, ``seq`` of the last frame), so the recorded deltas that follow apply to it exactly. Public trades and private
topics have no state: a late client gets what comes next, as on Bybit.

Memory is bounded: a book keeps at most its depth per side, and at most :data:`MAX_TOPICS` topics are kept; a
frame that cannot be read (a size that is no number) is left out and counted.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

__all__ = ["MAX_TOPICS", "TopicMemory"]

MAX_TOPICS = 10_000
MAX_DEPTH = 1000  # Bybit's deepest book


class _BookState:
    """One ``orderbook.{depth}.{symbol}`` topic: its levels by price, and the last frame it was built from."""

    def __init__(self, depth: int) -> None:
        self.depth = depth
        self.bids: dict[Decimal, tuple[str, str]] = {}
        self.asks: dict[Decimal, tuple[str, str]] = {}
        self.last: dict[str, Any] = {}
        self.snapshot_text: str | None = None  # the last frame, when it was a snapshot

    def take(self, frame: dict[str, Any], text: str) -> None:
        data = frame.get("data")
        if not isinstance(data, dict):
            raise ValueError("no data")
        bids, asks = _levels(data.get("b")), _levels(data.get("a"))
        snapshot = frame.get("type") == "snapshot"
        if snapshot:
            self.bids, self.asks = {}, {}
        _apply(self.bids, bids, self.depth, highest=True)
        _apply(self.asks, asks, self.depth, highest=False)
        self.last = frame
        self.snapshot_text = text if snapshot else None

    def snapshot(self) -> str:
        if self.snapshot_text is not None:
            return self.snapshot_text
        data = self.last.get("data")
        assert isinstance(data, dict)
        levels = {
            "b": [list(self.bids[p]) for p in sorted(self.bids, reverse=True)],
            "a": [list(self.asks[p]) for p in sorted(self.asks)],
        }
        made = {key: levels.get(key, value) for key, value in data.items()}
        return orjson.dumps({**self.last, "type": "snapshot", "data": made}).decode()


class _TickerState:
    """One ``tickers.{symbol}`` topic: every field as last sent, and the last frame."""

    def __init__(self) -> None:
        self.fields: dict[str, Any] = {}
        self.last: dict[str, Any] = {}
        self.snapshot_text: str | None = None

    def take(self, frame: dict[str, Any], text: str) -> None:
        data = frame.get("data")
        if not isinstance(data, dict):
            raise ValueError("no data")
        snapshot = frame.get("type") != "delta"
        self.fields = dict(data) if snapshot else {**self.fields, **data}
        self.last = frame
        self.snapshot_text = text if snapshot else None

    def snapshot(self) -> str:
        if self.snapshot_text is not None:
            return self.snapshot_text
        return orjson.dumps({**self.last, "type": "snapshot", "data": self.fields}).decode()


class TopicMemory:
    """The state of each recorded book and ticker topic as the frames played so far built it."""

    def __init__(self) -> None:
        self._states: dict[str, _BookState | _TickerState] = {}
        self.rejected = 0  # frames of a kept topic that could not be read
        self.untracked = 0  # frames of topics past MAX_TOPICS

    def take(self, topic: str, text: str) -> None:
        """One played frame of ``topic`` (its raw text)."""
        state = self._states.get(topic)
        if state is None:
            state = _new_state(topic)
            if state is None:
                return
            if len(self._states) >= MAX_TOPICS:
                self.untracked += 1
                return
        try:
            frame = orjson.loads(text)
            if not isinstance(frame, dict):
                raise ValueError("not an object")
            state.take(frame, text)
        except (orjson.JSONDecodeError, ValueError, InvalidOperation):
            self.rejected += 1
            return
        self._states[topic] = state

    def snapshot(self, topic: str) -> str | None:
        """What a client subscribing to ``topic`` now is sent first, or None (no state, or none yet)."""
        state = self._states.get(topic)
        return None if state is None else state.snapshot()


def _new_state(topic: str) -> _BookState | _TickerState | None:
    parts = topic.split(".")
    if len(parts) == 3 and parts[0] == "orderbook" and parts[1].isdigit():
        return _BookState(min(int(parts[1]), MAX_DEPTH))
    if len(parts) == 2 and parts[0] == "tickers":
        return _TickerState()
    return None


def _levels(value: object) -> list[tuple[Decimal, str, str]]:
    """``[[price, size], ...]`` read exactly; raises ValueError or InvalidOperation on anything else."""
    if not isinstance(value, list):
        raise ValueError("levels are no list")
    levels = []
    for level in value:
        if not (isinstance(level, list) and len(level) == 2 and all(isinstance(x, str) for x in level)):
            raise ValueError("a level is no [price, size]")
        price, size = level
        levels.append((Decimal(price), price, size))
        if not Decimal(size).is_finite():
            raise ValueError("a size is no number")
    return levels


def _apply(
    side: dict[Decimal, tuple[str, str]], levels: list[tuple[Decimal, str, str]], depth: int, *, highest: bool
) -> None:
    """Bybit's rule: a size is absolute, ``"0"`` deletes; the side is kept to ``depth`` levels, best first."""
    for price, price_text, size_text in levels:
        if Decimal(size_text) == 0:
            side.pop(price, None)
        else:
            side[price] = (price_text, size_text)
    if len(side) > depth:
        for price in sorted(side, reverse=not highest)[: len(side) - depth]:
            del side[price]
