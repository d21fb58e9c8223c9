"""The order-book ladder: asks above, bids below, the spread row between them.

A Line API widget. The book is ingested at network rate elsewhere; this widget pulls it on a timer (~20 Hz)
and rebuilds its strips only when something it draws moved (the book's ``version``, its trust, the user's
orders, the last trade, the grouping, the size). ``render_line`` just returns a prepared strip, so a burst of
10,000 deltas costs at most one rebuild per frame, and only the rows that fit are ever formatted.

The best bid and best ask sit on either side of the spread row (where the eye looks for them),
grouping rounds bids down and asks up (a group never shows a better price than any order inside it), nothing
is skipped by a throttle (the timer always draws the latest book), and a book that cannot be trusted
(RESYNCING, AWAITING_SNAPSHOT, STALE) is dimmed and labelled NOT LIVE on its header and its spread row.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from exchange.book import BookState, OrderBook
from exchange.desk import LARGEST_STEP, SMALLEST_STEP, Desk
from exchange.printable import printable
from exchange.trust import book_trust
from widgets._component_style import component_style
from widgets._desk_pull import SymbolPull
from widgets._format import ColumnWidths, decimals_of, fmt_signed, price_decimals_from

__all__ = ["GROUPS", "IMBALANCE_LEVELS", "LAST_TRADE_AGED_S", "Ladder"]

GROUPS = (1, 2, 5, 10, 20, 50, 100, 250, 500, 1000)
"""Tick multiples the zoom keys step through."""
LAST_TRADE_AGED_S = 10.0
"""A last trade older than this, against the live book's own clock, is quoted with its age: after a reconnect the
print shown may be from before the link went, far from where the book now stands."""
IMBALANCE_LEVELS = 10
"""Book levels per side the imbalance row sums: a fixed depth of the raw book, so the figure means the same at
any window height and any grouping."""


DRAW_LOG_KEPT = 4096

_FULL = "█"
_EIGHTHS = " ▏▎▍▌▋▊▉"
_BUCKET_EPS = 1e-9
_SMALLEST_TICK = float(SMALLEST_STEP)
_LARGEST_TICK = float(LARGEST_STEP)


def _bar(fraction: float, width: int) -> str:
    """A horizontal bar with eighth-cell resolution, padded to ``width``."""
    if width <= 0:
        return ""
    cells = max(0.0, min(1.0, fraction)) * width
    full = int(cells)
    part = int((cells - full) * 8)
    text = _FULL * full + (_EIGHTHS[part] if part and full < width else "")
    return text.ljust(width)


class Ladder(SymbolPull, Widget):
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
        "ladder--live",
        "ladder--not-live",
        "ladder--untrusted",
        "ladder--muted",
    }

    DEFAULT_CSS = """
    Ladder { height: 1fr; min-width: 30; }
    """

    REFRESH_HZ = 20.0
    symbol: reactive[str | None] = reactive(None, layout=False, repaint=False)
    """The symbol whose book is shown."""

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
        self._strips: list[Strip] = []
        self._widths = ColumnWidths()
        self._style_generation = 0
        self._base = Style()
        self._styles: dict[str, Style] = {}
        self._paint_pending: tuple[int | None, int | None, int] | None = None
        self.trust: tuple[str, str | None] = ("AWAITING_SNAPSHOT", None)
        """What the ladder last showed about the book: its state and why (tests and the app read it)."""
        self.draw_log: deque[tuple[int | None, int | None, int, int]] = deque(maxlen=DRAW_LOG_KEPT)
        """``(book ts, book cts, rebuilt at ms, painted at ms)`` per drawn book version, for the load
        bench."""

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

    # ------------------------------------------------------------------ pulling

    def _restyle(self, _theme: object) -> None:
        self._style_generation += 1
        self._styles.clear()
        self._drawn_key = None

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._style_generation += 1
        self._styles.clear()

    def on_resize(self) -> None:
        self._pull()

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

    def _mounted(self) -> None:
        self.app.theme_changed_signal.subscribe(self, self._restyle)

    def _pull(self) -> None:
        """Rebuild the strips if anything drawn moved since the last frame; cheap when nothing did."""
        if not self._started:
            return
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
        )
        if key == self._drawn_key:
            return
        book_moved = self._drawn_key is None or self._drawn_key[2] != key[2] or self._drawn_key[1] != symbol
        self._drawn_key = key
        self.trust = trust
        self._strips = self._build(desk, symbol, book, trust, size)
        if book_moved and book is not None and book.ts is not None:
            self._paint_pending = (book.ts, book.cts, int(time.time() * 1000))
        self.refresh()

    def render_line(self, y: int) -> Strip:
        if y == 0 and self._paint_pending is not None:
            ts, cts, built = self._paint_pending
            self._paint_pending = None
            self.draw_log.append((ts, cts, built, int(time.time() * 1000)))
        if y < len(self._strips):
            return self._strips[y]
        return Strip.blank(self.size.width, self._base)

    # ------------------------------------------------------------------ drawing

    def _style(self, name: str) -> Style:
        """A component style, its colours resolved against the background (:mod:`widgets._component_style`),
        cached until the styles change."""
        style = self._styles.get(name)
        if style is None:
            style = self._styles[name] = component_style(self, name)
        return style

    def _build(
        self,
        desk: Desk | None,
        symbol: str | None,
        book: OrderBook | None,
        trust: tuple[str, str | None],
        size: Size,
    ) -> list[Strip]:
        width, height = size.width, size.height
        if width <= 0 or height <= 0:
            return []
        base = self._base = self.rich_style
        if book is None or symbol is None or desk is None:
            return [self._line(" no book selected", width, base + self._style("ladder--muted"))]
        state, reason = trust
        live = state == BookState.SYNCED.value
        dim = self._style("ladder--untrusted") if not live else Style()

        tick = self._tick()
        group = self.group if tick is not None else 1
        step = tick * group if tick is not None else None

        show_titles = height >= 12
        fixed = 3 + (1 if show_titles else 0)  # header, spread, imbalance (+ titles)
        per_side = max(1, (height - fixed) // 2)
        if step is not None and group > 1:
            asks = book.grouped("ask", step, per_side)
            bids = book.grouped("bid", step, per_side)
        else:
            asks = book.asks(per_side)
            bids = book.bids(per_side)

        instrument = desk.instrument(symbol)
        if instrument is not None:
            quote_dp = instrument.price_decimals  # spread, mid and last are quoted in ticks, whatever the rows
            # The digits multiples of the exact (Decimal) step need: 2.5 has one, 100 none.
            price_dp = decimals_of(instrument.tick_size * group) if group > 1 else quote_dp
        else:
            price_dp = quote_dp = price_decimals_from([p for p, _ in asks + bids])
        size_dp = instrument.qty_decimals if instrument is not None else 3

        own_bid, own_ask, off_screen = self._own_levels(desk, symbol, bids, asks, step, price_dp)
        own_w = 0
        if own_bid or own_ask:
            own_w = max(len(f"{q:,.{size_dp}f}") for q in [*own_bid.values(), *own_ask.values()]) + 1

        cum_asks = _cumulative(asks)
        cum_bids = _cumulative(bids)
        prices = [f"{p:,.{price_dp}f}" for p, _ in asks + bids]
        price_w, size_w, cum_w = self._widths.fit(
            (symbol, group, per_side, price_dp, size_dp),  # a new view (or a taller one: larger totals) refits
            max([len(p) for p in prices] + [5]),
            max([len(f"{s:,.{size_dp}f}") for _, s in asks + bids] + [4]),
            max([len(f"{c:,.{size_dp}f}") for *_, c in cum_asks[-1:] + cum_bids[-1:]] + [5]),
        )
        text_w = 1 + own_w + 1 + price_w + 1 + size_w + 1 + cum_w + 1
        bar_w = max(0, width - text_w)
        max_cum = max([c for *_, c in cum_asks[-1:]] + [c for *_, c in cum_bids[-1:]] + [0.0])

        step_dp = max(price_dp, instrument.price_decimals if instrument is not None else 0)
        strips: list[Strip] = [self._header(symbol, book, state, reason, group, step, step_dp, off_screen, width)]
        if show_titles:
            titles = f" {'mine':>{own_w}} " if own_w else "  "
            titles += f"{'price':>{price_w}} {'size':>{size_w}} {'total':>{cum_w}} {'depth':<{bar_w}}"
            strips.append(self._line(titles, width, base + self._style("ladder--titles") + dim))

        own_style = base + self._style("ladder--own")
        ask_style = base + self._style("ladder--ask") + dim
        bid_style = base + self._style("ladder--bid") + dim
        ask_bar = base + self._style("ladder--ask-bar") + dim
        bid_bar = base + self._style("ladder--bid-bar") + dim

        def row(
            level: tuple[float, float, float] | None,
            own: dict[int, float],
            style: Style,
            bar_style: Style,
            bucket_of: Callable[[float], int],
        ) -> Strip:
            if level is None:
                return Strip.blank(width, base)
            price, qty, cum = level
            mine = own.get(bucket_of(price))
            if own_w:
                marker = f"◆{mine:>{own_w - 1},.{size_dp}f}" if mine else " " * own_w
                lead = [
                    Segment(" ", style),
                    Segment(marker, own_style + dim if mine else style),
                    Segment(" ", style),
                ]
            else:
                lead = [Segment("  ", style)]
            text = f"{price:>{price_w},.{price_dp}f} {qty:>{size_w},.{size_dp}f} {cum:>{cum_w},.{size_dp}f} "
            bar = _bar(cum / max_cum if max_cum else 0.0, bar_w)
            segments = [*lead, Segment(text, style), Segment(bar, bar_style)]
            return Strip(segments, text_w + bar_w).crop_extend(0, width, base)

        ask_key = self._bucket_fn(step, price_dp, "ask")
        bid_key = self._bucket_fn(step, price_dp, "bid")
        ask_rows: list[tuple[float, float, float] | None] = [None] * (per_side - len(cum_asks))
        ask_rows += list(reversed(cum_asks))
        strips.extend(row(level, own_ask, ask_style, ask_bar, ask_key) for level in ask_rows)
        strips.append(self._spread_row(desk, symbol, book, live, state, quote_dp, size_dp, width))
        bid_rows: list[tuple[float, float, float] | None] = list(cum_bids)
        bid_rows += [None] * (per_side - len(cum_bids))
        strips.extend(row(level, own_bid, bid_style, bid_bar, bid_key) for level in bid_rows)
        while len(strips) < height - 1:
            strips.append(Strip.blank(width, base))
        strips.append(self._imbalance_row(book, width, dim))
        return strips[:height]

    def _line(self, text: str, width: int, style: Style) -> Strip:
        return Strip([Segment(text[:width].ljust(width), style)], width)

    def _header(
        self,
        symbol: str,
        book: OrderBook,
        state: str,
        reason: str | None,
        group: int,
        step: float | None,
        price_dp: int,
        off_screen: int,
        width: int,
    ) -> Strip:
        base = self._base
        title = f" {printable(symbol)} "
        zoom = f" x{group} = {step:,.{price_dp}f} " if step is not None else " tick ? "
        extra = f" ◆{off_screen} off-screen " if off_screen else ""
        if state == BookState.SYNCED.value:
            badge = " ● LIVE "
            badge_style = base + self._style("ladder--live")
            tail = ""
        else:
            badge = f" ⚠ {state} · NOT LIVE "
            badge_style = base + self._style("ladder--not-live")
            tail = f" {printable(reason)}" if reason else ""  # may quote the unreadable level
        header_style = base + self._style("ladder--header")
        segments = [Segment(title, header_style), Segment(badge, badge_style)]
        used = len(title) + len(badge)
        for text in (zoom, extra, tail):
            if text and used + len(text) <= width:
                segments.append(Segment(text, header_style))
                used += len(text)
        return Strip(segments, used).crop_extend(0, width, header_style)

    def _spread_row(
        self,
        desk: Desk,
        symbol: str,
        book: OrderBook,
        live: bool,
        state: str,
        price_dp: int,
        size_dp: int,
        width: int,
    ) -> Strip:
        base = self._base
        style = base + self._style("ladder--spread")
        if not live:
            text = f" ⚠ {state} · NOT LIVE "
            return Strip([Segment(text.center(width, "─")[:width], base + self._style("ladder--not-live"))], width)
        spread, mid = book.spread(), book.mid()
        trades = desk.trades.get(symbol)
        last = trades[-1] if trades else None
        if spread is None or mid is None:
            variants = [(" one side empty ", "")]
        else:
            bps = spread / mid * 10_000 if mid else 0.0
            sp = f"{spread:,.{price_dp}f}"
            md = f"{mid:,.{price_dp + 1}f}"
            lp = f"{last.price:,.{price_dp}f}" if last is not None else ""
            aged = f"{lp}{_trade_age(last.time_ms, book.ts)}" if last is not None else ""
            variants = [  # the longest that fits wins: the spread and the last trade's side always stay
                (
                    f" spread {sp} ({bps:.2f} bp) · mid {md} · last {aged} ",
                    f" spread {sp} ({bps:.2f} bp) · mid {md} ",
                ),
                (f" spread {sp} · mid {md} · last {aged} ", f" spread {sp} · mid {md} "),
                (f" spread {sp} · last {aged} ", f" spread {sp} "),
                (f" spread {sp} · last {lp} ", f" spread {sp} "),
                (f" spr {sp} ", f" spr {sp} "),
            ]
        aggressor = ""
        if last is not None:
            aggressor = "▲ BUY " if last.side == "Buy" else "▼ SELL "
        for with_last, without_last in variants:
            text = with_last if last is not None else without_last
            if len(text) + len(aggressor) <= width:
                break
        segments = [Segment(text, style)]
        if aggressor and last is not None:
            side_style = style + self._style("ladder--buy" if last.side == "Buy" else "ladder--sell")
            segments.append(Segment(aggressor, side_style))
        used = sum(len(s.text) for s in segments)
        if used < width:
            segments.append(Segment("─" * (width - used), style))
        return Strip(segments, max(used, width)).crop(0, width)

    def _imbalance_row(self, book: OrderBook, width: int, dim: Style) -> Strip:
        base = self._base
        bid_total = sum(size for _, size in book.bids(IMBALANCE_LEVELS))
        ask_total = sum(size for _, size in book.asks(IMBALANCE_LEVELS))
        total = bid_total + ask_total
        muted = base + self._style("ladder--titles") + dim
        if total <= 0:
            return self._line(f" imbalance {IMBALANCE_LEVELS} lv —", width, muted)
        imbalance = (bid_total - ask_total) / total
        label = f" imbalance {IMBALANCE_LEVELS} lv {fmt_signed(imbalance)} bid "
        tail = " ask"
        bar_w = max(0, width - len(label) - len(tail))
        bid_cells = int(round(bar_w * bid_total / total))
        segments = [
            Segment(label, muted),
            Segment("█" * bid_cells, base + self._style("ladder--bid-bar") + dim),
            Segment("░" * (bar_w - bid_cells), base + self._style("ladder--ask-bar") + dim),
            Segment(tail, muted),
        ]
        return Strip(segments, len(label) + bar_w + len(tail)).crop_extend(0, width, base)

    # ------------------------------------------------------------------ own orders

    @staticmethod
    def _bucket_fn(step: float | None, price_dp: int, side: str) -> Callable[[float], int]:
        """Row price -> an integer key comparable with :meth:`_own_levels` (bids round down, asks up)."""
        if step is None:
            scale = 10**price_dp
            return lambda price: round(price * scale)
        if side == "bid":
            return lambda price: math.floor(price / step + _BUCKET_EPS)
        return lambda price: math.ceil(price / step - _BUCKET_EPS)

    def _own_levels(
        self,
        desk: Desk,
        symbol: str,
        bids: list[tuple[float, float]],
        asks: list[tuple[float, float]],
        step: float | None,
        price_dp: int,
    ) -> tuple[dict[int, float], dict[int, float], int]:
        """The user's resting quantity per visible row key, per side, and how many orders fall off-screen."""
        own_bid: dict[int, float] = {}
        own_ask: dict[int, float] = {}
        orders = desk.open_orders(symbol)
        if not orders:
            return own_bid, own_ask, 0
        bid_key = self._bucket_fn(step, price_dp, "bid")
        ask_key = self._bucket_fn(step, price_dp, "ask")
        visible_bids = {bid_key(p) for p, _ in bids}
        visible_asks = {ask_key(p) for p, _ in asks}
        off = 0
        for order in orders:
            if order.price is None:
                continue
            price = float(order.price)
            leaves = float(order.leaves_qty)
            if order.side == "Buy":
                key = bid_key(price)
                if key in visible_bids:
                    own_bid[key] = own_bid.get(key, 0.0) + leaves
                    continue
            else:
                key = ask_key(price)
                if key in visible_asks:
                    own_ask[key] = own_ask.get(key, 0.0) + leaves
                    continue
            off += 1
        return own_bid, own_ask, off


def _cumulative(levels: list[tuple[float, float]]) -> list[tuple[float, float, float]]:
    total = 0.0
    out = []
    for price, size in levels:
        total += size
        out.append((price, size, total))
    return out


def _trade_age(trade_ms: int, book_ts: int | None) -> str:
    """`` 2m ago`` for an old last trade, timed on the exchange's clock (the book's ``ts``), so a local clock that
    disagrees with Bybit's cannot age it; empty when recent or when the book has no time yet. (A book that stops
    moving goes STALE, and then the spread row says NOT LIVE instead.)"""
    if book_ts is None or book_ts - trade_ms < LAST_TRADE_AGED_S * 1000:
        return ""
    seconds = (book_ts - trade_ms) // 1000
    if seconds < 60:
        return f" {seconds}s ago"
    if seconds < 3600:
        return f" {seconds // 60}m ago"
    return f" {seconds // 3600}h ago"
