"""The positions overview's table: every position and holding of the account, a total row after each coin.

What it shows is a pure function of an :class:`~exchange.positions_overview.Overview` (:func:`overview_lines`),
tested without a screen. Money is printed in its own coin only (the dollar coins to the cent, compact from ten
thousand; a coin such as BTC to the satoshi) and each total row adds one coin's figures: the coin's equity, the
account's IM and MM rates, the unrealized P&L and the margin in use. A position the desk's ledger disagrees with
carries ``⚠`` after its symbol (:func:`flag_notes` says what the ledger holds). The columns fit the terminal:
a narrow one leaves out :data:`DROP_ORDER` in order rather than scroll sideways.

The account changes at human rates (a fill, a mark read again every few seconds), so a DataTable is fine here:
it is rebuilt only when a line changed, with the cursor kept on the same position. Cells are :class:`Text`,
never ``str`` (a ``str`` cell is parsed as markup, and a symbol is the exchange's text).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from rich.cells import cell_len
from rich.console import JustifyMethod
from rich.text import Text
from textual.color import Color, ColorParseError
from textual.widgets import DataTable

from exchange.positions_overview import SPOT_GROUP, CoinGroup, Overview, OverviewRow, SortColumn
from exchange.printable import printable
from widgets._format import compact_number, fmt_signed, money_decimals

__all__ = [
    "COLUMNS",
    "DROP_ORDER",
    "SORTABLE",
    "PositionsTable",
    "TableLine",
    "column_widths",
    "flag_notes",
    "line_symbol",
    "overview_lines",
    "shown_columns",
]

COLUMNS = (
    "Symbol",
    "Side",
    "Size",
    "Value",
    "Entry",
    "Mark",
    "Liq.",
    "Liq%",
    "uPnL",
    "ROE",
    "rPnL",
    "Funding",
    "Margin",
)
"""Each position's figures: value in its coin (compact: ``32.10K``), ``Liq%`` how far the mark is from the
liquidation price, ``uPnL``/``rPnL`` unrealized and realized P&L, ``Margin`` the position's initial margin."""
LEFT = frozenset({"Symbol", "Side"})
"""Words, left-aligned; every other column is a number, right-aligned so the points line up."""
DROP_ORDER = ("rPnL", "Funding", "Liq.", "Margin", "ROE", "Liq%")
"""What a terminal too narrow for every column leaves out, first to last, rather than scroll sideways: realized
P&L and funding (history, not risk), the liquidation price (its distance stays), the margin, then ROE and the
distance. Symbol, side, size, value, entry, mark and unrealized P&L always stay; the total row's equity and the
account's IM/MM rates sit under Size, Value, Entry and Mark for that reason."""
SORTABLE = {
    "Symbol": SortColumn.SYMBOL,
    "Size": SortColumn.SIZE,
    "Value": SortColumn.VALUE,
    "uPnL": SortColumn.UNREALISED,
    "ROE": SortColumn.ROE,
    "Liq%": SortColumn.LIQ_DISTANCE,
}
"""The columns the rows sort by (a key or a click on the title); the sorted one's title carries an arrow."""
GAP = 1
"""Blank cells between two columns."""
SYMBOL_CHARS = 20
PCT_PLACES = 1
"""ROE and the distance to liquidation: a tenth of a percent is all a glance needs."""
RATE_PLACES = 2
"""The account's IM and MM rates, as Bybit's wallet page shows them."""
COIN_SIZE_PLACES = 4
"""A position's value and a coin's equity in a coin such as BTC: a size to read, like the compact dollars; P&L and
margin keep the satoshi."""
PRICE_PLACES_MAX = 8
COMPACT_FROM = Decimal(10_000)
"""Dollar money from this size on is written compact (``32.10K``): a desk reads the size, not the cents."""
LEDGER_FLAG = "⚠"
KEY_REPEAT = "#"
SIDE_WORDS = {"long": "LONG", "short": "SHORT", "spot": "SPOT"}


@dataclass(frozen=True)
class TableLine:
    """One line of the table: its key (``category:symbol``, or ``total:COIN``), its cells (one per
    :data:`COLUMNS`), whether it is a total, the position's side and how the ledger differs from it."""

    key: str
    cells: tuple[str, ...]
    total: bool = False
    side: str = ""
    ledger_differs: str = ""

    def cell(self, column: str) -> str:
        """The cell under ``column``'s title."""
        return self.cells[COLUMNS.index(column)]


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
            differs = printable(row.ledger_differs, 40)
            lines.append(TableLine(key, _row_cells(row, places), side=row.side, ledger_differs=differs))
        lines.append(TableLine(_unique(f"total:{group.coin}", seen), _total_cells(group), total=True))
    return lines


def flag_notes(lines: list[TableLine]) -> str:
    """What each flagged row's ``⚠`` means: the desk's ledger holds something else than the exchange's position."""
    flagged = [
        f"{line.cells[0].removesuffix(LEDGER_FLAG).strip()}: ledger {line.ledger_differs}"
        for line in lines
        if line.ledger_differs
    ]
    if not flagged:
        return ""
    return f"{LEDGER_FLAG} the desk's ledger disagrees with the exchange: " + " · ".join(flagged)


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
    coin = "USD" if spot else row.coin  # a holding is valued in USD
    symbol = printable(row.symbol, SYMBOL_CHARS)
    return (
        f"{symbol} {LEDGER_FLAG}" if row.ledger_differs else symbol,
        SIDE_WORDS.get(row.side, row.side.upper()),
        _plain(abs(row.size)),
        _size_money(row.value, coin),
        _price(row.avg_price, places),
        _price(row.mark_price, places),
        _price(row.liq_price, places),
        _pct(row.liq_distance_pct, signed=False),
        _money(row.unrealised, row.coin),
        _pct(row.roe_pct, signed=True),
        _money(row.realised, row.coin),
        _money(-row.funding if row.funding is not None else None, row.coin),
        _money(row.position_im, row.coin, signed=False),
    )


def _total_cells(group: CoinGroup) -> tuple[str, ...]:
    """A coin's total: its equity under Size and Value, the account's IM and MM rates under Entry and Mark, the
    unrealized P&L and the margin in use under their own columns."""
    total = group.total
    cells = dict.fromkeys(COLUMNS, "")
    if group.coin == SPOT_GROUP:
        cells["Symbol"], cells["Size"] = "Spot total", "USD"
        cells["Value"] = _size_money(total.equity, "USD")
        return tuple(cells.values())
    cells["Symbol"] = f"{printable(total.coin, 8)} total"
    cells["Size"], cells["Value"] = "equity", _size_money(total.equity, total.coin)
    cells["Entry"], cells["Mark"] = f"IM {_rate(total.im_rate)}", f"MM {_rate(total.mm_rate)}"
    cells["uPnL"] = _money(total.unrealised, total.coin)
    cells["Margin"] = _money(total.margin_in_use, total.coin, signed=False)
    return tuple(cells.values())


def _rate(rate: Decimal | None) -> str:
    return "—" if rate is None else f"{rate * 100:,.{RATE_PLACES}f}%"


def _plain(value: Decimal) -> str:
    return f"{value.normalize():,f}"


def _money(value: Decimal | None, coin: str, *, signed: bool = True) -> str:
    """P&L or margin in ``coin``: a dollar coin to the cent, compact from :data:`COMPACT_FROM`; any other coin
    (BTC) to the satoshi."""
    if value is None:
        return "—"
    places = money_decimals(coin)
    if places == 2 and abs(value) >= COMPACT_FROM:
        text = compact_number(value)
        return f"+{text}" if signed and value > 0 else text
    return fmt_signed(value, places) if signed else f"{value:,.{places}f}"


def _size_money(value: Decimal | None, coin: str) -> str:
    """A value or an equity: dollars as :func:`_money` does, a coin to :data:`COIN_SIZE_PLACES`."""
    if value is None or money_decimals(coin) == 2:
        return _money(value, coin, signed=False)
    return f"{value:,.{COIN_SIZE_PLACES}f}"


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


def column_title(column: str, sort: SortColumn | None, descending: bool) -> str:
    """A column's title, with ``▲`` or ``▼`` when the rows are sorted by it."""
    if sort is None or SORTABLE.get(column) is not sort:
        return column
    return f"{column}{'▼' if descending else '▲'}"


def column_widths(lines: list[TableLine], titles: tuple[str, ...] = COLUMNS) -> tuple[int, ...]:
    """Each column's width: its widest cell or its title."""
    widths = [cell_len(title) for title in titles]
    for line in lines:
        for index, cell in enumerate(line.cells):
            widths[index] = max(widths[index], cell_len(cell))
    return tuple(widths)


def shown_columns(widths: tuple[int, ...], room: int) -> tuple[int, ...]:
    """The columns (their indexes) that fit ``room`` cells with a :data:`GAP` between two, leaving out those of
    :data:`DROP_ORDER` in order until they fit (what is left may still be wider: the table then scrolls)."""
    shown = list(range(len(widths)))
    dropping = iter(COLUMNS.index(column) for column in DROP_ORDER)
    while room > 0 and sum(widths[index] for index in shown) + sum(_gaps(shown)) > room:
        dropped = next(dropping, None)
        if dropped is None:
            break
        shown.remove(dropped)
    return tuple(shown)


class PositionsTable(DataTable[Text]):
    """The overview's lines; the cursor picks a position (Enter: the screen switches the desk to it).

    The columns that fit the table's width are shown (:func:`shown_columns`), each as wide as its widest cell
    and one blank cell apart; a resize lays them out again."""

    DEFAULT_CSS = """
    PositionsTable { height: 1fr; }
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("cursor_type", "row")
        super().__init__(zebra_stripes=False, show_cursor=True, cell_padding=0, fixed_columns=1, **kwargs)
        self._lines: list[TableLine] = []
        self._sort: tuple[SortColumn | None, bool] = (None, False)
        self._layout: tuple[tuple[str, int], ...] = ()

    @property
    def lines(self) -> list[TableLine]:
        """The lines shown, in order."""
        return list(self._lines)

    @property
    def shown(self) -> tuple[str, ...]:
        """The columns shown, by name, in order."""
        return tuple(COLUMNS[index] for index in self._shown_indexes())

    def selected_key(self) -> str | None:
        """The key of the line under the cursor (``category:symbol`` or ``total:COIN``), if any."""
        if self._lines and self.cursor_row is not None and 0 <= self.cursor_row < len(self._lines):
            return self._lines[self.cursor_row].key
        return None

    def show_lines(self, lines: list[TableLine], sort: SortColumn | None = None, descending: bool = False) -> None:
        """Show ``lines`` (sorted by ``sort``: its title says so); nothing is redrawn when they are the ones
        shown, and the cursor stays on its line."""
        if lines == self._lines and (sort, descending) == self._sort:
            return
        self._lines, self._sort = list(lines), (sort, descending)
        self._redraw()

    def on_resize(self) -> None:
        if self._lines:
            self._redraw()

    def _titles(self) -> tuple[str, ...]:
        sort, descending = self._sort
        return tuple(column_title(column, sort, descending) for column in COLUMNS)

    def _shown_indexes(self) -> tuple[int, ...]:
        widths = column_widths(self._lines, self._titles())
        return shown_columns(widths, self.scrollable_content_region.width)

    def _redraw(self) -> None:
        selected = self.selected_key()
        titles = self._titles()
        widths = column_widths(self._lines, titles)
        shown = self._shown_indexes()
        layout = tuple((titles[index], widths[index]) for index in shown)
        if layout != self._layout:  # set here, not measured on idle: a busy desk may redraw before any idle
            self._layout = layout
            self.clear(columns=True)
            for index, gap in zip(shown, _gaps(shown), strict=True):
                title = Text(titles[index], justify=_justify(COLUMNS[index]))
                self.add_column(title, width=widths[index] + gap, key=COLUMNS[index])
        else:
            self.clear()
        styles = self._styles()
        for line in self._lines:
            cells = (_styled(line, COLUMNS[index], line.cells[index], styles) for index in shown)
            self.add_row(*cells, key=line.key)
        keys = [line.key for line in self._lines]
        if selected in keys:
            self.move_cursor(row=keys.index(selected), animate=False)

    def _styles(self) -> dict[str, str]:
        """Profit, loss and warning colours from the theme (a Rich cell cannot name a theme variable)."""
        variables = self.app.get_css_variables()
        names = {"success": "profit", "error": "loss", "warning": "text-warning"}
        return {name: _colour(variables.get(variable, "")) for name, variable in names.items()}


def _gaps(shown: Sequence[int]) -> list[int]:
    """The blank cells each shown column carries: a number its :data:`GAP` before it (it is right-aligned), words
    theirs after them unless a number follows (its gap is the one between)."""
    gaps = []
    for position, index in enumerate(shown):
        after = COLUMNS[shown[position + 1]] if position + 1 < len(shown) else ""
        gaps.append(GAP if COLUMNS[index] not in LEFT or after in LEFT or not after else 0)
    return gaps


def _justify(column: str) -> JustifyMethod:
    """Words to the left with the gap after them, numbers to the right with the gap before them."""
    return "left" if column in LEFT else "right"


def _colour(value: str) -> str:
    """A theme colour as Rich reads it (hex), or no colour when it cannot be read."""
    try:
        return Color.parse(value).hex
    except ColorParseError:
        return ""


def _styled(line: TableLine, column: str, text: str, styles: dict[str, str]) -> Text:
    """A cell: a total in bold; a side, a P&L sign and the ledger flag in the theme's colours."""
    justify = _justify(column)
    if line.total:
        return Text(text, style="bold", justify=justify)
    colour = ""
    if column == "Symbol" and line.ledger_differs:
        return Text(text, style=f"bold {styles['warning']}".strip(), justify=justify)
    if column == "Side":
        colour = styles["success"] if line.side == "long" else styles["error"] if line.side == "short" else ""
    elif text.startswith("+"):
        colour = styles["success"]
    elif text.startswith("-"):
        colour = styles["error"]
    return Text(text, style=f"{'bold ' if column == 'Side' else ''}{colour}".strip(), justify=justify)
