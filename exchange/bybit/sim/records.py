"""What the simulated account holds: positions, orders, executions and the account's terms (fees, margins).

Plain data, so the account (money), the matching engine (orders) and :mod:`exchange.bybit.sim.wire` (Bybit's
shapes) can share them without importing each other. Amounts are exact ``Decimal``; the wire text is made only
in :mod:`exchange.bybit.sim.wire`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

from exchange.bybit.sim.instruments import Instrument

ZERO = Decimal(0)
MONEY_PLACES = 8
_MONEY_QUANTUM = Decimal(1).scaleb(-MONEY_PLACES)
SETTLE_COIN = "USDT"
STARTING_BALANCE = Decimal("100000")
DEFAULT_LEVERAGE = Decimal(10)
MAINTENANCE_MARGIN_RATE = Decimal("0.005")
RISK_LIMIT_VALUE = "2000000"
MAKER_FEE_RATE = {"linear": Decimal("0.0002"), "inverse": Decimal("0.0002"), "spot": Decimal("0.001")}
TAKER_FEE_RATE = {"linear": Decimal("0.00055"), "inverse": Decimal("0.00055"), "spot": Decimal("0.001")}
COIN_STARTING_BALANCES = {"BTC": Decimal("1"), "ETH": Decimal("10"), "USDC": Decimal("10000")}
"""The demo account's coin wallets besides USDT, which margin and settle the inverse contracts (BTCUSD in BTC,
...) and the USDC perpetuals (BTCPERP)."""
USD_COINS = frozenset({"USDT", "USDC"})
"""Coins worth one USD in the account's totals."""
ONE = Decimal(1)
INVERSE_RISK_LIMIT_VALUE = "150"
MAX_EXECUTIONS = 100_000
"""Fills kept for ``execution/list``; older ones are forgotten (Bybit keeps two years, we keep a bound)."""
OPEN_STATUSES = frozenset({"New", "PartiallyFilled", "Untriggered"})


def contract_value(category: str, qty: Decimal, price: Decimal) -> Decimal:
    """What ``qty`` at ``price`` is worth in the settle coin: ``qty x price`` for linear and spot, and
    ``qty / price`` for inverse, whose contracts are 1 USD each and whose money is the base coin."""
    if category == "inverse":
        return qty / price if price else ZERO
    return qty * price


def money(value: Decimal) -> Decimal:
    """Round an amount of coin to 8 places, the precision the wallet keeps."""
    return value.quantize(_MONEY_QUANTUM, rounding=ROUND_HALF_UP)


class Rejection(Exception):
    """A request the exchange refuses, carrying Bybit's ``retCode`` and ``retMsg``."""

    def __init__(self, ret_code: int, ret_msg: str) -> None:
        super().__init__(f"{ret_code} {ret_msg}")
        self.ret_code = ret_code
        self.ret_msg = ret_msg


@dataclass
class Position:
    """A one-way position; ``size`` is signed (shorts are negative) and ``avg_price`` excludes fees.

    Linear sizes are in the base coin and money in USDT; inverse sizes are in contracts of 1 USD and money in
    the settle coin, so value is ``size / price`` and P&L ``size x (1/entry - 1/mark)``.
    """

    category: str
    symbol: str
    created_ms: int
    updated_ms: int
    seq: int
    size: Decimal = ZERO
    avg_price: Decimal = ZERO
    leverage: Decimal = DEFAULT_LEVERAGE
    cum_realised: Decimal = ZERO
    cur_realised: Decimal = ZERO

    @property
    def side(self) -> str:
        return "Buy" if self.size > 0 else "Sell" if self.size < 0 else ""

    @property
    def value(self) -> Decimal:
        """Position value at entry, as Bybit's ``positionValue``."""
        return contract_value(self.category, abs(self.size), self.avg_price)

    def unrealised(self, mark: Decimal) -> Decimal:
        if self.category == "inverse":
            if not self.avg_price or not mark:
                return ZERO
            return self.size * (1 / self.avg_price - 1 / mark)
        return (mark - self.avg_price) * self.size

    def initial_margin(self) -> Decimal:
        return self.value / self.leverage

    def maintenance_margin(self) -> Decimal:
        return self.value * MAINTENANCE_MARGIN_RATE

    def reducible_by(self, side: str) -> Decimal:
        """How much an order of ``side`` can take off this position (zero when it would add to it)."""
        return abs(self.size) if self.size != 0 and (self.size > 0) != (side == "Buy") else ZERO

    def liquidation_price(self, instrument: Instrument) -> Decimal | None:
        """Isolated-style liquidation price: entry moved by the margin fraction minus the maintenance rate.

        The real UNIFIED cross-margin figure depends on the whole wallet and would sit far away (or vanish)
        for a 100k demo wallet; this one moves with the position, which is what a desk wants to watch.
        """
        if self.size == 0:
            return None
        fraction = 1 / self.leverage - MAINTENANCE_MARGIN_RATE
        tick = instrument.tick_size
        if self.category == "inverse":
            return self._inverse_liquidation_price(fraction, tick)
        if self.size > 0:
            raw = self.avg_price * (1 - fraction)
            return max(tick, (raw / tick).to_integral_value(rounding=ROUND_CEILING) * tick)
        raw = self.avg_price * (1 + fraction)
        return (raw / tick).to_integral_value(rounding=ROUND_FLOOR) * tick

    def _inverse_liquidation_price(self, fraction: Decimal, tick: Decimal) -> Decimal | None:
        """Bybit's isolated inverse formula: ``entry / (1 + IM rate - MM rate)`` long, ``1 - ...`` short.

        A short at 1x never liquidates (the coin it holds covers any rise): no price.
        """
        if self.size > 0:
            raw = self.avg_price / (1 + fraction)
            return max(tick, (raw / tick).to_integral_value(rounding=ROUND_CEILING) * tick)
        if fraction >= 1:
            return None
        raw = self.avg_price / (1 - fraction)
        return (raw / tick).to_integral_value(rounding=ROUND_FLOOR) * tick


@dataclass(frozen=True)
class Execution:
    """One fill or funding payment, as ``execution/list`` and the ``execution`` topic show it."""

    n: int  # position in the account's history: the paging cursor
    category: str
    symbol: str
    exec_type: str  # "Trade" | "Funding"
    exec_id: str
    order_id: str
    order_link_id: str
    side: str
    order_type: str
    order_price: str
    order_qty: str
    leaves_qty: str
    exec_price: Decimal
    exec_qty: Decimal
    exec_value: Decimal
    exec_fee: Decimal
    fee_rate: Decimal
    exec_pnl: Decimal
    closed_size: Decimal
    is_maker: bool
    exec_time_ms: int
    seq: int
    mark_price: Decimal
    index_price: Decimal
    create_type: str
    instrument: Instrument = field(repr=False, compare=False)
    corrupt: tuple[tuple[str, Any], ...] = field(default=(), compare=False)  # fields shown wrong (a fault)


@dataclass
class Order:
    """One order of the demo account, with the cumulative figures Bybit reports."""

    order_id: str
    order_link_id: str
    category: str
    symbol: str
    side: str
    order_type: str
    time_in_force: str
    price: Decimal
    qty: Decimal
    reduce_only: bool
    created_ms: int
    updated_ms: int
    last_price_on_created: Decimal
    instrument: Instrument
    seq: int
    status: str = "New"
    cancel_type: str = "UNKNOWN"
    reject_reason: str = "EC_NoError"
    cum_exec_qty: Decimal = ZERO
    cum_exec_value: Decimal = ZERO
    cum_exec_fee: Decimal = ZERO
    closed_pnl: Decimal = ZERO

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def leaves_qty(self) -> Decimal:
        return self.qty - self.cum_exec_qty if self.is_open else ZERO

    @property
    def avg_price(self) -> Decimal:
        """The volume-weighted fill price; for inverse, contracts over coin (the harmonic mean)."""
        if not self.cum_exec_qty or not self.cum_exec_value:
            return ZERO
        if self.category == "inverse":
            return self.cum_exec_qty / self.cum_exec_value
        return self.cum_exec_value / self.cum_exec_qty


@dataclass(frozen=True, kw_only=True)
class MarginFigures:
    """A wallet's money at one instant, in its coin, before rounding for the wire."""

    wallet_balance: Decimal
    cum_realised: Decimal
    unrealised: Decimal
    position_im: Decimal
    position_mm: Decimal
    order_im: Decimal

    @property
    def equity(self) -> Decimal:
        return self.wallet_balance + self.unrealised

    @property
    def initial_margin(self) -> Decimal:
        return self.position_im + self.order_im

    @property
    def available(self) -> Decimal:
        """Margin balance minus every initial margin in use: what a new order may commit."""
        return self.equity - self.initial_margin


@dataclass(frozen=True, kw_only=True)
class CoinFigures(MarginFigures):
    """One settle coin's own wallet (inverse, USDC), with its USD price for the totals."""

    coin: str
    usd_price: Decimal


@dataclass(frozen=True, kw_only=True)
class WalletFigures(MarginFigures):
    """The UNIFIED wallet's figures (USD = USDT); ``coins`` are the other settle coins' wallets, which the account
    totals add at their USD value."""

    coins: tuple[CoinFigures, ...] = ()
