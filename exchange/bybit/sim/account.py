"""The simulated Bybit account's money: one UNIFIED wallet in USDT and coin wallets, one-way positions, fills.

Linear positions settle in USDT; inverse positions (``BTCUSD``, ``ETHUSD``) are margined and settled in their
base coin, with Bybit's inverse arithmetic (value ``contracts / price``, P&L ``contracts x (1/entry - 1/exit)``,
average entry the harmonic mean), each coin a wallet of its own.

The account is the single owner of money. Every fill and every funding payment goes through
:meth:`Account.apply_fill` / :meth:`Account.apply_funding`, which move the wallet and the position with exact
``Decimal`` arithmetic and write the :class:`~.records.Execution` that the private stream and
``execution/list`` show. Fees and realised P&L are rounded to 8 decimals *before* they touch the wallet, so a
client that sums the ``execFee``/``execPnl`` strings it received reconciles with ``walletBalance`` to the last
digit. Orders, matching, funding and pushes are other objects' jobs (see :mod:`exchange.bybit.sim.venue`); the
account only reads the margin its resting orders hold.
"""

from __future__ import annotations

import logging
import random
from bisect import bisect_left
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import replace
from decimal import Decimal
from typing import Any, Protocol

from exchange.bybit.sim.clock import SimClock
from exchange.bybit.sim.instruments import Instrument
from exchange.bybit.sim.records import (
    COIN_STARTING_BALANCES,
    MAKER_FEE_RATE,
    MAX_EXECUTIONS,
    ONE,
    SETTLE_COIN,
    STARTING_BALANCE,
    TAKER_FEE_RATE,
    USD_COINS,
    ZERO,
    CoinFigures,
    Execution,
    Order,
    Position,
    Rejection,
    WalletFigures,
    contract_value,
    money,
)
from exchange.bybit.sim.wire import plain

log = logging.getLogger(__name__)


class MarketPrices(Protocol):
    """What the account reads from the market: instruments and the prices positions are marked at."""

    def instrument(self, category: str, symbol: str) -> Instrument: ...

    def mark_price(self, category: str, symbol: str) -> Decimal: ...

    def index_price(self, category: str, symbol: str) -> Decimal: ...


class RestingOrders(Protocol):
    """The orders resting on the book, whose initial margin the account holds back."""

    def resting_orders(self, category: str | None = None, symbol: str | None = None) -> list[Order]: ...


class Account:
    """The demo account: identity (uid, ids), wallet, positions and the fill history."""

    def __init__(
        self,
        market: MarketPrices,
        clock: SimClock,
        resting: RestingOrders,
        *,
        seed: int = 1,
        starting_balance: Decimal = STARTING_BALANCE,
        coins: Iterable[str] = (),
    ) -> None:
        """``coins`` are the settle coins other than USDT of the contracts listed (inverse: BTC, ETH; USDC): each gets
        a wallet."""
        self.market = market
        self.clock = clock
        self._resting = resting
        self.rng = random.Random(f"account-{seed}")
        self.uid = 100_000_000 + self.rng.randrange(900_000_000)
        self.created_ms = clock.now_ms()
        self.wallet_balance = Decimal(starting_balance)
        self.cum_realised = ZERO
        self.coin_balances = {coin: COIN_STARTING_BALANCES.get(coin, ZERO) for coin in sorted(set(coins))}
        self.coin_realised = dict.fromkeys(self.coin_balances, ZERO)
        self.positions: dict[tuple[str, str], Position] = {}
        self.executions: list[Execution] = []
        self.corrupt_next: deque[dict[str, Any]] = deque()  # fields to show wrong in the next executions (faults)
        self._exec_n = 0
        self._seq = 10_000_000 + self.rng.randrange(1_000_000)
        self._push_n = 0

    def __repr__(self) -> str:
        return f"Account(uid={self.uid}, wallet={self.wallet_balance}, positions={len(self.positions)})"

    # ----------------------------------------------------------------------------------------- identifiers

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    @property
    def last_seq(self) -> int:
        """The newest cross sequence handed out: every execution so far has a ``seq`` at most this."""
        return self._seq

    def new_uuid(self) -> str:
        """A UUID-shaped id from the account's seeded RNG (deterministic for a seed, unlike uuid4)."""
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:]}"

    def push_id(self, topic: str) -> str:
        """The opaque ``id`` of a private push (Bybit's: ``<uid>_<symbol>_<seq>`` or a hex string)."""
        self._push_n += 1
        return f"{self.uid}{self._push_n:x}-{topic}-{self.rng.getrandbits(32):08x}"

    # ------------------------------------------------------------------------------------------- market data

    def instrument(self, category: str, symbol: str) -> Instrument:
        """The instrument, or 10001 as Bybit answers an unknown symbol."""
        try:
            return self.market.instrument(category, symbol)
        except (KeyError, ValueError):
            raise Rejection(10001, "params error: symbol invalid") from None

    def mark(self, category: str, symbol: str) -> Decimal:
        return self.market.mark_price(category, symbol)

    def safe_mark(self, category: str, symbol: str, fallback: Decimal) -> Decimal:
        """The mark price, or ``fallback`` when the market cannot give one."""
        try:
            return self.market.mark_price(category, symbol)
        except Exception:
            return fallback

    def _safe_index(self, category: str, symbol: str, fallback: Decimal) -> Decimal:
        try:
            return self.market.index_price(category, symbol)
        except Exception:
            return fallback

    # ------------------------------------------------------------------------------------------- positions

    def position(self, category: str, symbol: str) -> Position:
        """The position for a symbol, created flat on first use (Bybit lists flat positions too)."""
        key = (category, symbol)
        pos = self.positions.get(key)
        if pos is None:
            now = self.clock.now_ms()
            pos = Position(category=category, symbol=symbol, created_ms=now, updated_ms=now, seq=self.next_seq())
            self.positions[key] = pos
        return pos

    def open_positions(self, category: str = "linear") -> list[Position]:
        return [p for (cat, _), p in sorted(self.positions.items()) if cat == category and p.size != 0]

    def apply_fill(self, order: Order, price: Decimal, qty: Decimal, *, is_maker: bool, now_ms: int) -> Execution:
        """Book one fill of ``order``: position, realised P&L, fee, wallet; returns the execution record."""
        inst = self.instrument(order.category, order.symbol)
        rate = (MAKER_FEE_RATE if is_maker else TAKER_FEE_RATE).get(order.category, TAKER_FEE_RATE["linear"])
        value = contract_value(order.category, qty, price)
        fee = money(value * rate)
        seq = self.next_seq()
        closed = pnl = ZERO
        if order.category in ("linear", "inverse"):
            closed, pnl = self._move_position(order, price, qty, fee, now_ms, seq)
        self._settle(inst, pnl - fee)
        execution = Execution(
            n=self._next_exec_n(),
            category=order.category,
            symbol=order.symbol,
            exec_type="Trade",
            exec_id=self.new_uuid(),
            order_id=order.order_id,
            order_link_id=order.order_link_id,
            side=order.side,
            order_type=order.order_type,
            order_price=inst.fmt_price(order.price),
            order_qty=inst.fmt_qty(order.qty),
            leaves_qty=inst.fmt_qty(max(ZERO, order.qty - order.cum_exec_qty - qty)),
            exec_price=price,
            exec_qty=qty,
            exec_value=value,
            exec_fee=fee,
            fee_rate=rate,
            exec_pnl=pnl,
            closed_size=closed,
            is_maker=is_maker,
            exec_time_ms=now_ms,
            seq=seq,
            mark_price=self.safe_mark(order.category, order.symbol, price),
            index_price=self._safe_index(order.category, order.symbol, price),
            create_type="CreateByUser",
            instrument=inst,
        )
        return self._remember(execution)

    def _settle(self, inst: Instrument, amount: Decimal) -> None:
        """Book realised money (P&L less fees, or funding) in the wallet of the instrument's settle coin."""
        coin = self.margin_coin(inst)
        if coin is not None:
            self.coin_balances[coin] = self.coin_balances.get(coin, ZERO) + amount
            self.coin_realised[coin] = self.coin_realised.get(coin, ZERO) + amount
            return
        self.wallet_balance += amount
        self.cum_realised += amount

    def _move_position(
        self, order: Order, price: Decimal, qty: Decimal, fee: Decimal, now_ms: int, seq: int
    ) -> tuple[Decimal, Decimal]:
        """Close then open the position by a fill; returns ``(closed size, realised P&L)``."""
        sign = 1 if order.side == "Buy" else -1
        pos = self.position(order.category, order.symbol)
        if pos.size == 0:
            pos.cur_realised = ZERO
            pos.created_ms = now_ms
        closed = min(qty, pos.reducible_by(order.side))
        pnl = money(_closed_pnl(pos, closed, price)) if closed else ZERO
        opened = qty - closed
        if closed:
            pos.size += sign * closed
            if pos.size == 0:
                pos.avg_price = ZERO
        if opened:
            if pos.size == 0:
                pos.avg_price = price
                pos.cur_realised = ZERO
            else:
                pos.avg_price = money(_average_entry(pos, price, opened))
            pos.size += sign * opened
        pos.cum_realised += pnl - fee
        pos.cur_realised += pnl - fee
        pos.updated_ms = now_ms
        pos.seq = seq
        return closed, pnl

    def apply_funding(self, category: str, symbol: str, rate: Decimal, now_ms: int) -> Execution | None:
        """Settle one funding interval on a position: longs pay a positive rate, shorts receive it."""
        pos = self.positions.get((category, symbol))
        if pos is None or pos.size == 0:
            return None
        inst = self.instrument(category, symbol)
        mark = self.mark(category, symbol)
        value = contract_value(category, abs(pos.size), mark)
        fee = money(value * rate * (1 if pos.size > 0 else -1))
        seq = self.next_seq()
        self._settle(inst, -fee)
        pos.cum_realised -= fee
        pos.cur_realised -= fee
        pos.updated_ms = now_ms
        pos.seq = seq
        execution = Execution(
            n=self._next_exec_n(),
            category=category,
            symbol=symbol,
            exec_type="Funding",
            exec_id=self.new_uuid(),
            order_id=f"{now_ms // 1000}-{self.uid}-{symbol}-funding",
            order_link_id="",
            side=pos.side,
            order_type="UNKNOWN",
            order_price="0",
            order_qty="0",
            leaves_qty="0",
            exec_price=mark,
            exec_qty=abs(pos.size),
            exec_value=value,
            exec_fee=fee,
            fee_rate=rate,
            exec_pnl=ZERO,
            closed_size=ZERO,
            is_maker=False,
            exec_time_ms=now_ms,
            seq=seq,
            mark_price=mark,
            index_price=self._safe_index(category, symbol, mark),
            create_type="",
            instrument=inst,
        )
        return self._remember(execution)

    def _next_exec_n(self) -> int:
        self._exec_n += 1
        return self._exec_n

    def _remember(self, execution: Execution) -> Execution:
        if self.corrupt_next:  # a fault: the exchange shows this one with absurd fields, pushed and listed alike
            execution = replace(execution, corrupt=tuple(self.corrupt_next.popleft().items()))
        self.executions.append(execution)
        if len(self.executions) > MAX_EXECUTIONS + MAX_EXECUTIONS // 4:
            del self.executions[: len(self.executions) - MAX_EXECUTIONS]
        return execution

    def executions_before(self, cursor_n: int | None) -> Iterator[Execution]:
        """Executions newest first, strictly older than ``cursor_n`` (all when None): stable paging."""
        end = len(self.executions) if cursor_n is None else bisect_left(self.executions, cursor_n, key=lambda e: e.n)
        for i in range(end - 1, -1, -1):
            yield self.executions[i]

    # -------------------------------------------------------------------------------------------- margins

    def _settles_in(self, category: str, symbol: str, coin: str | None) -> bool:
        """Whether money of this symbol lives in ``coin``'s wallet (None: the USDT wallet)."""
        return self.margin_coin(self.instrument(category, symbol)) == coin

    def _open_in(self, coin: str | None) -> list[Position]:
        return [p for p in self.positions.values() if p.size != 0 and self._settles_in(p.category, p.symbol, coin)]

    def unrealised_pnl(self, coin: str | None = None) -> Decimal:
        total = ZERO
        for pos in self._open_in(coin):
            total += pos.unrealised(self.safe_mark(pos.category, pos.symbol, pos.avg_price))
        return total

    def position_im(self, coin: str | None = None) -> Decimal:
        return sum((p.initial_margin() for p in self._open_in(coin)), ZERO)

    def position_mm(self, coin: str | None = None) -> Decimal:
        return sum((p.maintenance_margin() for p in self._open_in(coin)), ZERO)

    def order_im(self, coin: str | None = None) -> Decimal:
        """Initial margin held by resting orders, at their position's leverage."""
        return sum(
            (
                contract_value(o.category, o.leaves_qty, o.price) / self.position(o.category, o.symbol).leverage
                for o in self._resting.resting_orders()
                if self._settles_in(o.category, o.symbol, coin)
            ),
            ZERO,
        )

    def balance(self, coin: str | None = None) -> Decimal:
        """The wallet balance of ``coin`` (None: USDT)."""
        return self.wallet_balance if coin is None else self.coin_balances.get(coin, ZERO)

    def available_balance(self, coin: str | None = None) -> Decimal:
        """Margin balance minus every initial margin in use: what a new order may commit (in ``coin``)."""
        return self.balance(coin) + self.unrealised_pnl(coin) - self.position_im(coin) - self.order_im(coin)

    def margin_coin(self, inst: Instrument) -> str | None:
        """The wallet an instrument's orders are margined from (None: USDT): its settle coin for contracts (the base
        coin for inverse, USDC for the USDC perpetuals); spot trades against USDT."""
        if inst.category == "spot" or inst.settle_coin == SETTLE_COIN:
            return None
        return inst.settle_coin

    def wallet_figures(self) -> WalletFigures:
        """The wallet's figures now, for the ``wallet`` push and ``account/wallet-balance``."""
        return WalletFigures(
            wallet_balance=self.wallet_balance,
            cum_realised=self.cum_realised,
            unrealised=self.unrealised_pnl(),
            position_im=self.position_im(),
            position_mm=self.position_mm(),
            order_im=self.order_im(),
            coins=tuple(self._coin_figures(coin) for coin in self.coin_balances),
        )

    def _coin_figures(self, coin: str) -> CoinFigures:
        return CoinFigures(
            coin=coin,
            wallet_balance=self.coin_balances[coin],
            cum_realised=self.coin_realised.get(coin, ZERO),
            unrealised=self.unrealised_pnl(coin),
            position_im=self.position_im(coin),
            position_mm=self.position_mm(coin),
            order_im=self.order_im(coin),
            usd_price=ONE if coin in USD_COINS else self._safe_index("inverse", coin + "USD", ZERO),
        )

    def set_leverage(self, category: str, symbol: str, leverage: Decimal) -> Position:
        """``position/set-leverage`` (one-way mode): 110043 when unchanged, 10001 outside the allowed range.

        Raising leverage frees margin; lowering it must still leave the position's margin covered (110044).
        """
        inst = self.instrument(category, symbol)
        top = Decimal(inst.max_leverage or "100")
        if not 1 <= leverage <= top:
            raise Rejection(10001, f"leverage invalid: must be between 1 and {plain(top)}")
        pos = self.position(category, symbol)
        if leverage == pos.leverage:
            raise Rejection(110043, "leverage not modified")
        extra = pos.value / leverage - pos.initial_margin()
        if extra > 0 and extra > self.available_balance(self.margin_coin(inst)):
            raise Rejection(110044, "Available margin is insufficient")
        pos.leverage = leverage
        pos.updated_ms = self.clock.now_ms()
        return pos


def _closed_pnl(pos: Position, closed: Decimal, price: Decimal) -> Decimal:
    """P&L of closing ``closed`` of ``pos`` at ``price``: ``qty x (exit - entry)`` linear,
    ``contracts x (1/entry - 1/exit)`` inverse; a short's mirrored."""
    direction = 1 if pos.size > 0 else -1
    if pos.category == "inverse":
        return closed * (1 / pos.avg_price - 1 / price) * direction
    return closed * (price - pos.avg_price) * direction


def _average_entry(pos: Position, price: Decimal, opened: Decimal) -> Decimal:
    """The entry after adding ``opened`` at ``price``: volume-weighted linear; for inverse Bybit's harmonic mean,
    contracts over the sum of contracts / price."""
    size = abs(pos.size)
    total = size + opened
    if pos.category == "inverse":
        return total / (size / pos.avg_price + opened / price)
    return (pos.avg_price * size + price * opened) / total
