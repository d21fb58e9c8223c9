"""What the ladder shows, as rows of (text, style names): computed from the desk alone, without a screen.

:func:`ladder_rows` lays out a book for a window of ``width`` x ``height``: the header, the column titles, the
asks (best at the bottom), the spread row, the bids (best at the top) and the imbalance row. Each row is cells of
text and the component classes that style them, layered in order on the widget's own style; the ladder widget
turns them into strips (:mod:`widgets.ladder`, :mod:`widgets.rows`). Tests read the rows directly.

The best bid and best ask sit on either side of the spread row (where the eye looks for them), grouping rounds
bids down and asks up (a group never shows a better price than any order inside it), and a book that cannot be
trusted (RESYNCING, AWAITING_SNAPSHOT, STALE) is dimmed and labelled NOT LIVE on its header and its spread row.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from exchange.book import BookState, OrderBook
from exchange.desk import Desk
from exchange.printable import printable
from widgets._format import ColumnWidths, decimals_of, fmt_signed, price_decimals_from
from widgets.rows import Cell, Row, text_row

__all__ = ["IMBALANCE_LEVELS", "LAST_TRADE_AGED_S", "ladder_rows", "own_levels", "rows_per_side", "shown_levels"]

LAST_TRADE_AGED_S = 10.0
"""A last trade older than this, against the live book's own clock, is quoted with its age: after a reconnect the
print shown may be from before the link went, far from where the book now stands."""
IMBALANCE_LEVELS = 10
"""Book levels per side the imbalance row sums: a fixed depth of the raw book, so the figure means the same at
any window height and any grouping."""

TITLES_FROM = 12
"""A ladder this many rows tall shows the column titles."""
_FULL = "█"
_EIGHTHS = " ▏▎▍▌▋▊▉"
_BUCKET_EPS = 1e-9
UNTRUSTED = "ladder--untrusted"

Level = tuple[float, float, float]
"""Price, size, and the total from the best price to this one."""


@dataclass(frozen=True)
class _Plan:
    """The columns and decimals one frame is drawn with, and what every level row of it shares."""

    width: int
    dim: tuple[str, ...]
    price_dp: int
    size_dp: int
    own_w: int
    price_w: int
    size_w: int
    cum_w: int
    bar_w: int
    max_cum: float
    figures: str = ""
    """The format of a level's price, size and total."""
    lead: str = ""
    """What comes before the figures on a row without a marker: the pointer's and the user's columns, blank."""
    looks: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Each side's figures' look, and its bar's (``"ask-bar"``)."""
    blank: Row = Row(())
    """A row with no level."""

    def __post_init__(self) -> None:
        price, size, total = self.price_w, self.size_w, self.cum_w
        dp, sdp = self.price_dp, self.size_dp
        object.__setattr__(self, "figures", f"{{:>{price},.{dp}f}} {{:>{size},.{sdp}f}} {{:>{total},.{sdp}f}}")
        object.__setattr__(self, "lead", " " * (2 + self.own_w))  # the pointer, the user's column, a gap
        looks = {key: (f"ladder--{key}", *self.dim) for key in ("ask", "bid", "ask-bar", "bid-bar")}
        object.__setattr__(self, "looks", looks)
        object.__setattr__(self, "blank", text_row("", self.width))


def ladder_rows(
    desk: Desk | None,
    symbol: str | None,
    trust: tuple[str, str | None],
    group: int,
    tick: float | None,
    width: int,
    height: int,
    widths: ColumnWidths | None = None,
    cursor: float | None = None,
) -> list[Row]:
    """Every row of the ladder of ``symbol``'s book in ``desk``, ``group`` ticks per row (``tick`` None: unknown,
    no grouping), at most ``height`` rows of ``width`` cells. ``widths`` keeps the columns from shrinking between
    frames of the same view. The row at the ``cursor``'s price (order entry's) is marked ▶ and its price is on the
    header, so a cursor whose level emptied still says where it is."""
    if width <= 0 or height <= 0:
        return []
    book = desk.books.get(symbol) if desk is not None and symbol is not None else None
    if desk is None or symbol is None or book is None:
        return [text_row(" no book selected", width, "ladder--muted")]
    state, reason = trust
    live = state == BookState.SYNCED.value
    group = group if tick is not None else 1
    step = tick * group if tick is not None else None
    show_titles = height >= TITLES_FROM
    per_side = rows_per_side(height)
    asks, bids = shown_levels(book, step, group, per_side)
    price_dp, quote_dp, size_dp, step_dp = _decimals(desk, symbol, group, asks + bids)
    own_bid, own_ask, off_screen = own_levels(desk, symbol, bids, asks, step, price_dp)
    cum_asks, cum_bids = _cumulative(asks), _cumulative(bids)
    view = (symbol, group, per_side, price_dp, size_dp)  # a new view (or a taller one: larger totals) refits
    plan = _plan(width, live, (own_bid, own_ask), (cum_asks, cum_bids), (price_dp, size_dp), widths, view)
    marked = f" ▶ {cursor:,.{price_dp}f} " if cursor is not None else ""
    rows = [header_row(symbol, state, reason, group, step, step_dp, off_screen, width, marked)]
    if show_titles:
        rows.append(_titles_row(plan))
    ask_levels: list[Level | None] = [None] * (per_side - len(cum_asks)) + list(reversed(cum_asks))
    ask_key, bid_key = bucket_fn(step, price_dp, "ask"), bucket_fn(step, price_dp, "bid")
    at_ask = ask_key(cursor) if cursor is not None else None
    rows += [_level_row(plan, level, own_ask, "ask", ask_key, at_ask) for level in ask_levels]
    rows.append(spread_row(desk, symbol, book, state, quote_dp, width))
    bid_levels: list[Level | None] = list(cum_bids) + [None] * (per_side - len(cum_bids))
    at_bid = bid_key(cursor) if cursor is not None else None
    rows += [_level_row(plan, level, own_bid, "bid", bid_key, at_bid) for level in bid_levels]
    rows += [text_row("", width)] * max(0, height - 1 - len(rows))
    rows.append(imbalance_row(book, width, plan.dim))
    return rows[:height]


def rows_per_side(height: int) -> int:
    """Price rows each side of the spread in a ladder ``height`` rows tall (header, spread, imbalance, titles)."""
    show_titles = height >= TITLES_FROM
    return max(1, (height - 3 - (1 if show_titles else 0)) // 2)


def shown_levels(
    book: OrderBook, step: float | None, group: int, per_side: int
) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """The ask and bid rows the ladder shows, best first: levels, or groups of ``group`` ticks."""
    if step is not None and group > 1:
        return book.grouped("ask", step, per_side), book.grouped("bid", step, per_side)
    return book.asks(per_side), book.bids(per_side)


def _decimals(desk: Desk, symbol: str, group: int, levels: list[tuple[float, float]]) -> tuple[int, int, int, int]:
    """Decimals of the rows' prices, of the quoted spread, mid and last (in ticks, whatever the rows), of sizes,
    and of the step in the header."""
    instrument = desk.instrument(symbol)
    if instrument is None:
        price_dp = price_decimals_from([p for p, _ in levels])
        return price_dp, price_dp, 3, price_dp
    quote_dp = instrument.price_decimals
    # The digits multiples of the exact (Decimal) step need: 2.5 has one, 100 none.
    price_dp = decimals_of(instrument.tick_size * group) if group > 1 else quote_dp
    return price_dp, quote_dp, instrument.qty_decimals, max(price_dp, instrument.price_decimals)


def _plan(
    width: int,
    live: bool,
    own: tuple[dict[int, float], dict[int, float]],
    cumulative: tuple[list[Level], list[Level]],
    decimals: tuple[int, int],
    widths: ColumnWidths | None,
    view: tuple[object, ...],
) -> _Plan:
    """The columns this frame needs: the user's orders, prices, sizes and totals, and the rest for the bar."""
    cum_asks, cum_bids = cumulative
    price_dp, size_dp = decimals
    own_w = 0
    if own[0] or own[1]:
        own_w = max(len(f"{q:,.{size_dp}f}") for q in [*own[0].values(), *own[1].values()]) + 1
    levels = cum_asks + cum_bids
    price_w, size_w, cum_w = (widths or ColumnWidths()).fit(
        view,
        max([len(f"{p:,.{price_dp}f}") for p, _, _ in levels] + [5]),
        max([len(f"{s:,.{size_dp}f}") for _, s, _ in levels] + [4]),
        max([len(f"{c:,.{size_dp}f}") for *_, c in cum_asks[-1:] + cum_bids[-1:]] + [5]),
    )
    text_w = 1 + own_w + 1 + price_w + 1 + size_w + 1 + cum_w + 1
    max_cum = max([c for *_, c in cum_asks[-1:]] + [c for *_, c in cum_bids[-1:]] + [0.0])
    dim = () if live else (UNTRUSTED,)
    return _Plan(width, dim, price_dp, size_dp, own_w, price_w, size_w, cum_w, max(0, width - text_w), max_cum)


def _titles_row(plan: _Plan) -> Row:
    titles = f" {'mine':>{plan.own_w}} " if plan.own_w else "  "
    titles += f"{'price':>{plan.price_w}} {'size':>{plan.size_w}} {'total':>{plan.cum_w}} {'depth':<{plan.bar_w}}"
    return text_row(titles, plan.width, "ladder--titles", *plan.dim)


def _level_row(
    plan: _Plan,
    level: Level | None,
    own: dict[int, float],
    side: str,
    bucket_of: Callable[[float], int],
    cursor_key: int | None = None,
) -> Row:
    """One price level: the cursor (▶), the user's resting quantity there (◆), price, size, total and the depth
    bar. Neighbouring cells of one look are one cell (a row of no marker is two: its text and its bar)."""
    if level is None:
        return plan.blank
    price, qty, cum = level
    looks = plan.looks
    style = looks[side]
    text = plan.figures.format(price, qty, cum)
    bar = (_bar(cum / plan.max_cum if plan.max_cum else 0.0, plan.bar_w), looks[f"{side}-bar"])
    if not own and cursor_key is None:
        return Row(((f"{plan.lead}{text} ", style), bar))
    key = bucket_of(price)
    mine = own.get(key)
    if key != cursor_key and not mine:
        return Row(((f"{plan.lead}{text} ", style), bar))
    pointer: Cell = (" ", style)
    if key == cursor_key:  # the cursor's row: a pointer, and its figures shown reversed
        pointer, style = ("▶", ("ladder--cursor",)), (*style, "ladder--cursor-row")
    lead: tuple[Cell, ...] = (pointer, (" ", style))
    if plan.own_w:
        marker = f"◆{mine:>{plan.own_w - 1},.{plan.size_dp}f}" if mine else " " * plan.own_w
        lead = (pointer, (marker, ("ladder--own", *plan.dim) if mine else style), (" ", style))
    return Row((*lead, (text, style), (" ", looks[side]), bar))


def header_row(
    symbol: str,
    state: str,
    reason: str | None,
    group: int,
    step: float | None,
    price_dp: int,
    off_screen: int,
    width: int,
    cursor: str = "",
) -> Row:
    """The symbol, LIVE or why not, the cursor's price, the grouping, the user's orders off-screen: what fits, in
    that order."""
    title = f" {printable(symbol)} "
    zoom = f" x{group} = {step:,.{price_dp}f} " if step is not None else " tick ? "
    extra = f" ◆{off_screen} off-screen " if off_screen else ""
    if state == BookState.SYNCED.value:
        badge, badge_style, tail = " ● LIVE ", "ladder--live", ""
    else:
        badge, badge_style = f" ⚠ {state} · NOT LIVE ", "ladder--not-live"
        tail = f" {printable(reason)}" if reason else ""  # may quote the unreadable level
    header = ("ladder--header",)
    cells: list[Cell] = [(title, header), (badge, (badge_style,))]
    used = len(title) + len(badge)
    for text, style in ((cursor, ("ladder--cursor",)), (zoom, header), (extra, header), (tail, header)):
        if text and used + len(text) <= width:
            cells.append((text, style))
            used += len(text)
    return Row(tuple(cells), fill=header)


def spread_row(desk: Desk, symbol: str, book: OrderBook, state: str, price_dp: int, width: int) -> Row:
    """Spread, mid and the last trade (its aggressor side), the longest variant that fits; NOT LIVE instead
    when the book cannot be trusted."""
    if state != BookState.SYNCED.value:
        return text_row(f" ⚠ {state} · NOT LIVE ".center(width, "─"), width, "ladder--not-live")
    trades = desk.trades.get(symbol)
    last = trades[-1] if trades else None
    aggressor = ("▲ BUY " if last.side == "Buy" else "▼ SELL ") if last is not None else ""
    text = " one side empty "
    for with_last, without_last in _spread_variants(book, last, price_dp):
        text = with_last if last is not None else without_last
        if len(text) + len(aggressor) <= width:
            break
    cells: list[Cell] = [(text, ("ladder--spread",))]
    if aggressor and last is not None:
        cells.append((aggressor, ("ladder--spread", "ladder--buy" if last.side == "Buy" else "ladder--sell")))
    used = len(text) + len(aggressor)
    if used < width:
        cells.append(("─" * (width - used), ("ladder--spread",)))
    return Row(tuple(cells))


def _spread_variants(book: OrderBook, last: object, price_dp: int) -> list[tuple[str, str]]:
    """The spread row's texts, longest first, each with and without the last trade."""
    spread, mid = book.spread(), book.mid()
    if spread is None or mid is None:
        return [(" one side empty ", "")]
    bps = spread / mid * 10_000 if mid else 0.0
    sp, md = f"{spread:,.{price_dp}f}", f"{mid:,.{price_dp + 1}f}"
    price = getattr(last, "price", None)
    lp = f"{price:,.{price_dp}f}" if last is not None else ""
    aged = f"{lp}{_trade_age(getattr(last, 'time_ms', 0), book.ts)}" if last is not None else ""
    return [  # the longest that fits wins: the spread and the last trade's side always stay
        (f" spread {sp} ({bps:.2f} bp) · mid {md} · last {aged} ", f" spread {sp} ({bps:.2f} bp) · mid {md} "),
        (f" spread {sp} · mid {md} · last {aged} ", f" spread {sp} · mid {md} "),
        (f" spread {sp} · last {aged} ", f" spread {sp} "),
        (f" spread {sp} · last {lp} ", f" spread {sp} "),
        (f" spr {sp} ", f" spr {sp} "),
    ]


def imbalance_row(book: OrderBook, width: int, dim: tuple[str, ...] = ()) -> Row:
    """Bid against ask size over the top :data:`IMBALANCE_LEVELS` levels, as a figure and a bar."""
    bid_total = sum(size for _, size in book.bids(IMBALANCE_LEVELS))
    ask_total = sum(size for _, size in book.asks(IMBALANCE_LEVELS))
    total = bid_total + ask_total
    muted = ("ladder--titles", *dim)
    if total <= 0:
        return text_row(f" imbalance {IMBALANCE_LEVELS} lv —", width, *muted)
    label = f" imbalance {IMBALANCE_LEVELS} lv {fmt_signed((bid_total - ask_total) / total)} bid "
    tail = " ask"
    bar_w = max(0, width - len(label) - len(tail))
    bid_cells = int(round(bar_w * bid_total / total))
    return Row(
        (
            (label, muted),
            ("█" * bid_cells, ("ladder--bid-bar", *dim)),
            ("░" * (bar_w - bid_cells), ("ladder--ask-bar", *dim)),
            (tail, muted),
        )
    )


def bucket_fn(step: float | None, price_dp: int, side: str) -> Callable[[float], int]:
    """Row price -> an integer key comparable with :func:`own_levels` (bids round down, asks up)."""
    if step is None:
        scale = 10**price_dp
        return lambda price: round(price * scale)
    if side == "bid":
        return lambda price: math.floor(price / step + _BUCKET_EPS)
    return lambda price: math.ceil(price / step - _BUCKET_EPS)


def own_levels(
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
    keys = {"Buy": bucket_fn(step, price_dp, "bid"), "Sell": bucket_fn(step, price_dp, "ask")}
    visible = {"Buy": {keys["Buy"](p) for p, _ in bids}, "Sell": {keys["Sell"](p) for p, _ in asks}}
    off = 0
    for order in orders:
        if order.price is None:
            continue
        side = "Buy" if order.side == "Buy" else "Sell"
        key = keys[side](float(order.price))
        if key not in visible[side]:
            off += 1
            continue
        own = own_bid if side == "Buy" else own_ask
        own[key] = own.get(key, 0.0) + float(order.leaves_qty)
    return own_bid, own_ask, off


def _bar(fraction: float, width: int) -> str:
    """A horizontal bar with eighth-cell resolution, padded to ``width``."""
    if width <= 0:
        return ""
    cells = max(0.0, min(1.0, fraction)) * width
    full = int(cells)
    return _bar_text(full, int((cells - full) * 8), width)


@lru_cache(maxsize=4096)
def _bar_text(full: int, eighths: int, width: int) -> str:
    """``full`` whole cells and ``eighths`` of the next, padded to ``width`` (each drawn once per width)."""
    text = _FULL * full + (_EIGHTHS[eighths] if eighths and full < width else "")
    return text.ljust(width)


def _cumulative(levels: list[tuple[float, float]]) -> list[Level]:
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
