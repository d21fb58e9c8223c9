"""Number, time and state formatting shared by the desk's widgets (not a widget).

Kept in one place so every panel prints a price, a P&L or a link state the same way, and so the words that
carry meaning without colour (BUY/SELL, LONG/SHORT, the state glyphs) are spelled once.
"""

from __future__ import annotations

import math
import time
from decimal import Decimal

from exchange.durations import duration_text
from exchange.events import LinkState

__all__ = [
    "COIN_DECIMALS",
    "MAX_DECIMALS",
    "STATE_GLYPHS",
    "STATE_STYLES",
    "age_text",
    "clock_utc",
    "compact_number",
    "decimals_of",
    "duration_text",
    "fmt_price",
    "fmt_qty",
    "fmt_signed",
    "money_decimals",
    "price_decimals_from",
    "tick_price",
    "state_label",
]

STATE_GLYPHS: dict[LinkState, str] = {
    LinkState.READY: "●",
    LinkState.CONNECTED: "○",
    LinkState.CONNECTING: "◐",
    LinkState.RECONNECTING: "◑",
    LinkState.FAILED: "✗",
    LinkState.DISCONNECTED: "○",
}
"""The dashboard glyphs of the OCaml Fluxum: the shape says the state even without colour."""

STATE_STYLES: dict[LinkState, str] = {
    LinkState.READY: "bold $text-success",
    LinkState.CONNECTED: "$text-success",
    LinkState.CONNECTING: "bold $text-warning",
    LinkState.RECONNECTING: "bold $text-warning",
    LinkState.FAILED: "bold $text-error",
    LinkState.DISCONNECTED: "dim",
}


def state_label(kind: LinkState) -> str:
    """Glyph and word, e.g. ``● Ready``."""
    return f"{STATE_GLYPHS[kind]} {kind.value}"


MAX_DECIMALS = 18
"""No number is printed with more places than this, whatever step it is given (``1E-20000`` would ask for
twenty thousand)."""


def decimals_of(step: float | Decimal) -> int:
    """Digits after the point needed to print multiples of ``step`` (0.1 -> 1, 0.0001 -> 4, 5 -> 0), at most
    :data:`MAX_DECIMALS`."""
    if isinstance(step, Decimal):
        exponent = step.normalize().as_tuple().exponent if step.is_finite() else 0
        return min(MAX_DECIMALS, max(0, -exponent)) if isinstance(exponent, int) else 0
    if not 0 < step < 1:  # NaN too
        return 0
    return min(10, max(0, -math.floor(math.log10(step) + 1e-9)))


def price_decimals_from(prices: list[float], cap: int = 8) -> int:
    """The decimals a list of book prices needs when the instrument's tick is not known yet."""
    best = 0
    for price in prices[:20]:
        text = repr(price)
        if "e" in text or "E" in text:
            return cap
        if "." in text:
            fraction = text.split(".", 1)[1].rstrip("0")
            best = max(best, len(fraction))
    return min(best, cap)


def fmt_price(value: float | Decimal | None, decimals: int) -> str:
    if value is None:
        return "—"
    return f"{value:,.{decimals}f}"


def tick_price(value: Decimal, places: int | None) -> str:
    """An exchange's price to the tick's ``places`` as the ladder writes it (0.5 at a 0.0001 tick as 0.5000), or
    as the exchange wrote it while the tick is not known (``places`` None)."""
    if places is None:
        return f"{value.normalize():,f}"
    return f"{value:,.{places}f}"


def fmt_qty(value: float | Decimal | None, decimals: int) -> str:
    if value is None:
        return "—"
    return f"{value:,.{decimals}f}"


def fmt_signed(value: Decimal | float | None, decimals: int = 2) -> str:
    """Money with an explicit sign, so profit and loss read the same without colour."""
    if value is None:
        return "—"
    text = f"{value:+,.{decimals}f}"
    if not text.strip("+-0.,"):  # zero, or so small it rounds to zero: no sign ("-0.00" reads as a loss)
        return f"{0:.{decimals}f}"
    return text


SUFFIXES = ((Decimal("1e12"), "T"), (Decimal("1e9"), "B"), (Decimal("1e6"), "M"), (Decimal("1e3"), "K"))


def compact_number(value: Decimal | None) -> str:
    """``4936790807.65`` as ``4.94B``; under a thousand to two places; "" for None."""
    if value is None:
        return ""
    for size, suffix in SUFFIXES:
        if abs(value) >= size:
            return f"{value / size:,.2f}{suffix}"
    return f"{value:,.2f}"


FIAT_LIKE = frozenset({"", "USD", "USDT", "USDC"})
"""Coins counted to the cent; any other (BTC, ETH: an inverse contract's settle coin) to the satoshi."""
COIN_DECIMALS = 8


def money_decimals(coin: str) -> int:
    """Places money in ``coin`` is shown to: 2 for USD and its stablecoins (and an unnamed coin), 8 for a coin
    such as BTC, where a cent's worth is far past the second place."""
    return 2 if coin.upper() in FIAT_LIKE else COIN_DECIMALS


def age_text(last_ms: int | None, now_ms: int) -> str:
    """How long ago a stream last spoke, or ``never``."""
    if last_ms is None:
        return "never"
    return duration_text((now_ms - last_ms) / 1000)


def clock_utc(time_ms: int) -> str:
    """``HH:MM:SS.mmm`` in UTC: deterministic whatever the machine's time zone."""
    seconds, millis = divmod(int(time_ms), 1000)
    return time.strftime("%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}"


class ColumnWidths:
    """Column widths that only grow while the view stays the same (a symbol, a grouping): widths taken afresh
    from each frame's numbers make the columns jump a cell whenever a number crosses a digit boundary."""

    def __init__(self) -> None:
        self._key: object = None
        self._widths: tuple[int, ...] = ()

    def fit(self, key: object, *widths: int) -> tuple[int, ...]:
        """The widths to draw with: these, or wider ones this view already used."""
        if key != self._key or len(widths) != len(self._widths):
            self._key, self._widths = key, widths
        else:
            self._widths = tuple(max(kept, new) for kept, new in zip(self._widths, widths, strict=True))
        return self._widths
