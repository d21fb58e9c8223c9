"""The desk's own screen: its widgets, its layouts, its keys and what the session's events do to it.

:class:`DeskScreen` is the App's default screen (the bottom of the stack, under any modal; ``App.query`` looks
there). It composes the desk's widgets, picks the layout that fits the terminal (-full, -mid, -compact, -tiny: one
class on the screen) and how many of the ladders chosen fit (1, 2 or 4 side by side, each its own symbol), owns
the desk's bindings and actions (symbols, ladder zoom, ledger, cancel), and handles the bridge's messages
(:mod:`app.bridge`): each turns into an immediate refresh of the widgets it concerns, in one batch, and a toast
when a person must know. App-wide things (the session, toasts, theme, palette, signals) stay in the App.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal, Vertical
from textual.css.query import NoMatches
from textual.notifications import SeverityLevel
from textual.reactive import reactive
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Static

from app.bridge import BookStateChanged, FillReceived, NoticeReceived, OrderChanged, PositionChanged, StateChanged
from app.chart_screen import ChartScreen, live_source
from app.heap import settle_heap
from app.order_actions import OrderActions
from app.order_entry import confirmation, describe_order
from app.positions_screen import PositionsScreen, reader_for
from app.preferences import LADDER_COUNTS, load_ladders, save_ladders
from app.screens import LedgerScreen
from app.span_compositor import SpanCompositor
from exchange.book import BookState
from exchange.desk import Desk
from exchange.events import LinkState, OpenOrder
from widgets.connection_bar import ConnectionBar
from widgets.desk_footer import DeskFooter
from widgets.desk_widget import DeskWidget, PullTicker
from widgets.ladder import Ladder
from widgets.link_strip import LinkStrip
from widgets.orders import OrdersTable
from widgets.position import PositionPanel
from widgets.symbols import SymbolStrip
from widgets.tape import TradesTape
from widgets.wallet import WalletPanel

if TYPE_CHECKING:
    from app.app import FluxumApp

__all__ = [
    "COMPACT_BELOW",
    "DeskScreen",
    "LADDERS_NEED",
    "LAYOUTS",
    "MIN_SIZE",
    "ORDER_ACTIONS",
    "describe_order",
    "ladders_for",
    "layout_for",
]

MIN_SIZE = (60, 20)
"""Below this the desk cannot be read: a notice replaces it (at exactly 60x20 the compact layout shows)."""
COMPACT_BELOW = (90, 30)
MID_BELOW = 128
LAYOUTS = ("-full", "-mid", "-compact", "-tiny")
ROOMY_FOOTER_FROM = 100
"""Narrower than this the footer drops its spacing, so every key fits down to the compact layout (which then
drops its minor keys: :class:`~widgets.desk_footer.DeskFooter`)."""
ORDER_ACTIONS = frozenset({"place", "close_position", "cancel_all", "amend_order"})
"""The order-entry actions (app/order_actions.py), offered whenever a session runs."""
STALE_TOASTS_KEPT = 64
"""Stale-feed toasts remembered to withdraw them: the oldest go."""
REST_AFTER_S = 1.0
"""A market with no book or trade move for this long is resting: the desk's pull timer slows to ``REST_HZ``."""
REST_HZ = 5.0
"""Pulls a second while the market rests, for ages and staleness; the first move after a rest wakes the desk at
once (``Desk.on_move``)."""


def layout_for(width: int, height: int) -> str:
    """The layout that fits a terminal of ``width`` x ``height``."""
    if width < MIN_SIZE[0] or height < MIN_SIZE[1]:
        return "-tiny"
    if width < COMPACT_BELOW[0] or height < COMPACT_BELOW[1]:
        return "-compact"
    return "-mid" if width < MID_BELOW else "-full"


LADDERS_NEED = {1: (0, 0), 2: (120, COMPACT_BELOW[1]), 4: (180, COMPACT_BELOW[1])}
"""The terminal each ladder layout needs (every ladder at least ~34 columns, the side panel beside them)."""
LADDERS_FALLBACK = "ladders fall back"
"""The key of the notice that says the terminal shows fewer ladders than chosen."""


def ladders_for(chosen: int, width: int, height: int) -> int:
    """The most ladders, up to ``chosen``, that a terminal of ``width`` x ``height`` shows side by side."""
    fits = [n for n in LADDER_COUNTS if n <= chosen and width >= LADDERS_NEED[n][0] and height >= LADDERS_NEED[n][1]]
    return max(fits, default=1)


class DeskScreen(Screen[None]):
    """Ladder, position and P&L, tape, wallet, orders and a connection bar that never lies."""

    BINDINGS = [
        Binding("q", "app.quit", "Quit", tooltip="Quit: stop the session and the local exchange, then exit"),
        Binding("ctrl+q", "app.quit", "Quit", show=False, priority=True),
        Binding(
            "left_square_bracket",
            "cycle_symbol(-1)",
            "Prev",
            key_display="[",
            tooltip="Previous symbol",
        ),
        Binding("right_square_bracket", "cycle_symbol(1)", "Next", key_display="]", tooltip="Next symbol"),
        *[Binding(str(n), f"symbol_index({n - 1})", f"Symbol {n}", show=False) for n in range(1, 10)],
        Binding(
            "plus,equals_sign",
            "zoom(1)",
            "Coarser",
            key_display="+",
            tooltip="Coarser ladder: more ticks per row (1, 2, 5, 10 … 1000)",
        ),
        Binding("minus", "zoom(-1)", "Finer", key_display="-", tooltip="Finer ladder: fewer ticks per row"),
        Binding(
            "v",
            "cycle_ladders",
            "Ladders",
            show=False,
            tooltip="Ladders side by side: 1, 2, 4 (remembered); the next symbols beside the first; "
            "a small terminal shows fewer",
        ),
        Binding("l", "show_ledger", "Ledger", tooltip="Every ledger field of every symbol"),
        Binding(
            "g",
            "show_chart",
            "Chart",
            show=False,
            tooltip="Price chart of this symbol: 1m / 5m / 1h candles, entry and liq",
        ),
        Binding(
            "p",
            "show_positions",
            "Positions",
            show=False,
            tooltip="Every open position of the account (linear, inverse, spot), a total per coin; Enter shows one",
        ),
        Binding("e", "app.export_ledger", "Export", tooltip="Export the ledger as CSV (asks for the path)"),
        Binding(
            "c",
            "cancel_order",
            "Cancel",
            tooltip="Cancel the order selected in Open orders (asks first)",
        ),
        Binding(
            "k",
            "ladder_cursor(1)",
            "Cursor up",
            show=False,
            tooltip="Order entry: the ladder's cursor up a price row (the first press puts it on the best ask)",
        ),
        Binding(
            "j",
            "ladder_cursor(-1)",
            "Cursor down",
            show=False,
            tooltip="Order entry: the ladder's cursor down a price row (the first press puts it on the best bid)",
        ),
        Binding("b", "place('Buy', 'limit')", "Buy", tooltip="Buy limit at the cursor's price, the default qty"),
        Binding("s", "place('Sell', 'limit')", "Sell", tooltip="Sell limit at the cursor's price, the default qty"),
        Binding("B", "place('Buy', 'post-only')", "Buy PO", show=False, tooltip="Buy post-only at the cursor"),
        Binding("S", "place('Sell', 'post-only')", "Sell PO", show=False, tooltip="Sell post-only at the cursor"),
        Binding("m", "place('Buy', 'market')", "Market buy", show=False, tooltip="Buy at market, the default qty"),
        Binding("M", "place('Sell', 'market')", "Market sell", show=False, tooltip="Sell at market, the default qty"),
        Binding("x", "close_position", "Close", show=False, tooltip="Close the position at market (reduce-only)"),
        Binding("C", "cancel_all", "Cancel all", show=False, tooltip="Cancel every open order of this symbol"),
        Binding(
            "a",
            "amend_order",
            "Amend",
            show=False,
            tooltip="Amend the order selected in Open orders: its price (prefilled with the ladder's cursor), its qty",
        ),
        Binding(
            "r",
            "app.reconnect",
            "Reconnect",
            show=False,
            tooltip="Reconnect now: skip the retry wait, or try again out of Failed once the cause is fixed",
        ),
        Binding("h", "app.show_history", "History", show=False, tooltip="The link's outages, uptime and events"),
        Binding(
            "w",
            "app.show_watchlist",
            "Watchlist",
            show=False,
            tooltip="Watchlist: every watched symbol's price, 24h change, funding and book; add and remove symbols",
        ),
        Binding("question_mark", "app.help", "Help", key_display="?", tooltip="This help"),
    ]

    symbol: reactive[str | None] = reactive(None, init=False, repaint=False)
    """The symbol on screen. Its widgets repaint what the new symbol changes; a repaint of the screen itself
    would redraw (and resend) every cell of the terminal on each symbol key."""

    def __init__(
        self, fluxum: FluxumApp, desk: Desk, symbol: str | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__()
        self._compositor = SpanCompositor()  # a changed cell is sent alone, not from its widget's edge
        self.fluxum = fluxum
        """The app: its session (``runtime``) and its toasts (``notify`` with a key, ``withdraw``)."""
        self.desk = desk
        self.clock = clock
        self._recovering = False
        self._heap_settled = False
        self._cancelling: set[str] = set()
        self._moves: int | None = None
        self._moved_at = time.monotonic()
        self._is_resting = False
        self.order_actions = OrderActions(self)
        """Order entry: the ladder cursor's buy and sell, market, close, cancel all, amend."""
        self._cancel_dialog: tuple[str, ModalScreen[bool]] | None = None  # the order it asks about, the dialog
        self._availability: tuple[bool, bool, bool] | None = None
        self._stale_toasts: dict[str, frozenset[str]] = {}  # a stale-feed toast's key and the feeds it names
        self.pull_ticker = PullTicker()
        """The one timer that pulls every desk widget on this screen."""
        self.chosen_ladders = load_ladders()
        """How many ladders the trader chose to see (the view key; remembered): the terminal may show fewer."""
        self._terminal = (0, 0)
        self._fallback: tuple[int, int] | None = None  # (chosen, shown) while the terminal shows fewer ladders
        self.shown_ladders = 1
        """How many ladders are on screen: the first (``#ladder``) and those beside it."""
        self._beside: list[Ladder] = []
        self._first_ladder: Ladder | None = None
        self.set_reactive(DeskScreen.symbol, symbol or (desk.symbols[0] if desk.symbols else None))

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        clock = self.clock
        desk, symbol = self.desk, self.symbol
        yield ConnectionBar(desk, symbol, clock=clock, id="connection-bar")
        with Horizontal(id="status-row"):
            yield SymbolStrip(desk, symbol, clock=clock, id="symbols")
            yield LinkStrip(desk, clock=clock, id="link-strip")
        with Horizontal(id="body"):
            yield _titled(Ladder(desk, symbol, clock=clock, id="ladder"), "Order book")
            with Container(id="side"):
                with Vertical(id="middle"):
                    yield _titled(PositionPanel(desk, symbol, clock=clock, id="position"), "Position · P&L")
                    yield _titled(TradesTape(desk, symbol, clock=clock, id="tape"), "Trades")
                with Vertical(id="right"):
                    yield _titled(WalletPanel(desk, id="wallet"), "Wallet")
                    yield _titled(OrdersTable(desk, id="orders"), "Open orders")
        yield Static(id="too-small")
        yield DeskFooter()

    def on_mount(self) -> None:
        self._moving = self.set_interval(1 / self.pull_ticker.tick_hz, self._tick, name="desk-pull")
        self._resting = self.set_interval(1 / REST_HZ, self._tick, name="desk-pull-resting", pause=True)
        self.fit(self.app.size.width, self.app.size.height)
        self.query_one(OrdersTable).focus()

    def fit(self, width: int, height: int) -> None:
        """Show the layout that fits the terminal: one class on this screen (the App hands it every resize, also
        while a modal is on top)."""
        layout = layout_for(width, height)
        self._terminal = (width, height)
        for name in LAYOUTS:
            self.set_class(name == layout, name)
        with contextlib.suppress(Exception):  # (not composed yet)
            self.query_one(ConnectionBar).terse = layout in ("-compact", "-tiny")
            self.query_one(Footer).compact = width < ROOMY_FOOTER_FROM
        if layout == "-tiny":
            with contextlib.suppress(Exception):
                self.query_one("#too-small", Static).update(
                    f"Terminal {width}x{height} is too small.\n"
                    f"Fluxum needs at least {MIN_SIZE[0]}x{MIN_SIZE[1]}.\n"
                    "Enlarge the window, or press q to quit."
                )
        self._arrange_ladders()

    @property
    def layout_name(self) -> str:
        """Which layout the desk shows (-full, -mid, -compact, -tiny): read from its class, never kept twice."""
        return next((name for name in LAYOUTS if self.has_class(name)), "-full")

    # ------------------------------------------------------------------ the desk shown

    def use_desk(self, desk: Desk) -> None:
        """Point every widget at the session's desk."""
        if self.desk.on_move == self._woken:
            self.desk.on_move = None
        self.desk = desk
        if self.symbol not in desk.symbols:
            self.set_reactive(DeskScreen.symbol, desk.symbols[0] if desk.symbols else None)
        self._arrange_ladders()
        self._show_all()

    def _show_all(self) -> None:
        desk, symbol = self.desk, self.symbol
        with self.app.batch_update():
            # by isinstance, not by CSS type: OrdersTable(DataTable, DeskWidget) has no "DeskWidget" type name
            for widget in self.query("*").results(DeskWidget):
                if not widget.has_class("beside"):
                    widget.show(desk, symbol)
            self._show_beside()
        self.refresh_availability()

    def refresh_now(self, *kinds: type[DeskWidget]) -> None:
        """Re-read the desk in these widgets at once, in one batch. Events can still arrive while the app shuts
        down, after its widgets are gone: a widget that is not there is simply skipped."""
        with self.app.batch_update():
            for kind in kinds:
                for widget in self.query(kind):
                    widget.refresh_now()

    def refresh_availability(self) -> None:
        """Refresh the footer only when what ``check_action`` answers may have changed: once a session, when its
        keys are known. Each refresh recomposes the Footer, and Textual 8.2.8 keeps every replaced FooterKey alive
        (its ``data_bind`` watcher is never dropped: ~28 KB each), so following something that flips all day,
        such as "any open orders?", would grow the heap all day (``bench/soak.py`` counts the widgets)."""
        availability = (
            self.fluxum.runtime is not None or self.fluxum.session_ended_in_error(),
            self.desk.private and not self.desk.account_down,
            self.desk.state.kind is LinkState.READY,  # flips twice an outage: no footer churn
        )
        if availability != self._availability:
            self._availability = availability
            self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ORDER_ACTIONS:
            # no session (a scripted or replayed desk): nothing to send with, so not offered; with one, the key
            # always runs and says why when it may not send (watch-only, the account down, the link not Ready)
            return self.fluxum.runtime is not None
        if action == "cancel_order":
            runtime = self.fluxum.runtime
            if runtime is None or not self.desk.private or self.desk.account_down:
                return False  # no keys, a rejected key, or scripted: nothing to cancel with
            if self.desk.state.kind is not LinkState.READY:
                return False  # the orders shown are not live: the one picked may be gone or filled
            settings = runtime.settings
            # Watch-only by default on a real exchange (`fluxum --trade` allows order actions); with no order
            # selected the action says so.
            return bool(settings.local_exchange or settings.trading_enabled)
        return True

    # ------------------------------------------------------------------ bridge messages

    def on_bridge_state_changed(self, message: StateChanged) -> None:
        self.refresh_now(ConnectionBar, Ladder, SymbolStrip)
        kind = message.state.kind
        if kind is LinkState.READY and not self._heap_settled:
            self._heap_settled = True  # the books, the ledger and the backfill are in: they live all day
            settle_heap()
        if kind is LinkState.RECONNECTING:
            self._recovering = True
        elif kind is LinkState.READY and self._recovering:
            self._recovering = False
            words = (
                "public data live again; account still down" if self.desk.account_down else "every topic is live again"
            )
            self.fluxum.notify(f"Link recovered: {words}.", title="Ready", severity="information")
        self.refresh_availability()

    def on_bridge_notice_received(self, message: NoticeReceived) -> None:
        level = message.level
        severity: SeverityLevel = "error" if level == "error" else "warning" if level == "warning" else "information"
        self.fluxum.notify(message.text, severity=severity, timeout=20 if severity == "error" else 6)

    def on_bridge_fill_received(self, message: FillReceived) -> None:
        if message.fill.symbol != self.symbol:
            return
        self.refresh_now(PositionPanel, TradesTape)

    def on_bridge_book_state_changed(self, message: BookStateChanged) -> None:
        if message.symbol in self.ladder_symbols:
            self.refresh_now(Ladder)
        if message.state is BookState.SYNCED:
            self.fluxum.withdraw(f"{message.symbol} book RESYNCING")
        elif message.state is BookState.RESYNCING and self.desk.state.kind is LinkState.READY:
            reason = f": {message.reason}" if message.reason else ""
            self.fluxum.notify(
                f"{message.symbol} book RESYNCING{reason}; shown as not live until its new snapshot.",
                severity="warning",
                timeout=6,
                key=f"{message.symbol} book RESYNCING",
            )

    def on_bridge_order_changed(self, message: OrderChanged) -> None:
        order = message.order
        self.refresh_now(OrdersTable, *([Ladder] if order.symbol in self.ladder_symbols else []))
        if order.status == "Rejected":
            self.fluxum.notify(f"Order rejected: {describe_order(order, self.desk)}", severity="error", timeout=10)
        elif order.order_id in self._cancelling and not order.is_open:
            self._cancelling.discard(order.order_id)
            self.fluxum.notify(f"Order cancelled: {describe_order(order, self.desk)}", severity="information")
        if not order.is_open:
            self._close_cancel_dialog(order)
        self.order_actions.order_changed(order)
        self.refresh_availability()

    def on_bridge_position_changed(self, message: PositionChanged) -> None:
        if message.position.symbol == self.symbol:
            self.refresh_now(PositionPanel)

    def on_connection_bar_feeds_went_stale(self, message: ConnectionBar.FeedsWentStale) -> None:
        topics = ", ".join(message.topics[:4]) + (" …" if len(message.topics) > 4 else "")
        key = f"stale feeds {' '.join(message.topics)}"
        self._stale_toasts.pop(key, None)
        self._stale_toasts[key] = frozenset(message.topics)
        if len(self._stale_toasts) > STALE_TOASTS_KEPT:
            self._stale_toasts.pop(next(iter(self._stale_toasts)))
        self.fluxum.notify(f"Stale feed: no data on {topics}", severity="warning", timeout=8, key=key)

    def on_connection_bar_feeds_live_again(self, message: ConnectionBar.FeedsLiveAgain) -> None:
        """A stale-feed toast goes once every feed it names is live again."""
        for key, topics in list(self._stale_toasts.items()):
            if not topics & message.still_stale:
                del self._stale_toasts[key]
                self.fluxum.withdraw(key)

    # ------------------------------------------------------------------ ladders side by side

    @property
    def ladder_symbols(self) -> list[str]:
        """The symbols of the ladders on screen: the selected one, then the next ones of the desk's list."""
        symbols, first = list(self.desk.symbols), self.symbol
        if first is None:
            return []
        if first not in symbols:
            return [first]
        start = symbols.index(first)
        return [symbols[(start + n) % len(symbols)] for n in range(min(self.shown_ladders, len(symbols)))]

    def action_cycle_ladders(self) -> None:
        """1 -> 2 -> 4 -> 1 ladders, remembered for the next start."""
        index = LADDER_COUNTS.index(self.chosen_ladders) if self.chosen_ladders in LADDER_COUNTS else 0
        self.chosen_ladders = LADDER_COUNTS[(index + 1) % len(LADDER_COUNTS)]
        save_ladders(self.chosen_ladders)
        self._arrange_ladders()
        if self._fallback is None:
            shown = self.shown_ladders
            self.fluxum.notify(f"{shown} ladder{'s' if shown > 1 else ''} side by side.", timeout=3)

    def _arrange_ladders(self) -> None:
        """Mount or remove the ladders beside the first so that as many show as are chosen and fit (and as the
        desk has symbols); a removed ladder leaves the pull ticker, so a ladder not shown never pulls."""
        try:
            first = self._first_ladder = self.query_one("#ladder", Ladder)
        except NoMatches:
            return  # (not composed yet: on_mount fits again)
        fits = ladders_for(self.chosen_ladders, *self._terminal)
        self.shown_ladders = max(1, min(fits, len(self.desk.symbols)))
        self.set_class(self.shown_ladders > 1, "-ladders")
        wanted = self.shown_ladders - 1
        while len(self._beside) > wanted:
            self._beside.pop().remove()
        symbols = self.ladder_symbols
        added = [
            Ladder(self.desk, symbols[n], clock=self.clock, classes="beside")
            for n in range(len(self._beside) + 1, wanted + 1)
        ]
        if added:
            first.parent.mount(*added, after=self._beside[-1] if self._beside else first)  # type: ignore[union-attr]
            self._beside += added
        self._show_beside()  # (the watched list may have changed under them)
        self._tell_fallback(fits)
        self._title_ladders()

    def _tell_fallback(self, fits: int) -> None:
        """A terminal too small for the ladders chosen says so once, and withdraws it once they fit again."""
        fallback = (self.chosen_ladders, fits) if fits < self.chosen_ladders else None
        if fallback == self._fallback:
            return
        if self._fallback is not None:
            self.fluxum.withdraw(LADDERS_FALLBACK)
        self._fallback = fallback
        if fallback is not None:
            width, height = LADDERS_NEED[self.chosen_ladders]
            self.fluxum.notify(
                f"{self.chosen_ladders} ladders need a {width}x{height} terminal: showing {fits} until it grows.",
                severity="warning",
                timeout=8,
                key=LADDERS_FALLBACK,
            )

    def _show_beside(self) -> None:
        for ladder, symbol in zip(self._beside, self.ladder_symbols[1:], strict=False):
            ladder.show(self.desk, symbol)

    def _title_ladders(self) -> None:
        """One ladder: "Order book" (and how many of the chosen fit); several: each names its symbol and book."""
        if self._first_ladder is None:
            return
        ladders = [self._first_ladder, *self._beside]
        for ladder in ladders:
            if len(ladders) == 1:
                title = "Order book"
                if self._fallback is not None:
                    title += f" · 1 of {self._fallback[0]} ladders fits"
            else:
                title = f"{ladder.symbol or '-'} · {ladder.trust[0].replace('_', ' ')}"
            if ladder.border_title != title:
                ladder.border_title = title

    def _tick(self) -> None:
        painted = self.pull_ticker.tick()
        self._title_ladders()
        self._draw(painted)
        self._pace()

    def _draw(self, widgets: set[DeskWidget]) -> None:
        """Draw what this tick changed now, in one frame: the widgets its pulls repainted (see
        :meth:`DeskWidget._repaint`) and every shown widget that asked Textual for a repaint meanwhile (a panel's
        new text), which would otherwise reach the screen through its own and the screen's messages, a frame
        later. While the screen is covered or updates are batched, they wait for Textual's next update."""
        dirty = self._dirty_widgets
        dirty.update(widgets)
        for widget in self._compositor.visible_widgets:
            if widget._repaint_required and not widget._layout_required and widget is not self:
                widget._repaint_required = False  # (what the widget's idle would post to the screen)
                dirty.add(widget)
        if not dirty:
            return
        if self.is_current and not self.app._batch_count:
            self._on_timer_update()
            for widget in widgets:
                if self.app.screen is self:
                    widget._after_paint()
                else:  # under a dialog: the dialog's screen writes the frame, later
                    self.call_after_refresh(widget._after_paint)
        else:
            self.check_idle()
            for widget in widgets:
                self.call_after_refresh(widget._after_paint)

    def _pace(self) -> None:
        """Pull at the full rate while the market moves, at ``REST_HZ`` once it has rested ``REST_AFTER_S``: a
        still desk then wakes the machine an eighth as often, and the first move after a rest wakes it at once."""
        moves, now = self.desk.market_moves(), time.monotonic()
        if moves != self._moves:
            self._moves, self._moved_at = moves, now
        resting = now - self._moved_at >= REST_AFTER_S
        if resting != self._is_resting:
            self._is_resting = resting
            (self._moving.pause if resting else self._moving.resume)()
            (self._resting.resume if resting else self._resting.pause)()
        self.desk.on_move = self._woken if resting else None  # (again after a wake that moved nothing shown)

    def _woken(self) -> None:
        """The market moved while the desk rested (called from the feed, mid-frame): pull at once, on the desk's
        own queue."""
        self.call_later(self._tick)

    # ------------------------------------------------------------------ symbols, ladder, ledger

    def watch_symbol(self, symbol: str | None) -> None:
        self._show_all()

    def symbols_changed(self) -> None:
        """The watched symbols changed: a removed symbol on screen gives way to the first, the strip redraws."""
        if self.symbol not in self.desk.symbols:
            self.symbol = self.desk.symbols[0] if self.desk.symbols else None
        self._arrange_ladders()
        self.refresh_now(SymbolStrip)

    def select_symbol(self, symbol: str) -> None:
        """Show ``symbol`` (from a key or the command palette)."""
        if symbol in self.desk.symbols:
            self.symbol = symbol

    def action_cycle_symbol(self, step: int) -> None:
        symbols = self.desk.symbols
        if not symbols:
            return
        index = symbols.index(self.symbol) if self.symbol in symbols else 0
        self.symbol = symbols[(index + step) % len(symbols)]

    def action_symbol_index(self, index: int) -> None:
        if 0 <= index < len(self.desk.symbols):
            self.symbol = self.desk.symbols[index]

    def action_zoom(self, direction: int) -> None:
        ladder = self.query_one("#ladder", Ladder)
        before = ladder.group
        after = ladder.zoom(direction)
        if after == before and ladder.step() is None:
            self.fluxum.notify(
                "Grouping needs the instrument's tick size (it arrives with the first backfill).",
                severity="warning",
                timeout=4,
            )

    def action_show_ledger(self) -> None:
        self.app.push_screen(LedgerScreen(self.desk, self.symbol))

    def action_show_chart(self) -> None:
        make = live_source(self.fluxum, self.symbol) if self.symbol else None
        if make is None:
            self.notify(f"No chart: {self.fluxum.NO_SESSION}.", severity="warning", timeout=4)
            return
        self.app.push_screen(ChartScreen(make))

    def action_show_positions(self) -> None:
        self.app.push_screen(PositionsScreen(self, reader_for(self), clock=self.clock))

    # ------------------------------------------------------------------ order entry (app/order_actions.py)

    def action_ladder_cursor(self, direction: int) -> None:
        if self.query_one("#ladder", Ladder).move_cursor(direction) is None:
            self.fluxum.notify("No price to put the cursor on: the book is empty.", severity="warning", timeout=4)

    def action_place(self, side: str, kind: str) -> None:
        self.order_actions.place(side, kind)

    def action_close_position(self) -> None:
        self.order_actions.close_position()

    def action_cancel_all(self) -> None:
        self.order_actions.cancel_all()

    def action_amend_order(self) -> None:
        self.order_actions.amend()

    # ------------------------------------------------------------------ cancelling an order

    def action_cancel_order(self) -> None:
        if self.layout_name in ("-compact", "-tiny"):  # the orders table is hidden: nothing may go unseen
            self.fluxum.notify("Open orders are hidden at this size: enlarge the window to cancel.", severity="warning")
            return
        order = self.query_one(OrdersTable).selected_order()
        if order is None:
            self.fluxum.notify("No open order is selected.", severity="warning", timeout=4)
            return
        question = f"Cancel {describe_order(order, self.desk)}?\n(order {order.order_id})"
        runtime = self.fluxum.runtime
        settings = None if runtime is None else runtime.settings
        screen = confirmation(settings, question, word=order.symbol, confirm="Cancel order", refuse="Keep it")
        self._cancel_dialog = (order.order_id, screen)
        self.app.push_screen(screen, callback=partial(self._cancel_confirmed, order))

    def _cancel_confirmed(self, order: OpenOrder, confirmed: bool | None) -> None:
        if self._cancel_dialog is not None and self._cancel_dialog[0] == order.order_id:
            self._cancel_dialog = None
        if confirmed and self.desk.state.kind is not LinkState.READY:
            self.fluxum.notify(
                "Cancel not sent: the link went down while you decided, and the order may have filled or gone. "
                "Press c again once Ready.",
                severity="warning",
                timeout=8,
            )
            return
        if confirmed:
            self.run_worker(
                self._cancel(order), name=f"cancel {order.order_id[:8]}", group="orders", exit_on_error=False
            )

    async def _cancel(self, order: OpenOrder) -> None:
        """Ask the exchange to cancel; its order stream confirms it, a rejection is told at once."""
        from exchange.bybit.errors import BybitError

        runtime, app = self.fluxum.runtime, self.fluxum
        if runtime is None:
            app.notify("No session: the order cannot be cancelled.", severity="error")
            return
        self._cancelling.add(order.order_id)
        try:
            await runtime.rest.cancel_order(runtime.settings.category, order.symbol, order_id=order.order_id)
        except BybitError as error:
            self._cancelling.discard(order.order_id)
            app.notify(f"Cancel rejected: {error}", severity="error", timeout=10)
            return
        except (TimeoutError, OSError) as error:
            self._cancelling.discard(order.order_id)
            app.notify(f"Cancel not sent: {error}", severity="error", timeout=10)
            return
        app.notify(f"Cancel sent: {describe_order(order, self.desk)}", severity="information", timeout=4)

    def _close_cancel_dialog(self, order: OpenOrder) -> None:
        """The cancel dialog of an order that closed (filled, cancelled elsewhere, expired) asks about nothing:
        it goes, and the notice says what became of the order."""
        if self._cancel_dialog is None or self._cancel_dialog[0] != order.order_id:
            return
        _, dialog = self._cancel_dialog
        self._cancel_dialog = None
        if self.app.screen is dialog:  # (under another screen it stays; a yes there is refused by the exchange, told)
            dialog.dismiss(False)
        self.fluxum.notify(
            f"Nothing to cancel: the order is {order.status}: {describe_order(order, self.desk)}",
            severity="warning",
            timeout=6,
        )


def _titled(widget: DeskWidget, title: str) -> DeskWidget:
    """``widget`` with its border title set."""
    widget.border_title = title
    return widget
