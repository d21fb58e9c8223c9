"""The summary of a desk when a session stops: what a live run and its replay must agree on.

``fluxum monitor --json`` prints it as its last line (``{"type": "summary", ...}``); any other driver of a desk (a
headless replay, the dashboard) gets the same from the same function, so comparing two runs is comparing two
lines. It is a pure function of the desk and the session's state transitions: two summaries of the same state
are byte-identical JSON (symbols sorted, every other order fixed here, no clock read).

What is exact:

* ledger entries, open orders, positions and the wallet: every Decimal field as its exact decimal text
  (:func:`exchange.ledger.format_decimal`: no exponent, no trailing zeros), never a float;
* book levels: the book keeps ``float`` prices and sizes (``exchange/book.py``), and each is written as the
  shortest decimal that reads back as that float. For any Bybit number (at most 15 significant digits) that is
  the number Bybit sent, exactly, with trailing zeros dropped (``"30247.20"`` gives ``"30247.2"``, the same
  level to the book).
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Iterable
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Any

import orjson

from exchange.ledger import format_decimal
from exchange.printable import escape_json_controls

if TYPE_CHECKING:
    from exchange.book import Level, OrderBook
    from exchange.desk import Desk
    from exchange.events import SessionState
    from exchange.ledger import Ledger

__all__ = ["STATES_KEPT_FIRST", "STATES_KEPT_LAST", "StateTrail", "desk_summary", "summary_json"]

STATES_KEPT_FIRST = 1_000
STATES_KEPT_LAST = 9_000
"""A desk that flaps for months keeps its first and its latest transitions; the ones between are counted."""


class StateTrail:
    """The session's state transitions in order, bounded: the first :data:`STATES_KEPT_FIRST` and the last
    :data:`STATES_KEPT_LAST`; ``dropped`` counts those in between that were let go."""

    def __init__(self, first: SessionState | None = None) -> None:
        self._first: list[SessionState] = []
        self._last: deque[SessionState] = deque(maxlen=STATES_KEPT_LAST)
        self.dropped = 0
        if first is not None:
            self.add(first)

    def add(self, state: SessionState) -> None:
        if len(self._first) < STATES_KEPT_FIRST:
            self._first.append(state)
            return
        if len(self._last) == STATES_KEPT_LAST:
            self.dropped += 1
        self._last.append(state)

    def states(self) -> list[SessionState]:
        return [*self._first, *self._last]


def desk_summary(desk: Desk, states: StateTrail | Iterable[SessionState]) -> dict[str, Any]:
    """The desk's books, ledger, account and the session's transitions, as plain JSON-ready data.

    Args:
        desk: the session's desk, read as it is now (nothing is changed).
        states: every transition in order, the state the session started in first.

    Returns:
        ``{"type": "summary", ...}`` with ``books`` and ``ledger`` keyed by symbol (sorted), the fills each
        ledger applied, the ledger's counters, open orders, positions, wallet and ``states``.
    """
    if isinstance(states, StateTrail):
        kept, dropped = states.states(), states.dropped
    else:
        kept, dropped = list(states), 0
    ledger = desk.ledger
    return {
        "type": "summary",
        "environment": desk.environment,
        "category": desk.category,
        "symbols": sorted(desk.symbols),
        "books": {symbol: book_record(desk.books[symbol]) for symbol in sorted(desk.books)},
        "ledger": {entry.symbol: record_of(entry) for entry in ledger.entries()},
        "fills": {entry.symbol: ledger.fill_count(entry.symbol) for entry in ledger.entries()},
        "ledger_counters": _ledger_counters(ledger),
        "orders": [record_of(o) for o in sorted(desk.open_orders(), key=lambda o: (o.symbol, o.order_id))],
        "positions": {symbol: record_of(desk.positions[symbol]) for symbol in sorted(desk.positions)},
        "wallet": record_of(desk.wallet) if desk.wallet is not None else None,
        "states": [_state_record(state) for state in kept],
        "states_dropped": dropped,
    }


def summary_json(summary: dict[str, Any]) -> str:
    """One JSON line (no newline) with the exchange's text kept exactly and its terminal controls escaped."""
    return escape_json_controls(orjson.dumps(summary).decode())


def book_record(book: OrderBook) -> dict[str, Any]:
    """Every level of both sides (best first, ``[price, size]`` texts), ``u``, ``seq``, ``ts``, ``cts``, the
    state and why it is resyncing, and what the book counted."""
    return {
        "state": book.state.value,
        "resync_reason": book.resync_reason,
        "u": book.u,
        "seq": book.seq,
        "ts": book.ts,
        "cts": book.cts,
        "bids": _levels(book.bids()),
        "asks": _levels(book.asks()),
        "counters": dataclasses.asdict(book.counters),
    }


def book_number(value: float) -> str:
    """A book price or size as the shortest decimal text that reads back as the same float."""
    return format_decimal(Decimal(repr(value)))


def _levels(levels: list[Level]) -> list[list[str]]:
    return [[book_number(price), book_number(size)] for price, size in levels]


def record_of(item: Any) -> dict[str, Any]:
    """A dataclass of the desk (a ledger entry, an order, a position, the wallet) field by field, in declaration
    order: Decimals as exact text, enums as their value, nested dataclasses and tuples of them alike."""
    return {field.name: _plain(getattr(item, field.name)) for field in dataclasses.fields(item)}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format_decimal(value)
    if isinstance(value, Enum):
        return value.value
    if value is None or isinstance(value, bool | int | str):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return record_of(value)
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    if isinstance(value, float):
        return book_number(value)
    return str(value)


def _ledger_counters(ledger: Ledger) -> dict[str, int]:
    return {
        "duplicates": ledger.duplicates,
        "rejected": ledger.rejected,
        "reordered": ledger.reordered,
        "beyond_history": ledger.beyond_history,
        "legs_after_base": ledger.legs_after_base,
    }


def _state_record(state: SessionState) -> dict[str, Any]:
    return {
        "state": state.kind.value,
        "reason": state.reason,
        "attempt": state.attempt,
        "time_ms": state.since_ms,
        "next_retry_ms": state.next_retry_ms,
    }
