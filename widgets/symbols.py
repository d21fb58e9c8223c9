"""The symbol strip: every watched symbol with its key (1-9), last price and book trust, the selected one
highlighted.

Pulled at 2 Hz. A symbol whose book is not live is marked ``⚠`` here too, so a problem on a symbol that is not
on screen is not hidden by the ladder showing another one.
"""

from __future__ import annotations

from typing import Any

from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget

from exchange.book import BookState
from exchange.printable import printable
from exchange.trust import book_trust, ticker_is_stale
from widgets._desk_pull import SymbolPull
from widgets._format import MAX_DECIMALS, fmt_price

__all__ = ["SymbolStrip"]


class SymbolStrip(SymbolPull, Widget):
    """``1 BTCUSDT 65,001.2 │ 2 ETHUSDT …`` with the selected symbol highlighted."""

    PULL_NAME = "symbols"

    DEFAULT_CSS = """
    SymbolStrip { height: 1; }
    """

    REFRESH_HZ = 2.0
    symbol: reactive[str | None] = reactive(None, layout=False, repaint=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._content = Content("")
        self._drawn: Content | None = None

    def render(self) -> Content:
        return self._content

    def _pull(self) -> None:
        if not self._started:
            return
        content = self._text()
        if content == self._drawn:
            return
        self._drawn = self._content = content
        self.refresh()

    def _text(self) -> Content:
        desk = self.desk
        if desk is None:
            return Content("")
        now_ms = int(self.clock() * 1000)
        parts: list[Any] = []
        for index, symbol in enumerate(desk.symbols):
            if index:
                parts.append((" │ ", "dim"))
            selected = symbol == self.symbol
            key = f"{index + 1} " if index < 9 else ""
            parts.append((key, "dim"))
            parts.append((printable(symbol), "bold reverse" if selected else "bold"))
            price = desk.last_price(symbol)  # a positive finite number or None: an odd field shows nothing
            if price is not None:
                instrument = desk.instrument(symbol)
                written = max(0, -int(price.as_tuple().exponent))  # as many places as the ticker wrote
                dp = instrument.price_decimals if instrument else min(MAX_DECIMALS, written)
                parts.append(f" {fmt_price(price, dp)}")
            book = desk.books.get(symbol)
            book_live = book is None or book_trust(desk, book, now_ms)[0] == BookState.SYNCED.value
            if not book_live or ticker_is_stale(desk, symbol):  # the price shown is a ticker's
                parts.append((" ⚠", "bold $text-warning"))
        return Content.assemble(*parts)
