"""A demo trader on the demo account, so a dashboard pointed at the local exchange shows life.

Every few seconds (seeded) it does one small thing a desk would recognise: a market order, a limit order a
few ticks behind the touch (which the market later fills as a maker, or not), or a cancel. It keeps each
position's notional bounded by trading it back down, so the account neither drifts nor runs out of margin. It
goes through the same matching engine as REST orders, so every push and ``execution/list`` row is real. It
trades one category: linear by default, inverse when asked (notionals are then in contracts of 1 USD).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from exchange.bybit.sim.instruments import Instrument
from exchange.bybit.sim.records import Rejection
from exchange.bybit.sim.venue import SimExchange

log = logging.getLogger(__name__)

CATEGORY = "linear"
TRADED_CATEGORIES = ("linear", "inverse")
INTERVAL_S = (1.0, 4.0)
ORDER_NOTIONAL = (150.0, 1500.0)  # USD(T) per order
MAX_POSITION_NOTIONAL = Decimal(6000)
MAX_RESTING = 4


class DemoTrader:
    """Trades now and then on the demo account until stopped; :meth:`act` is one decision (tests call it)."""

    def __init__(
        self,
        exchange: SimExchange,
        *,
        counters: Counter[str] | None = None,
        seed: int = 1,
        interval_s: tuple[float, float] = INTERVAL_S,
        max_position_notional: Decimal = MAX_POSITION_NOTIONAL,
        category: str = CATEGORY,
        symbols: tuple[str, ...] = (),
    ) -> None:
        """``symbols`` narrows the trading to those (the desk's own); empty trades every listed symbol."""
        if category not in TRADED_CATEGORIES:
            raise ValueError(f"the demo trader trades {' or '.join(TRADED_CATEGORIES)}, not {category!r}")
        self.exchange = exchange
        self.category = category
        self.symbols = symbols
        self.counters: Counter[str] = Counter() if counters is None else counters
        self.rng = random.Random(f"demo-trader-{seed}")
        self.interval_s = interval_s
        self.max_position_notional = max_position_notional
        self.actions: Counter[str] = Counter()
        self._n = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start trading in the running event loop (idempotent)."""
        if self.running:
            return
        self._task = asyncio.get_running_loop().create_task(self._run(), name="sim-demo-trader")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.rng.uniform(*self.interval_s))
            if self.exchange.market.paused:
                continue
            try:
                self.act()
            except Exception:  # the demo must never take the exchange down
                log.exception("demo trader failed")

    # ---------------------------------------------------------------------------------------------- acting

    def act(self) -> str:
        """One seeded decision; returns what it did: market, limit, cancel, reduce, rejected or idle."""
        account = self.exchange.account
        market = self.exchange.market
        category = self.category
        symbols = sorted(set(market.symbols(category)) & set(self.symbols or market.symbols(category)))
        if not symbols:
            return self._did("idle")
        symbol = self.rng.choice(symbols)
        best_bid, best_ask = market.best_bid_ask(category, symbol)
        if best_bid is None or best_ask is None:
            return self._did("idle")
        inst = market.instrument(category, symbol)
        pos = account.position(category, symbol)
        notional = _usd_notional(inst, abs(pos.size), market.mark_price(category, symbol))
        try:
            if notional > self.max_position_notional:
                qty = self._round_qty(inst, abs(pos.size) / 2)
                side = "Sell" if pos.size > 0 else "Buy"
                self._place(symbol, side, "Market", qty, reduceOnly=True)
                return self._did("reduce")
            resting = [o for o in self.exchange.orders.resting_orders(category) if o.order_link_id.startswith("demo-")]
            roll = self.rng.random()
            if resting and (len(resting) >= MAX_RESTING or roll > 0.85):
                victim = min(resting, key=lambda o: o.seq) if len(resting) >= MAX_RESTING else self.rng.choice(resting)
                self.exchange.cancel_order({"category": category, "symbol": victim.symbol, "orderId": victim.order_id})
                return self._did("cancel")
            side = self.rng.choice(("Buy", "Sell"))
            if pos.size != 0 and notional > self.max_position_notional / 2:
                side = "Sell" if pos.size > 0 else "Buy"  # lean against a large position
            reference = best_ask if side == "Buy" else best_bid
            usd = Decimal(str(self.rng.uniform(*ORDER_NOTIONAL)))
            qty = self._round_qty(inst, usd if inst.category == "inverse" else usd / reference)
            if qty * reference < inst.min_notional:
                qty = self._round_qty(inst, inst.min_notional * 2 / reference + inst.qty_step)
            if roll < 0.4:
                self._place(symbol, side, "Market", qty)
                return self._did("market")
            ticks = self.rng.randint(0, 3)
            price = best_bid - ticks * inst.tick_size if side == "Buy" else best_ask + ticks * inst.tick_size
            if price <= 0:
                return self._did("idle")
            self._place(symbol, side, "Limit", qty, price=str(price), timeInForce="GTC")
            return self._did("limit")
        except Rejection as refused:
            log.debug("demo order refused: %s", refused)
            return self._did("rejected")

    def _place(self, symbol: str, side: str, order_type: str, qty: Decimal, **extra: Any) -> None:
        self._n += 1
        params: dict[str, Any] = {
            "category": self.category,
            "symbol": symbol,
            "side": side,
            "orderType": order_type,
            "qty": str(qty),
            "orderLinkId": f"demo-{self._n}",
        }
        params.update(extra)
        self.exchange.place_order(params)

    @staticmethod
    def _round_qty(inst: Instrument, qty: Decimal) -> Decimal:
        steps = (qty / inst.qty_step).to_integral_value(rounding=ROUND_FLOOR)
        return max(inst.min_qty, steps * inst.qty_step)

    def _did(self, action: str) -> str:
        self.actions[action] += 1
        self.counters[f"demo_trader.{action}"] += 1
        return action


def _usd_notional(inst: Instrument, size: Decimal, mark: Decimal) -> Decimal:
    """A position's notional in USD(T): ``size x mark`` linear; an inverse size is already USD (contracts)."""
    return size if inst.category == "inverse" else size * mark
