"""The watchlist (key ``w``): every watched symbol at a glance, and adding and removing symbols while running.

:class:`WatchlistScreen` shows :class:`~widgets.watchlist_table.WatchlistTable` over the desk; its keys move the
cursor, show the symbol on the desk (Enter), add one (``a``, a name typed) and remove one (Delete). The palette
offers the same (:class:`WatchlistCommands`) and reloads the config file's ``symbols``. Each change goes through the
session (:meth:`exchange.session.Session.watch` / ``unwatch``): subscribed or unsubscribed on the open link, never a
reconnect; a refusal (unknown symbol, the cap, not listed) is told in one sentence. The symbol strip and the desk's
number keys read the same watched list, so they follow.
"""

from __future__ import annotations

from collections.abc import Coroutine
from functools import partial
from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from exchange.config import ConfigError, config_symbols
from exchange.printable import printable
from exchange.watchlist import WatchRefused, WatchSort
from widgets.watchlist_table import WatchlistTable

if TYPE_CHECKING:
    from app.app import FluxumApp

__all__ = ["AddSymbolScreen", "WatchlistCommands", "WatchlistScreen", "add_symbol", "reload_config_symbols"]

SORT_KEYS = {
    "c": WatchSort.CHANGE,
    "t": WatchSort.TURNOVER,
    "f": WatchSort.FUNDING,
    "o": WatchSort.OPEN_INTEREST,
    "s": WatchSort.SYMBOL,
    "n": WatchSort.WATCHED,
}
"""The watchlist's sort keys; the same key again reverses."""
PALETTE_ADDS_SHOWN = 20
"""Listed symbols the palette offers to add for one query (the exchange may list hundreds)."""


async def add_symbol(app: FluxumApp, text: str) -> bool:
    """Watch ``text`` (a symbol as typed); tells the outcome. True when it was added."""
    session = _session(app, f"{printable(text.strip().upper(), 30)} not added")
    if session is None:
        return False
    try:
        symbol = await session.watch(text)
    except WatchRefused as refused:
        app.notify(str(refused), severity="error", timeout=8)
        return False
    app.notify(f"{symbol} added to the watchlist.", timeout=4)
    app.desk_screen.symbols_changed()
    return True


async def remove_symbol(app: FluxumApp, symbol: str) -> bool:
    """Stop watching ``symbol``; tells the outcome. True when it was removed."""
    session = _session(app, f"{printable(symbol, 30)} not removed")
    if session is None:
        return False
    try:
        await session.unwatch(symbol)
    except WatchRefused as refused:
        app.notify(str(refused), severity="error", timeout=8)
        return False
    position = app.desk.positions.get(symbol)
    if position is not None and position.size:  # nothing marks it now: its P&L would freeze unseen
        app.notify(f"{symbol} removed from the watchlist; its open position is no longer marked.", severity="warning")
    else:
        app.notify(f"{symbol} removed from the watchlist.", timeout=4)
    app.desk_screen.symbols_changed()
    return True


async def reload_config_symbols(app: FluxumApp) -> None:
    """Watch what the config file's ``symbols`` names now: the new ones added, the ones gone removed."""
    if _session(app, "Watchlist not reloaded") is None:
        return
    settings = app.settings
    path = None if settings is None else settings.config_file
    if settings is None or path is None:
        app.notify("No config file was read at start: nothing to reload.", severity="warning", timeout=6)
        return
    try:
        wanted = config_symbols(path, settings.category)
    except ConfigError as error:
        app.notify(f"Watchlist not reloaded: {error}", severity="error", timeout=10)
        return
    watched = list(app.desk.symbols)
    for symbol in [s for s in wanted if s not in watched]:
        await add_symbol(app, symbol)
    for symbol in [s for s in watched if s not in wanted]:
        await remove_symbol(app, symbol)
    if list(app.desk.symbols) == watched:
        app.notify("The watchlist already holds the config file's symbols.", timeout=4)


def _session(app: FluxumApp, what: str) -> Any | None:
    runtime = app.runtime
    if runtime is None:
        app.notify(f"{what}: {app.NO_SESSION}.", severity="error", timeout=6)
        return None
    return runtime.session


class AddSymbolScreen(ModalScreen[str | None]):
    """Asks for a symbol to watch; dismisses with it (Enter) or None (Escape)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(id="add-symbol-dialog", classes="dialog"):
            yield Label("Watch a symbol (as Bybit names it, like XRPUSDT):")
            yield Input(id="add-symbol", max_length=30)
            yield Label("Enter to add · Escape to cancel", classes="dialog-hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class WatchlistScreen(ModalScreen[None]):
    """The watchlist over the desk, live (the table pulls the desk at 2 Hz)."""

    BINDINGS = [
        Binding("escape,w,q", "close", "Close"),
        Binding("up,k", "move(-1)", "Up", show=False),
        Binding("down,j", "move(1)", "Down", show=False),
        Binding("enter", "show_symbol", "Show on the desk"),
        Binding("a", "add", "Add a symbol"),
        Binding("delete,x", "remove", "Remove"),
        *[Binding(key, f"sort('{sort}')", f"Sort {sort}", show=False) for key, sort in SORT_KEYS.items()],
    ]

    def __init__(self, fluxum: FluxumApp) -> None:
        super().__init__()
        self.fluxum = fluxum

    def compose(self) -> ComposeResult:
        desk_screen = self.fluxum.desk_screen
        table = WatchlistTable(desk_screen.desk, clock=self.fluxum.clock, id="watchlist-table")
        if desk_screen.symbol in desk_screen.desk.symbols:
            table.cursor = desk_screen.desk.symbols.index(desk_screen.symbol)
        with Vertical(id="watchlist-dialog", classes="dialog"):
            yield Label("Watchlist", id="watchlist-title")
            with VerticalScroll(id="watchlist-scroll"):
                yield table
            yield Label(
                "↑↓ move · Enter show on the desk · a add · Delete remove · Escape close\n"
                "sort: c 24h %  t turnover  f funding  o open int.  s symbol  n as watched (again: reverse)",
                classes="dialog-hint",
            )

    @property
    def table(self) -> WatchlistTable:
        return self.query_one(WatchlistTable)

    def action_close(self) -> None:
        self.dismiss(None)

    def action_move(self, step: int) -> None:
        self.table.move(step)

    def action_sort(self, sort: str) -> None:
        self.table.sort_by(WatchSort(sort))

    def action_show_symbol(self) -> None:
        symbol = self.table.selected()
        if symbol is not None:
            self.fluxum.desk_screen.select_symbol(symbol)
            self.dismiss(None)

    def action_add(self) -> None:
        self.app.push_screen(AddSymbolScreen(), callback=self._add_chosen)

    def _add_chosen(self, text: str | None) -> None:
        if text:
            self.run_worker(self._add(text), group="watchlist", exit_on_error=False)

    async def _add(self, text: str) -> None:
        if await add_symbol(self.fluxum, text):
            self.table.select(self.fluxum.desk.symbols[-1])

    def action_remove(self) -> None:
        symbol = self.table.selected()
        if symbol is not None:
            self.run_worker(self._remove(symbol), group="watchlist", exit_on_error=False)

    async def _remove(self, symbol: str) -> None:
        if await remove_symbol(self.fluxum, symbol):
            self.table.refresh_now()


class WatchlistCommands(Provider):
    """The palette's watchlist commands: show it, add a listed symbol (or the one typed), remove a watched one,
    reload the config file's symbols. Prompts are :class:`Content`, never markup: a symbol is data."""

    def _commands(self, query: str) -> list[tuple[str, Any, str]]:
        app = self.app
        from app.app import FluxumApp

        if not isinstance(app, FluxumApp):
            return []
        desk = app.desk
        commands: list[tuple[str, Any, str]] = []
        commands.append(("Watchlist: show", app.action_show_watchlist, "every watched symbol's ticker and funding"))
        commands.append(
            ("Watchlist: reload the config file's symbols", partial(_start, app, "reload", None), "add and remove")
        )
        for symbol in desk.symbols:
            commands.append((f"Watchlist: remove {printable(symbol)}", partial(_start, app, "remove", symbol), ""))
        words = query.split()
        last = words[-1].upper() if words else ""
        typed = last if len(words) > 1 and words[0].lower() in ("add", "watch") else ""  # "add xyzusdt"
        listed = [s for s in desk.instruments if s not in desk.symbols and last in s]
        for symbol in sorted(listed)[:PALETTE_ADDS_SHOWN]:
            commands.append((f"Watchlist: add {printable(symbol)}", partial(_start, app, "add", symbol), "watch it"))
        if (
            typed.isascii()
            and typed.isalnum()
            and typed not in desk.instruments
            and typed not in desk.symbols
            and len(typed) <= 30
        ):
            commands.append((f"Watchlist: add {typed}", partial(_start, app, "add", typed), "watch it"))
        return commands

    async def discover(self) -> Hits:
        for text, callback, help_text in self._commands("")[:2]:
            yield DiscoveryHit(Content(text), callback, text=text, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, callback, help_text in self._commands(query):
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, Content(text), callback, text=text, help=help_text)


def _start(app: FluxumApp, what: str, symbol: str | None) -> None:
    """Run a palette command's change in a worker (the palette calls back synchronously)."""
    work: Coroutine[Any, Any, object]
    if what == "reload":
        work = reload_config_symbols(app)
    elif what == "add" and symbol is not None:
        work = add_symbol(app, symbol)
    elif symbol is not None:
        work = remove_symbol(app, symbol)
    else:
        return
    app.run_worker(work, group="watchlist", exit_on_error=False)
