"""The pull loop every desk widget shares: read the Desk on a timer, repaint only if what it shows moved.

A widget mixes in :class:`DeskPull` (or :class:`SymbolPull` when it shows one symbol) before its Textual base,
sets ``REFRESH_HZ`` and implements ``_pull``, which compares what it would draw with what it drew (``_drawn_key``).
The mixin's constructor takes the desk (and symbol), the clock and the rate, and passes the rest to Textual.
The app calls ``show`` to point it at a desk (and symbol) and ``refresh_now`` when an event says the desk moved,
so a state change reaches the screen at once instead of on the next tick.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, ClassVar

from exchange.desk import Desk


class DeskPull:
    """Timer-driven pulls of a :class:`Desk`; pulls asked for before mount wait for it."""

    PULL_NAME: ClassVar[str] = "desk"
    REFRESH_HZ: ClassVar[float] = 4.0
    """Pulls per second: how stale what the widget shows may get when no event hurries it."""

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
        self._drawn_key: tuple | None = None

    def on_mount(self) -> None:
        self._started = True  # pulls before mount (show() from the app) wait for it
        self.set_interval(1 / self._refresh_hz, self._pull, name=f"{self.PULL_NAME}-pull")  # type: ignore[attr-defined]
        self._mounted()
        self._pull()

    def _mounted(self) -> None:
        """Anything else a widget needs once mounted (the timer is already set)."""

    def show(self, desk: Desk | None) -> None:
        """Point the widget at a desk; it redraws at once."""
        self.desk = desk
        self._pull()

    def refresh_now(self) -> None:
        """Re-read the desk at once (an event said it moved)."""
        self._pull()

    def _pull(self) -> None:
        raise NotImplementedError


class SymbolPull(DeskPull):
    """A desk widget that shows one symbol (its ``symbol`` reactive is declared by the widget itself)."""

    symbol: Any

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
        self.set_reactive(type(self).symbol, symbol)  # type: ignore[attr-defined]  # no watcher call yet

    def show(self, desk: Desk | None, symbol: str | None = None) -> None:
        """Point the widget at a desk and symbol; it redraws at once."""
        self.desk = desk
        self.symbol = symbol
        self._pull()

    def watch_symbol(self) -> None:
        self._pull()
