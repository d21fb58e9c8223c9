"""The order-book ladder: asks above, bids below, the spread row between them.

A Line API widget: the book is ingested at network rate elsewhere; this widget pulls it on a timer (about 20 Hz)
and rebuilds its strips only when the book's ``version`` moved or the size changed. ``render_line`` just returns a
prepared strip, so a burst of 10,000 deltas costs at most one rebuild per frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from exchange.book import BookState, OrderBook

_BAR = "█"
_PARTIAL = " ▏▎▍▌▋▊▉"


def decimals_of(step: float) -> int:
    """Digits after the point needed to print multiples of ``step`` (0.1 -> 1, 0.0001 -> 4, 5 -> 0)."""
    if step >= 1:
        return 0
    return min(10, max(0, -math.floor(math.log10(step) + 1e-9)))


def _bar(fraction: float, width: int) -> str:
    """A horizontal bar with eighth-cell resolution."""
    cells = max(0.0, min(1.0, fraction)) * width
    full = int(cells)
    part = int((cells - full) * 8)
    text = _BAR * full + (_PARTIAL[part] if part and full < width else "")
    return text


@dataclass(frozen=True)
class LadderView:
    """What the ladder shows: which book, at which grouping, with which number formats."""

    book: OrderBook
    tick: float = 0.1
    group: int = 1  # tick multiple
    size_decimals: int = 3

    @property
    def step(self) -> float:
        return self.tick * self.group


class Ladder(Widget, can_focus=True):
    """A vertical price ladder of one book, dimmed and labelled whenever the book cannot be trusted."""

    COMPONENT_CLASSES = {
        "ladder--ask",
        "ladder--bid",
        "ladder--ask-bar",
        "ladder--bid-bar",
        "ladder--spread",
        "ladder--header",
        "ladder--untrusted",
    }

    DEFAULT_CSS = """
    Ladder { height: 1fr; min-width: 40; }
    """

    view: reactive[LadderView | None] = reactive(None, layout=False)
    """The book and grouping shown; replacing it repaints."""

    class Grouped(Message):
        """The user changed the grouping (a tick multiple)."""

        def __init__(self, group: int) -> None:
            self.group = group
            super().__init__()

    def __init__(self, view: LadderView | None = None, *, refresh_hz: float = 20.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.set_reactive(Ladder.view, view)
        self._refresh_hz = refresh_hz
        self._strips: list[Strip] = []
        self._drawn_key: tuple | None = None

    def on_mount(self) -> None:
        self.set_interval(1 / self._refresh_hz, self._pull)
        self._pull()

    def watch_view(self) -> None:
        self._drawn_key = None
        self._pull()

    def on_resize(self) -> None:
        self._drawn_key = None
        self._pull()

    def _pull(self) -> None:
        """Rebuild the strips if the book moved since the last frame; cheap when nothing changed."""
        view = self.view
        size = self.size
        key = (id(view.book) if view else None, view.book.version if view else None, view, size.width, size.height)
        if key == self._drawn_key:
            return
        self._drawn_key = key
        self._strips = self._build(view, size)
        self.refresh()

    def render_line(self, y: int) -> Strip:
        if y < len(self._strips):
            return self._strips[y]
        return Strip.blank(self.size.width, self.rich_style)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return max(3, container.height)

    # ------------------------------------------------------------------ drawing

    def _build(self, view: LadderView | None, size: Size) -> list[Strip]:
        width, height = size.width, size.height
        if width <= 0 or height <= 0:
            return []
        base = self.rich_style
        header_style = base + self.get_component_rich_style("ladder--header")
        if view is None:
            return [Strip([Segment(" no book".ljust(width), header_style)])]
        book = view.book
        trusted = book.state is BookState.SYNCED
        untrusted = self.get_component_rich_style("ladder--untrusted") if not trusted else Style()
        rows = height - 2  # header + spread row
        per_side = max(1, rows // 2)
        if view.group > 1:
            asks = book.grouped("ask", view.step, per_side)
            bids = book.grouped("bid", view.step, per_side)
        else:
            asks = book.asks(per_side)
            bids = book.bids(per_side)
        price_dp = decimals_of(view.step)
        size_dp = view.size_decimals
        price_w = max(len(f"{p:,.{price_dp}f}") for p, _ in (asks + bids)) if asks or bids else 10
        size_w = max(8, size_dp + 6)
        cum_w = size_w + 1
        bar_w = max(0, width - price_w - size_w - cum_w - 4)
        cum_asks = _cumulative(asks)
        cum_bids = _cumulative(bids)
        max_cum = max([c for _, _, c in cum_asks[-1:]] + [c for _, _, c in cum_bids[-1:]] + [0.0])

        strips: list[Strip] = []
        state = book.state.value if not trusted else "SYNCED"
        label = f" {book.symbol or '?'}  {state}"
        if view.group > 1:
            label += f"  group x{view.group}"
        headings = f"{'price':>{price_w}} {'size':>{size_w}} {'total':>{cum_w}} "
        strips.append(Strip([Segment((label.ljust(width - len(headings)) + headings)[:width], header_style + untrusted)]))

        ask_style = base + self.get_component_rich_style("ladder--ask") + untrusted
        bid_style = base + self.get_component_rich_style("ladder--bid") + untrusted
        ask_bar = base + self.get_component_rich_style("ladder--ask-bar") + untrusted
        bid_bar = base + self.get_component_rich_style("ladder--bid-bar") + untrusted

        def row(level, text_style, bar_style) -> Strip:
            if level is None:
                return Strip.blank(width, base)
            price, qty, cum = level
            text = f"{price:>{price_w},.{price_dp}f} {qty:>{size_w},.{size_dp}f} {cum:>{cum_w},.{size_dp}f} "
            bar = _bar(cum / max_cum if max_cum else 0.0, bar_w)
            return Strip(
                [Segment(text, text_style), Segment(bar.ljust(bar_w), bar_style)], len(text) + bar_w
            ).crop(0, width)

        ask_rows = [None] * (per_side - len(cum_asks)) + list(reversed(cum_asks))
        strips.extend(row(level, ask_style, ask_bar) for level in ask_rows)
        strips.append(self._spread_row(book, width, price_dp, untrusted))
        bid_rows = cum_bids + [None] * (per_side - len(cum_bids))
        strips.extend(row(level, bid_style, bid_bar) for level in bid_rows)
        return strips[:height]

    def _spread_row(self, book: OrderBook, width: int, price_dp: int, untrusted: Style) -> Strip:
        style = self.rich_style + self.get_component_rich_style("ladder--spread") + untrusted
        spread, mid = book.spread(), book.mid()
        if spread is None or mid is None:
            text = " one side empty"
        else:
            text = f" spread {spread:,.{price_dp}f}   mid {mid:,.{price_dp + 1}f}"
        if book.state is not BookState.SYNCED:
            text += f"   ⚠ {book.state.value}" + (f": {book.resync_reason}" if book.resync_reason else "")
        return Strip([Segment(text.ljust(width)[:width], style)])


def _cumulative(levels: list[tuple[float, float]]) -> list[tuple[float, float, float]]:
    total = 0.0
    out = []
    for price, size in levels:
        total += size
        out.append((price, size, total))
    return out
