"""The dashboard's modal screens: order-cancel confirmation (typed on production), ledger export path, help, every
ledger field.

One module rather than a package: each screen is small, and the wheel then needs no new package entry.
Text that quotes the exchange (an order's symbol and ids, a ledger's symbols) is passed to Textual as
:class:`Content` or :class:`Text`, made printable: a ``str`` given to a Label, a Button or a DataTable cell is
parsed as markup.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from decimal import Decimal
from enum import Enum
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Label, Static

from exchange.desk import Desk
from exchange.ledger import ContractKind, LedgerEntry, csv_header, format_decimal
from exchange.printable import printable
from widgets._format import COIN_DECIMALS, fmt_price, fmt_qty

__all__ = ["ConfirmScreen", "ExportScreen", "HelpScreen", "LedgerScreen", "TypedConfirmScreen", "cell_text"]

# ------------------------------------------------------------------ confirm

# A yes/no question in a modal: cancelling an order is never one stray key away.


class ConfirmScreen(ModalScreen[bool]):
    """Dismisses with True (y / the confirm button) or False (n / escape / the other button); the question is
    plain text (it quotes the order), never markup."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str, *, confirm: str = "Yes", refuse: str = "No") -> None:
        super().__init__()
        self.question = question
        self.confirm_label = confirm
        self.refuse_label = refuse

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog", classes="dialog"):
            yield Label(_plain_lines(self.question), id="confirm-question")
            with Horizontal(classes="dialog-buttons"):
                yield Button(Content(f"{self.confirm_label} [y]"), id="confirm-yes", variant="error")
                yield Button(Content(f"{self.refuse_label} [n]"), id="confirm-no", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#confirm-no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm-yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class TypedConfirmScreen(ModalScreen[bool]):
    """Real money (production, or a host that may be it): the action goes ahead only once ``word`` (the order's
    symbol) is typed exactly and Enter pressed; anything else is told and the dialog stays; Escape dismisses with
    False. ``stakes`` says what is at risk, first on the prompt line."""

    BINDINGS = [Binding("escape", "refuse", "Keep it")]

    def __init__(self, question: str, *, word: str, stakes: str = "PRODUCTION, real money") -> None:
        super().__init__()
        self.question = question
        self.word = word
        self.stakes = stakes

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog", classes="dialog typed"):
            shown = printable(self.word)
            yield Label(_plain_lines(self.question), id="confirm-question")
            yield Label(
                Content(f"{printable(self.stakes)}. Type {shown} and press Enter to confirm."), id="typed-prompt"
            )
            yield Input(placeholder=shown, id="typed-word")
            yield Label("Escape keeps it", classes="dialog-hint", id="typed-hint")

    def on_mount(self) -> None:
        self.query_one("#typed-word", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.strip() == self.word:
            self.dismiss(True)
            return
        event.input.value = ""
        hint = f"⚠ that was not {printable(self.word)}: nothing sent · Escape keeps it"
        self.query_one("#typed-hint", Label).update(Content(hint))

    def action_refuse(self) -> None:
        self.dismiss(False)


def _plain_lines(text: str) -> Content:
    """A question of ours with quoted data: its own lines kept, each made printable, no markup."""
    return Content("\n".join(printable(line) for line in text.split("\n")))


# ------------------------------------------------------------------ export

# Where to write the ledger CSV: a path prefilled with a fresh name in the current directory.


class ExportScreen(ModalScreen[str | None]):
    """Dismisses with the chosen path (Enter) or None (Escape)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, default_path: str) -> None:
        super().__init__()
        self.default_path = default_path

    def compose(self) -> ComposeResult:
        with Vertical(id="export-dialog", classes="dialog"):
            yield Label("Export the ledger as CSV (Fluxum's columns, then the P&L split) to:")
            yield Input(self.default_path, id="export-path")
            yield Label("Enter to write · Escape to cancel", classes="dialog-hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        path = event.value.strip()
        self.dismiss(path or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


# ------------------------------------------------------------------ help

# The help screen: every binding with what it does, and what the glyphs on screen mean.

LEGEND = (
    ("● Ready", "every topic live, private stream authenticated, backfill done"),
    ("○ Connected", "sockets open, still subscribing / snapshotting / backfilling"),
    ("◐ Connecting", "opening the links"),
    ("◑ Reconnecting", "link lost: attempt n, countdown to the next try, the reason"),
    ("✗ Failed", "retrying cannot fix it (a rejected key): not retrying"),
    ("○ Disconnected", "stopped"),
    ("down 41 s", "the outage clock: since the first loss of Ready, across every attempt"),
    ("█ ▒ ░", "the last 30 minutes, a cell a minute: Ready, degraded (a stream stale, a book not live), down"),
    ("● LIVE", "the book is synced and fresh"),
    ("⚠ … NOT LIVE", "resyncing, awaiting a snapshot or stale: dimmed, do not trade on it"),
    ("◆", "your open order at that price (ladder)"),
    ("▶", "the order-entry cursor on the ladder (k / j move it; b / s buy or sell there), its price on the header"),
    ("◆ YOU", "your own fill, a row of its own in the tape"),
    ("!", "a large trade: top 2% of the last 200 by notional, and at least 3x their median"),
    ("BUY / SELL", "the aggressor (taker) side of a public trade"),
)


class HelpScreen(ModalScreen[None]):
    """Lists the desk's bindings (given by the desk screen, so it cannot drift) and the legend."""

    BINDINGS = [Binding("escape,question_mark,q", "dismiss_help", "Close")]

    def __init__(self, bindings: Sequence[BindingType], log_path: Path | None = None) -> None:
        super().__init__()
        self.bindings = bindings
        """The keys listed, in their order."""
        self.log_path = log_path
        """The desk's log file (app/log_file.py), told so a person knows where to look after a failure."""

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-dialog", classes="dialog"):
            if self.log_path is not None:
                log_line = Content.assemble(("Log file ", "bold"), printable(str(self.log_path), None), "\n")
                yield Static(log_line, classes="help-heading")
            yield Static(Content.styled("Fluxum: keys", "bold"), classes="help-heading")
            for keys, what in self._keys():
                yield self._row(Content.styled(f"  {keys}", "bold $accent"), what)
            yield Static(Content.assemble("\n", ("On screen", "bold")), classes="help-heading")
            for glyph, meaning in LEGEND:
                yield self._row(Content.styled(f"  {glyph}", "bold"), meaning)
            yield Static(Content.assemble("\n", ("Escape or ? closes this screen.", "dim")), classes="help-heading")

    def plain(self) -> str:
        """The whole help as plain text, also what is scrolled below the screen."""
        rows = [f"{keys}  {what}" for keys, what in self._keys()] + [f"{glyph}  {what}" for glyph, what in LEGEND]
        return "\n".join(rows)

    @staticmethod
    def _row(key: Content, what: str) -> Horizontal:
        """A key and what it does, side by side: a long description wraps under itself, not under the keys."""
        return Horizontal(
            Static(key, classes="help-key"), Static(Content(what), classes="help-what"), classes="help-row"
        )

    def _keys(self) -> list[tuple[str, str]]:
        """Each binding with a description once (its keys joined), the symbol keys as one line, the palette."""
        listed: list[tuple[str, str]] = []
        seen: set[str] = set()
        for binding in self.bindings:
            if not isinstance(binding, Binding) or not binding.description or binding.action in seen:
                continue
            seen.add(binding.action)
            if binding.action.startswith("symbol_index"):
                if binding.key == "1":
                    listed.append(("1 … 9", "Symbol by its number"))
                continue
            keys = ", ".join(self.app.get_key_display(Binding(key, "")) for key in binding.key.split(","))
            listed.append((keys, binding.tooltip or binding.description))
        listed.append(("ctrl+p", "Command palette: symbols, the watchlist (add, remove), themes, actions"))
        return listed

    def action_dismiss_help(self) -> None:
        self.dismiss(None)


# ------------------------------------------------------------------ ledger

# Every ledger field of every symbol: Fluxum's 25 in its CSV order, then the P&L split. Rows are fields and
# columns are symbols (the selected one first), so one symbol reads top to bottom like the CSV header. Values
# are written exactly as the CSV writes them. The view follows the desk at 2 Hz while open.


def cell_text(entry: LedgerEntry, field: str) -> str:
    """A field as the CSV writes it (empty when absent), with the update time also in UTC."""
    value = getattr(entry, "contract" if field == "contract_type" else field)
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format_decimal(value)
    if isinstance(value, Enum):
        return str(value.value)
    if field == "update_time" and isinstance(value, int) and value > 0:
        return f"{value} ({time.strftime('%H:%M:%S', time.gmtime(value / 1000))} UTC)"
    return str(value)


PRICE_FIELDS = frozenset({"spot", "avg_buy_price", "avg_sell_price", "avg_price", "running_price", "price"})
"""Ledger fields shown to the instrument's tick."""
QTY_FIELDS = frozenset(
    {"position", "total_buy_qty", "total_sell_qty", "total_original", "total_executed", "total_remaining"}
    | {"running_qty", "qty"}
)
"""Ledger fields shown to the instrument's qty step."""
MONEY_DECIMALS = 4
"""P&L, notionals, fees and funding in the quote coin: a fee of a few hundredths still shows; the CSV is exact.
An inverse contract's money is in its settle coin (BTC) and shows to :data:`COIN_DECIMALS` places."""


def ledger_cell_text(entry: LedgerEntry, field: str, price_dp: int, qty_dp: int) -> str:
    """A field as a desk reads it: prices to the tick, quantities to the qty step, money to
    :data:`MONEY_DECIMALS` (never the ledger's 24-digit quotients); the rest as :func:`cell_text` has it."""
    value = getattr(entry, field, None)
    if not isinstance(value, Decimal) or not value.is_finite():
        return cell_text(entry, field)
    if field in PRICE_FIELDS:
        return fmt_price(value, price_dp)
    if field in QTY_FIELDS:
        return fmt_qty(value, qty_dp)
    return fmt_price(value, COIN_DECIMALS if entry.contract is ContractKind.INVERSE else MONEY_DECIMALS)


FALLBACK_DECIMALS = (2, 3)
"""Price and qty places of a symbol with no instrument and no exchange number to learn them from."""
MAX_LEARNT_DECIMALS = 10


def _places(value: Decimal | None) -> int | None:
    """The places a number from the exchange was written with (``0.15123`` -> 5), None for none or zero."""
    if value is None or not value.is_finite() or value == 0:
        return None
    exponent = value.as_tuple().exponent
    return min(MAX_LEARNT_DECIMALS, max(0, -exponent)) if isinstance(exponent, int) else None


def exchange_decimals(entry: LedgerEntry) -> tuple[int, int]:
    """Price and qty places of a symbol whose instrument is not known, from the exchange's own strings: the last
    fill's price (else the mark), and the fills' quantities (their sums keep the places they were written with)."""
    price = _places(entry.price) if entry.price is not None else _places(entry.spot)
    quantities = [_places(q) for q in (entry.qty, entry.total_buy_qty, entry.total_sell_qty)]
    qty = max((q for q in quantities if q is not None), default=None)
    return (
        FALLBACK_DECIMALS[0] if price is None else price,
        FALLBACK_DECIMALS[1] if qty is None else qty,
    )


class LedgerScreen(ModalScreen[None]):
    """The full ledger entries, live: one column per symbol, each to its instrument; the field names stay in a
    fixed first column when the table scrolls sideways."""

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
        self._fields = csv_header(False)

    def compose(self) -> ComposeResult:
        with Vertical(id="ledger-dialog", classes="dialog"):
            yield Label("Ledger: every field (Fluxum's 25 in CSV order, then the P&L split)", id="ledger-title")
            yield DataTable(id="ledger-table", cursor_type="row", zebra_stripes=True, fixed_columns=1)
            yield Label("rounded to each instrument · e export CSV (exact) · Escape close", classes="dialog-hint")

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
        key = (self.desk.ledger.version, tuple(symbols))  # every change: fills, marks, legs, open orders
        if key == self._drawn:
            return
        self._drawn = key
        table = self.query_one(DataTable)
        entries = [self.desk.ledger.entry(symbol) for symbol in symbols]
        # an inverse symbol adds the rows saying how each column's money is counted and in which coin, as the CSV
        fields = csv_header(any(e is not None and e.contract is ContractKind.INVERSE for e in entries))
        if symbols != self._columns or fields != self._fields:
            self._columns, self._fields = symbols, fields
            table.clear(columns=True)
            table.add_column("field", key="field")
            for symbol in symbols:
                table.add_column(Text(printable(symbol)), key=symbol)
            if not symbols:
                table.add_column("(no ledger entries yet: nothing traded or held)", key="none")
            for field in fields:
                cells = [self._cell(symbol, entry, field) for symbol, entry in zip(symbols, entries, strict=True)]
                table.add_row(field, *cells, key=field)
            return
        for field in fields:
            for symbol, entry in zip(symbols, entries, strict=True):
                cell = self._cell(symbol, entry, field)
                if table.get_cell(field, symbol) != cell:
                    table.update_cell(field, symbol, cell)

    def _cell(self, symbol: str, entry: LedgerEntry | None, field: str) -> Text:
        """A DataTable cell as plain text (the table parses a ``str`` cell as markup, and a symbol is data),
        right-aligned so the points of a column line up."""
        if entry is None:
            return Text("")
        instrument = self.desk.instrument(symbol)
        if instrument is not None:
            price_dp, qty_dp = instrument.price_decimals, instrument.qty_decimals
        else:
            price_dp, qty_dp = exchange_decimals(entry)
        text = printable(ledger_cell_text(entry, field, price_dp, qty_dp))
        return Text(text, justify="right" if isinstance(getattr(entry, field, None), Decimal) else "left")

    def action_close(self) -> None:
        self.dismiss(None)
