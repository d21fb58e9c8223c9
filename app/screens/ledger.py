"""Every ledger field of every symbol: Fluxum's 25 in its CSV order, then the P&L split.

Rows are fields and columns are symbols (the selected one first), so one symbol reads top to bottom like the
CSV header. Values are written exactly as the CSV writes them. The view follows the desk at 2 Hz while open.
"""

from __future__ import annotations

import time
from decimal import Decimal
from enum import Enum

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label

from exchange.desk import Desk
from exchange.ledger import CSV_COLUMNS, LedgerEntry, format_decimal

__all__ = ["LedgerScreen", "cell_text"]


def cell_text(entry: LedgerEntry, field: str) -> str:
    """A field as the CSV writes it (empty when absent), with the update time also in UTC."""
    value = getattr(entry, field)
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format_decimal(value)
    if isinstance(value, Enum):
        return str(value.value)
    if field == "update_time" and isinstance(value, int) and value > 0:
        return f"{value} ({time.strftime('%H:%M:%S', time.gmtime(value / 1000))} UTC)"
    return str(value)


class LedgerScreen(ModalScreen[None]):
    """The full ledger entries, live."""

    BINDINGS = [
        Binding("escape,l,q", "close", "Close"),
        Binding("e", "app.export_ledger", "Export CSV"),
    ]

    def __init__(self, desk: Desk, symbol: str | None) -> None:
        super().__init__()
        self.desk = desk
        self.symbol = symbol
        self._drawn: tuple | None = None
        self._columns: list[str] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="ledger-dialog", classes="dialog"):
            yield Label("Ledger: every field (Fluxum's 25 in CSV order, then the P&L split)", id="ledger-title")
            yield DataTable(id="ledger-table", cursor_type="row", zebra_stripes=True)
            yield Label("e export CSV · Escape close", classes="dialog-hint")

    def on_mount(self) -> None:
        self.set_interval(0.5, self._pull, name="ledger-pull")
        self._pull()
        self.query_one(DataTable).focus()

    def _symbols(self) -> list[str]:
        present = [entry.symbol for entry in self.desk.ledger.entries()]
        if self.symbol in present:
            present.remove(self.symbol)
            present.insert(0, self.symbol)
        return present

    def _pull(self) -> None:
        symbols = self._symbols()
        key = (self.desk.versions["ledger"], tuple(symbols))
        if key == self._drawn:
            return
        self._drawn = key
        table = self.query_one(DataTable)
        entries = [self.desk.ledger.entry(symbol) for symbol in symbols]
        if symbols != self._columns:
            self._columns = symbols
            table.clear(columns=True)
            table.add_column("field", key="field")
            for symbol in symbols:
                table.add_column(symbol, key=symbol)
            if not symbols:
                table.add_column("(no ledger entries yet: nothing traded or held)", key="none")
            for field in CSV_COLUMNS:
                cells = [cell_text(entry, field) if entry is not None else "" for entry in entries]
                table.add_row(field, *cells, key=field)
            return
        for field in CSV_COLUMNS:
            for symbol, entry in zip(symbols, entries, strict=True):
                text = cell_text(entry, field) if entry is not None else ""
                if table.get_cell(field, symbol) != text:
                    table.update_cell(field, symbol, text)

    def action_close(self) -> None:
        self.dismiss(None)
