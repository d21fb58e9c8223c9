"""The per-symbol P&L ledger: Fluxum's entry, with exact money and real shorts.

Why it looks like this (docs/architecture.md, "The ledger"):

* Fluxum's 25 entry fields keep their names so its CSV reads the same as the OCaml Fluxum's, with a signed
  position (shorts and flips are first-class), fees charged once on the real fill, rebates as negative fees, no
  synthetic legs for a crossing trade, and flat meaning exactly zero.
* Money is :class:`~decimal.Decimal` from Bybit's strings. The primary state is the signed cost basis ``K``
  (the opening ``qty * price`` still open, reduced pro rata on partial closes) and the cumulative price cash
  ``C`` (``-side * qty * price`` summed over every fill). Realized P&L is ``C + K`` and unrealized P&L is
  ``spot * position - K``, so ``pnl == realized - fees - funding + unrealized == notional + position * spot``
  holds by construction, exactly.
* A pro-rata reduction of ``K`` may not terminate (buy 1 @ 100, buy 2 @ 101, sell 1): it is the one place
  where a linear value is rounded, to 18 decimal places (:data:`RESIDUE_QUANTUM`), far below any Bybit tick times
  qty step. Both P&L halves derive from that same rounded ``K``, so the identities stay exact and every sum
  of the ledger's values stays a short, exactly representable decimal.
* Like Bybit's ``avgPrice``, ``running_price`` and ``cost_basis`` exclude fees (fees live in ``fees``). That
  is the one deliberate difference from the OCaml figures.

Inverse (coin-margined) contracts (:class:`ContractKind`), ``BTCUSD`` and the like: quantities are contracts of
one USD, every money field is in the settle coin (BTC), as Bybit computes them. A fill's value is
``v = qty / price`` in coin (Bybit's ``execValue``), rounded to :data:`RESIDUE_QUANTUM` once, when the fill is
applied: ``1/price`` rarely terminates, and every sum below is of those same rounded values, so the identities
stay exact. ``K`` is the signed value of the open contracts at entry (``sum of contracts / price``, reduced pro
rata like the linear ``K``), so ``running_price = position / K`` is Bybit's harmonic average entry; the coin
cash is ``C = sum of side * v`` (a buy books ``+v``); realized P&L is ``C - K``, which on a close is
``qty * (1/entry - 1/exit)`` for a long and mirrored for a short; ``pnl_spot = -position / spot`` (rounded
likewise) is what closing at the spot would add to ``C``, so unrealized P&L is ``K + pnl_spot =
position * (1/entry - 1/spot)`` and ``pnl == realized - fees - funding + unrealized == notional + pnl_spot``
holds exactly, as for linear. ``buy_notional``/``sell_notional``/``package_price`` are coin values and the
average prices are harmonic (contracts over coin value). Fees and funding are Bybit's ``execFee``, in the coin.
"""

from __future__ import annotations

import csv
import logging
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    localcontext,
)
from enum import StrEnum
from operator import attrgetter
from typing import TYPE_CHECKING, TextIO

from exchange.book import BookState

if TYPE_CHECKING:
    from exchange.book import OrderBook

__all__ = [
    "CONTRACT_COLUMNS",
    "CSV_COLUMNS",
    "FORMULA_TRIGGERS",
    "FUNDING_EXEC_TYPE",
    "HISTORY_KEPT",
    "MONEY_CONTEXT",
    "POSITION_EXEC_TYPES",
    "RESIDUE_QUANTUM",
    "ContractKind",
    "Fill",
    "Ledger",
    "LedgerEntry",
    "MarkSource",
    "UpdateSource",
    "csv_header",
    "csv_text",
    "execution_order",
    "fill_problem",
    "format_decimal",
    "write_csv",
]

log = logging.getLogger(__name__)

MONEY_CONTEXT = Context(prec=60, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow])
"""Where the ledger computes: 60 digits, so sums of Bybit's short decimals never round."""

RESIDUE_QUANTUM = Decimal("1e-18")
"""Quotients that may not terminate (pro-rata cost basis, averages, an inverse fill's ``qty / price`` and its
position's ``position / spot``) are rounded to this, and only those: 1e-10 of a satoshi."""

FUNDING_EXEC_TYPE = "Funding"
POSITION_EXEC_TYPES = frozenset(
    {"Trade", "AdlTrade", "BustTrade", "BlockTrade", "Delivery", "MovePosition", "FutureSpread"}
)
"""Bybit ``execType`` values that move the position. Others (``Settle``, ``CorporateAction``, ``UNKNOWN`` ...)
carry at most a fee: it is charged, the position is left alone."""

HISTORY_KEPT = 10_000
"""Fills kept per symbol to replay exactly when an older one arrives late (a backfill behind the live stream, a
late push: minutes of fills at most). Older ones are folded into the symbol's base sums, so a desk that runs for
months holds a bounded ledger; a fill older than everything kept is applied just after the base (counted)."""
SUMS_EVERY = 1_000
"""A copy of the running sums is taken every this many history items (a tenth of the kept history when that is
smaller), so folding costs no recomputation."""

_ZERO = Decimal(0)
_SIDES = {"Buy": 1, "Sell": -1}


_SUM_FIELDS = (
    "position",
    "cost",
    "price_cash",
    "fees",
    "funding",
    "buy_qty",
    "sell_qty",
    "buy_notional",
    "sell_notional",
)
"""The money of a symbol's ledger at one point of its history, what a replay starts from: these fields of
:class:`_SymbolLedger`, as a tuple in this order."""
_Sums = tuple[Decimal, ...]
_NOTHING: _Sums = (_ZERO,) * len(_SUM_FIELDS)
_read_sums = attrgetter(*_SUM_FIELDS)


class MarkSource(StrEnum):
    """Where the entry's ``spot`` came from, shown next to the P&L so a desk knows how much to trust it."""

    MARK_PRICE = "mark_price"  # Bybit ticker markPrice
    BEST_BID = "best_bid"  # a long marked where it would close
    BEST_ASK = "best_ask"  # a short marked where it would close
    MID = "mid"  # flat: nothing would close, show the middle
    LAST_FILL = "last_fill"  # the fill price, until the next mark
    EXTERNAL = "external"  # given by the user (``--mark``)


class ContractKind(StrEnum):
    """How a symbol's money is counted: ``linear`` (USDT/USDC contracts and spot: quantity in the base coin, money
    in the quote coin, P&L ``qty * (exit - entry)``) or ``inverse`` (coin-margined: quantity in contracts of one
    USD, money in the base coin, P&L ``qty * (1/entry - 1/exit)``). The reader of the exchange's records decides
    it (:mod:`exchange.bybit.executions`); a symbol keeps the kind of its first fill."""

    LINEAR = "linear"
    INVERSE = "inverse"


class UpdateSource(StrEnum):
    """What produced an entry version, in Fluxum's spelling (it is what the CSV says)."""

    Market_data = "Market_data"
    Trade = "Trade"
    Funding = "Funding"
    External_trade = "External_trade"


@dataclass(frozen=True, slots=True)
class Fill:
    """One Bybit execution, as the ledger needs it; ``fee`` is signed (a maker rebate is negative).

    ``exec_type`` is Bybit's string: ``Trade`` and the other :data:`POSITION_EXEC_TYPES` move the position,
    ``Funding`` only moves cash (``fee`` is the funding paid, negative when received). ``contract`` says how the
    money is counted and ``settle_coin`` names the coin it is in (``""`` when unknown); ``fee`` is in that coin.
    """

    exec_id: str
    symbol: str
    side: str
    qty: Decimal
    price: Decimal
    fee: Decimal
    time_ms: int
    exec_type: str = "Trade"
    order_id: str = ""
    order_link_id: str = ""
    is_maker: bool | None = None
    seq: int | None = None  # Bybit's cross sequence: which position updates already hold this fill
    contract: ContractKind = ContractKind.LINEAR
    settle_coin: str = field(default="", compare=False)  # a name, read from the symbol: not the fill's identity

    @property
    def is_funding(self) -> bool:
        return self.exec_type == FUNDING_EXEC_TYPE

    @property
    def moves_position(self) -> bool:
        return self.exec_type in POSITION_EXEC_TYPES


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One version of a symbol's ledger: Fluxum's 25 fields (its names, its meaning) plus the P&L split.

    ``pnl`` is total P&L (cash plus marked position), ``notional`` the cumulative signed cash including fees
    and funding, ``pnl_spot`` the market value of the position. ``cost_basis`` is the signed cost of the open
    position (fees excluded) and ``running_price`` its average entry. ``price/side/qty/package_price``
    describe the last fill and are None after a mark. For an ``inverse`` contract every money field is in
    ``settle_coin`` and the quantities are contracts (see the module docstring for what each field reads).
    """

    symbol: str
    pnl: Decimal = _ZERO
    position: Decimal = _ZERO
    spot: Decimal = _ZERO
    pnl_spot: Decimal = _ZERO
    notional: Decimal = _ZERO
    avg_buy_price: Decimal = _ZERO
    avg_sell_price: Decimal = _ZERO
    avg_price: Decimal = _ZERO
    total_buy_qty: Decimal = _ZERO
    total_sell_qty: Decimal = _ZERO
    buy_notional: Decimal = _ZERO
    sell_notional: Decimal = _ZERO
    total_original: Decimal = _ZERO
    total_executed: Decimal = _ZERO
    total_remaining: Decimal = _ZERO
    cost_basis: Decimal = _ZERO
    running_price: Decimal = _ZERO
    running_qty: Decimal = _ZERO
    update_time: int = 0
    update_source: UpdateSource = UpdateSource.Market_data
    price: Decimal | None = None
    side: str | None = None
    qty: Decimal | None = None
    package_price: Decimal | None = None
    realized_pnl: Decimal = _ZERO
    unrealized_pnl: Decimal = _ZERO
    fees: Decimal = _ZERO
    funding: Decimal = _ZERO
    mark_source: MarkSource | None = None
    contract: ContractKind = ContractKind.LINEAR
    settle_coin: str = ""


def _settle(value: Decimal) -> Decimal:
    """Round a quotient to :data:`RESIDUE_QUANTUM` when it has more places (it may not terminate)."""
    exponent = value.as_tuple().exponent
    # A value with as many integer digits as the context keeps has no places left to round.
    if isinstance(exponent, int) and exponent < -18 and value.adjusted() + 18 < MONEY_CONTEXT.prec:
        return value.quantize(RESIDUE_QUANTUM, context=MONEY_CONTEXT)
    return value


def _ratio(numerator: Decimal, denominator: Decimal) -> Decimal:
    """``numerator / denominator`` for display values (averages), 0 when there is nothing to divide by."""
    if denominator == 0:
        return _ZERO
    return _settle(MONEY_CONTEXT.divide(numerator, denominator))


def execution_order(fill: Fill) -> tuple[int, int, str]:
    """The exchange's order of a symbol's fills: execTime, then Bybit's cross sequence (one taker order sweeping
    several levels makes fills of one millisecond, best level first), then execId so that the order is total.
    Average entry and realized P&L depend on it."""
    return (fill.time_ms, -1 if fill.seq is None else fill.seq, fill.exec_id)


def _sign(value: Decimal) -> int:
    return (value > 0) - (value < 0)


@dataclass(slots=True)
class _SymbolLedger:
    """The mutable state behind one symbol's entries; :meth:`entry` freezes it into a :class:`LedgerEntry`."""

    symbol: str
    position: Decimal = _ZERO
    cost: Decimal = _ZERO  # K: signed cost of the open position, fees excluded
    price_cash: Decimal = _ZERO  # C: sum of -side * qty * price over every position-moving fill
    fees: Decimal = _ZERO
    funding: Decimal = _ZERO
    buy_qty: Decimal = _ZERO
    sell_qty: Decimal = _ZERO
    buy_notional: Decimal = _ZERO
    sell_notional: Decimal = _ZERO
    spot: Decimal = _ZERO
    mark_source: MarkSource | None = None
    update_time: int = 0
    update_source: UpdateSource = UpdateSource.Market_data
    leg: tuple[Decimal, str, Decimal, Decimal] | None = None  # last fill: price, side, qty, package_price
    open_orders: tuple[Decimal, Decimal, Decimal] = (_ZERO, _ZERO, _ZERO)
    fill_count: int = 0
    # The state is always ``base`` with ``history`` applied in list order; ``sums_at`` holds (index, sums before
    # history[index]) every SUMS_EVERY items, so the oldest part of the history can be folded into the base.
    history: list[tuple[Fill, UpdateSource]] = field(default_factory=list)
    base: _Sums = _NOTHING
    base_order: tuple[int, int, str] | None = None  # execution_order() of the newest fill folded into the base
    sums_at: list[tuple[int, _Sums]] = field(default_factory=list)
    sums_every: int = SUMS_EVERY
    folded: bool = False  # some history went into the base: a leg can no longer go before all of it
    newest: tuple[int, int, str] | None = None  # execution_order() of the newest position-moving fill applied
    contract: ContractKind | None = None  # its first fill's; None until then
    settle_coin: str = ""

    def sums(self) -> _Sums:
        return _read_sums(self)

    @property
    def inverse(self) -> bool:
        return self.contract is ContractKind.INVERSE

    def value(self, qty: Decimal, price: Decimal) -> Decimal:
        """Money of ``qty`` at ``price``: ``qty * price`` (linear, exact), ``qty / price`` in coin (inverse,
        rounded to :data:`RESIDUE_QUANTUM`: the one rounding of a fill's value)."""
        if self.inverse:
            return _settle(MONEY_CONTEXT.divide(qty, price))
        return MONEY_CONTEXT.multiply(qty, price)

    def average(self, money: Decimal, qty: Decimal) -> Decimal:
        """The average price of ``qty`` worth ``money``: ``money / qty`` (linear), ``qty / money`` (inverse: the
        harmonic mean Bybit reports as an inverse ``avgPrice``); 0 when there is nothing to average."""
        return _ratio(qty, money) if self.inverse else _ratio(money, qty)

    def spot_value(self) -> Decimal:
        """What closing the position at the spot adds to the price cash: ``position * spot`` (linear),
        ``-position / spot`` in coin (inverse)."""
        if not self.inverse:
            return MONEY_CONTEXT.multiply(self.position, self.spot)
        if self.spot == 0:
            return _ZERO
        return -self.value(self.position, self.spot)

    def rebuilt(self, items: list[tuple[Fill, UpdateSource]], added: int = 0, keep: int = 0) -> _SymbolLedger:
        """A new state: this one's base and first ``keep`` history items as they are (``keep`` is 0 or an index
        with a copy of the sums), then ``items`` applied in order, ``added`` more fills counted. The latest
        external mark is kept: a replay changes the history, not the market."""
        rebuilt = _SymbolLedger(
            self.symbol,
            open_orders=self.open_orders,
            fill_count=self.fill_count + added,
            sums_every=self.sums_every,
            contract=self.contract,
            settle_coin=self.settle_coin,
        )
        rebuilt.base, rebuilt.base_order, rebuilt.folded = self.base, self.base_order, self.folded
        start = self.base if keep == 0 else next(sums for index, sums in self.sums_at if index == keep)
        for name, value in zip(_SUM_FIELDS, start, strict=True):
            setattr(rebuilt, name, value)
        rebuilt.history = self.history[:keep]
        rebuilt.sums_at = [(index, sums) for index, sums in self.sums_at if index < keep]
        for fill, source in items:
            rebuilt.apply(fill, source)
        if self.mark_source is not None and self.mark_source is not MarkSource.LAST_FILL:
            rebuilt.spot, rebuilt.mark_source = self.spot, self.mark_source
        rebuilt.update_time = max(rebuilt.update_time, self.update_time)
        if self.newest is not None and (rebuilt.newest is None or self.newest > rebuilt.newest):
            rebuilt.newest = self.newest  # a fill kept in place or folded into the base may be the newest
        return rebuilt

    def replayed_with(self, late: list[Fill]) -> _SymbolLedger:
        """This symbol's state as if the ``late`` fills had arrived in their place: external legs first (they stand
        for what was held before the history), then every fill in :func:`execution_order`, the order of the
        exchange's matching. Average entry and realized P&L depend on that order; cash sums do not. A late fill
        older than the base lands just after it, the nearest place left.

        Only the tail from the last copy of the sums before the oldest late fill's place is replayed: a fill a few
        minutes late costs about ``sums_every`` applies, not the whole history."""
        oldest = min(execution_order(fill) for fill in late)
        place = next(
            (
                index
                for index, (fill, source) in enumerate(self.history)
                if fill.moves_position and source is not UpdateSource.External_trade and execution_order(fill) > oldest
            ),
            len(self.history),
        )
        keep = max((index for index, _ in self.sums_at if index <= place), default=0)
        tail = self.history[keep:]
        external = [item for item in tail if item[1] is UpdateSource.External_trade]
        rest = [item for item in tail if item[1] is not UpdateSource.External_trade]
        rest += [(fill, UpdateSource.Trade) for fill in late]
        rest.sort(key=lambda item: execution_order(item[0]))
        return self.rebuilt(external + rest, added=len(late), keep=keep)

    def fold(self, keep: int) -> None:
        """Fold the history older than its newest ``keep`` items (to the nearest copy of the sums) into the base."""
        cut = max((index for index, _ in self.sums_at if index <= len(self.history) - keep), default=0)
        if cut <= 0:
            return
        self.base = next(sums for index, sums in self.sums_at if index == cut)
        self.folded = True
        for fill, source in self.history[:cut]:
            if fill.moves_position and source is not UpdateSource.External_trade:
                key = execution_order(fill)
                if self.base_order is None or key > self.base_order:
                    self.base_order = key
        del self.history[:cut]
        self.sums_at = [(index - cut, sums) for index, sums in self.sums_at if index >= cut]

    def _record(self, fill: Fill, source: UpdateSource, before: _Sums | None) -> None:
        if before is not None:
            self.sums_at.append((len(self.history), before))
        self.history.append((fill, source))

    def _sums_due(self) -> _Sums | None:
        return self.sums() if len(self.history) % self.sums_every == 0 else None

    def trade(self, fill: Fill, source: UpdateSource) -> None:
        """Apply a position-moving fill: grow, close (realizing against the average entry) or flip. Every new
        value is computed before any is stored, so an arithmetic error leaves the state as it was. The price
        cash moves against a linear buy (it pays quote coin) and with an inverse one (see the module docstring)."""
        sign = _SIDES[fill.side]
        qty, price = fill.qty, fill.price
        inverse = self.contract is ContractKind.INVERSE
        before = self._sums_due()
        with localcontext(MONEY_CONTEXT):
            package = _settle(qty / price) if inverse else qty * price  # as value(), inline: the hot path
            position, cost = self.position, self.cost
            if position == 0 or _sign(position) == sign:
                position += sign * qty
                cost += sign * package
            else:
                held = abs(position)
                closed = min(qty, held)
                left = held - closed
                # The open cost shrinks pro rata; a full close leaves exactly nothing.
                cost = _settle(cost * left / held) if left else _ZERO
                position += sign * closed
                opened = qty - closed
                if opened:  # a flip: the remainder opens a new position at the fill price
                    position = sign * opened
                    cost = sign * (_settle(opened / price) if inverse else opened * price)
            if position == 0:
                cost = _ZERO
            price_cash = self.price_cash + (sign if inverse else -sign) * package
            fees = self.fees + fill.fee
            if sign > 0:
                side_qty, side_notional = self.buy_qty + qty, self.buy_notional + package
            else:
                side_qty, side_notional = self.sell_qty + qty, self.sell_notional + package
        self.position, self.cost, self.price_cash, self.fees = position, cost, price_cash, fees
        if sign > 0:
            self.buy_qty, self.buy_notional = side_qty, side_notional
        else:
            self.sell_qty, self.sell_notional = side_qty, side_notional
        self.spot = price
        self.mark_source = MarkSource.LAST_FILL
        self.update_time = fill.time_ms
        self.update_source = source
        self.leg = (price, fill.side, qty, package)
        self._record(fill, source, before)
        if source is not UpdateSource.External_trade:
            key = execution_order(fill)
            if self.newest is None or key > self.newest:
                self.newest = key

    def fund(self, fill: Fill) -> None:
        """Funding moves cash only: ``fee`` is what was paid (negative when received)."""
        before = self._sums_due()
        with localcontext(MONEY_CONTEXT):
            self.funding += fill.fee
        self.update_time = fill.time_ms
        self.update_source = UpdateSource.Funding
        self.leg = None
        self._record(fill, UpdateSource.Funding, before)

    def charge(self, fill: Fill) -> None:
        """An execution type that moves no position (``Settle`` ...): only its fee counts."""
        before = self._sums_due()
        with localcontext(MONEY_CONTEXT):
            self.fees += fill.fee
        self.update_time = fill.time_ms
        self.update_source = UpdateSource.Trade
        self.leg = None
        self._record(fill, UpdateSource.Trade, before)

    def apply(self, fill: Fill, source: UpdateSource) -> None:
        if fill.is_funding:
            self.fund(fill)
        elif fill.moves_position:
            self.trade(fill, source)
        else:
            self.charge(fill)

    def mark(self, price: Decimal, source: MarkSource, time_ms: int) -> None:
        self.spot = price
        self.mark_source = source
        self.update_time = time_ms
        self.update_source = UpdateSource.Market_data
        self.leg = None

    def entry(self) -> LedgerEntry:
        with localcontext(MONEY_CONTEXT):
            position, cost = self.position, self.cost
            pnl_spot = self.spot_value()
            notional = self.price_cash - self.fees - self.funding
            total_qty = self.buy_qty + self.sell_qty
            price, side, qty, package = self.leg if self.leg is not None else (None, None, None, None)
            signed_cost = -cost if self.inverse else cost  # what realized P&L adds back: C + K, or C - K
            return LedgerEntry(
                symbol=self.symbol,
                pnl=notional + pnl_spot,
                position=position,
                spot=self.spot,
                pnl_spot=pnl_spot,
                notional=notional,
                avg_buy_price=self.average(self.buy_notional, self.buy_qty),
                avg_sell_price=self.average(self.sell_notional, self.sell_qty),
                avg_price=self.average(self.buy_notional + self.sell_notional, total_qty),
                total_buy_qty=self.buy_qty,
                total_sell_qty=self.sell_qty,
                buy_notional=self.buy_notional,
                sell_notional=self.sell_notional,
                total_original=self.open_orders[0],
                total_executed=self.open_orders[1],
                total_remaining=self.open_orders[2],
                cost_basis=cost,
                running_price=self.average(cost, position),
                running_qty=position,
                update_time=self.update_time,
                update_source=self.update_source,
                price=price,
                side=side,
                qty=qty,
                package_price=package,
                realized_pnl=self.price_cash + signed_cost,
                unrealized_pnl=pnl_spot - signed_cost,
                fees=self.fees,
                funding=self.funding,
                mark_source=self.mark_source,
                contract=self.contract or ContractKind.LINEAR,
                settle_coin=self.settle_coin,
            )


_LARGEST_ADJUSTED = 40
_SMALLEST_ADJUSTED = -100


def _computable(*values: Decimal) -> bool:
    """Finite decimals the ledger's arithmetic takes without overflow, underflow or absurd slowness: from 1e-100
    (a zero's exponent too) to below 1e41. (Readers hold numbers to a far narrower range, :mod:`exchange.numbers`;
    this is the ledger's own guard, whoever built the fill.)"""
    for value in values:
        if not isinstance(value, Decimal) or not value.is_finite():
            return False
        if not _SMALLEST_ADJUSTED <= value.adjusted() <= _LARGEST_ADJUSTED:
            return False
    return True


def fill_problem(fill: Fill) -> str | None:
    """Why the ledger cannot take this fill, or None; the ledger never raises on a bad fill."""
    if not fill.exec_id:
        return "no execId"
    if not fill.symbol:
        return "no symbol"
    if not _computable(fill.qty, fill.price, fill.fee):
        return "qty, price and fee must be finite decimals of a sane size"
    if fill.moves_position:
        if fill.side not in _SIDES:
            return f"side {fill.side!r} is neither Buy nor Sell"
        if fill.qty <= 0:
            return f"qty {fill.qty} is not positive"
        if fill.price <= 0:
            return f"price {fill.price} is not positive"
    return None


def _leg_price(state: _SymbolLedger, avg_price: Decimal) -> Decimal:
    """The price of an external leg: the exchange's ``avgPrice``, else (a flat position reports 0) the first kept
    fill's price, else the spot; zero when none is known."""
    if avg_price > 0:
        return avg_price
    trades = [fill for fill, _ in state.history if fill.moves_position]
    return trades[0].price if trades else state.spot


def _external_leg(state: _SymbolLedger, missing: Decimal, price: Decimal, time_ms: int) -> Fill:
    """The fill that stands for ``missing`` (signed), held before the symbol's history began."""
    return Fill(
        exec_id=f"external:{state.symbol}:{time_ms}:{len(state.history)}",
        symbol=state.symbol,
        side="Buy" if missing > 0 else "Sell",
        qty=abs(missing),
        price=price,
        fee=_ZERO,
        time_ms=time_ms,
        contract=state.contract or ContractKind.LINEAR,
        settle_coin=state.settle_coin,
    )


def _with_leg_first(state: _SymbolLedger, leg: Fill, time_ms: int) -> _SymbolLedger:
    """The symbol's state with ``leg`` placed before its history and the history replayed on top; the latest mark
    is kept (the leg is old news, the spot is not). Raises ArithmeticError when the sums cannot be computed."""
    rebuilt = state.rebuilt([(leg, UpdateSource.External_trade), *state.history])
    if state.mark_source is not None:
        rebuilt.spot, rebuilt.mark_source = state.spot, state.mark_source
    rebuilt.update_time = max(time_ms, rebuilt.update_time)
    rebuilt.update_source = UpdateSource.External_trade
    rebuilt.leg = (leg.price, leg.side, leg.qty, rebuilt.value(leg.qty, leg.price))
    return rebuilt


class Ledger:
    """Every symbol's ledger, fed by fills (keyed by ``execId``) and marks.

    Each change returns the symbol's new :class:`LedgerEntry`; ``version`` increases on every change so a
    widget can repaint only when something moved. Bad fills are counted in ``rejected`` and logged,
    duplicates in ``duplicates``; neither raises. The result does not depend on the order fills arrive in: one
    older than a fill already applied replays its symbol in execution order (counted in ``reordered``), as far
    back as the newest ``history_kept`` fills of the symbol (a little more: history folds in steps of
    ``sums_every``); one older still (``beyond_history``) is applied just before them, after the folded base,
    which keeps every sum exact and may move realized P&L between its lots. The same holds for an external leg
    booked once the history was folded (``legs_after_base``); see :meth:`hold_history` for the start.
    """

    def __init__(self, history_kept: int = HISTORY_KEPT) -> None:
        if history_kept < 1:
            raise ValueError("history_kept must be at least 1")
        self.history_kept = history_kept
        self._sums_every = max(1, min(SUMS_EVERY, history_kept // 10))
        self._symbols: dict[str, _SymbolLedger] = {}
        self._entries: dict[str, LedgerEntry] = {}
        self._seen: set[str] = set()
        self.duplicates = 0
        self.rejected = 0
        self.reordered = 0  # fills that arrived older than one already applied: the symbol was replayed in order
        self.beyond_history = 0  # late fills older than every kept fill of their symbol
        self.legs_after_base = 0  # external legs that could not go before all of their symbol's history
        self._held = False
        self.version = 0

    # ------------------------------------------------------------------ changes

    def hold_history(self) -> None:
        """Fold nothing until :meth:`release_history`. A start replays the journal holding every fill, so that the
        position reconcile that follows places a leg for what was held before the journal began before all of
        them: every start then gives the same ledger, whatever the journal's length."""
        self._held = True

    def release_history(self) -> None:
        self._held = False
        for state in self._symbols.values():
            self._fold(state)

    def _fold(self, state: _SymbolLedger) -> None:
        if not self._held and len(state.history) >= self.history_kept + state.sums_every:
            state.fold(self.history_kept)

    def _state(self, symbol: str) -> _SymbolLedger:
        state = self._symbols.get(symbol)
        if state is None:
            state = self._symbols[symbol] = _SymbolLedger(symbol, sums_every=self._sums_every)
        return state

    def _publish(self, state: _SymbolLedger) -> LedgerEntry:
        entry = self._entries[state.symbol] = state.entry()
        self.version += 1
        return entry

    def apply_fill(self, fill: Fill) -> LedgerEntry | None:
        """Apply one execution; None when its ``execId`` was already applied (or the fill was rejected)."""
        applied = self.apply_fills([fill])
        return applied[0][1] if applied else None

    def apply_fills(self, fills: list[Fill]) -> list[tuple[Fill, LedgerEntry]]:
        """Apply a batch of executions; returns those applied (not duplicates, not rejected), each with its
        symbol's entry after the batch.

        A fill older than one its symbol already applied (a live push overtook the backfill, a push came late)
        must not make the money depend on arrival order: the symbol is replayed in execution order, once per
        batch however many of its fills are late, so a backfill behind a live stream costs one replay. Each
        symbol's entry is frozen once, after the batch (freezing is most of a fill's cost: a journal replay at
        start is one batch).
        """
        applied: list[Fill] = []
        late: dict[str, list[Fill]] = {}
        touched: dict[str, None] = {}  # symbols in the order first touched
        for fill in fills:
            if fill.exec_id in self._seen:
                self.duplicates += 1
                log.debug("duplicate execution %s ignored", fill.exec_id)
                continue
            problem = fill_problem(fill)
            if problem is not None:
                self._reject(fill, problem)
                continue
            state = self._state(fill.symbol)
            if state.contract is None:
                state.contract, state.settle_coin = fill.contract, fill.settle_coin
            elif fill.contract is not state.contract:
                self._reject(fill, f"it is {fill.contract.value}, its symbol's history is {state.contract.value}")
                continue
            if fill.moves_position and state.newest is not None and execution_order(fill) < state.newest:
                if state.base_order is not None and execution_order(fill) < state.base_order:
                    self.beyond_history += 1
                    log.warning(
                        "execution %s of %s is older than every fill kept for replays: applied before them",
                        fill.exec_id,
                        fill.symbol,
                    )
                late.setdefault(fill.symbol, []).append(fill)
            else:
                try:
                    state.apply(fill, UpdateSource.Trade)  # changes nothing when it raises
                except ArithmeticError as error:
                    self._reject(fill, f"its sums cannot be computed ({type(error).__name__})")
                    continue
                state.fill_count += 1
                touched[fill.symbol] = None
            self._seen.add(fill.exec_id)
            applied.append(fill)
        self._replay_late(late, applied, touched)
        for symbol in touched:
            state = self._symbols[symbol]
            self._fold(state)
            self._publish(state)
        return [(fill, self._entries[fill.symbol]) for fill in applied]

    def _replay_late(self, late: dict[str, list[Fill]], applied: list[Fill], touched: dict[str, None]) -> None:
        """Replay each symbol with its late fills in execution order, and mark it ``touched``. A replay that cannot
        be computed leaves the symbol as it was and rejects its late fills (taken out of ``applied``)."""
        for symbol, fills_of_symbol in late.items():
            try:
                self._symbols[symbol] = self._symbols[symbol].replayed_with(fills_of_symbol)
            except ArithmeticError as error:
                for fill in fills_of_symbol:
                    self._reject(fill, f"its symbol's replay cannot be computed ({type(error).__name__})")
                    self._seen.discard(fill.exec_id)
                    applied.remove(fill)
                continue
            self.reordered += len(fills_of_symbol)
            touched[symbol] = None

    def _reject(self, fill: Fill, why: str) -> None:
        self.rejected += 1
        log.warning("execution %r for %r rejected: %s", fill.exec_id[:80], fill.symbol[:40], why)

    def mark(self, symbol: str, price: Decimal, source: MarkSource, time_ms: int) -> LedgerEntry:
        """Mark the symbol's position at ``price`` (an unseen symbol gets a flat entry with that spot)."""
        if not _computable(price) or price <= 0:
            raise ValueError(f"a mark must be a positive decimal of a sane size, not {str(price)[:40]!r}")
        state = self._state(symbol)
        state.mark(price, source, time_ms)
        return self._publish(state)

    def set_open_orders(
        self, symbol: str, total_original: Decimal, total_executed: Decimal, total_remaining: Decimal
    ) -> LedgerEntry:
        """Record the summary of the symbol's *open* orders (sums of qty, cumExecQty, leavesQty)."""
        state = self._state(symbol)
        state.open_orders = (total_original, total_executed, total_remaining)
        return self._publish(state)

    def reconcile_position(
        self,
        symbol: str,
        size_signed: Decimal,
        avg_price: Decimal,
        time_ms: int,
        *,
        contract: ContractKind | None = None,
        settle_coin: str = "",
    ) -> LedgerEntry | None:
        """Make the ledger hold the exchange's position when the fetched history does not explain it.

        The difference becomes an ``External_trade`` leg placed *before* the symbol's history (it is what was
        held before the fetched window started; once the history was folded, before the part still kept, and
        counted in ``legs_after_base``), priced at the exchange's ``avgPrice``; the history is replayed on top.
        When the exchange reports no price (a flat position has ``avgPrice`` 0) the leg takes the first kept
        fill's price, so the unknown lot realizes nothing. None when nothing differs (or it cannot be booked:
        counted in ``rejected`` and logged). ``contract`` and ``settle_coin`` count a symbol the ledger has no
        fill of yet (an inverse position's ``avgPrice`` is already Bybit's harmonic entry); a symbol with fills
        keeps its own.
        """
        state = self._state(symbol)
        if state.contract is None and contract is not None:
            state.contract, state.settle_coin = contract, settle_coin
        if not _computable(size_signed, avg_price):
            self._not_reconciled(symbol, f"size {size_signed!r}, avgPrice {avg_price!r} rejected")
            return None
        with localcontext(MONEY_CONTEXT):
            missing = size_signed - state.position
        if missing == 0:
            return None
        price = _leg_price(state, avg_price)
        if price <= 0:
            self._not_reconciled(symbol, f"no price for the missing {missing}")
            return None
        leg = _external_leg(state, missing, price, time_ms)
        if state.folded:
            self.legs_after_base += 1
            log.info("%s: history already folded: the external leg goes after its base", symbol)
        try:
            rebuilt = _with_leg_first(state, leg, time_ms)
        except ArithmeticError as error:
            self._not_reconciled(symbol, type(error).__name__)
            return None
        self._symbols[symbol] = rebuilt
        log.info("%s: assumed an external %s of %s @ %s", symbol, leg.side, leg.qty, price)
        return self._publish(rebuilt)

    def _not_reconciled(self, symbol: str, why: str) -> None:
        """A position the ledger cannot take: counted, logged, the ledger left as it was."""
        self.rejected += 1
        log.warning("position for %s cannot be reconciled: %s", symbol, why)

    # ------------------------------------------------------------------ reads

    def entry(self, symbol: str) -> LedgerEntry | None:
        """The symbol's latest entry, or None if nothing happened to it."""
        return self._entries.get(symbol)

    def entries(self) -> list[LedgerEntry]:
        """Every symbol's latest entry, in symbol order."""
        return [self._entries[symbol] for symbol in sorted(self._entries)]

    def fill_count(self, symbol: str) -> int:
        """How many executions (trades, funding, fee-only rows) the symbol's ledger applied."""
        state = self._symbols.get(symbol)
        return state.fill_count if state is not None else 0

    def choose_mark(
        self, symbol: str, *, mark_price: Decimal | None, book: OrderBook | None
    ) -> tuple[Decimal, MarkSource] | None:
        """The price to mark ``symbol`` at, and why.

        Bybit's markPrice when known, else where the position would close (long: best bid, short: best ask),
        the mid when flat; never from an empty or untrusted (not SYNCED, or stale) book.
        """
        if mark_price is not None and _computable(mark_price) and mark_price > 0:
            return mark_price, MarkSource.MARK_PRICE
        if book is None or book.state is not BookState.SYNCED or getattr(book, "stale", False):
            return None
        state = self._symbols.get(symbol)
        position = state.position if state is not None else _ZERO
        if position > 0:
            level, source = book.best_bid(), MarkSource.BEST_BID
        elif position < 0:
            level, source = book.best_ask(), MarkSource.BEST_ASK
        else:
            bid, ask = book.best_bid(), book.best_ask()
            if bid is None or ask is None:
                return None
            with localcontext(MONEY_CONTEXT):
                mid = (Decimal(repr(bid[0])) + Decimal(repr(ask[0]))) / 2
            return (mid, MarkSource.MID) if mid > 0 else None
        if level is None:
            return None
        price = Decimal(repr(level[0]))
        return (price, source) if price > 0 else None


# ---------------------------------------------------------------------- CSV

CSV_COLUMNS: tuple[str, ...] = (
    "symbol",
    "pnl",
    "position",
    "spot",
    "pnl_spot",
    "notional",
    "avg_buy_price",
    "avg_sell_price",
    "avg_price",
    "update_time",
    "update_source",
    "total_buy_qty",
    "total_sell_qty",
    "price",
    "side",
    "qty",
    "package_price",
    "buy_notional",
    "sell_notional",
    "total_original",
    "total_executed",
    "total_remaining",
    "cost_basis",
    "running_price",
    "running_qty",
    "realized_pnl",
    "unrealized_pnl",
    "fees",
    "funding",
    "mark_source",
)
"""Fluxum's (Gemini) column order, then the added fields."""

CONTRACT_COLUMNS: tuple[str, ...] = ("contract_type", "settle_coin")
"""Appended after :data:`CSV_COLUMNS` when the file holds an inverse symbol: each row then says how its money is
counted (``linear``/``inverse``) and the coin it is in. A file of linear symbols keeps exactly the columns above."""


def csv_header(contract_columns: bool = False) -> tuple[str, ...]:
    """The CSV columns, in Fluxum's order followed by the added fields (and :data:`CONTRACT_COLUMNS`)."""
    return CSV_COLUMNS + CONTRACT_COLUMNS if contract_columns else CSV_COLUMNS


def format_decimal(value: Decimal) -> str:
    """A Decimal written plainly: no exponent, no trailing zeros, never ``-0``."""
    if value == 0:
        return "0"
    return format(value.normalize(MONEY_CONTEXT), "f")


FORMULA_TRIGGERS = ("=", "+", "-", "@", "|", "\t", "\r", "\n")
"""A text cell starting with one of these is read as a formula by a spreadsheet (OWASP, "CSV Injection"; ``|``
is a DDE call some importers complete)."""


def _formula_start(text: str) -> bool:
    """Whether a spreadsheet could read ``text`` as a formula: it starts with a trigger, or with one behind
    leading whitespace (an importer that trims it) or spelt in a compatibility form (full-width ``＝``, small
    ``﹦``), which NFKC folds to the trigger."""
    if text.startswith(FORMULA_TRIGGERS):
        return True
    if text.isascii():
        return text.lstrip().startswith(FORMULA_TRIGGERS)
    first = text.lstrip()[:1]
    return unicodedata.normalize("NFKC", first).startswith(FORMULA_TRIGGERS)


def csv_text(text: str) -> str:
    """A text cell a spreadsheet shows as text: one that could start a formula gets a leading ``'`` (OWASP).

    Only text goes through here (symbols, sides, anything that came from the exchange or a file); numbers the
    ledger wrote itself never do, so ``-1.5`` stays a number."""
    return "'" + text if _formula_start(text) else text


def _cell(value: object) -> str:
    """A cell by the field's type: numbers as written by the ledger, everything else as neutralised text."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format_decimal(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, StrEnum):
        return csv_text(value.value)
    return csv_text(str(value))


def _row(entry: LedgerEntry, columns: tuple[str, ...]) -> list[str]:
    row = []
    for column in columns:
        value = getattr(entry, "contract" if column == "contract_type" else column)
        if column == "side" and value is not None:
            value = value.lower()  # Fluxum's CSV spelling: buy / sell
        row.append(_cell(value))
    return row


def write_csv(entries: Iterable[LedgerEntry], file: TextIO, *, contract_columns: bool | None = None) -> int:
    """Write the header and one row per entry to an open text file; returns the number of rows.

    ``contract_columns`` appends :data:`CONTRACT_COLUMNS`; None decides it from the entries (any inverse one),
    which reads them all first: a caller streaming rows says which it wants."""
    if contract_columns is None:
        entries = list(entries)
        contract_columns = any(entry.contract is ContractKind.INVERSE for entry in entries)
    columns = csv_header(contract_columns)
    writer = csv.writer(file, lineterminator="\n")
    # The csv module quotes a cell holding "\n" but not a bare "\r" (not part of this line terminator), which a
    # spreadsheet reads as a new row: such a row is written with every cell quoted.
    quoting = csv.writer(file, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(columns)
    count = 0
    for entry in entries:
        row = _row(entry, columns)
        (quoting if any("\r" in cell for cell in row) else writer).writerow(row)
        count += 1
    return count
