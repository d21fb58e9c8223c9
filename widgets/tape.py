"""The trades tape: the selected symbol's recent public trades, newest on top, the user's own fills marked.

A Line API widget pulled on a timer (~10 Hz) that rebuilds only when the symbol's trades or the account's
fills moved. The aggressor side is written as text (BUY / SELL) as well as coloured, so it reads under
NO_COLOR; large trades (notional at least ``LARGE_FACTOR`` times the recent median) are emphasised and flagged
``!``; the user's own fills are flagged ``◆``: a public trade that matches one of them (same side, price and
quantity, within a second) is marked in place, any other own fill gets a row of its own. Only the rows that
fit are built.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from statistics import median
from typing import Any

from rich.segment import Segment
from rich.style import Style
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from exchange.desk import Desk
from exchange.events import PublicTrade
from exchange.ledger import Fill
from widgets._format import clock_utc

__all__ = ["TradesTape", "LARGE_FACTOR"]

LARGE_FACTOR = 5.0
MEDIAN_WINDOW = 200
OWN_MATCH_MS = 1000


class TradesTape(Widget):
    """Recent public trades of one symbol with the account's own fills; bounded by the desk's deques."""

    COMPONENT_CLASSES = {
        "tape--titles",
        "tape--buy",
        "tape--sell",
        "tape--large",
        "tape--own",
        "tape--muted",
    }

    DEFAULT_CSS = """
    TradesTape { height: 1fr; }
    """

    symbol: reactive[str | None] = reactive(None, layout=False, repaint=False)

    def __init__(
        self,
        desk: Desk | None = None,
        symbol: str | None = None,
        *,
        clock: Callable[[], float] = time.time,
        refresh_hz: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._started = False
        self.desk = desk
        self.set_reactive(TradesTape.symbol, symbol)
        self.clock = clock
        self._refresh_hz = refresh_hz
        self._strips: list[Strip] = []
        self._drawn_key: tuple | None = None
        self._style_generation = 0
        self._base = Style()
        self._styles: dict[str, Style] = {}
        self.rows_drawn = 0

    def show(self, desk: Desk | None, symbol: str | None) -> None:
        self.desk = desk
        self.symbol = symbol
        self._pull()

    def on_mount(self) -> None:
        self._started = True  # pulls before mount (show() from the app) wait for it
        self.set_interval(1 / self._refresh_hz, self._pull, name="tape-pull")
        self._pull()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._style_generation += 1
        self._styles.clear()

    def watch_symbol(self) -> None:
        self._pull()

    def refresh_now(self) -> None:
        """Re-read the desk at once (an event said it moved)."""
        self._pull()

    def on_resize(self) -> None:
        self._pull()

    def _pull(self) -> None:
        if not self._started:
            return
        desk, symbol = self.desk, self.symbol
        size = self.size
        key = (
            id(desk),
            symbol,
            desk.versions[f"trades:{symbol}"] if desk is not None else 0,
            desk.versions["fills"] if desk is not None else 0,
            desk.versions["instruments"] if desk is not None else 0,
            size.width,
            size.height,
            self._style_generation,
        )
        if key == self._drawn_key:
            return
        self._drawn_key = key
        self._strips = self._build(desk, symbol, size.width, size.height)
        self.refresh()

    def render_line(self, y: int) -> Strip:
        if y < len(self._strips):
            return self._strips[y]
        return Strip.blank(self.size.width, self._base)

    # ------------------------------------------------------------------ drawing

    def _style(self, name: str) -> Style:
        """A component style, cached until the styles change (``refresh()`` empties Textual's own cache)."""
        style = self._styles.get(name)
        if style is None:
            style = self._styles[name] = self.get_component_rich_style(name, partial=True)
        return style

    def _build(self, desk: Desk | None, symbol: str | None, width: int, height: int) -> list[Strip]:
        if width <= 0 or height <= 0:
            return []
        base = self._base = self.rich_style
        muted = base + self._style("tape--muted")
        if desk is None or symbol is None:
            return [Strip([Segment(" no symbol".ljust(width)[:width], muted)], width)]
        rows = height - 1
        trades = desk.trades.get(symbol) or ()
        recent = list(trades)[-max(rows, MEDIAN_WINDOW) :]
        notionals = [float(t.price * t.qty) for t in recent[-MEDIAN_WINDOW:]]
        threshold = median(notionals) * LARGE_FACTOR if len(notionals) >= 10 else None
        own = [f for f in desk.own_fills if f.symbol == symbol and f.moves_position]
        instrument = desk.instrument(symbol)
        price_dp = instrument.price_decimals if instrument is not None else _guess_dp(recent)
        qty_dp = instrument.qty_decimals if instrument is not None else 3

        merged = _merge(recent, own)[-rows:]
        merged.reverse()  # newest first
        price_w = max([len(f"{r[0].price:,.{price_dp}f}") for r in merged] + [5])
        qty_w = max([len(f"{r[0].qty:,.{qty_dp}f}") for r in merged] + [3])

        titles = f" {'time (UTC)':<12} {'side':<4} {'price':>{price_w}} {'qty':>{qty_w}}  "
        strips = [Strip([Segment(titles[:width].ljust(width), base + self._style("tape--titles"))], width)]
        buy = base + self._style("tape--buy")
        sell = base + self._style("tape--sell")
        large_style = self._style("tape--large")
        own_style = base + self._style("tape--own")
        for item, mine, public in merged:
            side_style = buy if item.side == "Buy" else sell
            large = public and threshold is not None and float(item.price * item.qty) >= threshold
            style = side_style + large_style if large else side_style
            flags = ("◆" if mine else " ") + ("!" if large else " ")
            text = (
                f" {clock_utc(item.time_ms):<12} {'BUY' if item.side == 'Buy' else 'SELL':<4} "
                f"{item.price:>{price_w},.{price_dp}f} {item.qty:>{qty_w},.{qty_dp}f} "
            )
            segments = [Segment(text, style), Segment(flags, own_style if mine else style)]
            if mine and not public:
                segments.append(Segment(" mine", own_style))
            used = sum(len(s.text) for s in segments)
            strips.append(Strip(segments, used).crop_extend(0, width, base))
        self.rows_drawn = len(merged)
        return strips


def _merge(trades: list[PublicTrade], fills: list[Fill]) -> list[tuple[Any, bool, bool]]:
    """``(item, mine, public)``, oldest first: public trades (marked if an own fill matches), other fills."""
    out: list[tuple[Any, bool, bool]] = []
    unmatched = list(fills[-50:])
    for trade in trades:
        mine = False
        for i, fill in enumerate(unmatched):
            if (
                fill.side == trade.side
                and fill.price == trade.price
                and fill.qty == trade.qty
                and abs(fill.time_ms - trade.time_ms) <= OWN_MATCH_MS
            ):
                mine = True
                del unmatched[i]
                break
        out.append((trade, mine, True))
    if unmatched:
        out.extend((fill, True, False) for fill in unmatched)
        out.sort(key=lambda row: row[0].time_ms)
    return out


def _guess_dp(trades: list[PublicTrade]) -> int:
    if not trades:
        return 2
    exponent = trades[-1].price.as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 2
