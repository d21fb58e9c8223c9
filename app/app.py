"""The Fluxum App: the desk on one screen, fed by one session through one bridge.

``FluxumApp()`` needs no arguments: it loads the default settings (the embedded local exchange) and, once
mounted, starts the session in a named worker (``session``) through :func:`app.runtime.open_runtime`, then the
bridge in another (``bridge``). Tests inject a prepared :class:`~exchange.desk.Desk` (no session: snapshots),
a clock (time in state, countdowns, staleness), settings and runtime options.

Ingest runs at network rate inside the session; the widgets pull the desk on their own timers and repaint only
on change; the bridge turns the few lossless events (state changes, notices, fills, orders, book trust) into
immediate refreshes and notifications. Worker failures end in one place, :meth:`on_worker_state_changed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import signal
import time
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any

from textual import events
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.containers import Container, Horizontal, Vertical
from textual.content import Content
from textual.driver import Driver
from textual.filter import LineFilter
from textual.fuzzy import Matcher
from textual.notifications import Notification, Notify, SeverityLevel
from textual.reactive import reactive
from textual.screen import ModalScreen, Screen
from textual.theme import Theme
from textual.widgets import Footer, Static
from textual.worker import Worker, WorkerState

from app.alert_delivery import AlertCommands, desktop_escape
from app.bridge import Bridge
from app.history_screen import HistoryScreen
from app.line_filter import ControlFilter, printable_segments
from app.palette import environment_colours, label_colour
from app.preferences import load_theme, save_theme
from app.screens import ConfirmScreen, ExportScreen, HelpScreen, LedgerScreen, TypedConfirmScreen
from app.signals import on_stop_signals
from exchange.alert_rules import AlertRule
from exchange.book import BookState, OrderBook
from exchange.config import Settings, config_file_or_default, load_settings
from exchange.desk import Desk
from exchange.events import AlertChanged, LinkState, OpenOrder, SessionState
from exchange.ledger import write_csv
from exchange.link_history import LinkHistory
from exchange.notices import SCREEN_BURST, WINDOW_S, NoticeGate
from exchange.printable import PrintableFormatter, printable
from exchange.private_file import write_private
from widgets._desk_pull import DeskPull
from widgets.connection_bar import ConnectionBar
from widgets.desk_footer import DeskFooter
from widgets.ladder import Ladder
from widgets.link_strip import LinkStrip
from widgets.orders import OrdersTable
from widgets.position import PositionPanel
from widgets.symbols import SymbolStrip
from widgets.tape import TradesTape
from widgets.wallet import WalletPanel

__all__ = ["FluxumApp", "MIN_SIZE", "STYLESHEET"]

log = logging.getLogger(__name__)

STYLESHEET = Path(__file__).resolve().parent / "styles.tcss"
MIN_SIZE = (60, 20)
"""Below this the desk cannot be read: a notice replaces it (at exactly 60x20 the compact layout shows)."""
COMPACT_BELOW = (90, 30)
LAYOUTS = ("-full", "-mid", "-compact", "-tiny")
TOP_ROWS_KEPT = 3
"""Rows toasts leave free: the connection bar's two at the top, and the toast rack's margin at the bottom."""
MID_BELOW = 128
ROOMY_FOOTER_FROM = 100
"""Narrower than this the footer drops its spacing, so every key fits down to the compact layout (which then
drops its minor keys: :class:`~widgets.desk_footer.DeskFooter`)."""
STOP_TIMEOUT_S = 5.0
NOTICE_CHARS = 500
"""The longest notification shown: a sentence of ours around a quoted ``retMsg`` or reason."""
TOASTS_SHOWN = 8
"""The most toasts on screen at once: a newer one replaces the oldest."""
TOAST_WINDOW_S = WINDOW_S
TOAST_BURST = SCREEN_BURST
"""At most this many different toasts per :data:`TOAST_WINDOW_S`, and each text once: the rest are counted and
summarised in one line (:class:`~exchange.notices.NoticeGate`), so a hostile host cannot flood the trader."""
KEYED_TOASTS_KEPT = 64
"""Keyed toasts remembered to withdraw them (one per symbol's book, one per set of stale feeds): the oldest go."""


class SymbolCommands(Provider):
    """The command palette lists every watched symbol.

    Prompts are built as :class:`Content`, never from markup: the palette parses a ``str`` prompt (and
    ``Matcher.highlight`` its candidate) as markup, and a symbol is data.
    """

    def _symbols(self) -> list[str]:
        app = self.app
        return list(app.desk.symbols) if isinstance(app, FluxumApp) else []

    async def discover(self) -> Hits:
        app = self.app
        assert isinstance(app, FluxumApp)
        for symbol in self._symbols():
            text = f"Symbol: {printable(symbol)}"
            yield DiscoveryHit(
                Content(text), partial(app.select_symbol, symbol), text=text, help="show its book and P&L"
            )

    async def search(self, query: str) -> Hits:
        app = self.app
        assert isinstance(app, FluxumApp)
        matcher = self.matcher(query)
        for symbol in self._symbols():
            text = f"Symbol: {printable(symbol)}"
            score = matcher.match(text)
            if score > 0:
                yield Hit(
                    score,
                    _highlight(matcher, text),
                    partial(app.select_symbol, symbol),
                    text=text,
                    help="show its book and P&L",
                )


def _highlight(matcher: Matcher, text: str) -> Content:
    """``text`` with the query's matched letters in the match style, as ``Matcher.highlight`` does but with no
    markup parsed."""
    content = Content(text)
    _, offsets = matcher.fuzzy_search.match(matcher.query, text)
    for offset in offsets:
        if not text[offset].isspace():
            content = content.stylize(matcher.match_style, offset, offset + 1)
    return content


def placeholder_desk(settings: Settings, now_ms: int) -> Desk:
    """What the widgets read before the session exists (a few milliseconds while the exchange starts)."""
    return Desk(
        environment=settings.environment_label,
        category=settings.category,
        symbols=list(settings.symbols),
        books={s: OrderBook(f"orderbook.{settings.depth}.{s}") for s in settings.symbols},
        private=settings.credentials is not None or settings.embedded,
        state=SessionState(LinkState.DISCONNECTED, now_ms, "starting"),
    )


class FluxumApp(App[None]):
    """The desk: ladder, position and P&L, tape, wallet, orders and a connection bar that never lies."""

    CSS_PATH = STYLESHEET
    TITLE = "Fluxum"
    COMMANDS = App.COMMANDS | {SymbolCommands}
    BINDINGS = [
        Binding("q", "quit", "Quit", tooltip="Quit: stop the session and the local exchange, then exit"),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
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
        Binding("l", "show_ledger", "Ledger", tooltip="Every ledger field of every symbol"),
        Binding("e", "export_ledger", "Export", tooltip="Export the ledger as CSV (asks for the path)"),
        Binding(
            "c",
            "cancel_order",
            "Cancel",
            tooltip="Cancel the order under the cursor in Open orders (asks first)",
        ),
        Binding(
            "r",
            "reconnect",
            "Reconnect",
            show=False,
            tooltip="Reconnect now: skip the retry wait, or try again out of Failed once the cause is fixed",
        ),
        Binding("h", "show_history", "History", show=False, tooltip="The link's outages, uptime and events"),
        Binding("question_mark", "help", "Help", key_display="?", tooltip="This help"),
    ]

    symbol: reactive[str | None] = reactive(None, init=False)
    """The symbol on screen."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        desk: Desk | None = None,
        clock: Callable[[], float] = time.time,
        runtime_options: dict[str, Any] | None = None,
        symbol: str | None = None,
    ) -> None:
        super().__init__()
        self.clock = clock
        self.scripted = desk is not None
        if desk is None:
            self.settings: Settings | None = (
                settings if settings is not None else load_settings(config_file=config_file_or_default(None))
            )
            desk = placeholder_desk(self.settings, int(clock() * 1000))
        else:
            self.settings = settings
        self.desk: Desk = desk
        self.runtime_options = dict(runtime_options or {})
        self.runtime: Any | None = None  # app.runtime.Runtime once the session is up
        self.history: LinkHistory | None = None  # a scripted desk's history (the runtime has its own)
        self.bridge = Bridge(self)
        self._session_worker: Worker[None] | None = None
        self._bridge_worker: Worker[None] | None = None
        self._recovering = False
        self._cancelling: set[str] = set()
        self._cancel_dialog: tuple[str, ModalScreen[bool]] | None = None  # the order it asks about, the dialog
        self._availability: tuple[bool, bool, bool] | None = None
        self._control_filter = ControlFilter()
        self.alert_commands = AlertCommands(
            on_first_failure=lambda text: self.notify(text, title="Alert command", severity="warning", timeout=10)
        )
        self.alerts_delivered = 0
        self._toast_gate = NoticeGate(TOAST_WINDOW_S, burst=TOAST_BURST)
        self._keyed_toasts: dict[str, Notification] = {}  # the last toast of each key, to withdraw it
        self._withdrawn: set[str] = set()  # toasts withdrawn while their Notify was still queued
        self._stale_toasts: dict[str, frozenset[str]] = {}  # a stale-feed toast's key and the feeds it names
        self._stopping = False
        self.stop_signal: int | None = None
        """The signal that asked the desk to quit (SIGTERM, SIGHUP, SIGINT), if one did."""
        self.log_path: Path | None = None
        """The log file this desk writes (app/log_file.py), once mounted; None when logging went elsewhere."""
        self.set_reactive(FluxumApp.symbol, symbol or (desk.symbols[0] if desk.symbols else None))

    # ------------------------------------------------------------------ crash report

    def _fatal_error(self) -> None:
        """Textual's crash report without frame locals: a local may hold a revealed secret; and
        without terminal controls or links: an exception's message may quote the exchange.

        Overrides a private method of the pinned Textual (8.2.8), whose report shows every frame's locals.
        """
        import rich
        from rich.segment import Segments
        from rich.traceback import Traceback

        self.bell()
        traceback = Traceback(show_locals=False, width=None, suppress=[rich])
        segments = printable_segments(self.console.render(traceback, self.console.options))
        self._exit_renderables.append(Segments(segments))
        self._close_messages_no_wait()

    # ------------------------------------------------------------------ what reaches the terminal

    def get_line_filters(self) -> list[LineFilter]:
        """Textual's filters, then the last guard on every rendered line: no terminal control and no hyperlink
        reaches the terminal, whatever a widget was given (see :mod:`app.line_filter`)."""
        return [*super().get_line_filters(), self._control_filter]

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
        key: str = "",
    ) -> None:
        """A toast whose text is never markup and always printable: notifications quote the exchange (a
        ``retMsg``, a symbol, a reason). ``markup`` is accepted for Textual's signature (a widget's ``notify``
        passes True) and ignored. The same text at most once per :data:`TOAST_WINDOW_S` and at most
        :data:`TOAST_BURST` toasts per window; what is held back is summarised when the window ends. ``key``
        makes toasts whose texts differ (a sequence number in a reason) the same toast."""
        shown = self._toast_gate.admit(key or message, severity, message)
        for level, text in shown:
            toast = self._toast(level, text, title if text == message else "", timeout)
            if key and toast is not None:
                self._keyed_toasts.pop(key, None)  # newest last: the oldest go first past the bound
                self._keyed_toasts[key] = toast
                if len(self._keyed_toasts) > KEYED_TOASTS_KEPT:
                    self._keyed_toasts.pop(next(iter(self._keyed_toasts)))

    def withdraw(self, key: str) -> None:
        """Take the toast shown under ``key`` off the screen now: what it warned of is over (a book live again)."""
        toast = self._keyed_toasts.pop(key, None)
        if toast is None or toast.has_expired:
            return
        if toast in self._notifications:
            self._unnotify(toast)
        else:  # posted, not shown yet: it is dropped when it arrives
            self._withdrawn.add(toast.identity)

    def _toast(self, level: str, text: str, title: str, timeout: float | None) -> Notification:
        """One toast past the gate, as Textual shows it."""
        severity: SeverityLevel = level if level in ("information", "warning", "error") else "warning"  # type: ignore[assignment]
        toast = Notification(
            printable(text, NOTICE_CHARS),
            printable(title),
            severity,
            self.NOTIFICATION_TIMEOUT if timeout is None else timeout,
            markup=False,
        )
        self.post_message(Notify(toast))  # what Textual's notify does, keeping the toast to withdraw it
        return toast

    def _on_notify(self, event: Notify) -> None:
        """Before Textual's own handler adds the toast: the oldest ones make room past :data:`TOASTS_SHOWN`, and
        past the rows under the connection bar (Textual stacks toasts up from the bottom, over anything above)."""
        if event.notification.identity in self._withdrawn:  # withdrawn before it reached the screen
            self._withdrawn.discard(event.notification.identity)
            event.prevent_default()
            return
        notifications = list(self._notifications)  # Textual's collection of the toasts still on screen, oldest first
        width, room = self.size.width, self.size.height - TOP_ROWS_KEPT
        rows, kept = _toast_rows(event.notification, width), 0
        for notification in reversed(notifications):
            rows += _toast_rows(notification, width)
            if kept + 1 >= TOASTS_SHOWN or rows > room:
                break
            kept += 1
        for oldest in notifications[: len(notifications) - kept]:
            self._unnotify(oldest, refresh=False)

    def _flush_toasts(self) -> None:
        """Say what the toast gate held back in windows that have ended."""
        for level, text in self._toast_gate.flush():
            self._toast(level, text, "", 8)

    # ------------------------------------------------------------------ theme

    def _restore_theme(self) -> None:
        """The theme last chosen in the palette (app/preferences.py), then every later choice remembered."""
        remembered = load_theme()
        if remembered is not None and remembered in self.available_themes:
            self.theme = remembered
        elif remembered is not None:
            log.warning("the remembered theme %r is not available; using %s", printable(remembered, 40), self.theme)
        self.theme_changed_signal.subscribe(self, self._remember_theme)

    def _remember_theme(self, theme: Theme) -> None:
        if theme.name != load_theme():
            save_theme(theme.name)

    def get_theme_variable_defaults(self) -> dict[str, str]:
        """``$bid``/``$ask``/``$profit``/``$loss``, ``$label``, the environment badges' ``$env-…``: derived from
        the theme, so every theme gets them."""
        colors = self.current_theme.to_color_system().generate()
        # Without colour the darkened reds and greens turn into greys a shade off the background: the depth bars
        # vanished. Both sides then draw in the muted foreground (asks above, bids below still tell them apart).
        no_color = getattr(self, "no_color", False)
        return {
            "bid": colors["success"],
            "ask": colors["error"],
            "bid-bar": colors["foreground-darken-1" if no_color else "success-darken-2"],
            "ask-bar": colors["foreground-darken-1" if no_color else "error-darken-2"],
            "profit": colors["text-success"],
            "loss": colors["text-error"],
            "own-order": colors["accent"],
            "large-trade": colors["warning"],
            "label": label_colour(colors),
            **environment_colours(colors, ansi=self.current_theme.ansi, dark=self.current_theme.dark),
        }

    # ------------------------------------------------------------------ logging

    def _start_logging(self) -> None:
        """Log lines to Textual's devtools console and to the rotated log file a person can find afterwards (its
        path is in the ? screen and in the line a failed session leaves on the terminal)."""
        from textual.logging import TextualHandler

        from app.log_file import open_log_file

        console = TextualHandler()
        console.setFormatter(PrintableFormatter())
        handlers: list[logging.Handler] = [console]
        log_file = open_log_file()
        if log_file is not None:
            handlers.append(log_file)
            self.log_path = Path(log_file.baseFilename)
        logging.basicConfig(level=logging.INFO, handlers=handlers)

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        clock = self.clock
        desk, symbol = self.desk, self.symbol
        yield ConnectionBar(desk, symbol, clock=clock, id="connection-bar")
        with Horizontal(id="status-row"):
            yield SymbolStrip(desk, symbol, clock=clock, id="symbols")
            yield LinkStrip(desk, clock=clock, id="link-strip")
        with Horizontal(id="body"):
            ladder = Ladder(desk, symbol, clock=clock, id="ladder")
            ladder.border_title = "Order book"
            yield ladder
            with Container(id="side"):
                with Vertical(id="middle"):
                    position = PositionPanel(desk, symbol, clock=clock, id="position")
                    position.border_title = "Position · P&L"
                    yield position
                    tape = TradesTape(desk, symbol, clock=clock, id="tape")
                    tape.border_title = "Trades"
                    yield tape
                with Vertical(id="right"):
                    wallet = WalletPanel(desk, id="wallet")
                    wallet.border_title = "Wallet"
                    yield wallet
                    orders = OrdersTable(desk, id="orders")
                    orders.border_title = "Open orders"
                    yield orders
        yield Static(id="too-small")
        yield DeskFooter()

    def on_mount(self) -> None:
        if not logging.getLogger().handlers:
            self._start_logging()
        self._restore_theme()
        self._apply_layout(self.size.width, self.size.height)
        self.set_interval(1.0, self._flush_toasts, name="toast summaries")
        self.query_one(OrdersTable).focus()
        if not self.scripted and not self._stopping:
            self._start_session()

    def on_resize(self, event: events.Resize) -> None:
        self._apply_layout(event.size.width, event.size.height)

    def _apply_layout(self, width: int, height: int) -> None:
        """One class on the desk screen says which layout fits: -full, -mid, -compact or -tiny."""
        if width < MIN_SIZE[0] or height < MIN_SIZE[1]:
            layout = "-tiny"
        elif width < COMPACT_BELOW[0] or height < COMPACT_BELOW[1]:
            layout = "-compact"
        elif width < MID_BELOW:
            layout = "-mid"
        else:
            layout = "-full"
        screen = self._desk_screen()
        if screen is None:
            return
        for name in LAYOUTS:
            screen.set_class(name == layout, name)
        with contextlib.suppress(Exception):  # (not composed yet)
            screen.query_one(ConnectionBar).terse = layout in ("-compact", "-tiny")
            screen.query_one(Footer).compact = width < ROOMY_FOOTER_FROM
        if layout == "-tiny":
            with contextlib.suppress(Exception):
                self.query_one("#too-small", Static).update(
                    f"Terminal {width}x{height} is too small.\n"
                    f"Fluxum needs at least {MIN_SIZE[0]}x{MIN_SIZE[1]}.\n"
                    "Enlarge the window, or press q to quit."
                )

    @property
    def layout_name(self) -> str:
        """Which layout the desk screen shows (-full, -mid, -compact, -tiny): read from its class, never kept twice."""
        screen = self._desk_screen()
        return next((name for name in LAYOUTS if screen is not None and screen.has_class(name)), "-full")

    def _desk_screen(self) -> Screen[Any] | None:
        """The desk's own screen (the bottom of the stack), whatever modal is on top of it."""
        stack = self.screen_stack
        return stack[0] if stack else None

    # ------------------------------------------------------------------ the session

    def _start_session(self) -> None:
        self._session_worker = self.run_worker(
            self._run_session(), name="session", group="session", exit_on_error=False
        )

    def _session_ended_in_error(self) -> bool:
        """The session's worker failed (a journal that cannot be opened, a start that raised): only a new
        start can retry it."""
        worker = self._session_worker
        return worker is not None and worker.state is WorkerState.ERROR and not self._stopping

    async def _run_session(self) -> None:
        """Start the exchange (if embedded), the session and the bridge; stop them all on the way out."""
        from app.runtime import open_runtime

        assert self.settings is not None
        options = {"unlisted": "drop", **self.runtime_options}  # the desk goes on with the symbols that exist
        async with open_runtime(self.settings, **options) as runtime:
            self.runtime = runtime
            for symbol in runtime.dropped_symbols:
                self.notify(
                    f"{symbol} is not listed by the exchange in {runtime.settings.category}: dropped from the desk",
                    severity="error",
                    timeout=15,
                )
            if self._stopping:
                await runtime.session.stop()
            self._use_desk(runtime.session.desk)
            subscription = self.bridge.subscribe(runtime.hub)
            self._watch_alerts(runtime)
            self._bridge_worker = self.run_worker(
                self.bridge.run(subscription), name="bridge", group="bridge", exit_on_error=False
            )
            runtime.session.hold_when_failed = True  # Failed waits for `r`: the cause may be fixed meanwhile
            runtime.session.public_without_account = True  # a rejected key: the books stay live, the account is down
            try:
                await runtime.session.run()
            finally:
                subscription.close()  # the bridge drains what is queued (Failed, Disconnected), then ends
                bridge = self._bridge_worker
                if bridge is not None and not bridge.is_finished:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(bridge.wait(), 2.0)

    def _watch_alerts(self, runtime: Any) -> None:
        """Start the config's alert rules on this session's desk, in a worker that outlives the session (a desk
        left Failed still calls)."""
        from exchange.alert_watch import AlertWatch

        assert self.settings is not None
        if not self.settings.alerts:
            return
        self.workers.cancel_group(self, "alerts")
        watch = AlertWatch(
            runtime.session.desk, runtime.hub, self.settings.alerts, clock=self.clock, deliver=self.deliver_alert
        )
        watch.subscribe()
        self.run_worker(watch.run(), name="alerts", group="alerts", exit_on_error=False)

    def deliver_alert(self, rule: AlertRule, alert: AlertChanged) -> None:
        """An alert to the person: a toast, the bell when it starts, the desktop notification chosen in the
        config (``notify``), and the rule's command."""
        self.alerts_delivered += 1
        title = "Alert" if alert.active else "Alert cleared"
        self.notify(alert.text, title=title, severity="warning" if alert.active else "information", timeout=15)
        if alert.active:
            self.bell()
        kind = self.settings.notify if self.settings is not None else "none"
        escape = desktop_escape(kind, f"Fluxum {title.lower()}", alert.text)
        if escape and not self.is_headless and self._driver is not None:
            self._driver.write(escape)  # written on purpose: the line filter strips controls from rendered lines
        self.alert_commands.launch(rule.command, alert)

    def _use_desk(self, desk: Desk) -> None:
        """Point every widget at the session's desk."""
        self.desk = desk
        if self.symbol not in desk.symbols:
            self.set_reactive(FluxumApp.symbol, desk.symbols[0] if desk.symbols else None)
        self._show_all()

    def _show_all(self) -> None:
        desk, symbol = self.desk, self.symbol
        with self.batch_update():
            for widget in (
                self.query_one(ConnectionBar),
                self.query_one(SymbolStrip),
                self.query_one(Ladder),
                self.query_one(PositionPanel),
                self.query_one(TradesTape),
            ):
                widget.show(desk, symbol)
            self.query_one(WalletPanel).show(desk)
            self.query_one(LinkStrip).show(desk)
            self.query_one(OrdersTable).show(desk)
        self._refresh_availability()

    async def stop_session(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Stop the session and wait for the exchange and the links to close (idempotent)."""
        self._stopping = True  # a session still starting stops as soon as it exists
        runtime, worker = self.runtime, self._session_worker
        if runtime is not None:
            await runtime.session.stop()
        if worker is not None and not worker.is_finished:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(worker.wait(), timeout)

    def get_driver_class(self) -> type[Driver]:
        """Textual's driver for this platform; on Linux, one that survives a terminal that hung up."""
        driver = super().get_driver_class()
        if driver.__module__ == "textual.drivers.linux_driver" and driver.__name__ == "LinuxDriver":
            from app.terminal import HangupSafeDriver

            return HangupSafeDriver
        return driver

    async def run_async(self, *, headless: bool = False, **options: Any) -> None:
        """Run the desk; in a terminal, SIGTERM, SIGHUP and SIGINT quit it as ``q`` does (:mod:`app.signals`).

        Installed before Textual's driver enters the alternate screen and kept until it has left it, so a signal
        at any moment leaves the terminal as it was found. Headless runs (tests) leave signals alone."""
        if headless:
            return await super().run_async(headless=True, **options)
        with on_stop_signals(self._stop_signalled):
            return await super().run_async(headless=False, **options)

    def _stop_signalled(self, signum: int) -> None:
        if self.stop_signal is not None:
            return
        self.stop_signal = signum
        log.warning("%s: quitting", signal.Signals(signum).name)
        self.call_later(self.action_quit)

    async def action_quit(self) -> None:
        """Quit cleanly: the session stopped, the local exchange stopped, then the app exits."""
        await self.stop_session()
        self.exit()

    async def on_unmount(self) -> None:
        await self.stop_session(timeout=2.0)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place worker failures end: the desk goes Failed and a person is told."""
        worker = event.worker
        if event.state is not WorkerState.ERROR:
            return
        error = worker.error
        reason = (
            printable((str(error) or type(error).__name__).splitlines()[0], 320)
            if error is not None
            else "unknown error"
        )
        if worker.group in ("session", "bridge"):
            self.desk.state = SessionState(LinkState.FAILED, int(self.clock() * 1000), f"{worker.name}: {reason}")
            self.desk.touch("state")
            self._refresh_now(ConnectionBar)
            self.notify(f"The {worker.name} stopped: {reason}", title="Failed", severity="error", timeout=30)
            self._refresh_availability()  # `r` starts the session again
        else:
            self.notify(f"{worker.name}: {reason}", severity="error", timeout=10)
        log.error("worker %s failed: %s", worker.name, reason)

    # ------------------------------------------------------------------ bridge messages

    def on_bridge_state_changed(self, message: Bridge.StateChanged) -> None:
        self._refresh_now(ConnectionBar, Ladder, SymbolStrip)
        kind = message.state.kind
        if kind is LinkState.RECONNECTING:
            self._recovering = True
        elif kind is LinkState.READY and self._recovering:
            self._recovering = False
            words = (
                "public data live again; account still down" if self.desk.account_down else "every topic is live again"
            )
            self.notify(f"Link recovered: {words}.", title="Ready", severity="information")
        self._refresh_availability()

    def on_bridge_notice_received(self, message: Bridge.NoticeReceived) -> None:
        severity = message.level if message.level in ("information", "warning", "error") else "information"
        self.notify(message.text, severity=severity, timeout=20 if severity == "error" else 6)  # type: ignore[arg-type]

    def on_bridge_fill_received(self, message: Bridge.FillReceived) -> None:
        if message.fill.symbol != self.symbol:
            return
        self._refresh_now(PositionPanel, TradesTape)

    def on_bridge_book_state_changed(self, message: Bridge.BookStateChanged) -> None:
        if message.symbol == self.symbol:
            self._refresh_now(Ladder)
        if message.state is BookState.SYNCED:
            self.withdraw(f"{message.symbol} book RESYNCING")
        elif message.state is BookState.RESYNCING and self.desk.state.kind is LinkState.READY:
            reason = f": {message.reason}" if message.reason else ""
            self.notify(
                f"{message.symbol} book RESYNCING{reason}; shown as not live until its new snapshot.",
                severity="warning",
                timeout=6,
                key=f"{message.symbol} book RESYNCING",
            )

    def on_bridge_order_changed(self, message: Bridge.OrderChanged) -> None:
        order = message.order
        self._refresh_now(OrdersTable, *([Ladder] if order.symbol == self.symbol else []))
        if order.status == "Rejected":
            self.notify(f"Order rejected: {_describe_order(order)}", severity="error", timeout=10)
        elif order.order_id in self._cancelling and not order.is_open:
            self._cancelling.discard(order.order_id)
            self.notify(f"Order cancelled: {_describe_order(order)}", severity="information")
        if not order.is_open:
            self._close_cancel_dialog(order)
        self._refresh_availability()

    def _close_cancel_dialog(self, order: OpenOrder) -> None:
        """The cancel dialog of an order that closed (filled, cancelled elsewhere, expired) asks about nothing:
        it goes, and the notice says what became of the order."""
        if self._cancel_dialog is None or self._cancel_dialog[0] != order.order_id:
            return
        _, dialog = self._cancel_dialog
        self._cancel_dialog = None
        if self.screen is dialog:  # (under another screen it stays; a yes there is refused by the exchange, told)
            dialog.dismiss(False)
        self.notify(
            f"Nothing to cancel: the order is {order.status}: {_describe_order(order)}",
            severity="warning",
            timeout=6,
        )

    def on_bridge_position_changed(self, message: Bridge.PositionChanged) -> None:
        if message.position.symbol == self.symbol:
            self._refresh_now(PositionPanel)

    def _refresh_now(self, *kinds: type[DeskPull]) -> None:
        """Re-read the desk in these widgets at once, in one batch. Events can still arrive while the app shuts
        down, after its widgets are gone: a widget that is not there is simply skipped."""
        with self.batch_update():
            for kind in kinds:
                for widget in self.query(kind):  # type: ignore[type-var]
                    widget.refresh_now()

    def on_connection_bar_feeds_went_stale(self, message: ConnectionBar.FeedsWentStale) -> None:
        topics = ", ".join(message.topics[:4]) + (" …" if len(message.topics) > 4 else "")
        key = f"stale feeds {' '.join(message.topics)}"
        self._stale_toasts.pop(key, None)
        self._stale_toasts[key] = frozenset(message.topics)
        if len(self._stale_toasts) > KEYED_TOASTS_KEPT:
            self._stale_toasts.pop(next(iter(self._stale_toasts)))
        self.notify(f"Stale feed: no data on {topics}", severity="warning", timeout=8, key=key)

    def on_connection_bar_feeds_live_again(self, message: ConnectionBar.FeedsLiveAgain) -> None:
        """A stale-feed toast goes once every feed it names is live again."""
        for key, topics in list(self._stale_toasts.items()):
            if not topics & message.still_stale:
                del self._stale_toasts[key]
                self.withdraw(key)

    # ------------------------------------------------------------------ symbols

    def watch_symbol(self, symbol: str | None) -> None:
        self._show_all()

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
        ladder = self.query_one(Ladder)
        before = ladder.group
        after = ladder.zoom(direction)
        if after == before and ladder.step() is None:
            self.notify(
                "Grouping needs the instrument's tick size (it arrives with the first backfill).",
                severity="warning",
                timeout=4,
            )

    # ------------------------------------------------------------------ ledger

    def action_show_ledger(self) -> None:
        self.push_screen(LedgerScreen(self.desk, self.symbol))

    def action_show_history(self) -> None:
        runtime = self.runtime
        history = runtime.history if runtime is not None else self.history
        started = history.run_ms if history is not None else None
        self.push_screen(HistoryScreen(history, clock=self.clock, started_ms=started))

    def action_export_ledger(self) -> None:
        """In a terminal: ask for a path and write an owner-only file. In a browser (``textual serve``) the
        server's disk is not the user's: the CSV is delivered as a download."""
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(self.clock()))
        name = f"fluxum-ledger-{stamp}.csv"
        if self.is_web:
            self.deliver_ledger(name)
        else:
            self.push_screen(ExportScreen(name), callback=self._export_chosen)

    def deliver_ledger(self, name: str) -> None:
        """The ledger as CSV, sent to the browser as a download named ``name``."""
        text = io.StringIO(newline="")
        rows = write_csv(self.desk.ledger.entries(), text)
        text.seek(0)
        self.deliver_text(text, save_filename=name, mime_type="text/csv")
        self.notify(f"Ledger sent as {name} ({rows} row{'s' if rows != 1 else ''})", title="Export", timeout=8)

    def _export_chosen(self, path: str | None) -> None:
        if path:
            self.export_ledger(path)

    def export_ledger(self, path: str | Path) -> Path | None:
        """Write every symbol's ledger entry as CSV into an owner-only file (relative paths: the current
        directory); notify the path."""
        target = Path(path).expanduser()
        if not target.is_absolute():
            target = Path.cwd() / target
        try:
            rows = write_private(target, partial(write_csv, self.desk.ledger.entries()))
        except OSError as error:
            self.notify(f"Could not write {target}: {error.strerror or error}", severity="error", timeout=10)
            return None
        self.notify(
            f"Ledger exported to {target} ({rows} row{'s' if rows != 1 else ''})",
            title="Export",
            severity="information",
            timeout=8,
        )
        return target

    # ------------------------------------------------------------------ orders

    def _refresh_availability(self) -> None:
        """Refresh the footer only when what ``check_action`` answers may have changed: once a session, when its
        keys are known. Each refresh recomposes the Footer, and Textual 8.2.8 keeps every replaced FooterKey alive
        (its ``data_bind`` watcher is never dropped: ~28 KB each), so following something that flips all day,
        such as "any open orders?", would grow the heap all day (``bench/soak.py`` counts the widgets)."""
        availability = (
            self.runtime is not None or self._session_ended_in_error(),
            self.desk.private and not self.desk.account_down,
            self.desk.state.kind is LinkState.READY,  # flips twice an outage: no footer churn
        )
        if availability != self._availability:
            self._availability = availability
            self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_order":
            if self.runtime is None or not self.desk.private or self.desk.account_down:
                return False  # no keys, a rejected key, or scripted: nothing to cancel with
            if self.desk.state.kind is not LinkState.READY:
                return False  # the orders shown are not live: the one picked may be gone or filled
            settings = self.runtime.settings
            # Watch-only by default on a real exchange (`fluxum --trade` allows order actions); with no order
            # selected the action says so.
            return settings.local_exchange or settings.trading_enabled
        if action == "reconnect":  # offered whatever the state: the action says when it has no use
            return self.runtime is not None or self._session_ended_in_error()
        return True

    def action_reconnect(self) -> None:
        """Reconnect now: ends the wait before the next retry, or leaves Failed, and starts at attempt 1."""
        if self._session_ended_in_error():  # the start itself failed: start again, journal and all
            self.runtime = None
            self.notify("Starting the session again.", timeout=3)
            self._start_session()
            return
        runtime = self.runtime
        if runtime is None:
            self.notify("No session to reconnect.", severity="warning", timeout=4)
            return
        account_down = bool(self.desk.account_down)
        if runtime.session.reconnect_now():
            self.notify("Reconnecting now, with the account." if account_down else "Reconnecting now.", timeout=3)
        elif runtime.session.state.kind is LinkState.READY:
            self.notify("The link is Ready: nothing to reconnect.", timeout=3)
        else:
            self.notify("The session is stopping: nothing to reconnect.", severity="warning", timeout=4)

    def action_cancel_order(self) -> None:
        if self.layout_name in ("-compact", "-tiny"):  # the orders table is hidden: nothing may go unseen
            self.notify("Open orders are hidden at this size: enlarge the window to cancel.", severity="warning")
            return
        order = self.query_one(OrdersTable).selected_order()
        if order is None:
            self.notify("No open order is selected.", severity="warning", timeout=4)
            return
        question = f"Cancel {_describe_order(order)}?\n(order {order.order_id})"
        settings = None if self.runtime is None else self.runtime.settings
        screen: ModalScreen[bool] = (
            TypedConfirmScreen(question, word=order.symbol, stakes=settings.stakes)
            if settings is not None and settings.needs_typed_confirmation
            else ConfirmScreen(question, confirm="Cancel order", refuse="Keep it")
        )
        self._cancel_dialog = (order.order_id, screen)
        self.push_screen(screen, callback=partial(self._cancel_confirmed, order))

    def _cancel_confirmed(self, order: OpenOrder, confirmed: bool | None) -> None:
        if self._cancel_dialog is not None and self._cancel_dialog[0] == order.order_id:
            self._cancel_dialog = None
        if confirmed and self.desk.state.kind is not LinkState.READY:
            self.notify(
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

        runtime = self.runtime
        if runtime is None:
            self.notify("No session: the order cannot be cancelled.", severity="error")
            return
        self._cancelling.add(order.order_id)
        try:
            await runtime.rest.cancel_order(runtime.settings.category, order.symbol, order_id=order.order_id)
        except BybitError as error:
            self._cancelling.discard(order.order_id)
            self.notify(f"Cancel rejected: {error}", severity="error", timeout=10)
            return
        except (TimeoutError, OSError) as error:
            self._cancelling.discard(order.order_id)
            self.notify(f"Cancel not sent: {error}", severity="error", timeout=10)
            return
        self.notify(f"Cancel sent: {_describe_order(order)}", severity="information", timeout=4)

    # ------------------------------------------------------------------ help, palette

    def action_help(self) -> None:
        self.push_screen(HelpScreen(log_path=self.log_path))

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand(
            "Ledger: every field", "Fluxum's 25 ledger fields and the P&L split", self.action_show_ledger
        )
        yield SystemCommand("Ledger: export CSV", "Write the ledger as CSV", self.action_export_ledger)
        yield SystemCommand("Ladder: coarser grouping", "More ticks per row", partial(self.action_zoom, 1))
        yield SystemCommand("Ladder: finer grouping", "Fewer ticks per row", partial(self.action_zoom, -1))
        if self.runtime is not None:
            yield SystemCommand(
                "Link: reconnect now", "Skip the retry wait, or try again out of Failed", self.action_reconnect
            )
        yield SystemCommand(
            "History: outages and events", "The link's outages, uptime and events", self.action_show_history
        )
        yield SystemCommand("Help: keys and glyphs", "What every key and glyph means", self.action_help)


def _toast_rows(notification: Notification, screen_width: int) -> int:
    """Rows a toast takes in Textual's rack (its margin, padding, title and wrapped text), counted on the narrow
    side: a toast half the screen wide at most, less the rack's scrollbar."""
    text_width = max(1, min(60, (screen_width - 1) // 2) - 3)  # less the padding and the severity stripe
    text = f"{notification.title}\n{notification.message}" if notification.title else notification.message
    return Content(text).get_height({}, text_width) + 3  # the margin above and the padding above and below


def _describe_order(order: OpenOrder) -> str:
    """The order as placed (its qty, not what is left of it: a cancelled order has none left), and what filled."""
    side = "BUY" if order.side == "Buy" else "SELL"
    price = f" @ {order.price.normalize():,f}" if order.price is not None else ""
    filled = f", {order.cum_exec_qty.normalize():f} filled" if order.cum_exec_qty > 0 else ""
    return f"{side} {order.qty.normalize():f} {order.symbol}{price} ({order.order_type}{filled})"
