"""The whole account at a glance: every open position and spot holding, grouped by the coin its money is in.

A position's money (value, P&L, margin) is in its settle coin: USDT or USDC for linear contracts, the base coin
for inverse ones (BTCUSD: BTC). Each coin gets its own group and its own total row; nothing here ever adds two
coins together. Spot holdings are the wallet's coins other than the dollar ones, each valued in USD by the
exchange (``usdValue``), so their group's total is a sum of USD values.

Pure arithmetic on what the exchange said (:class:`AccountView`), a live mark where the desk has one, and the
ledger's word on each position: no I/O, tested without a screen. The reader of Bybit's records is
:mod:`exchange.bybit.account_positions`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from exchange.ledger import ContractKind

__all__ = [
    "DOLLAR_COINS",
    "SPOT_GROUP",
    "AccountMargins",
    "AccountPosition",
    "AccountView",
    "CoinGroup",
    "CoinMargin",
    "CoinTotal",
    "Overview",
    "OverviewRow",
    "SortColumn",
    "SpotHolding",
    "build_overview",
    "holding_row",
    "position_row",
    "sorted_rows",
    "liquidation_distance_pct",
    "return_on_equity_pct",
    "unrealised_at",
]

ZERO = Decimal(0)
HUNDRED = Decimal(100)
DOLLAR_COINS = ("USDT", "USDC")
"""The linear settle coins, in the order their groups are shown; they are cash, never a spot holding."""
SPOT_GROUP = "SPOT"
"""The group of spot holdings: valued in USD, shown after every settle coin."""


@dataclass(frozen=True)
class AccountPosition:
    """One open position as ``/v5/position/list`` or the ``position`` topic states it; ``size`` is signed (a short
    is negative), money is in ``settle_coin`` (value, P&L, margins), prices in the quote currency."""

    category: str  # linear | inverse
    symbol: str
    settle_coin: str
    size: Decimal
    value: Decimal
    avg_price: Decimal
    mark_price: Decimal | None
    liq_price: Decimal | None
    unrealised: Decimal
    realised: Decimal  # curRealisedPnl: this position's, since it opened (fees and funding included)
    position_im: Decimal
    position_mm: Decimal
    leverage: Decimal | None = None
    updated_ms: int = 0

    @property
    def contract(self) -> ContractKind:
        return ContractKind.INVERSE if self.category == "inverse" else ContractKind.LINEAR


@dataclass(frozen=True)
class SpotHolding:
    """A coin the wallet holds, as the exchange values it in USD (``usdValue``)."""

    coin: str
    balance: Decimal
    usd_value: Decimal | None


@dataclass(frozen=True)
class CoinMargin:
    """One coin's row of the UNIFIED wallet, in that coin."""

    coin: str
    equity: Decimal
    wallet_balance: Decimal
    position_im: Decimal
    order_im: Decimal
    position_mm: Decimal
    usd_value: Decimal | None = None


@dataclass(frozen=True)
class AccountMargins:
    """The wallet: the account's initial and maintenance margin rates (account-wide, in USD terms) and each
    coin's row."""

    im_rate: Decimal | None
    mm_rate: Decimal | None
    coins: Mapping[str, CoinMargin] = field(default_factory=dict)


@dataclass(frozen=True)
class AccountView:
    """What one read of the account said: its open positions, the wallet, when it was read and what was left out
    (records that could not be read, counted)."""

    positions: tuple[AccountPosition, ...]
    margins: AccountMargins
    read_ms: int
    rejected: int = 0

    def holdings(self) -> tuple[SpotHolding, ...]:
        """The wallet's non-dollar coins with a balance, by coin."""
        return tuple(
            SpotHolding(coin.coin, coin.wallet_balance, coin.usd_value)
            for name, coin in sorted(self.margins.coins.items())
            if name not in DOLLAR_COINS and coin.wallet_balance != 0
        )


class SortColumn(StrEnum):
    """What the rows of each group can be ordered by (the groups keep their coin order: a sort never mixes
    coins)."""

    SYMBOL = "symbol"
    SIZE = "size"
    VALUE = "value"
    UNREALISED = "unrealised"
    ROE = "roe"
    LIQ_DISTANCE = "liq_distance"


@dataclass(frozen=True)
class OverviewRow:
    """A position or a holding as the overview shows it; None where the figure does not apply or is unknown."""

    category: str  # linear | inverse | spot
    symbol: str
    coin: str  # the coin its money is in (a holding: the coin held)
    side: str  # long | short | spot
    size: Decimal
    value: Decimal | None
    avg_price: Decimal | None
    mark_price: Decimal | None
    liq_price: Decimal | None
    liq_distance_pct: Decimal | None
    unrealised: Decimal | None
    realised: Decimal | None
    roe_pct: Decimal | None
    funding: Decimal | None
    position_im: Decimal | None = None
    ledger_differs: str = ""  # how the desk's ledger differs from this position, or empty


@dataclass(frozen=True)
class CoinTotal:
    """A group's total, all in its one coin: the wallet's equity, the positions' unrealised P&L and the margin they
    hold, beside the account's IM and MM rates (account-wide, the same on every total)."""

    coin: str
    equity: Decimal | None
    unrealised: Decimal
    margin_in_use: Decimal
    im_rate: Decimal | None
    mm_rate: Decimal | None
    positions: int


@dataclass(frozen=True)
class CoinGroup:
    coin: str
    rows: tuple[OverviewRow, ...]
    total: CoinTotal


@dataclass(frozen=True)
class Overview:
    groups: tuple[CoinGroup, ...]
    read_ms: int
    rejected: int = 0

    def rows(self) -> list[OverviewRow]:
        return [row for group in self.groups for row in group.rows]


# ---------------------------------------------------------------------------------------------- arithmetic


def unrealised_at(position: AccountPosition, mark: Decimal) -> Decimal:
    """The position's unrealised P&L at ``mark``, in its settle coin: ``size x (mark - entry)`` linear,
    ``size x (1/entry - 1/mark)`` inverse (Bybit's formulas)."""
    if position.category == "inverse":
        if position.avg_price <= 0 or mark <= 0:
            return ZERO
        return position.size * (1 / position.avg_price - 1 / mark)
    return position.size * (mark - position.avg_price)


def return_on_equity_pct(unrealised: Decimal, initial_margin: Decimal) -> Decimal | None:
    """ROE as Bybit shows it: unrealised P&L over the position's initial margin, in %; None without margin."""
    if initial_margin <= 0:
        return None
    return unrealised / initial_margin * HUNDRED


def liquidation_distance_pct(side: str, mark: Decimal | None, liq: Decimal | None) -> Decimal | None:
    """How far the mark may move against the position before its liquidation price, in % of the mark: positive
    while it is safe, zero or negative at or past it. None without a mark or a liquidation price."""
    if mark is None or liq is None or mark <= 0 or liq <= 0:
        return None
    gap = mark - liq if side == "long" else liq - mark
    return gap / mark * HUNDRED


# ---------------------------------------------------------------------------------------------- the overview


def build_overview(
    view: AccountView,
    *,
    marks: Mapping[tuple[str, str], Decimal] | None = None,
    funding: Mapping[tuple[str, str], Decimal] | None = None,
    disagreements: Mapping[tuple[str, str], str] | None = None,
    sort: SortColumn = SortColumn.SYMBOL,
    descending: bool = False,
) -> Overview:
    """Group ``view`` by coin, each group sorted by ``sort`` and closed by its total.

    ``marks`` are live marks (by category and symbol) that value a position instead of the mark the read
    carried; ``funding`` is what the ledger counts as paid per position; ``disagreements`` how the ledger differs
    from a position."""
    marks, funding, disagreements = marks or {}, funding or {}, disagreements or {}
    by_coin: dict[str, list[OverviewRow]] = {}
    ims: dict[str, Decimal] = {}
    for position in view.positions:
        key = (position.category, position.symbol)
        row = position_row(position, marks.get(key), funding.get(key), disagreements.get(key, ""))
        by_coin.setdefault(position.settle_coin, []).append(row)
        ims[position.settle_coin] = ims.get(position.settle_coin, ZERO) + position.position_im
    groups = [
        _group(coin, rows, view.margins, ims.get(coin, ZERO), sort, descending)
        for coin, rows in sorted(by_coin.items(), key=lambda item: _coin_order(item[0]))
    ]
    holdings = [holding_row(holding) for holding in view.holdings()]
    if holdings:
        groups.append(_spot_group(holdings, view.margins, sort, descending))
    return Overview(tuple(groups), view.read_ms, view.rejected)


def position_row(
    position: AccountPosition, live_mark: Decimal | None, funding: Decimal | None, differs: str
) -> OverviewRow:
    """One position's row, valued at ``live_mark`` when the desk has one, else at the mark the exchange sent."""
    side = "long" if position.size > 0 else "short"
    mark = live_mark if live_mark is not None and live_mark > 0 else position.mark_price
    unrealised = unrealised_at(position, live_mark) if live_mark is not None and live_mark > 0 else position.unrealised
    return OverviewRow(
        category=position.category,
        symbol=position.symbol,
        coin=position.settle_coin,
        side=side,
        size=position.size,
        value=position.value,
        avg_price=position.avg_price,
        mark_price=mark,
        liq_price=position.liq_price,
        liq_distance_pct=liquidation_distance_pct(side, mark, position.liq_price),
        unrealised=unrealised,
        realised=position.realised,
        roe_pct=return_on_equity_pct(unrealised, position.position_im),
        funding=funding,
        position_im=position.position_im,
        ledger_differs=differs,
    )


def holding_row(holding: SpotHolding) -> OverviewRow:
    """A spot holding: its balance and its USD value, no entry, mark or liquidation of its own."""
    return OverviewRow(
        category="spot",
        symbol=holding.coin,
        coin=holding.coin,
        side="spot",
        size=holding.balance,
        value=holding.usd_value,
        avg_price=None,
        mark_price=None,
        liq_price=None,
        liq_distance_pct=None,
        unrealised=None,
        realised=None,
        roe_pct=None,
        funding=None,
    )


def _group(
    coin: str, rows: list[OverviewRow], margins: AccountMargins, im: Decimal, sort: SortColumn, descending: bool
) -> CoinGroup:
    wallet = margins.coins.get(coin)
    total = CoinTotal(
        coin=coin,
        equity=wallet.equity if wallet is not None else None,
        unrealised=sum((row.unrealised or ZERO for row in rows), ZERO),
        margin_in_use=im,
        im_rate=margins.im_rate,
        mm_rate=margins.mm_rate,
        positions=len(rows),
    )
    return CoinGroup(coin, tuple(sorted_rows(rows, sort, descending)), total)


def _spot_group(rows: list[OverviewRow], margins: AccountMargins, sort: SortColumn, descending: bool) -> CoinGroup:
    """Holdings, valued in USD: the only group whose total adds different coins, through their USD values."""
    total = CoinTotal(
        coin="USD",
        equity=sum((row.value for row in rows if row.value is not None), ZERO),
        unrealised=ZERO,
        margin_in_use=ZERO,
        im_rate=margins.im_rate,
        mm_rate=margins.mm_rate,
        positions=len(rows),
    )
    return CoinGroup(SPOT_GROUP, tuple(sorted_rows(rows, sort, descending)), total)


def _coin_order(coin: str) -> tuple[int, str]:
    """USDT, USDC, then the inverse coins by name."""
    return (DOLLAR_COINS.index(coin), coin) if coin in DOLLAR_COINS else (len(DOLLAR_COINS), coin)


def sorted_rows(rows: Iterable[OverviewRow], sort: SortColumn, descending: bool = False) -> list[OverviewRow]:
    """``rows`` ordered by ``sort``; rows without the figure go last either way, ties by symbol."""
    rows = sorted(rows, key=lambda row: row.symbol)
    if sort is SortColumn.SYMBOL:
        return rows[::-1] if descending else rows
    known = [row for row in rows if _sort_value(row, sort) is not None]
    unknown = [row for row in rows if _sort_value(row, sort) is None]
    known.sort(key=lambda row: _sort_value(row, sort) or ZERO, reverse=descending)
    return known + unknown


def _sort_value(row: OverviewRow, sort: SortColumn) -> Decimal | None:
    if sort is SortColumn.SIZE:
        return abs(row.size)
    if sort is SortColumn.VALUE:
        return row.value
    if sort is SortColumn.UNREALISED:
        return row.unrealised
    if sort is SortColumn.ROE:
        return row.roe_pct
    if sort is SortColumn.LIQ_DISTANCE:
        return row.liq_distance_pct
    return None
