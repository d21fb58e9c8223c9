"""The instruments the local exchange lists, with Bybit's real tick sizes, quantity steps and limits.

Filters matter more than prices here: a client that rounds to the wrong tick or step must be rejected by the
simulator exactly as by Bybit, so the numbers follow ``market/instruments-info`` as Bybit publishes it
(linear: ``priceFilter``/``lotSizeFilter.qtyStep``; spot: ``tickSize`` and ``basePrecision``, no ``qtyStep``).
Start prices are only where the seeded price process begins.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

CATEGORIES = ("linear", "spot", "inverse")
DEFAULT_SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT")
DEFAULT_CATEGORIES = ("linear", "spot")
LAUNCH_TIME_MS = 1585526400000  # BTCUSDT's real launch time; the same for every symbol keeps shapes simple


class UnknownSymbol(KeyError):
    """A symbol the local exchange does not list in that category."""


def places_of(step: Decimal) -> int:
    """Decimal places of a tick or step as Bybit writes it (``0.10`` -> 2, ``0.001`` -> 3, ``1`` -> 0)."""
    exponent = step.as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


@dataclass(frozen=True)
class Instrument:
    """One listed instrument; prices are multiples of ``tick_size`` and quantities of ``qty_step``."""

    symbol: str
    category: str  # "linear" | "spot" | "inverse"
    base_coin: str
    quote_coin: str
    settle_coin: str
    tick_size: Decimal
    qty_step: Decimal
    min_qty: Decimal
    max_qty: Decimal
    min_notional: Decimal
    price_scale: int
    start_price: Decimal
    max_mkt_qty: Decimal = Decimal(0)
    max_leverage: str = "100.00"
    symbol_id: int = 0

    @property
    def qty_places(self) -> int:
        return places_of(self.qty_step)

    def fmt_price(self, price: Decimal) -> str:
        """A price at ``price_scale`` places, as Bybit writes it in orders, executions and linear books."""
        return format(price.quantize(Decimal(1).scaleb(-self.price_scale), rounding=ROUND_HALF_UP), "f")

    def fmt_qty(self, qty: Decimal) -> str:
        """A quantity at the step's places (``"0.020"`` for BTCUSDT linear)."""
        return format(qty.quantize(Decimal(1).scaleb(-self.qty_places), rounding=ROUND_HALF_UP), "f")

    def to_bybit(self) -> dict[str, Any]:
        """The ``instruments-info`` list item in Bybit's shape for the category (and Bybit's key order)."""
        if self.category == "spot":
            return self._spot()
        return self._contract()

    def _contract(self) -> dict[str, Any]:
        tick = self.fmt_price(self.tick_size)
        digits = len(str(int(self.start_price)))
        max_price = self.fmt_price(Decimal(2) * Decimal(10) ** digits * 10 - 2 * self.tick_size)
        qty = self.fmt_qty
        item: dict[str, Any] = {
            "symbol": self.symbol,
            "symbolId": self.symbol_id,
            "contractType": "LinearPerpetual" if self.category == "linear" else "InversePerpetual",
            "status": "Trading",
            "baseCoin": self.base_coin,
            "quoteCoin": self.quote_coin,
            "launchTime": str(LAUNCH_TIME_MS),
            "deliveryTime": "0",
            "deliveryFeeRate": "",
            "priceScale": str(self.price_scale),
            "leverageFilter": {"minLeverage": "1", "maxLeverage": self.max_leverage, "leverageStep": "0.01"},
            "priceFilter": {"minPrice": tick, "maxPrice": max_price, "tickSize": tick},
            "lotSizeFilter": {
                "maxOrderQty": qty(self.max_qty),
                "minOrderQty": qty(self.min_qty),
                "qtyStep": qty(self.qty_step),
                "postOnlyMaxOrderQty": qty(self.max_qty),
                "maxMktOrderQty": qty(self.max_mkt_qty or self.max_qty),
                "minNotionalValue": _plain(self.min_notional),
            },
            "unifiedMarginTrade": True,
            "fundingInterval": 480,
            "settleCoin": self.settle_coin,
            "copyTrading": "both",
            "upperFundingRate": "0.00375",
            "lowerFundingRate": "-0.00375",
            "isPreListing": False,
            "preListingInfo": None,
            "riskParameters": {"priceLimitRatioX": "0.01", "priceLimitRatioY": "0.02"},
            "symbolType": "",
        }
        return item

    def _spot(self) -> dict[str, Any]:
        return {
            "symbolId": self.symbol_id,
            "symbol": self.symbol,
            "baseCoin": self.base_coin,
            "quoteCoin": self.quote_coin,
            "innovation": "0",
            "status": "Trading",
            "marginTrading": "utaOnly",
            "stTag": "0",
            "lotSizeFilter": {
                "basePrecision": _plain(self.qty_step),
                "quotePrecision": "0.0000001",
                "minOrderQty": _plain(self.min_qty),
                "maxOrderQty": _plain(self.max_qty),
                "minOrderAmt": _plain(self.min_notional),
                "maxOrderAmt": "8000000",
                "maxLimitOrderQty": _plain(self.max_qty),
                "maxMarketOrderQty": _plain(self.max_mkt_qty or self.max_qty),
                "postOnlyMaxLimitOrderSize": "60000",
            },
            "priceFilter": {"tickSize": _plain(self.tick_size)},
            "riskParameters": {"priceLimitRatioX": "0.005", "priceLimitRatioY": "0.01"},
            "symbolType": "",
        }


def _plain(value: Decimal) -> str:
    """A decimal with no exponent and no trailing zeros (spot filters: ``"0.000001"``, ``"83"``)."""
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


D = Decimal

# symbol -> (tick, qty step, min qty, max qty, max market qty, price scale, start price, max leverage, id)
_LINEAR: dict[str, tuple[Any, ...]] = {
    "BTCUSDT": (D("0.10"), D("0.001"), D("0.001"), D("1190"), D("500"), 2, D("65000.00"), "100.00", 5),
    "ETHUSDT": (D("0.01"), D("0.01"), D("0.01"), D("7240"), D("3620"), 2, D("3500.00"), "100.00", 6),
    "SOLUSDT": (D("0.010"), D("0.1"), D("0.1"), D("79770"), D("31900"), 3, D("150.000"), "100.00", 140),
    "XRPUSDT": (D("0.0001"), D("1"), D("1"), D("1080000"), D("380000"), 4, D("0.6000"), "75.00", 23),
    "DOGEUSDT": (D("0.00001"), D("1"), D("1"), D("12085000"), D("4800000"), 5, D("0.15000"), "75.00", 98),
}
# symbol -> (tick, base precision, min qty, max qty, max market qty, start price, id)
_SPOT: dict[str, tuple[Any, ...]] = {
    "BTCUSDT": (D("0.1"), D("0.000001"), D("0.000011"), D("83"), D("41.5"), D("65000.0"), 9),
    "ETHUSDT": (D("0.01"), D("0.00001"), D("0.00062"), D("1229.2"), D("614.6"), D("3500.00"), 10),
    "SOLUSDT": (D("0.01"), D("0.001"), D("0.014"), D("14000"), D("7000"), D("150.00"), 235),
    "XRPUSDT": (D("0.0001"), D("0.01"), D("3.41"), D("1000000"), D("500000"), D("0.6000"), 66),
    "DOGEUSDT": (D("0.00001"), D("0.1"), D("13.8"), D("6000000"), D("3000000"), D("0.15000"), 117),
}
# USDC perpetual symbol -> (tick, qty step, min qty, max qty, max market qty, start price, id): linear contracts
# settled in USDC (Bybit names them ``BTCPERP``), margined from the account's USDC; listed when named.
_USDC_LINEAR: dict[str, tuple[Any, ...]] = {
    "BTCPERP": (D("0.5"), D("0.001"), D("0.001"), D("500"), D("120"), D("65000.0"), 301),
    "ETHPERP": (D("0.05"), D("0.01"), D("0.01"), D("5000"), D("1200"), D("3500.00"), 302),
}
# inverse perpetual symbol -> (tick, qty step (contracts of 1 USD), max qty, start price, id); served only
# when "inverse" is among the configured categories, for the symbols named (``BTCUSD``) or the USDT symbols
# whose base coin is listed here (``BTCUSDT`` -> ``BTCUSD``).
_INVERSE: dict[str, tuple[Any, ...]] = {
    "BTCUSD": (D("0.50"), D("1"), D("1000000"), D("65000.00"), 1),
    "ETHUSD": (D("0.05"), D("1"), D("1000000"), D("3500.00"), 2),
}


def _linear(symbol: str) -> Instrument:
    tick, step, min_qty, max_qty, max_mkt, scale, start, lev, sid = _LINEAR[symbol]
    base = symbol.removesuffix("USDT")
    return Instrument(
        symbol,
        "linear",
        base,
        "USDT",
        "USDT",
        tick,
        step,
        min_qty,
        max_qty,
        D("5"),
        scale,
        start,
        max_mkt,
        lev,
        sid,
    )


def _usdc_linear(symbol: str) -> Instrument:
    tick, step, min_qty, max_qty, max_mkt, start, sid = _USDC_LINEAR[symbol]
    base = symbol.removesuffix("PERP")
    return Instrument(
        symbol,
        "linear",
        base,
        "USDC",
        "USDC",
        tick,
        step,
        min_qty,
        max_qty,
        D("5"),
        places_of(tick),
        start,
        max_mkt,
        "100.00",
        sid,
    )


def _spot(symbol: str) -> Instrument:
    tick, step, min_qty, max_qty, max_mkt, start, sid = _SPOT[symbol]
    base = symbol.removesuffix("USDT")
    scale = places_of(tick)
    return Instrument(
        symbol,
        "spot",
        base,
        "USDT",
        "USDT",
        tick,
        step,
        min_qty,
        max_qty,
        D("5"),
        scale,
        start,
        max_mkt,
        "",
        sid,
    )


def _inverse(symbol: str) -> Instrument:
    tick, step, max_qty, start, sid = _INVERSE[symbol]
    base = symbol.removesuffix("USD")
    return Instrument(
        symbol,
        "inverse",
        base,
        "USD",
        base,
        tick,
        step,
        step,
        max_qty,
        D("0"),
        2,
        start,
        max_qty,
        "100.00",
        sid,
    )


def known_symbols(category: str | None = None) -> list[str]:
    """Every symbol the local exchange can list (``--symbols`` must pick from these), or those of one category."""
    tables = {"linear": [_LINEAR, _USDC_LINEAR], "spot": [_SPOT], "inverse": [_INVERSE]}
    chosen = tables.get(category, []) if category else [table for group in tables.values() for table in group]
    return sorted({symbol for table in chosen for symbol in table})


def watchable_symbols(category: str, beside: tuple[str, ...]) -> list[str]:
    """What a desk of ``category`` watching ``beside`` may add while running: the symbols settled like those (a USDT
    desk is not handed the USDC perpetuals, each with a wallet of its own, that it never asked for)."""
    tables = {"linear": [_LINEAR, _USDC_LINEAR], "spot": [_SPOT], "inverse": [_INVERSE]}.get(category, [])
    return sorted({symbol for table in tables if any(name in table for name in beside) for symbol in table})


def inverse_symbol(symbol: str) -> str | None:
    """The inverse perpetual of a symbol's base coin (``BTCUSDT`` or ``BTCUSD`` -> ``BTCUSD``), if listed."""
    inverse = symbol if symbol in _INVERSE else symbol.removesuffix("USDT") + "USD"
    return inverse if inverse in _INVERSE else None


def build_instruments(
    symbols: Iterable[str] = DEFAULT_SYMBOLS, categories: Iterable[str] = DEFAULT_CATEGORIES
) -> list[Instrument]:
    """The instruments for the chosen symbols in the chosen categories.

    Raises :class:`UnknownSymbol` for a symbol the simulator cannot list and ``ValueError`` for a category it
    does not serve. Inverse instruments are the inverse symbols named and follow the base coins of the chosen
    USDT symbols (``BTCUSDT`` -> ``BTCUSD``), each listed once.
    """
    symbols = [s.strip() for s in symbols if s.strip()]
    categories = list(categories)
    for category in categories:
        if category not in CATEGORIES:
            raise ValueError(f"unknown category {category!r} (choose from {', '.join(CATEGORIES)})")
    for symbol in symbols:
        if all(symbol not in table for table in (_LINEAR, _USDC_LINEAR, _SPOT, _INVERSE)):
            raise UnknownSymbol(symbol)
    out: list[Instrument] = []
    for category in categories:
        for symbol in symbols:
            if category == "linear" and symbol in _LINEAR:
                out.append(_linear(symbol))
            elif category == "linear" and symbol in _USDC_LINEAR:
                out.append(_usdc_linear(symbol))
            elif category == "spot" and symbol in _SPOT:
                out.append(_spot(symbol))
            elif category == "inverse":
                inverse = inverse_symbol(symbol)
                if inverse is not None and all(i.symbol != inverse or i.category != "inverse" for i in out):
                    out.append(_inverse(inverse))
    return out
