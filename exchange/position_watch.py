"""Whether the ledger holds the position the exchange reports, and for how long it has not.

After a reconcile the ledger holds what the exchange's position view says, plus the fills the view has not
counted yet. A difference that lasts is news the panel must carry, never a ledger shown as if it were the
exchange's: executions the desk never received, one the exchange listed wrong and the ledger rejected, a reconcile
that could not be booked, an entry priced apart from the exchange's. An execution and its position push arrive
apart, in either order, so a difference is shown only once it has lasted :data:`DISAGREEMENT_GRACE_MS`; it ends
as soon as the two agree again. An episode is one difference from its start to that agreement.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from enum import Enum

from exchange.events import PositionSnapshot
from exchange.ledger import format_decimal

__all__ = [
    "DISAGREEMENT_GRACE_MS",
    "Episode",
    "PositionDisagreement",
    "PositionWatch",
    "disagreement",
    "price_text",
    "side_word",
]

MAX_PRICE_PLACES = 18
DISAGREEMENT_GRACE_MS = 3_000
"""An execution and its position push arrive apart (Bybit pushes them on one topic each): a difference shorter
than this is the two crossing, not news."""


def side_word(size: Decimal) -> str:
    """How a desk says a signed position's side: long, short or flat."""
    return "long" if size > 0 else "short" if size < 0 else "flat"


@dataclass(frozen=True)
class PositionDisagreement:
    """The exchange's view of one position beside the ledger's at the view's instant (sizes signed, averages
    fees excluded, as Bybit's ``avgPrice``); ``since_ms`` is when the difference was first seen."""

    symbol: str
    exchange_size: Decimal
    exchange_avg: Decimal
    ledger_size: Decimal
    ledger_avg: Decimal
    since_ms: int = 0

    @property
    def size_differs(self) -> bool:
        """Sizes apart: executions are missing on one side (else only the average entry differs)."""
        return self.exchange_size != self.ledger_size

    def describe(self, tick: Decimal | None = None) -> str:
        """One plain line for a notice and the history: sizes exact, averages to the ``tick`` as the panel shows
        them (exact when no tick is known)."""
        exchange = _holding(self.exchange_size, self.exchange_avg, tick)
        if self.size_differs:
            return f"{self.symbol}: the exchange says {exchange}, the ledger {_holding(self.ledger_size, None, tick)}"
        ledger_avg = price_text(self.ledger_avg, tick)
        return f"{self.symbol}: the exchange says {exchange}, the ledger's entry is {ledger_avg}"


def price_text(price: Decimal, tick: Decimal | None) -> str:
    """A price to the places of ``tick`` with thousands separators (``3,490.75``), exact without a tick."""
    if tick is None or not tick.is_finite() or tick <= 0 or not price.is_finite():
        return format_decimal(price)
    exponent = tick.normalize().as_tuple().exponent
    places = min(MAX_PRICE_PLACES, max(0, -exponent)) if isinstance(exponent, int) else 0
    return f"{price:,.{places}f}"


def _holding(size: Decimal, avg: Decimal | None, tick: Decimal | None) -> str:
    if size == 0:
        return "flat"
    price = f" @ {price_text(avg, tick)}" if avg is not None and avg > 0 else ""
    return f"{side_word(size)} {format_decimal(abs(size))}{price}"


def disagreement(
    view: PositionSnapshot, ledger_size: Decimal, ledger_avg: Decimal, unseen_by_view: Decimal, tick: Decimal | None
) -> PositionDisagreement | None:
    """How the ledger (``ledger_size``, ``ledger_avg``) differs from the exchange's ``view``, or None.

    ``unseen_by_view`` is the signed quantity of the fills the ledger applied that the view does not count yet:
    the sizes are compared at the view's instant. The average entries are compared only when the sizes agree and
    the ledger holds nothing the view lacks, within one ``tick`` (the exchange rounds its average; no tick known,
    no comparison)."""
    at_view = ledger_size - unseen_by_view
    if at_view != view.size:
        return PositionDisagreement(view.symbol, view.size, view.avg_price, at_view, ledger_avg)
    if view.size == 0 or unseen_by_view != 0 or tick is None or view.avg_price <= 0:
        return None
    if abs(ledger_avg - view.avg_price) <= tick:
        return None
    return PositionDisagreement(view.symbol, view.size, view.avg_price, at_view, ledger_avg)


class Episode(Enum):
    """What one look did to a symbol's episode."""

    BEGAN = "began"  # the difference lasted the grace: shown from now on
    MOVED = "moved"  # still apart, with other numbers
    ENDED = "ended"  # the two agree again


class PositionWatch:
    """The episodes of disagreement, per symbol: a difference is suspected when first seen, shown once it lasted
    ``grace_ms`` at a look that may show it, and over at the first look where the two agree.

    ``shown`` is the desk's own mapping (:attr:`exchange.desk.Desk.position_disagreements`): what the panel
    reads. Both hold only symbols that differ at their last look: bounded by the positions the desk keeps."""

    def __init__(self, shown: dict[str, PositionDisagreement], grace_ms: int = DISAGREEMENT_GRACE_MS) -> None:
        self.shown = shown
        self.grace_ms = grace_ms
        self._suspected_since: dict[str, int] = {}

    def look(self, symbol: str, found: PositionDisagreement | None, now_ms: int, may_show: bool) -> Episode | None:
        """Take what a comparison ``found`` for ``symbol`` at ``now_ms``; ``may_show`` is False while the ledger is
        known to be catching up (a backfill or a re-read under way): a difference then starts no episode."""
        if found is None:
            self._suspected_since.pop(symbol, None)
            return Episode.ENDED if self.shown.pop(symbol, None) is not None else None
        since = self._suspected_since.setdefault(symbol, now_ms)
        shown = self.shown.get(symbol)
        if shown is not None:
            moved = replace(found, since_ms=shown.since_ms)
            if moved == shown:
                return None
            self.shown[symbol] = moved
            return Episode.MOVED
        if may_show and now_ms - since >= self.grace_ms:
            self.shown[symbol] = replace(found, since_ms=since)
            return Episode.BEGAN
        return None
