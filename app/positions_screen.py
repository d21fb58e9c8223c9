"""The positions overview (key ``p``): every open position of the account, of every category, and the spot
holdings, with a total row per coin.

The desk's session keeps the positions of its own category and symbols; this screen reads the whole account
(:class:`~exchange.bybit.account_positions.RestAccountReader`: ``/v5/position/list`` per linear settle coin and
for inverse, and the wallet) when it opens, again whenever the private ``position`` topic pushes a position of any
category (the desk's ``account_positions`` version), and every :data:`REREAD_S` for the marks of symbols the desk
does not stream. Positions of the desk's own symbols are valued at the desk's live mark; their funding comes from
the desk's ledger, and a ledger that disagrees with the exchange's position is flagged on its row.

Enter switches the desk to the position's symbol when it is one of the desk's; otherwise the screen says which
command watches it (the desk watches one category and the symbols it was started with).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label, Static

from exchange.bybit.account_positions import AccountReader, RestAccountReader
from exchange.bybit.errors import BybitError
from exchange.desk import Desk, Instrument
from exchange.events import LinkState
from exchange.position_watch import PositionDisagreement, price_text, side_word
from exchange.positions_overview import AccountView, Overview, OverviewRow, SortColumn, build_overview
from exchange.printable import printable
from exchange.trust import ticker_is_stale
from widgets._format import clock_utc
from widgets.positions_table import SORTABLE, PositionsTable, flag_notes, line_symbol, overview_lines

if TYPE_CHECKING:
    from app.desk_screen import DeskScreen

__all__ = ["REREAD_S", "PositionsScreen", "ledger_word", "reader_for", "status_text"]

log = logging.getLogger(__name__)

REREAD_S = 10.0
"""The account is read again this often while the screen is open: marks of symbols the desk does not stream."""
PUSH_DEBOUNCE_S = 1.0
"""Position pushes come in bursts (one per order action): at most one read per this many seconds."""
SORT_KEYS = {
    "s": SortColumn.SYMBOL,
    "z": SortColumn.SIZE,
    "v": SortColumn.VALUE,
    "u": SortColumn.UNREALISED,
    "o": SortColumn.ROE,
    "d": SortColumn.LIQ_DISTANCE,
}

LARGEST_FIRST = frozenset({SortColumn.SIZE, SortColumn.VALUE, SortColumn.UNREALISED, SortColumn.ROE})
"""Sorted largest first at the first press; symbols and the distance to liquidation (the nearest on top) go up."""


def status_text(
    *,
    private: bool,
    readable: bool = True,
    unreadable_why: str = "no session runs",
    account_down: str,
    state: LinkState,
    read_ms: int | None,
    problem: str,
    rejected: int,
) -> tuple[str, bool]:
    """The line under the title and whether it warns: live, or why the figures are not."""
    read = f"read {clock_utc(read_ms)[:8]} UTC" if read_ms is not None else "not read yet"
    left_out = f" · {rejected} record{'s' if rejected != 1 else ''} left out" if rejected else ""
    if not private:
        return "No account on this desk: positions need API keys (watch-only public data).", True
    if not readable:
        return f"No account on this desk: {unreadable_why}; the position panel shows the desk's own.", True
    if account_down:
        return f"⚠ not live: account down · {read}{left_out}", True
    if state is not LinkState.READY:
        return f"⚠ not live: link {state.value} · figures as {read}{left_out}", True
    if problem:
        return f"⚠ not live: the last read failed ({problem}) · {read}{left_out}", True
    if read_ms is None:
        return "Reading the account …", False
    return f"live · {read}{left_out}", False


def ledger_word(disagreement: PositionDisagreement, instrument: Instrument | None) -> str:
    """What the desk's ledger holds where it differs from the exchange's position on the row: its size, or its
    entry when only that differs (the notice told the whole story when the episode began)."""
    if disagreement.size_differs:
        size = disagreement.ledger_size
        return "flat" if size == 0 else f"{side_word(size)} {abs(size).normalize():f}"
    tick = instrument.tick_size if instrument is not None else None
    return f"entry {price_text(disagreement.ledger_avg, tick)}"


class PositionsScreen(ModalScreen[None]):
    """The account's positions and holdings, grouped by coin, sortable; Enter shows one on the desk."""

    BINDINGS = [
        Binding("escape,p,q", "close", "Close"),
        *[Binding(key, f"sort('{column}')", f"Sort by {column}", show=False) for key, column in SORT_KEYS.items()],
    ]

    def __init__(
        self, desk_screen: DeskScreen, reader: AccountReader | None, *, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__()
        self.desk_screen = desk_screen
        self.reader = reader
        self.clock = clock
        self.view: AccountView | None = None
        self.sort = SortColumn.SYMBOL
        self.descending = False
        self.problem = ""
        self._reading = False
        self._read_at = -1e18  # clock seconds of the last read started
        self._pushes_read = -1  # the desk's account_positions version the last read started at

    @property
    def desk(self) -> Desk:
        """The desk on screen (the session's replaces the placeholder)."""
        return self.desk_screen.desk

    def compose(self) -> ComposeResult:
        with Vertical(id="positions-dialog", classes="dialog"):
            yield Label("Positions: the whole account, one total per coin", id="positions-title")
            yield Static(id="positions-status")
            yield PositionsTable(id="positions-table")
            yield Static(id="positions-flags")
            yield Label(
                "Enter show on the desk · sort: s symbol  z size  v value  u uPnL  o ROE  d Liq% (again: reverse) · "
                "Escape close",
                classes="dialog-hint",
            )

    def on_mount(self) -> None:
        self.set_interval(0.5, self._pull, name="positions-pull")
        for table in self.query(PositionsTable):
            table.focus()
        self._pull()

    # ------------------------------------------------------------------ reading the account

    def _due(self) -> bool:
        """Whether to read the account now: never read, a position pushed since, or :data:`REREAD_S` passed."""
        if self.reader is None or self._reading or not self.desk.private:
            return False
        now = self.clock()
        if self.view is None and self._read_at < 0:
            return True
        if self.desk.state.kind is not LinkState.READY:
            return False  # the figures say they are not live; the read waits for the link
        pushed = self.desk.versions["account_positions"] != self._pushes_read
        return (pushed and now - self._read_at >= PUSH_DEBOUNCE_S) or now - self._read_at >= REREAD_S

    def _start_read(self) -> None:
        self._reading = True
        self._read_at = self.clock()
        self._pushes_read = self.desk.versions["account_positions"]
        self.run_worker(self._read(), name="positions read", group="positions", exit_on_error=False)

    async def _read(self) -> None:
        assert self.reader is not None
        try:
            self.view = await self.reader.read()
            self.problem = ""
        except BybitError as error:
            self.problem = printable(str(error), 120)
        except (TimeoutError, OSError) as error:
            self.problem = printable(str(error) or type(error).__name__, 120)
        except Exception as error:  # a read of untrusted replies: its failure is told, never the desk's crash
            log.exception("reading the account's positions failed")
            self.problem = printable(type(error).__name__, 60)
        finally:
            self._reading = False
        self._pull()

    # ------------------------------------------------------------------ showing it

    def _pull(self) -> None:
        if self._due():
            self._start_read()
        desk = self.desk
        text, warns = status_text(
            private=desk.private,
            readable=self.reader is not None,
            unreadable_why=self.desk_screen.fluxum.NO_SESSION,
            account_down=desk.account_down,
            state=desk.state.kind,
            read_ms=self.view.read_ms if self.view is not None else None,
            problem=self.problem,
            rejected=self.view.rejected if self.view is not None else 0,
        )
        overview = self.overview()
        if overview is not None and not overview.groups:
            text += " · no open position and no coin held"
        for status in self.query("#positions-status").results(Static):
            status.update(text)
            status.set_class(warns, "-not-live")
        if overview is not None:
            lines = overview_lines(overview, self._price_places)
            for table in self.query(PositionsTable):
                table.show_lines(lines, self.sort, self.descending)
            notes = flag_notes(lines)
            for flags in self.query("#positions-flags").results(Static):
                flags.update(notes)
                flags.display = bool(notes)

    def overview(self) -> Overview | None:
        """What the table shows now: the last read, the desk's live marks, its ledger's funding and word."""
        if self.view is None:
            return None
        desk = self.desk
        category = desk.category
        marks: dict[tuple[str, str], Decimal] = {}
        if desk.state.kind is LinkState.READY:
            for symbol in desk.symbols:
                mark = desk.mark_price(symbol)
                if mark is not None and not ticker_is_stale(desk, symbol):
                    marks[(category, symbol)] = mark
        funding = {(category, entry.symbol): entry.funding for entry in desk.ledger.entries()}
        differs = {
            (category, symbol): ledger_word(disagreement, desk.instrument(symbol))
            for symbol, disagreement in desk.position_disagreements.items()
        }
        return build_overview(
            self.view, marks=marks, funding=funding, disagreements=differs, sort=self.sort, descending=self.descending
        )

    def _price_places(self, row: OverviewRow) -> int | None:
        if row.category != self.desk.category:
            return None
        return self.desk.price_places(row.symbol)

    # ------------------------------------------------------------------ keys

    def action_sort(self, column: str) -> None:
        chosen = SortColumn(column)
        self.descending = not self.descending if chosen is self.sort else chosen in LARGEST_FIRST
        self.sort = chosen
        self._pull()

    def action_close(self) -> None:
        self.dismiss(None)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        """A click on a column's title sorts by it, as its key does."""
        event.stop()
        column = SORTABLE.get(str(event.column_key.value))
        if column is not None:
            self.action_sort(column.value)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        category, symbol = line_symbol(str(event.row_key.value or ""))
        if category == "total":
            self.app.notify("A total row has no symbol: pick a position.", severity="warning", timeout=4)
            return
        desk = self.desk
        if category == desk.category and symbol in desk.symbols:
            self.desk_screen.select_symbol(symbol)
            self.dismiss(None)
            return
        shown = printable(symbol, 40)
        if category == "spot":
            words = f"{shown} is a spot holding; the desk shows contracts of {desk.category}."
        else:
            words = (
                f"{shown} ({category}) is not on this desk ({desk.category}: {', '.join(desk.symbols)}). "
                f"Watch it with: fluxum --category {category} --symbols {shown}"
            )
        self.app.notify(words, severity="warning", timeout=8)


def reader_for(desk_screen: DeskScreen) -> AccountReader | None:
    """The account's reader: the session's REST client, or the stand-in a scripted desk was given (none: the
    screen says there is no account to read)."""
    app = desk_screen.fluxum
    runtime = app.runtime
    if runtime is not None and runtime.rest is not None:
        return RestAccountReader(runtime.rest)
    return app.account_reader
