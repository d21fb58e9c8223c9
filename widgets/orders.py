"""The account's open orders, newest first; the app cancels the highlighted one (with a confirmation).

Orders change at human rates, so a DataTable is fine here (the style guide keeps DataTable away from anything
faster than ~4 Hz): it is pulled at 2 Hz and rebuilt only when the desk's ``orders`` version moved, keeping
the cursor on the same order across rebuilds.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from textual.widgets import DataTable

from exchange.desk import Desk
from exchange.events import OpenOrder

__all__ = ["OrdersTable"]

COLUMNS = ("symbol", "side", "price", "qty", "status")
STATUS_WORDS = {"PartiallyFilled": "Partial", "Untriggered": "Trigger"}


def _plain(value: Decimal | None) -> str:
    if value is None:
        return "market"
    return f"{value.normalize():,f}"


class OrdersTable(DataTable[str]):
    """Open orders of every symbol; the cursor picks the one to cancel."""

    DEFAULT_CSS = """
    OrdersTable { height: 1fr; }
    """

    def __init__(self, desk: Desk | None = None, *, refresh_hz: float = 2.0, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, show_cursor=True, cell_padding=1, **kwargs)
        self._started = False
        self.desk = desk
        self._refresh_hz = refresh_hz
        self._drawn_key: tuple | None = None
        self._rows: list[OpenOrder] = []

    def show(self, desk: Desk | None) -> None:
        self.desk = desk
        self.refresh_now()

    def on_mount(self) -> None:
        self._started = True  # pulls before mount (show() from the app) wait for it
        self.add_columns(*COLUMNS)
        self.set_interval(1 / self._refresh_hz, self._pull, name="orders-pull")
        self._pull()

    def refresh_now(self) -> None:
        """Re-read the desk at once (an order changed)."""
        self._pull()

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
        key = (id(desk), desk.versions["orders"] if desk is not None else 0)
        if key == self._drawn_key:
            return
        self._drawn_key = key
        orders = desk.open_orders() if desk is not None else []
        if [self._row(o) for o in orders] == [self._row(o) for o in self._rows]:
            self._rows = orders
            return
        selected = self.selected_order()
        self._rows = orders
        self.clear()
        for order in orders:
            self.add_row(*self._row(order), key=order.order_id)
        if selected is not None:
            for index, order in enumerate(orders):
                if order.order_id == selected.order_id:
                    self.move_cursor(row=index, animate=False)
                    break

    @staticmethod
    def _row(order: OpenOrder) -> tuple[str, ...]:
        side = "BUY" if order.side == "Buy" else "SELL"
        return (
            order.symbol,
            side,
            _plain(order.price) if order.order_type != "Market" else "market",
            f"{_plain(order.cum_exec_qty)}/{_plain(order.qty)}" if order.cum_exec_qty else _plain(order.qty),
            STATUS_WORDS.get(order.status, order.status),
        )
