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
from exchange.watchlist import WatchRow, WatchSort, funding_countdown, sorted_watch_rows, watch_rows
from widgets._format import MAX_DECIMALS, compact_number, fmt_price
from widgets.desk_widget import DeskWidget

__all__ = ["DROP_ORDER", "NOT_LIVE", "SORT_COLUMNS", "WatchlistTable", "shown_columns", "watchlist_lines"]

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
DROP_ORDER = ("open int.", "turnover", "next in", "24h %")
"""The columns a narrow terminal leaves out, in this order, rather than wrap a row: the book's state stays."""
SORT_COLUMNS = {
    WatchSort.SYMBOL: "symbol",
    WatchSort.CHANGE: "24h %",
    WatchSort.TURNOVER: "turnover",
    WatchSort.FUNDING: "funding",
    WatchSort.OPEN_INTEREST: "open int.",
}
"""The column each sort orders by: its heading carries ``▲`` (smallest first) or ``▼`` (largest first)."""
SORT_WORDS = {
    WatchSort.WATCHED: "in the order watched",
    WatchSort.SYMBOL: "by symbol",
    WatchSort.CHANGE: "by 24h change",
    WatchSort.TURNOVER: "by turnover",
    WatchSort.FUNDING: "by funding rate",
    WatchSort.OPEN_INTEREST: "by open interest",
}
Sorting = tuple[WatchSort, bool]
"""What the rows are sorted by, and whether the largest come first."""


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


def shown_columns(width: int | None) -> tuple[int, ...]:
    """The indexes of the columns that fit ``width`` cells (all of them when the width is not known)."""
    shown = list(range(len(COLUMNS)))
    for name in DROP_ORDER:
        if width is None or sum(COLUMNS[i][1] + 1 for i in shown) - 1 <= width:
            break
        shown.remove(next(i for i in shown if COLUMNS[i][0] == name))
    return tuple(shown)


def _line(cells: list[tuple[str, str]], row_style: str, shown: tuple[int, ...]) -> Content:
    parts: list[Any] = []
    for index in shown:
        (text, style), (_, width, align) = cells[index], COLUMNS[index]
        text = text[:width]
        padded = f"{text:<{width}}" if align == "<" else f"{text:>{width}}"
        parts += [(padded, " ".join(s for s in (style, row_style) if s)), (" ", row_style)]
    return Content.assemble(*parts[:-1])


def _headings(sorting: Sorting, shown: tuple[int, ...]) -> str:
    sort, descending = sorting
    arrowed = SORT_COLUMNS.get(sort)
    names = [f"{name}{'▼' if descending else '▲'}" if name == arrowed else name for name, _, _ in COLUMNS]
    return " ".join(
        f"{names[i]:<{COLUMNS[i][1]}}" if COLUMNS[i][2] == "<" else f"{names[i]:>{COLUMNS[i][1]}}" for i in shown
    )


def _sort_text(sorting: Sorting) -> str:
    sort, descending = sorting
    if sort is WatchSort.WATCHED:
        return f" · {SORT_WORDS[sort]}{' (reversed)' if descending else ''}"
    return f" · {SORT_WORDS[sort]} {'▼' if descending else '▲'}"


def watchlist_lines(
    desk: Desk,
    rows: list[WatchRow],
    instruments: Mapping[str, Instrument],
    now_ms: int,
    cursor: int | None,
    sorting: Sorting = (WatchSort.WATCHED, False),
    width: int | None = None,
) -> list[Content]:
    """The header (the sort, and ``⚠ not live`` when the figures are not current), the column headings (the sorted
    one arrowed) and a row per symbol in the order given; the cursor's row reversed, a row whose figures are not
    live dimmed. The columns are those that fit ``width`` (:data:`DROP_ORDER`)."""
    shown = shown_columns(width)
    ready = desk.state.kind is LinkState.READY
    stale = [row.symbol for row in rows if not row.live]
    count = f"{len(rows)} watched{_sort_text(sorting)}"
    if not ready:
        note: tuple[str, str] = (f"  {NOT_LIVE}: the last figures before the link went", "bold $text-warning")
    elif stale:
        note = (f"  {NOT_LIVE}: {', '.join(stale[:3])}{' …' if len(stale) > 3 else ''}", "bold $text-warning")
    else:
        note = ("", "")
    lines = [Content.assemble((count, "bold"), note)]
    lines.append(Content.styled(_headings(sorting, shown), "bold $label"))
    for index, row in enumerate(rows):
        style = "reverse" if index == cursor else "dim" if not row.live else ""
        lines.append(_line(_cells(row, instruments.get(row.symbol), now_ms), style, shown))
    return lines


class WatchlistTable(DeskWidget):
    """Every watched symbol, a row each, in :attr:`sorting`'s order; ``cursor`` picks the row Enter shows and
    Delete removes."""

    PULL_NAME = "watchlist"
    REFRESH_HZ = 2.0

    DEFAULT_CSS = """
    WatchlistTable { height: auto; width: auto; }
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cursor = 0
        self.sorting: Sorting = (WatchSort.WATCHED, False)
        self._order: list[str] = []
        self._lines: list[Content] = []

    def render(self) -> Content:
        return Content("\n").join(self._lines)

    @property
    def plain_lines(self) -> list[str]:
        """The lines drawn, as plain text."""
        return [line.plain for line in self._lines]

    @property
    def order(self) -> list[str]:
        """The symbols in the order their rows are drawn."""
        return list(self._order) if self._order else list(self.desk.symbols if self.desk is not None else [])

    def selected(self) -> str | None:
        """The symbol under the cursor, if any."""
        order = self.order
        return order[self.cursor] if 0 <= self.cursor < len(order) else None

    def select(self, symbol: str) -> None:
        """Put the cursor on ``symbol``'s row (where it is drawn now)."""
        order = self.order
        if symbol in order:
            self.cursor = order.index(symbol)
        self._pull()

    def move(self, step: int) -> None:
        """Move the cursor by ``step`` rows, kept on the list."""
        count = len(self.desk.symbols) if self.desk is not None else 0
        self.cursor = max(0, min(count - 1, self.cursor + step))
        self._pull()

    def sort_by(self, sort: WatchSort) -> None:
        """Order the rows by ``sort`` (a figure the largest first, the symbol from A); the same again reverses.
        The cursor stays on its symbol."""
        current, descending = self.sorting
        largest_first = sort not in (WatchSort.WATCHED, WatchSort.SYMBOL)
        self.sorting = (sort, not descending if sort is current else largest_first)
        self._pull()

    def _pull(self) -> None:
        desk = self.desk
        if desk is None or not self._started:
            return
        selected = self.selected()  # the cursor follows its symbol when a figure reorders the rows
        now_ms = int(self.clock() * 1000)
        rows = sorted_watch_rows(watch_rows(desk, now_ms), *self.sorting)
        self._order = [row.symbol for row in rows]
        if selected in self._order:
            self.cursor = self._order.index(selected)
        self.cursor = max(0, min(len(rows) - 1, self.cursor))
        width = self.container_size.width or None
        lines = watchlist_lines(desk, rows, desk.instruments, now_ms, self.cursor, self.sorting, width)
        if lines == self._lines:
            return
        resized = len(lines) != len(self._lines)
        self._lines = lines
        self.refresh(layout=resized)
