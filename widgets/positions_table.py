"""The positions overview's table: every position and holding of the account, a total row after each coin.

What it shows is a pure function of an :class:`~exchange.positions_overview.Overview` (:func:`overview_lines`),
tested without a screen. Money is printed in its own coin only (2 places for the dollar coins, 8 for a coin such
as BTC) and each total row adds one coin's figures; the note column carries the total's equity and the account's
margin rates, and a position's ``⚠ ledger`` flag when the desk's ledger disagrees with it.

The account changes at human rates (a fill, a mark read again every few seconds), so a DataTable is fine here:
it is rebuilt only when a line changed, with the cursor kept on the same position. Cells are :class:`Text`,
never ``str`` (a ``str`` cell is parsed as markup, and a symbol is the exchange's text).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual.color import Color, ColorParseError
from textual.widgets import DataTable

from exchange.positions_overview import SPOT_GROUP, CoinGroup, CoinTotal, Overview, OverviewRow
from exchange.printable import printable
from widgets._format import fmt_signed, money_decimals

__all__ = ["COLUMNS", "PositionsTable", "TableLine", "column_widths", "line_symbol", "overview_lines"]

COLUMNS = (
    "Symbol",
    "Side",
    "Size",
    "Value",
    "Entry",
    "Mark",
    "Liq.",
    "Liq. dist",
    "Unrealized",
    "ROE",
    "Realized",
    "Funding",
    "Margin",
    "Note",
)
SYMBOL_CHARS = 20
PCT_PLACES = 2
PRICE_PLACES_MAX = 8
LEDGER_FLAG = "⚠ ledger:"
KEY_REPEAT = "#"
SIDE_WORDS = {"long": "LONG", "short": "SHORT", "spot": "SPOT"}


@dataclass(frozen=True)
class TableLine:
    """One line of the table: its key (``category:symbol``, or ``total:COIN``), its cells, and whether it is a
    total."""

    key: str
    cells: tuple[str, ...]
    total: bool = False
    side: str = ""


PricePlaces = Callable[[OverviewRow], int | None]
"""The places a row's prices show (its instrument's tick), or None to keep the exchange's own."""


def overview_lines(overview: Overview, price_places: PricePlaces | None = None) -> list[TableLine]:
    """The table's lines: each group's rows in their order, then its total."""
    lines: list[TableLine] = []
    seen: set[str] = set()
    for group in overview.groups:
        for row in group.rows:
            places = price_places(row) if price_places is not None else None
            key = _unique(f"{row.category}:{row.symbol}", seen)
            lines.append(TableLine(key, _row_cells(row, places), side=row.side))
        lines.append(TableLine(_unique(f"total:{group.coin}", seen), _total_cells(group), total=True))
    return lines


def line_symbol(key: str) -> tuple[str, str]:
    """The category and symbol a line's key names (``total`` and the coin for a total row)."""
    category, _, symbol = key.partition(":")
    return category, symbol.partition(KEY_REPEAT)[0]


def _unique(key: str, seen: set[str]) -> str:
    """``key``, or with a count after it when a line already has it (a hedge-mode account lists a symbol's long
    and short apart; a hostile host may list one twice): a table's row keys must differ."""
    unique, count = key, 1
    while unique in seen:
        count += 1
        unique = f"{key}{KEY_REPEAT}{count}"
    seen.add(unique)
    return unique


def _row_cells(row: OverviewRow, places: int | None) -> tuple[str, ...]:
    spot = row.category == "spot"
    money = money_decimals(row.coin)
    value_places = 2 if spot else money  # a holding is valued in USD
    note = f"{LEDGER_FLAG} {printable(row.ledger_differs, 40)}" if row.ledger_differs else ""
    return (
        printable(row.symbol, SYMBOL_CHARS),
        SIDE_WORDS.get(row.side, row.side.upper()),
        _plain(abs(row.size)),
        _amount(row.value, value_places),
        _price(row.avg_price, places),
        _price(row.mark_price, places),
        _price(row.liq_price, places),
        _pct(row.liq_distance_pct, signed=False),
        fmt_signed(row.unrealised, money),
        _pct(row.roe_pct, signed=True),
        fmt_signed(row.realised, money),
        fmt_signed(-row.funding if row.funding is not None else None, money),
        _amount(row.position_im, money),
        note,
    )


def _total_cells(group: CoinGroup) -> tuple[str, ...]:
    total = group.total
    cells = dict.fromkeys(COLUMNS, "")
    if group.coin == SPOT_GROUP:
        cells["Symbol"], cells["Side"] = "Spot total", f"{total.positions} coin{'s' if total.positions != 1 else ''}"
        cells["Value"], cells["Note"] = f"{_amount(total.equity, 2)} USD", "at the exchange's USD values"
        return tuple(cells.values())
    money = money_decimals(total.coin)
    cells["Symbol"], cells["Side"] = f"{printable(total.coin, 8)} total", f"{total.positions} open"
    cells["Unrealized"], cells["Margin"] = fmt_signed(total.unrealised, money), _amount(total.margin_in_use, money)
    cells["Note"] = _total_note(total, money)
    return tuple(cells.values())


def _total_note(total: CoinTotal, money: int) -> str:
    equity = "—" if total.equity is None else _amount(total.equity, money)
    return f"equity {equity} · IM {_pct(_rate(total.im_rate), False)} · MM {_pct(_rate(total.mm_rate), False)}"


def _rate(rate: Decimal | None) -> Decimal | None:
    return None if rate is None else rate * 100


def _plain(value: Decimal) -> str:
    return f"{value.normalize():,f}"


def _amount(value: Decimal | None, places: int) -> str:
    return "—" if value is None else f"{value:,.{places}f}"


def _pct(value: Decimal | None, signed: bool) -> str:
    if value is None:
        return "—"
    return f"{fmt_signed(value, PCT_PLACES)}%" if signed else f"{value:,.{PCT_PLACES}f}%"


def _price(value: Decimal | None, places: int | None) -> str:
    """A price to ``places``, or as the exchange wrote it (at most :data:`PRICE_PLACES_MAX` places)."""
    if value is None:
        return "—"
    if places is None:
        exponent = value.as_tuple().exponent
        places = min(PRICE_PLACES_MAX, max(0, -exponent)) if isinstance(exponent, int) else 0
    return f"{value:,.{places}f}"


def column_widths(lines: list[TableLine]) -> tuple[int, ...]:
    """Each column's width: its widest cell or its title."""
    widths = [cell_len(label) for label in COLUMNS]
    for line in lines:
        for index, cell in enumerate(line.cells):
            widths[index] = max(widths[index], cell_len(cell))
    return tuple(widths)


class PositionsTable(DataTable[Text]):
    """The overview's lines; the cursor picks a position (Enter: the screen switches the desk to it)."""

    DEFAULT_CSS = """
    PositionsTable { height: 1fr; }
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("cursor_type", "row")
        super().__init__(zebra_stripes=False, show_cursor=True, cell_padding=1, fixed_columns=1, **kwargs)
        self._lines: list[TableLine] = []
        self._widths: tuple[int, ...] = ()

    @property
    def lines(self) -> list[TableLine]:
        """The lines shown, in order."""
        return list(self._lines)

    def selected_key(self) -> str | None:
        """The key of the line under the cursor (``category:symbol`` or ``total:COIN``), if any."""
        if self._lines and self.cursor_row is not None and 0 <= self.cursor_row < len(self._lines):
            return self._lines[self.cursor_row].key
        return None

    def show_lines(self, lines: list[TableLine]) -> None:
        """Show ``lines``; nothing is redrawn when they are the ones shown, and the cursor stays on its line."""
        if lines == self._lines:
            return
        selected = self.selected_key()
        self._lines = list(lines)
        styles = self._styles()
        widths = column_widths(lines)
        if widths != self._widths:  # set here, not measured on idle: a busy desk may redraw before any idle
            self._widths = widths
            self.clear(columns=True)
            for label, width in zip(COLUMNS, widths, strict=True):
                self.add_column(label, width=width)
        else:
            self.clear()
        for line in lines:
            cells = (_styled(line, index, cell, styles) for index, cell in enumerate(line.cells))
            self.add_row(*cells, key=line.key)
        keys = [line.key for line in lines]
        if selected in keys:
            self.move_cursor(row=keys.index(selected), animate=False)

    def _styles(self) -> dict[str, str]:
        """Profit, loss and warning colours from the theme (a Rich cell cannot name a theme variable)."""
        variables = self.app.get_css_variables()
        names = {"success": "profit", "error": "loss", "warning": "text-warning"}
        return {name: _colour(variables.get(variable, "")) for name, variable in names.items()}


def _colour(value: str) -> str:
    """A theme colour as Rich reads it (hex), or no colour when it cannot be read."""
    try:
        return Color.parse(value).hex
    except ColorParseError:
        return ""


def _styled(line: TableLine, column: int, text: str, styles: dict[str, str]) -> Text:
    """A cell: a total in bold; a side, a P&L sign and the ledger flag in the theme's colours."""
    if line.total:
        return Text(text, style="bold")
    colour = ""
    if column == 1:
        colour = styles["success"] if line.side == "long" else styles["error"] if line.side == "short" else ""
    elif column == len(COLUMNS) - 1 and text.startswith(LEDGER_FLAG):
        return Text(text, style=f"bold {styles['warning']}".strip())
    elif text.startswith("+"):
        colour = styles["success"]
    elif text.startswith("-"):
        colour = styles["error"]
    return Text(text, style=f"{'bold ' if column == 1 else ''}{colour}".strip())
