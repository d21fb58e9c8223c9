"""The order-book ladder: asks above, bids below, the spread row between them.

A Line API widget. The book is ingested at network rate elsewhere; this widget pulls it on a timer (~20 Hz)
and rebuilds its strips only when something it draws moved (the book's ``version``, its trust, the user's
orders, the last trade, the grouping, the size). ``render_line`` just returns a prepared strip, so a burst of
10,000 deltas costs at most one rebuild per frame, and only the rows that fit are ever formatted.

What the rows say is computed without a screen by :func:`widgets.ladder_rows.ladder_rows` (the best bid and ask
either side of the spread row, grouping that never shows a better price than any order inside it, an untrusted
book dimmed and labelled NOT LIVE). Nothing is skipped by a throttle: the timer always draws the latest book.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from textual.message import Message

from exchange.book import OrderBook
from exchange.desk import LARGEST_STEP, SMALLEST_STEP, Desk
from exchange.trust import book_trust
from widgets.ladder_rows import IMBALANCE_LEVELS, LAST_TRADE_AGED_S, ladder_rows, rows_per_side, shown_levels
from widgets.rows import Row
from widgets.strip_widget import StripWidget

__all__ = ["GROUPS", "IMBALANCE_LEVELS", "LAST_TRADE_AGED_S", "Ladder"]

GROUPS = (1, 2, 5, 10, 20, 50, 100, 250, 500, 1000)
"""Tick multiples the zoom keys step through."""
DRAW_LOG_KEPT = 4096

_SMALLEST_TICK = float(SMALLEST_STEP)
_LARGEST_TICK = float(LARGEST_STEP)


class Ladder(StripWidget):
    """A vertical price ladder of the selected symbol's book, never shown as live when untrusted."""

    PULL_NAME = "ladder"

    COMPONENT_CLASSES = {
        "ladder--header",
        "ladder--titles",
        "ladder--ask",
        "ladder--bid",
        "ladder--ask-bar",
        "ladder--bid-bar",
        "ladder--spread",
        "ladder--buy",
        "ladder--sell",
        "ladder--own",
        "ladder--cursor",
        "ladder--cursor-row",
        "ladder--live",
        "ladder--not-live",
        "ladder--untrusted",
        "ladder--muted",
    }

    DEFAULT_CSS = """
    Ladder { height: 1fr; min-width: 30; }
    """

    REFRESH_HZ = 20.0
    RETRY_IN_TURN = True

    class GroupChanged(Message):
        """The user zoomed the ladder: ``group`` ticks per row, ``step`` in price (None: tick unknown)."""

        def __init__(self, symbol: str, group: int, step: float | None) -> None:
            self.symbol = symbol
            self.group = group
            self.step = step
            super().__init__()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._groups: dict[str, int] = {}
        self._cursors: dict[str, float] = {}
        self.trust: tuple[str, str | None] = ("AWAITING_SNAPSHOT", None)
        """What the ladder last showed about the book: its state and why (tests and the app read it)."""
        self.draw_log: deque[tuple[int | None, int | None, int, int, str | None]] = deque(maxlen=DRAW_LOG_KEPT)
        """``(book ts, book cts, rebuilt at ms, painted at ms, symbol)`` per drawn book version, for the benches:
        "painted" is taken after the screen refresh that follows the rebuild, never inside ``render_line``."""
        self._unpainted: deque[tuple[int | None, int | None, int, str | None]] = deque(maxlen=DRAW_LOG_KEPT)
        """Book versions rebuilt since the last screen refresh: ``(ts, cts, rebuilt at ms, symbol)``."""

    # ------------------------------------------------------------------ public API

    @property
    def group(self) -> int:
        """Ticks per row for the current symbol."""
        return self._groups.get(self.symbol or "", 1)

    def step(self) -> float | None:
        """Price per row (tick x group), or None while the instrument's tick is unknown."""
        tick = self._tick()
        return tick * self.group if tick is not None else None

    def zoom(self, direction: int) -> int:
        """Coarser (+1) or finer (-1) grouping for the current symbol; returns the new tick multiple."""
        symbol = self.symbol
        if symbol is None:
            return 1
        index = GROUPS.index(self.group) if self.group in GROUPS else 0
        group = GROUPS[max(0, min(len(GROUPS) - 1, index + direction))]
        if self._tick() is None:
            group = 1  # grouping needs the tick; the instruments arrive with the first backfill
        if group != self.group:
            self._groups[symbol] = group
            self.post_message(self.GroupChanged(symbol, group, self.step()))
            self._pull()
        return group

    @property
    def cursor(self) -> float | None:
        """The price the order-entry cursor is on for the current symbol (a row's price), None when not placed."""
        return self._cursors.get(self.symbol or "")

    def move_cursor(self, direction: int) -> float | None:
        """Move the cursor to the next price row shown above (+1) or below (-1); the first move places it on the
        best ask (up) or best bid (down). It stays on its price while the book moves; at the edge it stays."""
        book, symbol = self._book(), self.symbol
        if book is None or symbol is None:
            return None
        step = self.step()
        asks, bids = shown_levels(book, step, self.group, rows_per_side(self.size.height or 24))
        prices = sorted({price for price, _ in asks + bids})
        current = self._cursors.get(symbol)
        if current is None:
            chosen = (asks[0][0] if asks else None) if direction > 0 else (bids[0][0] if bids else None)
        elif direction > 0:
            chosen = next((p for p in prices if p > current + 1e-12), current)
        else:
            chosen = next((p for p in reversed(prices) if p < current - 1e-12), current)
        if chosen is None:
            return None
        self._cursors[symbol] = chosen
        self._pull()
        return chosen

    # ------------------------------------------------------------------ pulling

    def _book(self) -> OrderBook | None:
        desk, symbol = self.desk, self.symbol
        if desk is None or symbol is None:
            return None
        return desk.books.get(symbol)

    def _tick(self) -> float | None:
        desk, symbol = self.desk, self.symbol
        if desk is None or symbol is None:
            return None
        instrument = desk.instrument(symbol)
        if instrument is None:
            return None
        tick = float(instrument.tick_size)
        # Rows are prices divided by the tick: a tick that is no positive, finite float is no tick at all.
        return tick if _SMALLEST_TICK <= tick <= _LARGEST_TICK else None

    def _pull(self) -> bool:
        """Rebuild the strips if anything drawn moved since the last frame (and say whether it did); cheap when
        nothing did."""
        if not self._started:
            return False
        desk, symbol, book = self.desk, self.symbol, self._book()
        now_ms = int(self.clock() * 1000)
        trust = book_trust(desk, book, now_ms) if book is not None else ("AWAITING_SNAPSHOT", None)
        size = self.size
        key = (
            id(desk),
            symbol,
            book.version if book is not None else None,
            trust,
            self.group,
            size.width,
            size.height,
            desk.versions["orders"] if desk is not None else 0,
            desk.versions[f"trades:{symbol}"] if desk is not None else 0,
            desk.versions["instruments"] if desk is not None else 0,
            self._style_generation,
            self.cursor,
        )
        if key == self._drawn_key:
            return False
        book_moved = self._drawn_key is None or self._drawn_key[2] != key[2] or self._drawn_key[1] != symbol
        self._drawn_key = key
        self.trust = trust
        self._show_rows(self._build(desk, symbol, trust, size.width, size.height), size.width)
        if book_moved and book is not None and book.ts is not None:
            self._unpainted.append((book.ts, book.cts, int(time.time() * 1000), symbol))
            if self._ticker is None or not self._ticker.paints(self):  # (a tick's frame calls ``_after_paint``)
                self.call_after_refresh(self._after_paint)
        return True

    def _build(
        self, desk: Desk | None, symbol: str | None, trust: tuple[str, str | None], width: int, height: int
    ) -> list[Row]:
        """What the ladder shows now (:func:`~widgets.ladder_rows.ladder_rows`)."""
        return ladder_rows(desk, symbol, trust, self.group, self._tick(), width, height, self._widths, self.cursor)

    def _after_paint(self) -> None:
        """The rebuilt book reached the screen: lines of the load bench's draw log."""
        painted_ms = int(time.time() * 1000)
        for ts, cts, built_ms, symbol in self._unpainted:
            self.draw_log.append((ts, cts, built_ms, painted_ms, symbol))
        self._unpainted.clear()
