"""Which of the desk's symbols the exchange lists: a symbol it does not list would wait for a book snapshot that
never comes, under a link that is otherwise Ready, so it is refused (or dropped) before the session starts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from exchange.printable import printable

__all__ = ["UnlistedSymbols", "listed_symbols", "unlisted"]


class UnlistedSymbols(ValueError):
    """Symbols the exchange does not list in the category; its message is one line naming them."""

    def __init__(self, symbols: Sequence[str], category: str) -> None:
        self.symbols = tuple(symbols)
        self.category = category
        names = ", ".join(printable(symbol, 40) for symbol in self.symbols)
        verb = "is" if len(self.symbols) == 1 else "are"
        super().__init__(f"{names} {verb} not listed by the exchange in {category} (check --symbols)")


def listed_symbols(records: Iterable[Any]) -> set[str]:
    """The symbols of an instruments-info read (records that are not objects with a text symbol are skipped)."""
    return {
        record["symbol"] for record in records if isinstance(record, dict) and isinstance(record.get("symbol"), str)
    }


def unlisted(symbols: Iterable[str], listed: set[str]) -> list[str]:
    """The symbols of ``symbols`` not in ``listed``, in their order."""
    return [symbol for symbol in symbols if symbol not in listed]
