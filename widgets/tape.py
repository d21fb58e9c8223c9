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
from typing import Any

from sortedcontainers import SortedList

from exchange.desk import Desk
from exchange.events import LinkState, PublicTrade
from exchange.ledger import Fill
from widgets._format import MAX_DECIMALS, ColumnWidths, clock_utc
from widgets.rows import Row, text_row
from widgets.strip_widget import StripWidget

__all__ = ["LARGE_FLOOR", "LARGE_PERCENTILE", "TapeMemo", "TradesTape", "large_threshold", "tape_rows"]

LARGE_PERCENTILE = 0.98
"""A large trade's notional reaches this percentile of the recent ones..."""
LARGE_FLOOR = 3.0
"""...and at least this many times their median."""
NOTIONAL_WINDOW = 200
MIN_SAMPLES = 20
"""Fewer recent trades than this say nothing about what is large: nothing is flagged."""
OWN_MARK = "◆ YOU"

NOT_LIVE = "⚠ not live"


class TapeMemo:
    """What the tape worked out for each trade it showed: its notional, its row in the current layout, and the
    recent trades' notionals in order. A new print shifts every row down; the memo keeps the shifted ones from
    being computed again, and a print comes into (and the oldest leaves) the large-trade window in order instead
    of the window being sorted again."""

    LIMIT = 4 * NOTIONAL_WINDOW

    def __init__(self) -> None:
        self._notionals: dict[int, tuple[object, float]] = {}
        self._rows: dict[int, tuple[object, tuple[object, ...], Row]] = {}
        self._trades: list[PublicTrade] = []
        """The trades of the last window, oldest first."""
        self._ordered: SortedList[float] = SortedList()
        """Their notionals in order."""

    def threshold(self, window: Sequence[PublicTrade]) -> float | None:
        """:func:`large_threshold` of the notionals of ``window`` (the recent trades, oldest first): the trades
        that came after the ones of the last call are added in order and the ones that left removed; any other
        window (another symbol, a new list of trades) is read whole."""
        kept, ordered = self._trades, self._ordered
        last = kept[-1] if kept else None
        at = next((i for i in range(len(window) - 1, -1, -1) if window[i] is last), None)
        first = len(kept) - (at + 1) if at is not None else -1
        if at is None or first < 0 or kept[first:] != list(window[: at + 1]):
            first, at = len(kept), -1  # nothing in common: every kept trade leaves
        for item in kept[:first]:
            ordered.remove(self.notional(item))
        for item in window[at + 1 :]:
            ordered.add(self.notional(item))
        self._trades = list(window)
        return _threshold_of(ordered)

    def notional(self, item: PublicTrade | Fill) -> float:
        kept = self._notionals.get(id(item))
        if kept is not None and kept[0] is item:
            return kept[1]
        if len(self._notionals) >= self.LIMIT:
            self._notionals.clear()
        value = float(item.price * item.qty)
        self._notionals[id(item)] = (item, value)
        return value

    def row(self, item: PublicTrade | Fill, layout: tuple[int, int, int, int], mine: bool, large: bool) -> Row:
        """The row of ``item`` at ``layout`` (price width, qty width, price and qty decimals): the same row object
        as it moves down, so what a repaint compares of it is worked out once."""
        look = (layout, mine, large)
        kept = self._rows.get(id(item))
        if kept is not None and kept[0] is item and kept[1] == look:
            return kept[2]
        if len(self._rows) >= self.LIMIT:
            self._rows.clear()
        price_w, qty_w, price_dp, qty_dp = layout
        text = (
            f" {clock_utc(item.time_ms):<12} {'BUY' if item.side == 'Buy' else 'SELL':<4} "
            f"{item.price:>{price_w},.{price_dp}f} {item.qty:>{qty_w},.{qty_dp}f} "
        )
        row = _trade_row(text, item.side, mine, large)
        self._rows[id(item)] = (item, look, row)
        return row


class TradesTape(StripWidget):
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
    ROWS_MOVE = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rows_drawn = 0
        self._memo = TapeMemo()

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
        self._show_rows(self._build(desk, symbol, size.width, size.height), size.width)

    # ------------------------------------------------------------------ drawing

    def _build(self, desk: Desk | None, symbol: str | None, width: int, height: int) -> list[Row]:
        rows, self.rows_drawn = tape_rows(desk, symbol, width, height, self._widths, self._memo)
        return rows


def tape_rows(
    desk: Desk | None,
    symbol: str | None,
    width: int,
    height: int,
    widths: ColumnWidths | None = None,
    memo: TapeMemo | None = None,
) -> tuple[list[Row], int]:
    """The tape of ``symbol`` in ``desk`` for a window of ``width`` x ``height``: the titles (NOT LIVE unless the
    link is Ready), then trades and own fills, newest first; and how many trades and fills it shows."""
    if width <= 0 or height <= 0:
        return [], 0
    if desk is None or symbol is None:
        return [text_row(" no symbol", width, "tape--muted")], 0
    rows = height - 1
    memo = memo or TapeMemo()
    recent = list(desk.trades.get(symbol) or ())[-max(rows, NOTIONAL_WINDOW) :]
    threshold = memo.threshold(recent[-NOTIONAL_WINDOW:])
    own = [f for f in desk.own_fills if f.symbol == symbol and f.moves_position][-rows:]
    instrument = desk.instrument(symbol)
    price_dp = instrument.price_decimals if instrument is not None else _guess_dp(recent)
    qty_dp = instrument.qty_decimals if instrument is not None else 3
    merged = _merge(recent[-rows:], own)[-rows:]
    merged.reverse()  # newest first
    price_w, qty_w = (widths or ColumnWidths()).fit(
        (symbol, price_dp, qty_dp),
        max(len(f"{max(r[0].price for r in merged):,.{price_dp}f}") if merged else 0, 5),  # the widest is the largest
        max(len(f"{max(r[0].qty for r in merged):,.{qty_dp}f}") if merged else 0, 3),
    )
    titles = f" {'time (UTC)':<12} {'side':<4} {'price':>{price_w}} {'qty':>{qty_w}}  "
    lines = [_titles_row(titles, width, desk.state.kind is LinkState.READY)]
    layout = (price_w, qty_w, price_dp, qty_dp)
    for item, mine in merged:
        large = threshold is not None and memo.notional(item) >= threshold
        lines.append(memo.row(item, layout, mine, large))
    return lines, len(merged)


def _titles_row(titles: str, width: int, ready: bool) -> Row:
    """The column titles; trades missed while the link is down are never replayed, so the tape says it has a hole
    until Ready."""
    warning = next((w for w in (NOT_LIVE, "⚠") if width - len(titles) >= len(w)), None)
    if ready or warning is None:
        return text_row(titles, width, "tape--titles")
    filler = " " * (width - len(titles) - len(warning))
    return Row(((titles, ("tape--titles",)), (warning, ("tape--not-live",)), (filler, ("tape--titles",))))


def _trade_row(text: str, side: str, mine: bool, large: bool) -> Row:
    """A trade (BUY / SELL written as well as coloured, ``!`` when large) or one of the account's fills."""
    if mine:
        return Row(((text, ("tape--own",)), (OWN_MARK, ("tape--own",))))
    style = "tape--buy" if side == "Buy" else "tape--sell"
    if large:
        return Row(((text, (style, "tape--large")), (" !", (style, "tape--large"))))
    return Row(((text, (style,)), ("  ", (style,))))


def large_threshold(notionals: Sequence[float]) -> float | None:
    """The notional from which a trade is large (``None``: too few trades to say).

    The ``LARGE_PERCENTILE`` percentile (nearest rank) of ``notionals``, raised to ``LARGE_FLOOR`` times their
    median when the flow is so even that the percentile is barely above it.
    """
    return _threshold_of(sorted(notionals))


def _threshold_of(ordered: Sequence[float]) -> float | None:
    """:func:`large_threshold` of notionals already in order."""
    count = len(ordered)
    if count < MIN_SAMPLES:
        return None
    percentile = ordered[min(count - 1, int(LARGE_PERCENTILE * count))]
    middle = count // 2
    median = ordered[middle] if count % 2 else (ordered[middle - 1] + ordered[middle]) / 2  # (as statistics')
    return max(percentile, LARGE_FLOOR * median)


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
