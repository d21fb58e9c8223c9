"""The base of every desk widget: read the Desk on a timer, repaint only if what it shows moved.

A desk widget derives from :class:`DeskWidget` (or :class:`SymbolWidget` when it shows one symbol), sets
``REFRESH_HZ`` and implements ``_pull``, which compares what it would draw with what it drew (``_drawn_key``).
On a screen with a :class:`PullTicker` (the desk's) every widget is pulled from that one timer, each at its own
rate, so the desk wakes once a tick and what moved is drawn in one frame; elsewhere a widget sets its own.
The desk screen calls ``show`` to point it at a desk (and symbol) and ``refresh_now`` when an event says the desk
moved, so a state change reaches the screen at once instead of on the next tick.

A desk widget that is also a richer Textual widget names that one first (``class OrdersTable(DataTable[Text],
DeskWidget)``): Textual inherits default CSS and component classes along the first base only. Such a base
(``DataTable``, ``Static``) does not pass a desk on to ``DeskWidget.__init__``: the widget sets ``desk`` itself
after ``super().__init__``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Any, ClassVar

from textual.geometry import Region
from textual.reactive import reactive
from textual.widget import Widget

from exchange.desk import Desk

__all__ = ["DeskWidget", "PullTicker", "SymbolWidget"]

TICK_HZ = 40.0
"""The desk's one pull timer: twice the fastest widget's rate (the ladder's 20), so that a tick that comes late or
early never costs the ladder a frame (each of its turns spans two ticks). The slower widgets are pulled on the
ladder's ticks, so whatever moved is drawn in one frame: the desk's compositor draws only the widgets a change is
on (:mod:`app.span_compositor`), so a frame that carries the ladder and the bar costs what the two cost, and a
frame less a second saves its fixed cost (timers, the compositor's pass, a write to the terminal)."""
CYCLE = 40
"""Ticks after which every widget's turns repeat (a multiple of every widget's period)."""


class PullTicker:
    """One timer for every desk widget of a screen: each tick pulls the widgets whose turn it is (a widget of
    ``REFRESH_HZ`` r every ``TICK_HZ / r`` ticks), instead of one timer, task and message per widget.

    Each widget gets, among the fastest widget's ticks, the phase whose ticks carry the fewest pulls so far, so
    that no frame carries every slower widget at once and the frames cost about the same."""

    def __init__(self, tick_hz: float = TICK_HZ, clock: Callable[[], float] = time.monotonic) -> None:
        self.tick_hz = tick_hz
        self.clock = clock
        self._periods: dict[DeskWidget, int] = {}
        self._turns: dict[DeskWidget, tuple[int, int]] = {}
        self._pulled: dict[DeskWidget, int] = {}
        """The turn each widget was last pulled in."""
        self._retrying: set[DeskWidget] = set()
        """The widgets pulled again in their turn while they draw nothing (``RETRY_IN_TURN``)."""
        self._to_paint: set[DeskWidget] | None = None
        """While a tick runs: the widgets its pulls asked to paint (:meth:`DeskWidget._repaint`)."""

    def add(self, widget: DeskWidget, refresh_hz: float) -> None:
        """Pull ``widget`` about ``refresh_hz`` times a second from now on."""
        every = max(1, min(CYCLE, round(self.tick_hz / refresh_hz)))
        while CYCLE % every:
            every -= 1
        self._periods[widget] = every
        if getattr(widget, "RETRY_IN_TURN", False):
            self._retrying.add(widget)
        self._assign()

    def remove(self, widget: DeskWidget) -> None:
        self._pulled.pop(widget, None)
        self._retrying.discard(widget)
        if self._periods.pop(widget, None) is not None:
            self._assign()

    def _assign(self) -> None:
        """Phases, fastest widget first (phase 0): each other widget goes on the fastest one's ticks (when its
        period allows), where the fewest already-placed widgets are pulled."""
        load = [0] * CYCLE
        turns: dict[DeskWidget, tuple[int, int]] = {}
        fastest = min(self._periods.values(), default=1)
        for widget, every in sorted(self._periods.items(), key=lambda item: item[1]):
            phases = range(0, every, fastest) if every % fastest == 0 else range(every)
            phase = min(phases, key=lambda p: (sum(load[p::every]), p))
            for tick in range(phase, CYCLE, every):
                load[tick] += 1
            turns[widget] = (every, phase)
        self._turns = turns

    def tick(self) -> set[DeskWidget]:
        """Pull the widgets whose turn came since they were last pulled, and return those that asked to be painted
        (:meth:`DeskWidget._repaint`): the screen draws them in one frame. Turns follow the clock, not the count of
        ticks: a late or skipped tick (a busy loop) delays a widget's pull, never drops its turn."""
        now = int(self.clock() * self.tick_hz)
        pulled, retrying = self._pulled, self._retrying
        to_paint = self._to_paint = set()
        try:
            for widget, (every, phase) in list(self._turns.items()):
                turn = (now - phase) // every
                if pulled.get(widget) != turn and (widget._pull() or widget not in retrying):
                    pulled[widget] = turn
        finally:
            self._to_paint = None
        return to_paint

    def paints(self, widget: DeskWidget) -> bool:
        """Whether the frame drawn after the running tick takes ``widget`` (it repainted in this tick)."""
        return self._to_paint is not None and widget in self._to_paint

    def paint_after_tick(self, widget: DeskWidget) -> bool:
        """Take ``widget`` into the frame drawn after the running tick; False when no tick runs."""
        to_paint = self._to_paint
        if to_paint is None:
            return False
        to_paint.add(widget)
        return True


class DeskWidget(Widget):
    """Timer-driven pulls of a :class:`Desk`; pulls asked for before mount wait for it."""

    PULL_NAME: ClassVar[str] = "desk"
    REFRESH_HZ: ClassVar[float] = 4.0
    """Pulls per second: how stale what the widget shows may get when no event hurries it."""
    RETRY_IN_TURN: ClassVar[bool] = False
    """Whether a pull that drew nothing (``_pull`` returned a false value) is tried again on the next tick of the
    same turn: the ladder's source moves about as often as it is pulled, and a book that moves just after the
    turn's first tick is then drawn on its second, not a whole turn later (nor skipped, when the next move comes
    before that)."""

    def __init__(
        self,
        desk: Desk | None = None,
        *,
        clock: Callable[[], float] = time.time,
        refresh_hz: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._started = False
        self.desk = desk
        self.clock = clock
        self._refresh_hz = refresh_hz or self.REFRESH_HZ
        self._drawn_key: tuple[Hashable, ...] | None = None
        self._ticker: PullTicker | None = None

    def on_mount(self) -> None:
        self._started = True  # pulls before mount (show() from the screen) wait for it
        ticker = getattr(self.screen, "pull_ticker", None)
        if isinstance(ticker, PullTicker):
            self._ticker = ticker
            ticker.add(self, self._refresh_hz)
        else:
            self.set_interval(1 / self._refresh_hz, self._pull, name=f"{self.PULL_NAME}-pull")
        self._mounted()
        self._pull()

    def on_unmount(self) -> None:
        if self._ticker is not None:
            self._ticker.remove(self)
            self._ticker = None

    def _mounted(self) -> None:
        """Anything else a widget needs once mounted (the timer is already set)."""

    def show(self, desk: Desk | None, symbol: str | None = None) -> None:
        """Point the widget at a desk; it redraws at once (``symbol`` is for the widgets that show one)."""
        self.desk = desk
        self._pull()

    def refresh_now(self) -> None:
        """Re-read the desk at once (an event said it moved)."""
        self._pull()

    def _repaint(self, *regions: Region) -> None:
        """Repaint these regions of the widget (all of it when none), for a widget drawn line by line whose size
        does not follow its content. Pulled by its screen's ticker, it is marked dirty and handed to the screen,
        which draws every such widget in one frame right after the tick: Textual's ``refresh`` would instead post
        a message to the widget, which posts one to the screen, which posts one to itself before the frame
        (three wake-ups of the event loop a widget a frame). Elsewhere (an event, a resize) it is ``refresh``."""
        ticker = self._ticker
        if ticker is None or not self.display or not self.is_mounted or not ticker.paint_after_tick(self):
            self.refresh(*regions)
            return
        self._set_dirty(*regions)

    def _after_paint(self) -> None:
        """Called once the frame that drew this widget's tick repaint is written (the ladder's draw log)."""

    def _pull(self) -> bool | None:
        """Draw what moved; a widget that retries within its turn (``RETRY_IN_TURN``) returns whether it drew."""
        raise NotImplementedError


class SymbolWidget(DeskWidget):
    """A desk widget that shows one symbol."""

    symbol: reactive[str | None] = reactive(None, layout=False, repaint=False)
    """The symbol shown."""

    def __init__(
        self,
        desk: Desk | None = None,
        symbol: str | None = None,
        *,
        clock: Callable[[], float] = time.time,
        refresh_hz: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(desk, clock=clock, refresh_hz=refresh_hz, **kwargs)
        self.set_reactive(SymbolWidget.symbol, symbol)  # no watcher call yet

    def show(self, desk: Desk | None, symbol: str | None = None) -> None:
        """Point the widget at a desk and symbol; it redraws at once."""
        self.desk = desk
        self.symbol = symbol
        self._pull()

    def watch_symbol(self) -> None:
        self._pull()
