"""An order the desk is about to send, checked before it leaves: rounded to the instrument, sized from the config,
and refused locally above the trader's maximum notional or at a price far from the book.

Pure functions over exact decimals, so every rule is tested without a screen or a socket. A price is rounded to
the tick in the trader's favour (a buy down, a sell up: never a worse price than the cursor shows) and a
quantity down to the lot step (never more than asked). The notional is what the order is worth in the quote
currency: ``qty x price`` for a linear contract, ``qty`` for an inverse one (its contracts are worth one USD
each). Closing a position is never refused for its size: it only takes risk off.

A new limit order and an amend pass the same checks (:func:`_limit_terms`): a price further than
``max_price_distance`` percent from the book's mid is a slipped finger (a buy at 6,500 or 650,000 on a 65,000
book), refused as one line, as is a notional above ``max_notional``.

The config's ``default_qty`` (per symbol), ``max_notional`` and ``max_price_distance`` are read here too
(:func:`order_limits`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from exchange.numbers import NumberError, read_decimal
from exchange.printable import printable

__all__ = [
    "DEFAULT_MAX_NOTIONAL",
    "DEFAULT_MAX_PRICE_DISTANCE",
    "AmendTicket",
    "OrderLimits",
    "Ticket",
    "TicketRefused",
    "amend_ticket",
    "close_ticket",
    "crossing_text",
    "limit_ticket",
    "market_ticket",
    "notional_of",
    "order_limits",
    "round_price",
    "round_qty",
]

DEFAULT_MAX_NOTIONAL = Decimal(10_000)
"""The largest order the desk sends when the config names no ``max_notional`` (in the quote currency)."""
DEFAULT_MAX_PRICE_DISTANCE = Decimal(10)
"""How far (in % of the book's mid) a limit price may be from the book when the config names no
``max_price_distance``."""
MAX_CONFIG_NUMBER = Decimal(10) ** 12


class TicketRefused(ValueError):
    """The order is not sent: the one-line reason says why (it is shown as is)."""


@dataclass(frozen=True)
class OrderLimits:
    """The config's order sizes: a default quantity per symbol, the maximum notional of one order, and how far
    from the book's mid (in %) a limit price may be."""

    default_qty: Mapping[str, Decimal] = field(default_factory=dict)
    max_notional: Decimal = DEFAULT_MAX_NOTIONAL
    max_price_distance: Decimal = DEFAULT_MAX_PRICE_DISTANCE

    def qty_for(self, symbol: str, step: Decimal) -> Decimal:
        """The configured quantity of ``symbol``, else one lot step (the smallest order the desk can size)."""
        return self.default_qty.get(symbol, step)


@dataclass(frozen=True)
class Ticket:
    """One order as it will be sent: ``time_in_force`` None lets the exchange choose (GTC; IOC for a market)."""

    symbol: str
    side: str  # Buy or Sell
    order_type: str  # Limit or Market
    qty: Decimal
    price: Decimal | None
    notional: Decimal
    quote: str
    time_in_force: str | None = None
    reduce_only: bool = False

    @property
    def kind(self) -> str:
        """How a person names it: limit, post-only limit, market, reduce-only market."""
        if self.order_type == "Market":
            return "reduce-only market" if self.reduce_only else "market"
        return "post-only limit" if self.time_in_force == "PostOnly" else "limit"

    def order_text(self) -> str:
        """``BUY 0.001 BTCUSDT @ 65,010.5 (limit)``, ``SELL 0.002 BTCUSDT at market (reduce-only)``: what is
        sent, each word once."""
        side = "BUY" if self.side == "Buy" else "SELL"
        order = f"{side} {_plain(self.qty)} {printable(self.symbol)}"
        if self.price is None:
            return f"{order} at market" + (" (reduce-only)" if self.reduce_only else "")
        return f"{order} @ {self.price:,f} ({self.kind})"

    def notional_text(self) -> str:
        """``notional 65.01 USDT``; a market order's (``≈``) is at the touch it would take."""
        about = "≈ " if self.price is None else ""
        return f"notional {about}{_money(self.notional)} {self.quote}"

    def crossing(self, touch: Decimal | None) -> str:
        """What this limit order at or through ``touch`` does (:func:`crossing_text`); empty at market."""
        return crossing_text(self.side, self.price, touch, post_only=self.time_in_force == "PostOnly")

    def describe(self) -> str:
        """``BUY 0.001 BTCUSDT @ 65,010.5 (limit) · notional 65.01 USDT``."""
        return f"{self.order_text()} · {self.notional_text()}"


@dataclass(frozen=True)
class AmendTicket:
    """A change to a resting order: the new price and quantity (None: unchanged), and the notional after it."""

    symbol: str
    order_id: str
    price: Decimal | None
    qty: Decimal | None
    notional: Decimal
    quote: str

    def crossing(self, side: str, touch: Decimal | None, *, post_only: bool = False) -> str:
        """What the order of ``side`` moved to its new price does at ``touch`` (:func:`crossing_text`)."""
        return crossing_text(side, self.price, touch, post_only=post_only)

    def describe(self, was_price: Decimal | None, was_qty: Decimal) -> str:
        parts = []
        if self.price is not None:
            was = was_price.quantize(self.price) if was_price is not None else None  # both to the tick
            parts.append(f"price {_plain(was, exact=True)} → {_plain(self.price, exact=True)}")
        if self.qty is not None:
            parts.append(f"qty {_plain(was_qty)} → {_plain(self.qty)}")
        return f"{printable(self.symbol)}: {', '.join(parts)} · notional {_money(self.notional)} {self.quote}"


def crossing_text(side: str, price: Decimal | None, touch: Decimal | None, *, post_only: bool) -> str:
    """What a limit order at or through ``touch`` (the best ask for a buy, the best bid for a sell) does: it
    fills at once as a taker, or as post-only it is cancelled; empty when it rests or has no price."""
    if price is None or touch is None:
        return ""
    if (price < touch) if side == "Buy" else (price > touch):
        return ""
    best = "best ask" if side == "Buy" else "best bid"
    outcome = "the exchange will cancel it (post-only)" if post_only else "it fills at once, as a taker"
    return f"⚠ at or through the {best} {touch:,f}: {outcome}"


def _plain(value: Decimal | None, *, exact: bool = False) -> str:
    """A quantity as typed (trailing zeros dropped), or with ``exact`` a price as written (to the tick's places)."""
    if value is None:
        return "-"
    return f"{value:,f}" if exact else f"{value.normalize():,f}"


def _money(value: Decimal) -> str:
    """A notional to the cent, as the desk writes money (``65.00``, never ``65``)."""
    return f"{value.quantize(Decimal('0.01')):,f}"


# ------------------------------------------------------------------------------------------------ rounding


def round_price(price: Decimal, tick: Decimal, side: str) -> Decimal:
    """``price`` on the tick grid, in the trader's favour: a buy rounds down, a sell up; written to the tick's
    places (``65010.0`` for a tick of 0.1), as the ladder shows it."""
    rounding = ROUND_FLOOR if side == "Buy" else ROUND_CEILING
    return ((price / tick).to_integral_value(rounding=rounding) * tick).quantize(tick.normalize())


def round_qty(qty: Decimal, step: Decimal) -> Decimal:
    """``qty`` down to the lot step (never more than asked)."""
    return (qty / step).to_integral_value(rounding=ROUND_FLOOR) * step


def notional_of(qty: Decimal, price: Decimal, inverse: bool) -> Decimal:
    """What an order is worth in its quote currency: contracts of one USD (inverse), else ``qty x price``."""
    return qty if inverse else qty * price


def quote_of(symbol: str, inverse: bool) -> str:
    """The currency a notional is counted in: USD for an inverse contract, else the symbol's quote coin."""
    if inverse:
        return "USD"
    for coin in ("USDT", "USDC", "PERP"):
        if symbol.endswith(coin):
            return "USDC" if coin == "PERP" else coin
    return "quote"


# ------------------------------------------------------------------------------------------------ tickets


def _priced(price: Decimal, tick: Decimal, side: str) -> Decimal:
    """``price`` on the tick grid (:func:`round_price`), refused when it is no price or rounds to none."""
    if price <= 0:
        raise TicketRefused(f"price {_plain(price)} is not a price")
    rounded = round_price(price, tick, side)
    if rounded <= 0:
        raise TicketRefused(f"price {_plain(price)} is below one tick ({_plain(tick)})")
    return rounded


def _sized(qty: Decimal, step: Decimal) -> Decimal:
    sized = round_qty(qty, step)
    if sized <= 0:
        raise TicketRefused(f"quantity {_plain(qty)} is below one lot step ({_plain(step)})")
    return sized


def _within(notional: Decimal, limit: Decimal, quote: str) -> None:
    if notional > limit:
        raise TicketRefused(
            f"notional {_money(notional)} {quote} is above max_notional "
            f"{_plain(limit)} {quote} (the config's limit): not sent"
        )


def _near(price: Decimal, reference: Decimal | None, limit: Decimal) -> None:
    """Refuse a limit price further than ``limit`` % from the book's mid (``reference``; None: the book is
    empty, nothing to check a price against)."""
    if reference is None or reference <= 0:
        raise TicketRefused("the book has no price to check the order's price against: not sent")
    distance = (price - reference) / reference * 100
    if abs(distance) > limit:
        where = "above" if distance > 0 else "below"
        raise TicketRefused(
            f"price {price:,f} is {abs(distance):,.1f}% {where} the book's mid {reference:,f} "
            f"(more than max_price_distance {_plain(limit)}%): not sent"
        )


def _limit_terms(
    symbol: str,
    moved_to: Decimal | None,
    resting: tuple[Decimal | None, Decimal],
    *,
    limits: OrderLimits,
    reference: Decimal | None,
    inverse: bool,
) -> tuple[Decimal, str]:
    """The checks a limit order passes whether new or amended: the price it ``moved_to`` (None: an amend that
    keeps the resting price, checked when it was placed) near the book's mid ``reference``, and the notional of
    the order as it will rest (price, qty) within ``max_notional``. Returns the notional and its currency."""
    if moved_to is not None:
        _near(moved_to, reference, limits.max_price_distance)
    price, qty = resting
    quote = quote_of(symbol, inverse)
    notional = notional_of(qty, price if price is not None else Decimal(0), inverse)
    _within(notional, limits.max_notional, quote)
    return notional, quote


def limit_ticket(
    symbol: str,
    side: str,
    price: Decimal,
    qty: Decimal,
    *,
    tick: Decimal,
    step: Decimal,
    limits: OrderLimits,
    reference: Decimal | None,
    inverse: bool = False,
    post_only: bool = False,
) -> Ticket:
    """A limit order at ``price`` (rounded to the tick in the trader's favour), refused above the max notional
    or further than the max price distance from ``reference``, the book's mid."""
    price, sized = _priced(price, tick, side), _sized(qty, step)
    notional, quote = _limit_terms(symbol, price, (price, sized), limits=limits, reference=reference, inverse=inverse)
    tif = "PostOnly" if post_only else "GTC"
    return Ticket(symbol, side, "Limit", sized, price, notional, quote, time_in_force=tif)


def market_ticket(
    symbol: str,
    side: str,
    qty: Decimal,
    touch: Decimal | None,
    *,
    step: Decimal,
    limits: OrderLimits,
    inverse: bool = False,
) -> Ticket:
    """A market order, its notional at the touch it would take (refused without one: its size is unknown)."""
    if touch is None or touch <= 0:
        raise TicketRefused(f"no {'ask' if side == 'Buy' else 'bid'} in the book to price a market order against")
    sized = _sized(qty, step)
    quote = quote_of(symbol, inverse)
    notional = notional_of(sized, touch, inverse)
    _within(notional, limits.max_notional, quote)
    return Ticket(symbol, side, "Market", sized, None, notional, quote)


def close_ticket(
    symbol: str, position: Decimal | None, touch: Decimal | None, *, step: Decimal, inverse: bool = False
) -> Ticket:
    """A reduce-only market order for the whole position (``position`` signed, None unknown); never refused for
    its size."""
    if position is None:
        raise TicketRefused(f"the position of {printable(symbol)} is not known yet: nothing to close")
    if position == 0:
        raise TicketRefused(f"no position in {printable(symbol)} to close")
    side = "Sell" if position > 0 else "Buy"
    sized = _sized(abs(position), step)
    price = touch if touch is not None and touch > 0 else Decimal(0)
    quote = quote_of(symbol, inverse)
    return Ticket(symbol, side, "Market", sized, None, notional_of(sized, price, inverse), quote, reduce_only=True)


def amend_ticket(
    symbol: str,
    order_id: str,
    side: str,
    was: tuple[Decimal | None, Decimal],
    wanted: tuple[Decimal | None, Decimal | None],
    *,
    tick: Decimal,
    step: Decimal,
    limits: OrderLimits,
    reference: Decimal | None,
    inverse: bool = False,
) -> AmendTicket:
    """The change from ``was`` (price, qty) to ``wanted`` (None: keep): only what differs is sent, checked as a
    new limit order is (:func:`_limit_terms`, ``reference`` the book's mid)."""
    was_price, was_qty = was
    price, qty = wanted
    if price is not None:
        price = _priced(price, tick, side)
        price = None if price == was_price else price
    if qty is not None:
        qty = _sized(qty, step)
        qty = None if qty == was_qty else qty
    if price is None and qty is None:
        raise TicketRefused("nothing to amend: the price and quantity are the order's own")
    resting = (price if price is not None else was_price, qty if qty is not None else was_qty)
    notional, quote = _limit_terms(symbol, price, resting, limits=limits, reference=reference, inverse=inverse)
    return AmendTicket(symbol, order_id, price, qty, notional, quote)


# ------------------------------------------------------------------------------------------------ config


class LimitsError(ValueError):
    """A config value for order entry that cannot be used (the config turns it into a ConfigError)."""


def _positive(value: object, name: str) -> Decimal:
    """A positive number up to :data:`MAX_CONFIG_NUMBER`, in the range every number from outside is held to
    (:func:`~exchange.numbers.read_decimal`: a quantity of ``1e-999999`` would be told as a million zeros)."""
    refused = LimitsError(f"{name} must be a positive number up to 10^12, not {printable(str(value), 40)!r}")
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise refused
    try:
        number = read_decimal(str(value), name)
    except NumberError:
        raise refused from None
    if not 0 < number <= MAX_CONFIG_NUMBER:
        raise refused
    return number


def order_limits(values: Mapping[str, object]) -> OrderLimits:
    """``default_qty`` (a table of symbol = quantity), ``max_notional`` and ``max_price_distance`` (a percent)
    from a config's values."""
    raw_qty = values.get("default_qty", {})
    if not isinstance(raw_qty, Mapping):
        raise LimitsError('default_qty must be a table of symbol = quantity, like { BTCUSDT = "0.001" }')
    default_qty = {
        str(symbol).upper(): _positive(qty, f"default_qty.{printable(str(symbol), 40)}")
        for symbol, qty in raw_qty.items()
    }
    max_notional = _positive(values.get("max_notional", DEFAULT_MAX_NOTIONAL), "max_notional")
    distance = _positive(values.get("max_price_distance", DEFAULT_MAX_PRICE_DISTANCE), "max_price_distance")
    return OrderLimits(default_qty, max_notional, distance)
