"""The position / P&L panel of the selected symbol, with a sparkline of its total P&L over the session.

What a desk asks first is on the first line (side, size, average entry, mark and where the mark came from);
a warning under it while the ledger does not hold the exchange's position (see :mod:`exchange.position_watch`);
then the P&L split the ledger keeps exact: unrealized, realized (gross price P&L), fees and funding as their
effect on P&L, and the total, which is their sum; ROE when the exchange reported the position's initial
margin; liquidation price and leverage from the exchange's position. Profit and loss carry a sign as well as a
colour.

The panel pulls the desk at 5 Hz and re-renders when the ledger, the positions or the symbol moved. It is as
tall as the tallest symbol was when last shown at this width (and the sparkline keeps its row once shown), so
flipping between a symbol with a position and one without moves nothing below the panel and costs the screen no
layout, while a line that goes (a warning, the startup's) gives its row back. The P&L history is sampled once a
second of the injected clock for every symbol (so switching symbols shows a history straight away) into a bounded
series that halves its resolution when full: the sparkline always spans the whole session in a fixed amount of
memory.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rich.cells import cell_len
from textual.app import ComposeResult, RenderResult
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Sparkline

from exchange.desk import Desk
from exchange.events import LinkState, PositionSnapshot
from exchange.ledger import ContractKind, LedgerEntry, MarkSource
from exchange.position_watch import PositionDisagreement, side_word
from exchange.printable import printable
from exchange.trust import mark_is_live
from widgets._format import COIN_DECIMALS, fmt_price, fmt_qty, fmt_signed
from widgets.content_rows import ContentRows
from widgets.desk_widget import SymbolWidget

__all__ = ["PositionPanel", "SessionSeries", "mark_live", "position_text"]

SERIES_CAPACITY = 240
MARK_SOURCE_WORDS = {
    MarkSource.MARK_PRICE: "mark price",
    MarkSource.BEST_BID: "best bid",
    MarkSource.BEST_ASK: "best ask",
    MarkSource.MID: "mid",
    MarkSource.LAST_FILL: "last fill",
    MarkSource.EXTERNAL: "external",
}
_ZERO = Decimal(0)
WIDE_CELLS = 70
NARROW_CELLS = 58
"""Content width from which three full-label columns fit; from ``NARROW_CELLS`` up to it, the labels shorten
so that three still fit (the mid layout); narrower still, the full labels in fewer columns."""
SHORT_LABELS = {
    "total P&L": "P&L",
    "unrealized": "unreal",
    "realized": "real",
    "liq price": "liq",
    "leverage": "lev",
}


class SessionSeries:
    """A bounded series over the whole session: when full, every other sample goes, the stride doubles.

    The session's low and high are kept apart, exact, from every total :meth:`note` saw, not only the samples:
    a total shown between two samples (or in one the halving dropped) stays inside them."""

    def __init__(self, capacity: int = SERIES_CAPACITY) -> None:
        self.capacity = max(4, capacity - capacity % 2)
        self.values: list[float] = []
        self.stride = 1
        self._skipped = 0
        self.low: Decimal | None = None
        self.high: Decimal | None = None

    def note(self, value: Decimal) -> None:
        """A total the desk held: it widens the session's low and high, it adds no sample."""
        if self.low is None or value < self.low:
            self.low = value
        if self.high is None or value > self.high:
            self.high = value

    def add(self, value: Decimal | float) -> None:
        self.note(value if isinstance(value, Decimal) else Decimal(repr(value)))
        self._skipped += 1
        if self._skipped < self.stride:
            return
        self._skipped = 0
        self.values.append(float(value))
        if len(self.values) >= self.capacity:
            self.values = self.values[1::2]
            self.stride *= 2


def disagreement_line(apart: PositionDisagreement, price_dp: int, qty_dp: int) -> str:
    """The panel's warning while the ledger does not hold the exchange's position, e.g. ``⚠ exchange says 0.300 @
    64,210.5 — ledger 0.250; fills missing?`` (the sides are named unless both hold the same one)."""
    sides = {side_word(apart.exchange_size), side_word(apart.ledger_size)}
    named = len(sides) > 1 or "flat" in sides
    exchange = _holding_text(apart.exchange_size, apart.exchange_avg, price_dp, qty_dp, named)
    if apart.size_differs:
        ledger = _holding_text(apart.ledger_size, None, price_dp, qty_dp, named)
        return f"⚠ exchange says {exchange} — ledger {ledger}; fills missing?"
    return f"⚠ exchange says {exchange} — ledger @ {fmt_price(apart.ledger_avg, price_dp)}; entry differs"


def _holding_text(size: Decimal, avg: Decimal | None, price_dp: int, qty_dp: int, named: bool) -> str:
    if size == 0:
        return "flat"
    side = f"{side_word(size)} " if named else ""
    price = f" @ {fmt_price(avg, price_dp)}" if avg is not None and avg > 0 else ""
    return f"{side}{fmt_qty(abs(size), qty_dp)}{price}"


class Money:
    """How the panel writes an entry's money: a linear contract's in the quote coin to the cent (as ever); an
    inverse one's in its settle coin to :data:`COIN_DECIMALS` places, the coin named on the total and the
    session's low and high (``+0.00012345 BTC``) so no figure of the block is read as dollars."""

    def __init__(self, entry: LedgerEntry | None) -> None:
        self.inverse = entry is not None and entry.contract is ContractKind.INVERSE
        self.coin = (printable(entry.settle_coin) if entry is not None and self.inverse else "") or "coin"
        self.decimals = COIN_DECIMALS if self.inverse else 2

    def signed(self, value: Decimal | None) -> str:
        return "—" if value is None else fmt_signed(value, self.decimals)

    def named(self, value: Decimal) -> str:
        """A figure with its coin when it is not the quote coin: ``+0.00012345 BTC``."""
        return f"{self.signed(value)} {self.coin}" if self.inverse else self.signed(value)

    def plain(self, value: Decimal) -> str:
        return f"{value:,.{self.decimals}f}"


def _figures(entry: LedgerEntry, position: PositionSnapshot | None, price_dp: int) -> list[tuple[str, str, str]]:
    """The panel's figures in the order shown, each as label, value and style."""
    money = Money(entry)
    roe: Decimal | None = None
    margin = position.position_im if position is not None else None
    if margin is not None and margin > 0 and entry.position != 0:
        roe = entry.unrealized_pnl / margin * 100
    liq = position.liq_price if position is not None and position.liq_price else None
    leverage = position.leverage if position is not None else None
    fees_effect = -entry.fees
    funding_effect = -entry.funding
    pnl: list[tuple[str, str, str]] = [
        ("total P&L", money.signed(entry.pnl), "bold " + _money_style(entry.pnl)),
        ("unrealized", money.signed(entry.unrealized_pnl), _money_style(entry.unrealized_pnl)),
        ("ROE", f"{fmt_signed(roe)} %" if roe is not None else "—", _money_style(roe)),
    ]
    split: list[tuple[str, str, str]] = [
        ("realized", money.signed(entry.realized_pnl), _money_style(entry.realized_pnl)),
        ("fees", money.signed(fees_effect), _money_style(fees_effect)),
        ("funding", money.signed(funding_effect), _money_style(funding_effect)),
    ]
    risk: list[tuple[str, str, str]] = [
        (
            "liq price",
            fmt_price(liq, price_dp) if liq is not None else "—",
            "$text-warning" if liq else "",
        ),
        ("leverage", f"{leverage.normalize():f}x" if leverage else "—", ""),
        ("margin", money.plain(margin) if margin else "—", ""),
    ]
    # An open position puts its risk (liquidation) right under the P&L: a short panel (the compact layout)
    # shows the first rows only. Flat, the split of what was made comes first.
    return pnl + (risk + split if entry.position != 0 else split + risk)


def _height_of(text: Content, width: int) -> int:
    """Rows ``text`` takes at ``width``: its lines, unless one is too long and the text must be wrapped as Textual
    wraps it (by words)."""
    lines = text.plain.split("\n")
    if all(cell_len(line) <= width for line in lines):
        return len(lines)
    return len(text.wrap(width))


def _money_style(value: Decimal | None) -> str:
    if value is None or value == 0:
        return ""
    return "$profit" if value > 0 else "$loss"


class PositionPanel(Vertical, SymbolWidget):
    """Position, P&L and its session sparkline for one symbol."""

    PULL_NAME = "position"

    DEFAULT_CSS = """
    PositionPanel { height: auto; }
    PositionPanel > #position-body { height: auto; }
    PositionPanel > Sparkline { height: 1; }
    """

    REFRESH_HZ = 5.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._last_sample_s: int | None = None
        self._reserved = (0, 0)
        """The width the body was sized at, and its rows: the most any symbol needs when last drawn there."""
        self._rows_of: dict[str | None, int] = {}
        """Rows each symbol's text took when last drawn at that width."""
        self.history: dict[str, SessionSeries] = {}
        """Total P&L samples per symbol (bounded)."""

    def compose(self) -> ComposeResult:
        yield ContentRows(id="position-body")
        sparkline = SessionSparkline([], id="pnl-sparkline")
        sparkline.display = False
        yield sparkline

    def show(self, desk: Desk | None, symbol: str | None = None) -> None:
        """Point the panel at a desk and symbol; a new desk starts a new session history."""
        if desk is not self.desk:
            self.history.clear()
            self._last_sample_s = None
        super().show(desk, symbol)

    def seed_history(self, symbol: str, values: list[float]) -> None:
        """Start a symbol's P&L series from known values (a restored session, or a scripted snapshot)."""
        series = self.history[symbol] = SessionSeries()
        for value in values:
            series.add(value)
        self._drawn_key = None
        self._pull()

    def on_resize(self) -> None:
        self._drawn_key = None
        self._pull()

    # ------------------------------------------------------------------ pulling

    def _pull(self) -> None:
        if not self._started:
            return
        desk, symbol = self.desk, self.symbol
        now_s = int(self.clock())
        sampled = False
        if desk is not None and now_s != self._last_sample_s:
            self._last_sample_s = now_s
            self._sample(desk)
            sampled = True
        key = (
            id(desk),
            symbol,
            desk.ledger.version if desk is not None else 0,  # every change of the ledger, marks and legs too
            desk.versions["positions"] if desk is not None else 0,
            desk.versions["instruments"] if desk is not None else 0,
            desk.versions[f"ticker:{symbol}"] if desk is not None else 0,
            desk.state.kind if desk is not None else None,
            desk.account_down if desk is not None else "",
            self._mark_live(desk, symbol),
            self.size.width,
        )
        if key == self._drawn_key and not sampled:
            return
        self._drawn_key = key
        if desk is not None and symbol is not None:
            self._note_total(desk, symbol)
        body = self.query_one("#position-body", ContentRows)
        sparkline = self.query_one("#pnl-sparkline", Sparkline)
        text = self._text(desk, symbol, max(20, self.size.width))
        width = max(1, body.size.width or self.size.width)
        height = _height_of(text, width)
        if width != self._reserved[0]:
            self._rows_of.clear()
        self._rows_of[symbol] = height
        rows = max(self._rows_of.values())  # a symbol's own shorter text (a warning gone) gives its rows back
        with self.app.batch_update():
            if (width, rows) != self._reserved:  # a layout pass only when the body's rows change: it is costly
                self._reserved = (width, rows)
                body.styles.min_height = rows
            shown = body.content  # drawn again only for other words or styles (Content's == reads the words only)
            if not isinstance(shown, Content) or (text.plain, text.spans) != (shown.plain, shown.spans):
                body.update(text, layout=False)
            series = self.history.get(symbol or "")
            values = list(series.values) if series is not None else []
            if values and not sparkline.display:  # once shown, it keeps its row (blank for a symbol without)
                sparkline.display = True
            if sparkline.data != values:
                sparkline.data = values

    def _sample(self, desk: Desk) -> None:
        for symbol in desk.symbols:
            entry = desk.ledger.entry(symbol)
            if entry is None:
                continue
            series = self.history.get(symbol)
            if series is None:
                series = self.history[symbol] = SessionSeries()
            series.add(entry.pnl)

    def _note_total(self, desk: Desk, symbol: str) -> None:
        """The total about to be shown goes into the session's low and high (a sample comes once a second)."""
        entry = desk.ledger.entry(symbol)
        series = self.history.get(symbol)
        if entry is not None and series is not None:
            series.note(entry.pnl)

    def _text(self, desk: Desk | None, symbol: str | None, width: int) -> Content:
        series = self.history.get(symbol or "")
        return position_text(desk, symbol, width, series, int(self.clock() * 1000))

    def _mark_live(self, desk: Desk | None, symbol: str | None) -> bool:
        return mark_live(desk, symbol, int(self.clock() * 1000))


class SessionSparkline(Sparkline):
    """The session's P&L sparkline, blank (not a flat line, which would read as a flat P&L) before a sample."""

    def render(self) -> RenderResult:
        return super().render() if self.data else ""


def position_text(
    desk: Desk | None, symbol: str | None, width: int, series: SessionSeries | None, now_ms: int
) -> Content:
    """What the panel shows of ``symbol`` at ``width`` cells: the position and its mark, a disagreement with the
    exchange, the ledger's figures in as many columns as fit, and the session's low and high."""
    if desk is None or symbol is None:
        return Content.assemble(("no symbol selected", "dim"))
    entry = desk.ledger.entry(symbol)
    instrument = desk.instrument(symbol)
    price_dp = instrument.price_decimals if instrument is not None else 2
    inverse = entry is not None and entry.contract is ContractKind.INVERSE  # whole contracts of 1 USD
    qty_dp = instrument.qty_decimals if instrument is not None else 0 if inverse else 3
    header = _header(desk, symbol, entry, price_dp, qty_dp, now_ms)
    apart = desk.position_disagreements.get(symbol)
    warning: list[Any] = []
    if apart is not None:  # right under the header: a short panel (the compact layout) still shows it
        warning = ["\n", (disagreement_line(apart, price_dp, qty_dp), "bold $text-warning")]
    if entry is None:
        return Content.assemble(*header, *warning, "\n", ("no fills on this symbol this session", "dim"))
    parts: list[Any] = [*_fit_header(header, width), *warning]
    money = Money(entry)
    figures = _figures(entry, desk.positions.get(symbol), price_dp)
    if money.inverse:  # the total on a line of its own, its coin named: the figures under it are in that coin
        _, _, style = figures.pop(0)
        total = money.named(entry.pnl)
        note = "  coin-margined" if len(f"total P&L {total}  coin-margined") <= width else ""
        parts += ["\n", ("total P&L ", "dim"), (total, style), (note, "dim")]
    parts += _figure_parts(figures, width, fit=money.inverse)
    if series is not None and series.low is not None and series.high is not None:
        low, high = f"low {money.signed(series.low)}", f"high {money.named(series.high)}"
        # a coin's eight places take room: the label shortens rather than wrap the line
        label = next((t for t in ("session P&L ", "session ", "") if len(t + low + high) + 2 <= width), "")
        parts += [
            "\n",
            (label if money.inverse else "session P&L ", "dim"),
            (low, _money_style(series.low)),
            ("  ", ""),
            (high, _money_style(series.high)),
        ]
    return Content.assemble(*parts)


def _figure_parts(items: list[tuple[str, str, str]], width: int, *, fit: bool = False) -> list[Any]:
    """The ledger's figures, label and value, in as many columns as ``width`` holds (short labels when narrow);
    ``fit`` widens the value column to the longest value (a coin's eight places and its name)."""
    wide = width >= WIDE_CELLS or width < NARROW_CELLS
    label_w, value_w = (10, 11) if wide else (7, 10)
    if fit:
        value_w = max(value_w, *(len(value) for _, value, _ in items))
    columns = max(1, (width + 2) // (label_w + 1 + value_w + 2))
    parts: list[Any] = []
    for index, (label, value, style) in enumerate(items):
        if index % columns == 0:
            parts.append("\n")
        label = label if wide else SHORT_LABELS.get(label, label)
        parts.append((f"{label:<{label_w}} ", "dim"))
        parts.append((f"{value:>{value_w}}", style))
        if index % columns != columns - 1:
            parts.append("  ")
    return parts


def _fit_header(parts: list[Any], width: int) -> list[Any]:
    """The header on one line if dropping the mark's source (in brackets) makes it fit; else as it was."""

    def length(items: list[Any]) -> int:
        return sum(len(p[0] if isinstance(p, tuple) else p) for p in items)

    if length(parts) <= width:
        return parts
    shorter = [p for p in parts if not (isinstance(p, tuple) and p[0].startswith(" (") and p[0].endswith(")"))]
    if length(shorter) <= width:
        return shorter
    # Wrapping anyway: keep the source, and break before the mark so "mark" stays with its price.
    at = next((i for i, p in enumerate(parts) if isinstance(p, tuple) and p[0] == "  mark "), None)
    return parts if at is None else [*parts[:at], "\n", ("mark ", "dim"), *parts[at + 1 :]]


def _side(desk: Desk, size: Decimal) -> tuple[str, str]:
    """LONG, SHORT or FLAT, or why the position is not known."""
    if size > 0:
        return ("LONG", "bold $bid")
    if size < 0:
        return ("SHORT", "bold $ask")
    if not desk.private:
        return ("no account: public data only", "dim")  # no keys: nothing is known of a position
    if not desk.positions_read:
        return ("position not read yet", "bold $text-warning")  # "FLAT" would be a claim
    return ("FLAT", "dim")


def _header(desk: Desk, symbol: str, entry: LedgerEntry | None, price_dp: int, qty_dp: int, now_ms: int) -> list[Any]:
    size = entry.position if entry is not None else _ZERO
    parts: list[Any] = [(printable(symbol), "bold"), " ", _side(desk, size)]
    if desk.account_down:  # the key was rejected: the last word on the position, which may have moved
        parts.append(("  ⚠ not live: account down", "bold $text-error"))
    if size != 0 and entry is not None:
        parts.append(f" {fmt_qty(abs(size), qty_dp)}")
        if entry.contract is ContractKind.INVERSE:  # contracts of one USD, not coins: Bybit's word for them
            parts.append((" USD", "dim"))
        parts += [
            ("  @ ", "dim"),
            fmt_price(entry.running_price, price_dp),
        ]
    if entry is not None and entry.mark_source is not None and entry.spot > 0:
        parts += [("  mark ", "dim"), fmt_price(entry.spot, price_dp)]
        parts.append((f" ({MARK_SOURCE_WORDS.get(entry.mark_source, str(entry.mark_source))})", "dim"))
    else:
        mark = desk.mark_price(symbol)
        if mark is not None:
            parts += [("  mark ", "dim"), fmt_price(mark, price_dp), (" (mark price)", "dim")]
    if desk.state.kind is not LinkState.READY:
        parts.append(("  ⚠ marks not live", "bold $text-warning"))
    elif not mark_live(desk, symbol, now_ms):
        parts.append(("  ⚠ mark not live", "bold $text-warning"))  # its ticker or book went quiet or untrusted
    return parts


def mark_live(desk: Desk | None, symbol: str | None, now_ms: int) -> bool:
    """Whether the mark the panel values the position at is live (True when there is no position to value)."""
    entry = desk.ledger.entry(symbol) if desk is not None and symbol is not None else None
    if desk is None or entry is None:
        return True
    return mark_is_live(desk, entry, now_ms)
