"""The account's open orders, newest first; the app cancels the highlighted one (with a confirmation).

Orders change at human rates, so a DataTable is fine here (the style guide keeps DataTable away from anything
faster than ~4 Hz): it is pulled at 2 Hz and rebuilt only when the desk's ``orders`` version or its width
moved, keeping the cursor on the same order across rebuilds. When the columns do not fit, the low-value ones
give way before any number is cut: the status column goes first (a partial fill still reads in the qty as
``filled/qty``, a non-New status as a short tag after it), then the side shrinks to B / S, then the padding
between columns halves, and last the status tag goes (``filled/qty`` still says partial).

Out of Ready the list is the last word before the link went (an order may have filled or been cancelled since):
the bottom border says ``⚠ not live`` (``⚠ not live: account down`` when the key was rejected), as the wallet,
tape and position panel do.

Cells are :class:`Text`, never ``str``: the DataTable parses a ``str`` cell as markup, and a symbol or a status
is the exchange's text (made printable first).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from rich.text import Text
from textual.geometry import Size
from textual.reactive import Reactive
from textual.widgets import DataTable

from exchange.desk import Desk
from exchange.events import LinkState, OpenOrder
from exchange.printable import printable
from widgets._format import tick_price
from widgets.desk_widget import DeskWidget

__all__ = ["NOT_LIVE", "OrdersTable", "liveness"]

COLUMNS = ("symbol", "side", "price", "qty", "status")
STATUS_WORDS = {"PartiallyFilled": "Partial", "Untriggered": "Trigger"}
STATUS_TAGS = {"PartiallyFilled": "P", "Untriggered": "T"}
"""The one-letter status shown after the qty once the status column is dropped (New shows nothing)."""
CELL_PADDING = 1
SYMBOL_CHARS = 24
"""A longer symbol (only a hostile exchange sends one) is cut rather than push the numbers out of the table."""
NOT_LIVE = "⚠ not live"


def liveness(desk: Desk | None) -> tuple[str, str]:
    """The border's warning and its CSS class: empty while the orders are live (Ready, the account up)."""
    if desk is None:
        return "", ""
    if desk.account_down:
        return f"{NOT_LIVE}: account down", "-account-down"
    if desk.state.kind is not LinkState.READY:
        return NOT_LIVE, "-not-live"
    return "", ""


PricePlaces = Callable[[str], int | None]
"""A symbol's tick places (:meth:`Desk.price_places`), None while its tick is not known."""


def _unknown_places(symbol: str) -> int | None:
    return None


def _plain(value: Decimal) -> str:
    return f"{value.normalize():,f}"


class OrdersTable(DataTable[Text], DeskWidget):
    """Open orders of every symbol; the cursor picks the one to cancel."""

    PULL_NAME = "orders"

    DEFAULT_CSS = """
    OrdersTable { height: 1fr; }
    OrdersTable.-not-live { border-subtitle-color: $text-warning; border-subtitle-style: bold; }
    OrdersTable.-account-down { border-subtitle-color: $text-error; border-subtitle-style: bold; }
    """

    REFRESH_HZ = 2.0

    virtual_size: Reactive[Size] = Reactive(Size(0, 0), layout=False)
    """The table's size: an order more or less, or a wider figure, changes it, and a change of it lays out the
    whole screen again (Textual's default). Here it does only when a scrollbar comes or goes; otherwise only the
    scrollbars' thumbs are set again (:meth:`watch_virtual_size`)."""

    def __init__(self, desk: Desk | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("cursor_type", "row")
        super().__init__(zebra_stripes=False, show_cursor=True, cell_padding=CELL_PADDING, **kwargs)
        self.desk = desk
        self._rows: list[OpenOrder] = []
        self._cells: list[tuple[str, ...]] = []
        self._columns: tuple[str, ...] = ()
        self.compact_level = 0
        """0: every column; 1: no status column; 2: also side as B / S; 3: also one cell between columns;
        4: also no status tag."""

    def on_resize(self) -> None:
        self._pull()

    def watch_virtual_size(self, _before: Size, after: Size) -> None:
        region = self.scrollable_content_region
        shown = self.show_horizontal_scrollbar, self.show_vertical_scrollbar
        if (after.width > region.width, after.height > region.height) == shown:
            self._scroll_update(after)  # every scrollbar stays: the thumbs follow the rows and columns, nothing moves
            if self.scroll_y > self.max_scroll_y or self.scroll_x > self.max_scroll_x:  # less past the view
                self.scroll_to(
                    x=min(self.scroll_x, self.max_scroll_x), y=min(self.scroll_y, self.max_scroll_y), animate=False
                )
        else:
            self.refresh(layout=True)  # a scrollbar comes or goes

    def selected_order(self) -> OpenOrder | None:
        """The order under the cursor, if any."""
        if not self._rows or self.cursor_row is None:
            return None
        if 0 <= self.cursor_row < len(self._rows):
            return self._rows[self.cursor_row]
        return None

    def _pull(self) -> None:
        if not self._started:
            return
        desk = self.desk
        width = self.size.width
        warning, warning_class = liveness(desk)
        key = (id(desk), desk.versions["orders"] if desk is not None else 0, width, warning)
        if key == self._drawn_key:
            return
        self._drawn_key = key
        self.border_subtitle = warning
        self.set_class(warning_class == "-not-live", "-not-live")
        self.set_class(warning_class == "-account-down", "-account-down")
        orders = desk.open_orders() if desk is not None else []
        places = desk.price_places if desk is not None else _unknown_places
        level = _fit_level(orders, width, places)
        columns, cells = _columns(level), [_row(o, level, places) for o in orders]
        if columns == self._columns and cells == self._cells:
            self._rows = orders
            return
        selected = self.selected_order()
        self._rows, self._cells, self.compact_level = orders, cells, level
        if columns != self._columns:
            self._columns = columns
            self.clear(columns=True)
            self.cell_padding = 0 if level >= 3 else CELL_PADDING
            self.add_columns(*columns)
        else:
            self.clear()
        for order, row in zip(orders, cells, strict=True):
            self.add_row(*map(Text, row), key=order.order_id)
        if selected is not None:
            for index, order in enumerate(orders):
                if order.order_id == selected.order_id:
                    self.move_cursor(row=index, animate=False)
                    break


def _columns(level: int) -> tuple[str, ...]:
    columns = COLUMNS if level == 0 else COLUMNS[:-1]
    return tuple(f" {name}" for name in columns) if level >= 3 else columns


def _row(order: OpenOrder, level: int = 0, places: PricePlaces = _unknown_places) -> tuple[str, ...]:
    """One order's cells at a compaction level (see :attr:`OrdersTable.compact_level`); its price to the tick's
    ``places``, as the ladder writes it."""
    buy = order.side == "Buy"
    side = ("B" if buy else "S") if level >= 2 else ("BUY" if buy else "SELL")
    if order.order_type == "Market" or order.price is None:
        price = "market"
    else:
        price = tick_price(order.price, places(order.symbol))
    qty = f"{_plain(order.cum_exec_qty)}/{_plain(order.qty)}" if order.cum_exec_qty else _plain(order.qty)
    symbol, status = printable(order.symbol, SYMBOL_CHARS), printable(order.status)
    if level == 0:
        return (symbol, side, price, qty, STATUS_WORDS.get(status, status))
    tag = "" if level >= 4 else STATUS_TAGS.get(status, "" if status == "New" else status[:1])
    cells = (symbol, side, price, f"{qty} {tag}" if tag else qty)
    return tuple(f" {cell}" for cell in cells) if level >= 3 else cells


def _needed(orders: list[OpenOrder], level: int, places: PricePlaces) -> int:
    """Cells wide the table needs at a compaction level (content plus each column's padding)."""
    columns = _columns(level)
    widths = [len(name) for name in columns]
    for order in orders:
        for index, cell in enumerate(_row(order, level, places)):
            widths[index] = max(widths[index], len(cell))
    return sum(widths) + (0 if level >= 3 else 2 * CELL_PADDING * len(columns))


def _fit_level(orders: list[OpenOrder], width: int, places: PricePlaces) -> int:
    """The least compaction at which every column fits ``width`` (the most if none does, or unsized)."""
    if width <= 0:
        return 0
    for level in (0, 1, 2, 3):
        if _needed(orders, level, places) <= width:
            return level
    return 4
