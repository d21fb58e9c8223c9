"""The watchlist table: every watched symbol's last price, 24 h change and turnover, funding rate and the countdown
to it, open interest and its book's state, one row each, a cursor on one.

What it shows is :func:`watchlist_lines`, a pure function of the rows (:mod:`exchange.watchlist`) and the clock,
tested without a screen. Pulled at 2 Hz (the countdown moves by the second) and redrawn only when the text moved.
Out of Ready, or on a row whose ticker was not heard on this connection or went silent, the figures are the last
word before: the header says ``⚠ not live`` and those rows are dimmed, as the wallet and the orders do.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from textual.content import Content

from exchange.desk import Desk, Instrument
from exchange.events import LinkState
from exchange.printable import printable
from exchange.watchlist import WatchRow, funding_countdown, watch_rows
from widgets._format import MAX_DECIMALS, compact_number, fmt_price
from widgets.desk_widget import DeskWidget

__all__ = ["NOT_LIVE", "WatchlistTable", "watchlist_lines"]

NOT_LIVE = "⚠ not live"
COLUMNS = (
    ("symbol", 12, "<"),
    ("last", 13, ">"),
    ("24h %", 9, ">"),
    ("turnover", 10, ">"),
    ("funding", 10, ">"),
    ("next in", 9, ">"),
    ("open int.", 10, ">"),
    ("book", 11, "<"),
)
"""Each column's heading, width and alignment; a column is separated from the last by one space."""


def _percent(value: Decimal | None, places: int, signed: bool) -> str:
    if value is None:
        return ""
    return f"{value:+.{places}f}%" if signed else f"{value:.{places}f}%"


def _last(row: WatchRow, instrument: Instrument | None) -> str:
    if row.last is None:
        return ""
    exponent = row.last.as_tuple().exponent
    written = max(0, -exponent) if isinstance(exponent, int) else 0
    return fmt_price(row.last, instrument.price_decimals if instrument else min(MAX_DECIMALS, written))


def _cells(row: WatchRow, instrument: Instrument | None, now_ms: int) -> list[tuple[str, str]]:
    """Each cell's text and style."""
    change = row.change_pct
    return [
        (printable(row.symbol, COLUMNS[0][1]), "bold"),
        (_last(row, instrument), ""),
        (_percent(change, 2, True), "" if not change else "$profit" if change > 0 else "$loss"),
        (compact_number(row.turnover), ""),
        (_percent(None if row.funding_rate is None else row.funding_rate * 100, 4, True), ""),
        (funding_countdown(row.next_funding_ms, now_ms), ""),
        (compact_number(row.open_interest), ""),
        (row.book, "$profit" if row.book == "LIVE" else "bold $text-warning"),
    ]


def _line(cells: list[tuple[str, str]], row_style: str) -> Content:
    parts: list[Any] = []
    for (text, style), (_, width, align) in zip(cells, COLUMNS, strict=True):
        text = text[:width]
        padded = f"{text:<{width}}" if align == "<" else f"{text:>{width}}"
        parts += [(padded, " ".join(s for s in (style, row_style) if s)), (" ", row_style)]
    return Content.assemble(*parts[:-1])


def watchlist_lines(
    desk: Desk, rows: list[WatchRow], instruments: Mapping[str, Instrument], now_ms: int, cursor: int | None
) -> list[Content]:
    """The header (with ``⚠ not live`` when the figures are not current), the column headings and a row per symbol;
    the cursor's row reversed, a row whose figures are not live dimmed."""
    ready = desk.state.kind is LinkState.READY
    stale = [row.symbol for row in rows if not row.live]
    count = f"{len(rows)} watched"
    if not ready:
        note: tuple[str, str] = (f"  {NOT_LIVE}: the last figures before the link went", "bold $text-warning")
    elif stale:
        note = (f"  {NOT_LIVE}: {', '.join(stale[:3])}{' …' if len(stale) > 3 else ''}", "bold $text-warning")
    else:
        note = ("", "")
    lines = [Content.assemble((count, "bold"), note)]
    headings = " ".join(f"{name:<{width}}" if align == "<" else f"{name:>{width}}" for name, width, align in COLUMNS)
    lines.append(Content.styled(headings, "bold $label"))
    for index, row in enumerate(rows):
        style = "reverse" if index == cursor else "dim" if not row.live else ""
        lines.append(_line(_cells(row, instruments.get(row.symbol), now_ms), style))
    return lines


class WatchlistTable(DeskWidget):
    """Every watched symbol, a row each; ``cursor`` picks the row Enter shows and Delete removes."""

    PULL_NAME = "watchlist"
    REFRESH_HZ = 2.0

    DEFAULT_CSS = """
    WatchlistTable { height: auto; width: auto; }
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cursor = 0
        self._lines: list[Content] = []

    def render(self) -> Content:
        return Content("\n").join(self._lines)

    @property
    def plain_lines(self) -> list[str]:
        """The lines drawn, as plain text."""
        return [line.plain for line in self._lines]

    def selected(self) -> str | None:
        """The symbol under the cursor, if any."""
        symbols = self.desk.symbols if self.desk is not None else []
        return symbols[self.cursor] if 0 <= self.cursor < len(symbols) else None

    def move(self, step: int) -> None:
        """Move the cursor by ``step`` rows, kept on the list."""
        count = len(self.desk.symbols) if self.desk is not None else 0
        self.cursor = max(0, min(count - 1, self.cursor + step))
        self._pull()

    def _pull(self) -> None:
        desk = self.desk
        if desk is None or not self._started:
            return
        self.cursor = max(0, min(len(desk.symbols) - 1, self.cursor))
        now_ms = int(self.clock() * 1000)
        lines = watchlist_lines(desk, watch_rows(desk, now_ms), desk.instruments, now_ms, self.cursor)
        if lines == self._lines:
            return
        resized = len(lines) != len(self._lines)
        self._lines = lines
        self.refresh(layout=resized)
