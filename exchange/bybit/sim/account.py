"""The simulated Bybit account: one UNIFIED wallet in USDT, one-way linear positions, orders and executions.

The account is the single owner of money. Every fill and every funding payment goes through
:meth:`Account.apply_fill` / :meth:`Account.apply_funding`, which move the wallet and the position with exact
``Decimal`` arithmetic and write the :class:`Execution` that the private stream and ``execution/list`` show.
Fees and realised P&L are rounded to 8 decimals *before* they touch the wallet, so a client that sums the
``execFee``/``execPnl`` strings it received reconciles with ``walletBalance`` to the last digit.

Private pushes leave through listeners (``listener(topic, records)``, records already in Bybit's shape); the
private WebSocket fans them out, so the account knows nothing about sockets or faults.
"""

from __future__ import annotations

import logging
import random
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from exchange.bybit.sim import demo_credentials
from exchange.bybit.sim.auth import ApiKeyring

if TYPE_CHECKING:
    from exchange.bybit.sim.clock import SimClock
    from exchange.bybit.sim.funding import FundingSchedule
    from exchange.bybit.sim.instruments import Instrument
    from exchange.bybit.sim.market import Market
    from exchange.bybit.sim.matching import MatchingEngine, Order

log = logging.getLogger(__name__)

ZERO = Decimal(0)
MONEY_PLACES = 8
_MONEY_QUANTUM = Decimal(1).scaleb(-MONEY_PLACES)

SETTLE_COIN = "USDT"
STARTING_BALANCE = Decimal("100000")
DEFAULT_LEVERAGE = Decimal(10)
MAINTENANCE_MARGIN_RATE = Decimal("0.005")
RISK_LIMIT_VALUE = "2000000"
MAKER_FEE_RATE = {"linear": Decimal("0.0002"), "spot": Decimal("0.001")}
TAKER_FEE_RATE = {"linear": Decimal("0.00055"), "spot": Decimal("0.001")}
MAX_EXECUTIONS = 100_000
"""Fills kept for ``execution/list``; older ones are forgotten (Bybit keeps two years, we keep a bound)."""

PrivateListener = Callable[[str, list[dict[str, Any]]], None]
"""``listener(topic, records)`` with topic one of order / execution / position / wallet."""


class Rejection(Exception):
    """A request the exchange refuses, carrying Bybit's ``retCode`` and ``retMsg``."""

    def __init__(self, ret_code: int, ret_msg: str) -> None:
        super().__init__(f"{ret_code} {ret_msg}")
        self.ret_code = ret_code
        self.ret_msg = ret_msg


# ------------------------------------------------------------------------------------------- wire formatting


def plain(value: Decimal) -> str:
    """A decimal as Bybit writes free-precision numbers: no exponent, no trailing zeros, ``"0"`` for zero."""
    if value == 0:
        return "0"
    text = format(value.normalize(), "f")
    return text


def fixed(value: Decimal, places: int) -> str:
    """A decimal at a fixed number of places (prices at the tick, quantities at the step)."""
    return format(value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP), "f")


def money(value: Decimal) -> Decimal:
    """Round an amount of coin to 8 places, the precision the wallet keeps."""
    return value.quantize(_MONEY_QUANTUM, rounding=ROUND_HALF_UP)


def money_str(value: Decimal) -> str:
    return plain(money(value))


def places_of(step: Decimal) -> int:
    """Decimal places of a tick or step as written by Bybit (``0.10`` -> 2, ``0.001`` -> 3, ``1`` -> 0)."""
    exponent = step.as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def price_str(instrument: Instrument, price: Decimal) -> str:
    return fixed(price, price_places(instrument))


def qty_str(instrument: Instrument, qty: Decimal) -> str:
    return fixed(qty, places_of(instrument.qty_step))


def price_places(instrument: Instrument) -> int:
    scale = getattr(instrument, "price_scale", None)
    return int(scale) if scale is not None else places_of(instrument.tick_size)


# --------------------------------------------------------------------------------------------------- records


@dataclass
class Position:
    """A one-way linear position; ``size`` is signed (shorts are negative) and ``avg_price`` excludes fees."""

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
        return abs(self.size) * self.avg_price

    def unrealised(self, mark: Decimal) -> Decimal:
        return (mark - self.avg_price) * self.size

    def initial_margin(self) -> Decimal:
        return self.value / self.leverage

    def maintenance_margin(self) -> Decimal:
        return self.value * MAINTENANCE_MARGIN_RATE

    def liquidation_price(self, instrument: Instrument) -> Decimal | None:
        """Isolated-style liquidation price: entry moved by the margin fraction minus the maintenance rate.

        The real UNIFIED cross-margin figure depends on the whole wallet and would sit far away (or vanish)
        for a 100k demo wallet; this one moves with the position, which is what a desk wants to watch.
        """
        if self.size == 0:
            return None
        fraction = 1 / self.leverage - MAINTENANCE_MARGIN_RATE
        tick = instrument.tick_size
        if self.size > 0:
            raw = self.avg_price * (1 - fraction)
            return max(tick, (raw / tick).to_integral_value(rounding=ROUND_CEILING) * tick)
        raw = self.avg_price * (1 + fraction)
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

    def to_bybit(self) -> dict[str, Any]:
        return {**self._record(), **dict(self.corrupt)}

    def _record(self) -> dict[str, Any]:
        inst = self.instrument
        return {
            "category": self.category,
            "symbol": self.symbol,
            "closedSize": qty_str(inst, self.closed_size),
            "execFee": plain(self.exec_fee),
            "execId": self.exec_id,
            "execPrice": price_str(inst, self.exec_price),
            "execQty": qty_str(inst, self.exec_qty),
            "execType": self.exec_type,
            "execValue": plain(self.exec_value),
            "feeRate": plain(self.fee_rate),
            "tradeIv": "",
            "markIv": "",
            "blockTradeId": "",
            "markPrice": price_str(inst, self.mark_price),
            "indexPrice": price_str(inst, self.index_price),
            "underlyingPrice": "",
            "leavesQty": self.leaves_qty,
            "orderId": self.order_id,
            "orderLinkId": self.order_link_id,
            "orderPrice": self.order_price,
            "orderQty": self.order_qty,
            "orderType": self.order_type,
            "stopOrderType": "UNKNOWN",
            "side": self.side,
            "execTime": str(self.exec_time_ms),
            "isLeverage": "0",
            "isMaker": self.is_maker,
            "seq": self.seq,
            "marketUnit": "",
            "execPnl": plain(self.exec_pnl),
            "createType": self.create_type,
            "extraFees": "",
            "feeCurrency": SETTLE_COIN if self.category == "linear" else "",
        }

    def to_fast(self) -> dict[str, Any]:
        """The ``execution.fast`` record: no fees; a maker's ``orderLinkId`` is always empty there."""
        inst = self.instrument
        return {
            "category": self.category,
            "symbol": self.symbol,
            "execId": self.exec_id,
            "execPrice": price_str(inst, self.exec_price),
            "execQty": qty_str(inst, self.exec_qty),
            "orderId": self.order_id,
            "isMaker": self.is_maker,
            "orderLinkId": "" if self.is_maker else self.order_link_id,
            "side": self.side,
            "execTime": str(self.exec_time_ms),
            "seq": self.seq,
        }


# ---------------------------------------------------------------------------------------------------- account


class Account:
    """The demo account: credentials, wallet, positions, the matching engine, funding and the fill history."""

    def __init__(
        self,
        market: Market,
        clock: SimClock,
        *,
        funding_speed: float = 1.0,
        seed: int | None = None,
        starting_balance: Decimal = STARTING_BALANCE,
    ) -> None:
        from exchange.bybit.sim.funding import FundingSchedule
        from exchange.bybit.sim.matching import MatchingEngine

        self.market = market
        self.clock = clock
        if seed is None:
            seed = int(getattr(market, "seed", 1) or 1)
        self.rng = random.Random(f"account-{seed}")
        self.uid = 100_000_000 + self.rng.randrange(900_000_000)
        self.created_ms = clock.now_ms()
        self.api_keys = ApiKeyring()
        self.api_keys.add(
            demo_credentials.DEMO_API_KEY,
            demo_credentials.DEMO_API_SECRET,
            note="fluxum-demo",
            created_ms=self.created_ms,
        )
        self.wallet_balance = Decimal(starting_balance)
        self.cum_realised = ZERO
        self.positions: dict[tuple[str, str], Position] = {}
        self.executions: list[Execution] = []
        self.corrupt_next: deque[dict[str, Any]] = deque()  # fields to show wrong in the next executions (faults)
        self._exec_n = 0
        self._seq = 10_000_000 + self.rng.randrange(1_000_000)
        self._push_n = 0
        self._listeners: list[PrivateListener] = []
        self.engine: MatchingEngine = MatchingEngine(self)
        self.funding: FundingSchedule = FundingSchedule(self, speed=funding_speed)
        market.add_trade_listener(self.engine.on_public_trade)
        market.add_step_listener(self._on_market_step)

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

    # ------------------------------------------------------------------------------------------ listeners

    def add_listener(self, listener: PrivateListener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: PrivateListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def publish(self, topic: str, records: list[dict[str, Any]]) -> None:
        """Hand one private push to every listener; a failing listener is logged, never propagated."""
        if not records:
            return
        for listener in list(self._listeners):
            try:
                listener(topic, records)
            except Exception:  # a broken consumer must not break matching
                log.exception("private listener failed on %s", topic)

    def publish_position(self, category: str, symbol: str) -> None:
        if category != "linear":
            return
        self.publish("position", [self.position_record(self.position(category, symbol), ws=True)])

    def publish_wallet(self) -> None:
        self.publish("wallet", [self.wallet_record()])

    # ------------------------------------------------------------------------------------------- market data

    def instrument(self, category: str, symbol: str) -> Instrument:
        """The instrument, or 10001 as Bybit answers an unknown symbol."""
        try:
            return self.market.instrument(category, symbol)
        except (KeyError, ValueError):
            raise Rejection(10001, "params error: symbol invalid") from None

    def mark(self, category: str, symbol: str) -> Decimal:
        return self.market.mark_price(category, symbol)

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

    def apply_fill(
        self,
        order: Order,
        price: Decimal,
        qty: Decimal,
        *,
        is_maker: bool,
        now_ms: int,
    ) -> Execution:
        """Book one fill of ``order``: position, realised P&L, fee, wallet; returns the execution record."""
        inst = self.instrument(order.category, order.symbol)
        rate = (MAKER_FEE_RATE if is_maker else TAKER_FEE_RATE).get(order.category, TAKER_FEE_RATE["linear"])
        value = price * qty
        fee = money(value * rate)
        sign = 1 if order.side == "Buy" else -1
        closed = ZERO
        pnl = ZERO
        seq = self.next_seq()
        if order.category == "linear":
            pos = self.position(order.category, order.symbol)
            if pos.size == 0:
                pos.cur_realised = ZERO
                pos.created_ms = now_ms
            if pos.size != 0 and (pos.size > 0) != (sign > 0):
                closed = min(qty, abs(pos.size))
                pnl = money(closed * (price - pos.avg_price) * (1 if pos.size > 0 else -1))
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
                    total = abs(pos.size) + opened
                    pos.avg_price = money((pos.avg_price * abs(pos.size) + price * opened) / total)
                pos.size += sign * opened
            pos.cum_realised += pnl - fee
            pos.cur_realised += pnl - fee
            pos.updated_ms = now_ms
            pos.seq = seq
        self.wallet_balance += pnl - fee
        self.cum_realised += pnl - fee
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
            order_price=price_str(inst, order.price),
            order_qty=qty_str(inst, order.qty),
            leaves_qty=qty_str(inst, max(ZERO, order.qty - order.cum_exec_qty - qty)),
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
            mark_price=self._safe_mark(order.category, order.symbol, price),
            index_price=self._safe_index(order.category, order.symbol, price),
            create_type="CreateByUser",
            instrument=inst,
        )
        return self._remember(execution)

    def apply_funding(self, category: str, symbol: str, rate: Decimal, now_ms: int) -> Execution | None:
        """Settle one funding interval on a position: longs pay a positive rate, shorts receive it."""
        pos = self.positions.get((category, symbol))
        if pos is None or pos.size == 0:
            return None
        inst = self.instrument(category, symbol)
        mark = self.mark(category, symbol)
        value = abs(pos.size) * mark
        fee = money(value * rate * (1 if pos.size > 0 else -1))
        seq = self.next_seq()
        self.wallet_balance -= fee
        self.cum_realised -= fee
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

    def _safe_mark(self, category: str, symbol: str, fallback: Decimal) -> Decimal:
        try:
            return self.market.mark_price(category, symbol)
        except Exception:
            return fallback

    def _safe_index(self, category: str, symbol: str, fallback: Decimal) -> Decimal:
        try:
            return self.market.index_price(category, symbol)
        except Exception:
            return fallback

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

    def unrealised_pnl(self) -> Decimal:
        total = ZERO
        for pos in self.positions.values():
            if pos.size != 0:
                total += pos.unrealised(self._safe_mark(pos.category, pos.symbol, pos.avg_price))
        return total

    def position_im(self) -> Decimal:
        return sum((p.initial_margin() for p in self.positions.values() if p.size != 0), ZERO)

    def position_mm(self) -> Decimal:
        return sum((p.maintenance_margin() for p in self.positions.values() if p.size != 0), ZERO)

    def available_balance(self) -> Decimal:
        """Margin balance minus every initial margin in use: what a new order may commit."""
        return self.wallet_balance + self.unrealised_pnl() - self.position_im() - self.engine.order_im()

    # ---------------------------------------------------------------------------------------------- records

    def wallet_record(self, coins: set[str] | None = None) -> dict[str, Any]:
        """The UNIFIED account as ``account/wallet-balance`` and the ``wallet`` topic show it (USD = USDT)."""
        upl = self.unrealised_pnl()
        pos_im = self.position_im()
        pos_mm = self.position_mm()
        order_im = self.engine.order_im()
        equity = self.wallet_balance + upl
        total_im = pos_im + order_im
        available = equity - total_im
        withdrawable = max(ZERO, min(self.wallet_balance, available))
        im_rate = money(total_im / equity) if equity > 0 else ZERO
        mm_rate = money(pos_mm / equity) if equity > 0 else ZERO
        coin_rows: list[dict[str, Any]] = []
        if coins is None or SETTLE_COIN in coins:
            coin_rows.append(
                {
                    "coin": SETTLE_COIN,
                    "equity": money_str(equity),
                    "usdValue": money_str(equity),
                    "walletBalance": money_str(self.wallet_balance),
                    "availableToWithdraw": money_str(withdrawable),
                    "availableToBorrow": "",
                    "borrowAmount": "0",
                    "accruedInterest": "0",
                    "totalOrderIM": money_str(order_im),
                    "totalPositionIM": money_str(pos_im),
                    "totalPositionMM": money_str(pos_mm),
                    "unrealisedPnl": money_str(upl),
                    "cumRealisedPnl": money_str(self.cum_realised),
                    "bonus": "0",
                    "collateralSwitch": True,
                    "marginCollateral": True,
                    "locked": "0",
                    "spotHedgingQty": "0",
                    "spotBorrow": "0",
                }
            )
        return {
            "totalEquity": money_str(equity),
            "accountIMRate": plain(im_rate),
            "accountIMRateByMp": plain(im_rate),
            "totalMarginBalance": money_str(equity),
            "totalInitialMargin": money_str(total_im),
            "totalInitialMarginByMp": money_str(total_im),
            "accountType": "UNIFIED",
            "totalAvailableBalance": money_str(max(ZERO, available)),
            "accountMMRate": plain(mm_rate),
            "accountMMRateByMp": plain(mm_rate),
            "totalPerpUPL": money_str(upl),
            "totalWalletBalance": money_str(self.wallet_balance),
            "accountLTV": "0",
            "totalMaintenanceMargin": money_str(pos_mm),
            "totalMaintenanceMarginByMp": money_str(pos_mm),
            "coin": coin_rows,
        }

    def position_record(self, pos: Position, *, ws: bool) -> dict[str, Any]:
        """A position as ``position/list`` (``avgPrice``) or the ``position`` topic (``entryPrice``) shows."""
        inst = self.instrument(pos.category, pos.symbol)
        mark = self._safe_mark(pos.category, pos.symbol, pos.avg_price)
        flat = pos.size == 0
        liq = pos.liquidation_price(inst)
        taker = TAKER_FEE_RATE["linear"]
        if flat:
            break_even = ZERO
        elif pos.size > 0:
            break_even = pos.avg_price * (1 + taker) / (1 - taker)
        else:
            break_even = pos.avg_price * (1 - taker) / (1 + taker)
        bust = ""
        if not flat:
            bust_raw = pos.avg_price * (1 - 1 / pos.leverage if pos.size > 0 else 1 + 1 / pos.leverage)
            bust = price_str(inst, bust_raw)
        im = pos.initial_margin()
        mm = pos.maintenance_margin()
        im_mp = abs(pos.size) * mark / pos.leverage
        mm_mp = abs(pos.size) * mark * MAINTENANCE_MARGIN_RATE
        record: dict[str, Any] = {
            "positionIdx": 0,
            "tradeMode": 0,
            "riskId": 1,
            "riskLimitValue": RISK_LIMIT_VALUE,
            "symbol": pos.symbol,
            "side": pos.side,
            "size": qty_str(inst, abs(pos.size)),
        }
        record["entryPrice" if ws else "avgPrice"] = "0" if flat else plain(pos.avg_price)
        record.update(
            {
                "leverage": plain(pos.leverage),
                "breakEvenPrice": "0" if flat else money_str(break_even),
                "positionValue": money_str(pos.value),
                "positionBalance": money_str(im),
                "markPrice": price_str(inst, mark),
                "positionIM": money_str(im),
                "positionIMByMp": money_str(im_mp),
                "positionMM": money_str(mm),
                "positionMMByMp": money_str(mm_mp),
                "takeProfit": "0",
                "stopLoss": "0",
                "trailingStop": "0",
                "unrealisedPnl": money_str(pos.unrealised(mark)),
                "curRealisedPnl": money_str(pos.cur_realised),
                "cumRealisedPnl": money_str(pos.cum_realised),
                "sessionAvgPrice": "",
                "createdTime": str(pos.created_ms),
                "updatedTime": str(pos.updated_ms),
                "tpslMode": "Full",
                "liqPrice": "" if liq is None else price_str(inst, liq),
                "bustPrice": bust,
                "positionStatus": "Normal",
                "adlRankIndicator": 0 if flat else 2,
                "autoAddMargin": 0,
                "leverageSysUpdatedTime": "",
                "seq": pos.seq,
                "isReduceOnly": False,
            }
        )
        if ws:
            record["category"] = pos.category
            record["mmrSysUpdatedTime"] = ""
        else:
            record["mmrSysUpdateTime"] = ""
        return record

    # ------------------------------------------------------------------------------------------- schedule

    def _on_market_step(self, now_ms: int) -> None:
        self.engine.on_step(now_ms)
        self.funding.on_step(now_ms)

    # ------------------------------------------------------------------------------------------- facades

    def place_order(self, params: dict[str, Any]) -> Order:
        """Validate and process ``order/create`` parameters (raises :class:`Rejection`)."""
        return self.engine.create(params)

    def cancel_order(self, params: dict[str, Any]) -> Order:
        """Process ``order/cancel`` parameters (raises :class:`Rejection`)."""
        return self.engine.cancel(params)

    def set_leverage(self, category: str, symbol: str, leverage: Decimal) -> Position:
        """``position/set-leverage`` (one-way mode): 110043 when unchanged, 10001 outside the allowed range.

        Raising leverage frees margin; lowering it must still leave the position's margin covered (110044).
        """
        inst = self.instrument(category, symbol)
        top = Decimal(str(getattr(inst, "max_leverage", "100") or "100"))
        if not 1 <= leverage <= top:
            raise Rejection(10001, f"leverage invalid: must be between 1 and {plain(top)}")
        pos = self.position(category, symbol)
        if leverage == pos.leverage:
            raise Rejection(110043, "leverage not modified")
        extra = pos.value / leverage - pos.initial_margin()
        if extra > 0 and extra > self.available_balance():
            raise Rejection(110044, "Available margin is insufficient")
        pos.leverage = leverage
        pos.updated_ms = self.clock.now_ms()
        self.publish_position(category, symbol)
        return pos
