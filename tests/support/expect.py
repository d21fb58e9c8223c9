"""What a test expects to be there, checked on the way: a failed expectation is an assertion naming it, and the
value comes back with its type narrowed (so the rest of the test is type-checked against the real class)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from exchange.ledger import Ledger, LedgerEntry

E = TypeVar("E")


def held(ledger: Ledger, symbol: str) -> LedgerEntry:
    """The ledger's entry for ``symbol``, which the test expects something to have happened to."""
    entry = ledger.entry(symbol)
    assert entry is not None, f"the ledger holds nothing for {symbol}"
    return entry


def all_of(kind: type[E], events: Iterable[object]) -> list[E]:
    """``events``, each checked to be a ``kind`` (what a subscription to that kind alone drains)."""
    checked = []
    for event in events:
        assert isinstance(event, kind), f"{event!r} is not a {kind.__name__}"
        checked.append(event)
    return checked


def instance(kind: type[E], value: object) -> E:
    """``value``, checked to be a ``kind`` (a concrete class behind a protocol the code under test types it as)."""
    assert isinstance(value, kind), f"{value!r} is not a {kind.__name__}"
    return value
