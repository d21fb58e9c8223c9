"""The trades tape: the selected symbol's recent public trades, newest on top, the user's own fills marked.

A Line API widget pulled on a timer (~10 Hz) that rebuilds only when the symbol's trades or the account's
fills moved. The aggressor side is written as text (BUY / SELL) as well as coloured, so it reads under
NO_COLOR. Large trades are emphasised and flagged ``!``: a trade is large when its notional reaches the 98th
percentile of the last ``NOTIONAL_WINDOW`` public trades' notionals and is at least ``LARGE_FLOOR`` times
their median (the floor keeps an even flow, where the 98th percentile is barely above the median, unflagged):
one trade in fifty at most, and only the ones that stand out. The user's own fills (``desk.own_fills``, the
executions of the account's orders) are rows of their own, interleaved with the public trades by time and
marked ``◆ YOU``: nothing depends on matching them to a public print (the exchange may print the same
execution publicly too, as its own row). Only the rows that fit are built.
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import median
from typing import Any

from rich.segment import Segment
from rich.style import Style
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from exchange.desk import Desk
from exchange.events import LinkState, PublicTrade
from exchange.ledger import Fill
from widgets._component_style import component_style
from widgets._desk_pull import SymbolPull
from widgets._format import MAX_DECIMALS, ColumnWidths, clock_utc

__all__ = ["TradesTape", "LARGE_PERCENTILE", "LARGE_FLOOR", "large_threshold"]

LARGE_PERCENTILE = 0.98
"""A large trade's notional reaches this percentile of the recent ones..."""
LARGE_FLOOR = 3.0
"""...and at least this many times their median."""
NOTIONAL_WINDOW = 200
MIN_SAMPLES = 20
"""Fewer recent trades than this say nothing about what is large: nothing is flagged."""
OWN_MARK = "◆ YOU"

NOT_LIVE = "⚠ not live"


class TradesTape(SymbolPull, Widget):
    """Recent public trades of one symbol with the account's own fills; bounded by the desk's deques."""

    PULL_NAME = "tape"

    COMPONENT_CLASSES = {
        "tape--titles",
        "tape--buy",
        "tape--sell",
        "tape--large",
        "tape--own",
        "tape--muted",
        "tape--not-live",
    }

    DEFAULT_CSS = """
    TradesTape { height: 1fr; }
    """

    REFRESH_HZ = 10.0
    symbol: reactive[str | None] = reactive(None, layout=False, repaint=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._strips: list[Strip] = []
        self._widths = ColumnWidths()
        self._style_generation = 0
        self._base = Style()
        self._styles: dict[str, Style] = {}
        self.rows_drawn = 0

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._style_generation += 1
        self._styles.clear()

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
            desk.state.kind is LinkState.READY if desk is not None else None,
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
        """A component style, its colours resolved against the background (:mod:`widgets._component_style`),
        cached until the styles change."""
        style = self._styles.get(name)
        if style is None:
            style = self._styles[name] = component_style(self, name)
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
        recent = list(trades)[-max(rows, NOTIONAL_WINDOW) :]
        threshold = large_threshold([float(t.price * t.qty) for t in recent[-NOTIONAL_WINDOW:]])
        own = [f for f in desk.own_fills if f.symbol == symbol and f.moves_position][-rows:]
        instrument = desk.instrument(symbol)
        price_dp = instrument.price_decimals if instrument is not None else _guess_dp(recent)
        qty_dp = instrument.qty_decimals if instrument is not None else 3

        merged = _merge(recent[-rows:], own)[-rows:]
        merged.reverse()  # newest first
        price_w, qty_w = self._widths.fit(
            (symbol, price_dp, qty_dp),
            max([len(f"{r[0].price:,.{price_dp}f}") for r in merged] + [5]),
            max([len(f"{r[0].qty:,.{qty_dp}f}") for r in merged] + [3]),
        )

        titles = f" {'time (UTC)':<12} {'side':<4} {'price':>{price_w}} {'qty':>{qty_w}}  "
        title_style = base + self._style("tape--titles")
        title_segments = [Segment(titles[:width].ljust(width), title_style)]
        # Trades missed while the link is down are never replayed: the tape has a hole until Ready.
        warning = next((w for w in (NOT_LIVE, "⚠") if width - len(titles) >= len(w)), None)
        if desk.state.kind is not LinkState.READY and warning is not None:
            filler = " " * (width - len(titles) - len(warning))
            title_segments = [Segment(titles, title_style), Segment(warning, base + self._style("tape--not-live"))]
            title_segments.append(Segment(filler, title_style))
        strips = [Strip(title_segments, width)]
        buy = base + self._style("tape--buy")
        sell = base + self._style("tape--sell")
        large_style = self._style("tape--large")
        own_style = base + self._style("tape--own")
        for item, mine in merged:
            text = (
                f" {clock_utc(item.time_ms):<12} {'BUY' if item.side == 'Buy' else 'SELL':<4} "
                f"{item.price:>{price_w},.{price_dp}f} {item.qty:>{qty_w},.{qty_dp}f} "
            )
            if mine:
                segments = [Segment(text, own_style), Segment(OWN_MARK, own_style)]
            else:
                style = buy if item.side == "Buy" else sell
                if threshold is not None and float(item.price * item.qty) >= threshold:
                    segments = [Segment(text, style + large_style), Segment(" !", style + large_style)]
                else:
                    segments = [Segment(text, style), Segment("  ", style)]
            used = sum(len(s.text) for s in segments)
            strips.append(Strip(segments, used).crop_extend(0, width, base))
        self.rows_drawn = len(merged)
        return strips


def large_threshold(notionals: Sequence[float]) -> float | None:
    """The notional from which a trade is large (``None``: too few trades to say).

    The ``LARGE_PERCENTILE`` percentile (nearest rank) of ``notionals``, raised to ``LARGE_FLOOR`` times their
    median when the flow is so even that the percentile is barely above it.
    """
    count = len(notionals)
    if count < MIN_SAMPLES:
        return None
    ordered = sorted(notionals)
    percentile = ordered[min(count - 1, int(LARGE_PERCENTILE * count))]
    return max(percentile, LARGE_FLOOR * median(ordered))


def _merge(trades: list[PublicTrade], fills: list[Fill]) -> list[tuple[PublicTrade | Fill, bool]]:
    """``(item, mine)``, oldest first: trades and own fills by time (a fill after a print of the same ms)."""
    rows: list[tuple[PublicTrade | Fill, bool]] = [(t, False) for t in trades]
    if fills:
        rows.extend((f, True) for f in fills)
        rows.sort(key=lambda row: (row[0].time_ms, row[1]))  # stable: each source keeps its own order
    return rows


def _guess_dp(trades: list[PublicTrade]) -> int:
    if not trades:
        return 2
    exponent = trades[-1].price.as_tuple().exponent
    return min(MAX_DECIMALS, max(0, -exponent)) if isinstance(exponent, int) else 2
