"""The symbol strip: every watched symbol with its key (1-9), last price and book trust, the selected one
highlighted.

Pulled at 2 Hz. A symbol whose book is not live is marked ``⚠`` here too, so a problem on a symbol that is not
on screen is not hidden by the ladder showing another one.

It fits its width rather than be cut: first the quote coin every symbol shares goes (``BTC`` for ``BTCUSDT``),
then the prices of the symbols not shown, and last the symbols farthest from the selected one (``…`` says so).
The marks stay on every symbol still in the strip.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.content import Content

from exchange.book import BookState
from exchange.printable import printable
from exchange.trust import book_trust, ticker_is_stale
from widgets._format import MAX_DECIMALS, fmt_price
from widgets.content_rows import ContentRows
from widgets.desk_widget import SymbolWidget

__all__ = ["SymbolStrip", "shared_quote"]

QUOTES = ("USDT", "USDC", "PERP", "USD")
"""Quote coins (and Bybit's USDC perpetual suffix) a strip may leave out when every symbol ends with one."""
SEPARATOR = " │ "


def shared_quote(symbols: list[str]) -> str:
    """The quote every symbol ends with (and has a base before), or "" when they differ or there is one symbol."""
    if len(symbols) < 2:
        return ""
    for quote in QUOTES:
        if all(symbol.endswith(quote) and len(symbol) > len(quote) for symbol in symbols):
            return quote
    return ""


@dataclass(frozen=True)
class _Entry:
    """One symbol as the strip may show it."""

    key: str
    name: str
    short: str
    price: str
    warned: bool
    selected: bool

    def content(self, short: bool, priced: bool) -> Content:
        parts: list[Any] = [
            self.key,
            (self.short if short else self.name, "bold reverse" if self.selected else "bold"),
        ]
        if self.price and priced:
            parts.append(f" {self.price}")
        if self.warned:
            parts.append((" ⚠", "bold $text-warning"))
        return Content.assemble(*parts)


class SymbolStrip(SymbolWidget, ContentRows):
    """``1 BTCUSDT 65,001.2 │ 2 ETHUSDT …`` with the selected symbol highlighted."""

    PULL_NAME = "symbols"

    DEFAULT_CSS = """
    SymbolStrip { height: 1; }
    """

    REFRESH_HZ = 2.0

    def _pull(self) -> None:
        if self._started:
            self.update(self._text())  # (only the cells that changed are drawn: a new highlight too)

    def on_resize(self) -> None:
        self._pull()

    def _text(self) -> Content:
        desk = self.desk
        if desk is None:
            return Content("")
        entries = self._entries(desk)
        width = self.content_size.width
        for short, all_prices in ((False, True), (True, True), (True, False)):
            pieces = [entry.content(short, all_prices or entry.selected) for entry in entries]
            line = Content.styled(SEPARATOR, "dim").join(pieces)
            if line.cell_length <= width or width <= 0:
                return line
        return _window(pieces, next((i for i, e in enumerate(entries) if e.selected), 0), width)

    def _entries(self, desk: Any) -> list[_Entry]:
        now_ms = int(self.clock() * 1000)
        quote = shared_quote(list(desk.symbols))
        entries = []
        for index, symbol in enumerate(desk.symbols):
            price = desk.last_price(symbol)  # a positive finite number or None: an odd field shows nothing
            price_text = ""
            if price is not None:
                instrument = desk.instrument(symbol)
                written = max(0, -int(price.as_tuple().exponent))  # as many places as the ticker wrote
                dp = instrument.price_decimals if instrument else min(MAX_DECIMALS, written)
                price_text = fmt_price(price, dp)
            book = desk.books.get(symbol)
            book_live = book is None or book_trust(desk, book, now_ms)[0] == BookState.SYNCED.value
            warned = not book_live or ticker_is_stale(desk, symbol)  # the price shown is a ticker's
            name = printable(symbol)
            short = printable(symbol[: len(symbol) - len(quote)]) if quote else name
            key = f"{index + 1} " if index < 9 else ""
            entries.append(_Entry(key, name, short, price_text, warned, symbol == self.symbol))
        return entries


def _window(pieces: list[Content], selected: int, width: int) -> Content:
    """The selected symbol and as many neighbours as fit, nearest first, with ``…`` where symbols are left out."""
    first = last = selected
    shown = pieces[selected]
    while True:
        grown = False
        for candidate in (last + 1, first - 1):
            if not 0 <= candidate < len(pieces):
                continue
            lo, hi = min(first, candidate), max(last, candidate)
            trial = Content.styled(SEPARATOR, "dim").join(pieces[lo : hi + 1])
            marks = (2 if lo > 0 else 0) + (2 if hi < len(pieces) - 1 else 0)
            if trial.cell_length + marks <= width:
                first, last, shown, grown = lo, hi, trial, True
        if not grown:
            break
    before = Content.styled("… ", "dim") if first > 0 else Content("")
    after = Content.styled(" …", "dim") if last < len(pieces) - 1 else Content("")
    return before + shown + after
