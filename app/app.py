"""The Fluxum App: one session, one bridge, and the desk's screen (:mod:`app.desk_screen`) as its default screen.

``FluxumApp()`` needs no arguments: it loads the default settings (the embedded local exchange) and, once
mounted, starts the session in a named worker (``session``) through :func:`app.runtime.open_runtime`, then the
bridge in another (``bridge``). Tests inject a prepared :class:`~exchange.desk.Desk` (no session: snapshots),
a clock (time in state, countdowns, staleness), settings and runtime options.

Ingest runs at network rate inside the session; the widgets pull the desk on their own timers and repaint only
on change; the bridge turns the few lossless events (state changes, notices, fills, orders, book trust) into
messages for the desk screen, which refreshes at once and notifies. The App keeps what is app-wide: toasts,
theme, logging, palette commands, export, history, help, reconnect and signals. Worker failures end in one place,
:meth:`on_worker_state_changed`.
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
from textual.app import App, SystemCommand
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.driver import Driver
from textual.filter import LineFilter
from textual.fuzzy import Matcher
from textual.notifications import Notification, Notify, SeverityLevel
from textual.screen import Screen
from textual.theme import Theme
from textual.widget import AwaitMount
from textual.worker import Worker, WorkerState

from app.alert_delivery import AlertCommands, desktop_escape
from app.bridge import Bridge
from app.desk_screen import DeskScreen
from app.heap import release_heap, settle_heap
from app.history_screen import HistoryScreen
from app.line_filter import ControlFilter, printable_segments
from app.palette import environment_colours, label_colour
from app.preferences import load_theme, save_theme
from app.screens import ExportScreen, HelpScreen
from app.signals import on_stop_signals, server_gone
from app.watchlist_screen import WatchlistCommands, WatchlistScreen
from exchange.alert_rules import AlertRule
from exchange.book import OrderBook
from exchange.bybit.account_positions import AccountReader
from exchange.config import Settings, config_file_or_default, load_settings
from exchange.desk import Desk
from exchange.events import AlertChanged, LinkState, SessionState
from exchange.ledger import write_csv
from exchange.link_history import LinkHistory
from exchange.notices import SCREEN_BURST, WINDOW_S, NoticeGate
from exchange.printable import PrintableFormatter, printable
from exchange.private_file import write_private
from widgets.connection_bar import ConnectionBar

__all__ = ["FluxumApp", "STYLESHEET", "placeholder_desk"]

log = logging.getLogger(__name__)

STYLESHEET = Path(__file__).resolve().parent / "styles.tcss"
TOP_ROWS_KEPT = 3
"""Rows toasts leave free: the connection bar's two at the top, and the toast rack's margin at the bottom."""
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
        return list(app.desk_screen.desk.symbols) if isinstance(app, FluxumApp) else []

    async def discover(self) -> Hits:
        app = self.app
        assert isinstance(app, FluxumApp)
        for symbol in self._symbols():
            text = f"Symbol: {printable(symbol)}"
            yield DiscoveryHit(
                Content(text), partial(app.desk_screen.select_symbol, symbol), text=text, help="show its book and P&L"
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
                    partial(app.desk_screen.select_symbol, symbol),
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
    """The trading desk app: its session and the app-wide services around the desk screen."""

    CSS_PATH = STYLESHEET
    TITLE = "Fluxum"
    COMMANDS = App.COMMANDS | {SymbolCommands, WatchlistCommands}
    NO_SESSION = "no session runs"
    """Why a change the session makes (watching a symbol, a chart's feed, reading the account) cannot be made."""

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
        self.desk_screen = DeskScreen(self, desk, symbol, clock=clock)
        """The desk's screen: the default screen, at the bottom of the stack (``App.query`` looks there)."""
        self.runtime_options = dict(runtime_options or {})
        self.runtime: Any | None = None  # app.runtime.Runtime once the session is up
        self.history: LinkHistory | None = None  # a scripted desk's history (the runtime has its own)
        self.account_reader: AccountReader | None = None
        """A scripted desk's whole account for the positions overview (the runtime's REST client reads a live one)."""
        self.bridge = Bridge(self.desk_screen)
        self._session_worker: Worker[None] | None = None
        self._bridge_worker: Worker[None] | None = None
        self._control_filter = ControlFilter()
        self.alert_commands = AlertCommands(
            on_first_failure=lambda text: self.notify(text, title="Alert command", severity="warning", timeout=10)
        )
        self.alerts_delivered = 0
        self._toast_gate = NoticeGate(TOAST_WINDOW_S, burst=TOAST_BURST)
        self._keyed_toasts: dict[str, Notification] = {}  # the last toast of each key, to withdraw it
        self._withdrawn: set[str] = set()  # toasts withdrawn while their Notify was still queued
        self._stopping = False
        self.stop_signal: int | None = None
        """The signal that asked the desk to quit (SIGTERM, SIGHUP, SIGINT), if one did."""
        self.log_path: Path | None = None
        """The log file this desk writes (app/log_file.py), once mounted; None when logging went elsewhere."""

    def get_default_screen(self) -> Screen[Any]:
        return self.desk_screen

    @property
    def desk(self) -> Desk:
        """The desk on screen: the placeholder or the scripted one, then the session's."""
        return self.desk_screen.desk

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

    # ------------------------------------------------------------------ mounting

    async def on_mount(self) -> None:
        if not logging.getLogger().handlers:
            self._start_logging()
        self._restore_theme()
        await AwaitMount(self.desk_screen, [self.desk_screen])  # the desk is composed before the app is ready
        settle_heap()
        self.set_interval(1.0, self._flush_toasts, name="toast summaries")
        if self.is_web:
            self._watch_server()
        if not self.scripted and not self._stopping:
            self._start_session()

    def on_resize(self, event: events.Resize) -> None:
        self.desk_screen.fit(event.size.width, event.size.height)

    # ------------------------------------------------------------------ the session

    def _start_session(self) -> None:
        self._session_worker = self.run_worker(
            self._run_session(), name="session", group="session", exit_on_error=False
        )

    def session_ended_in_error(self) -> bool:
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
            self.desk_screen.use_desk(runtime.session.desk)
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

    def _watch_server(self) -> None:
        """A desk ``fluxum serve`` started stops, as when its terminal hangs up, once that server is gone: a
        server killed outright leaves the desk with dead pipes, which Textual's web driver does not end the app
        for, and the desk would keep its session with nobody watching."""
        gone = server_gone()
        if gone is None:
            return

        def check() -> None:
            if gone():
                self._stop_signalled(signal.SIGHUP)

        self.set_interval(1.0, check, name="server watch")

    async def action_quit(self) -> None:
        """Quit cleanly: the session stopped, the local exchange stopped, then the app exits."""
        await self.stop_session()
        self.exit()

    async def on_unmount(self) -> None:
        await self.stop_session(timeout=2.0)
        release_heap()

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
            self.desk_screen.refresh_now(ConnectionBar)
            self.notify(f"The {worker.name} stopped: {reason}", title="Failed", severity="error", timeout=30)
            self.desk_screen.refresh_availability()  # `r` starts the session again
        else:
            self.notify(f"{worker.name}: {reason}", severity="error", timeout=10)
        log.error("worker %s failed: %s", worker.name, reason)

    # ------------------------------------------------------------------ ledger, history

    def action_show_history(self) -> None:
        runtime = self.runtime
        history = runtime.history if runtime is not None else self.history
        started = history.run_ms if history is not None else None
        self.push_screen(HistoryScreen(history, clock=self.clock, started_ms=started))

    def action_export_ledger(self) -> None:
        """In a terminal: ask for a path and write an owner-only file. In a browser (``fluxum serve``) the
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

    # ------------------------------------------------------------------ the link

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "reconnect":  # offered whatever the state: the action says when it has no use
            return self.runtime is not None or self.session_ended_in_error()
        return True

    def action_reconnect(self) -> None:
        """Reconnect now: ends the wait before the next retry, or leaves Failed, and starts at attempt 1."""
        if self.session_ended_in_error():  # the start itself failed: start again, journal and all
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

    # ------------------------------------------------------------------ help, palette

    def action_show_watchlist(self) -> None:
        self.push_screen(WatchlistScreen(self))

    def action_help(self) -> None:
        self.push_screen(HelpScreen(DeskScreen.BINDINGS, log_path=self.log_path))

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        desk = self.desk_screen
        yield SystemCommand(
            "Ledger: every field", "Fluxum's 25 ledger fields and the P&L split", desk.action_show_ledger
        )
        yield SystemCommand("Ledger: export CSV", "Write the ledger as CSV", self.action_export_ledger)
        yield SystemCommand(
            "Positions: the whole account",
            "Every open position (linear, inverse, spot), a total per coin",
            desk.action_show_positions,
        )
        yield SystemCommand(
            "Orders: cancel all of the symbol",
            "Cancel every open order of the symbol on the ladder (asks first, as C does)",
            desk.action_cancel_all,
        )
        yield SystemCommand(
            "Position: close at market",
            "Close the symbol's position, reduce-only, at market (asks first, as x does)",
            desk.action_close_position,
        )
        yield SystemCommand("Ladder: coarser grouping", "More ticks per row", partial(desk.action_zoom, 1))
        yield SystemCommand("Ladder: finer grouping", "Fewer ticks per row", partial(desk.action_zoom, -1))
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
