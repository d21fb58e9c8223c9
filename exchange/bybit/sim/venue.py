"""The simulated exchange without its network: the composition root of market, account, orders and funding.

:class:`SimExchange` builds each part once, hands each one exactly the parts it needs, and wires the market's
hooks (public trades fill resting orders as makers; a market step sweeps the touch, then settles funding). The
account holds money only; the matching engine gets the account, the market, the order store and the pushes;
the funding schedule gets the account, the market and the pushes. Each inverse contract listed gives the
account a wallet in its settle coin. Nothing is attached later, so an exchange is
complete when its constructor returns. The aiohttp server (:mod:`exchange.bybit.sim.server`) serves one.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, Protocol

from exchange.bybit.sim import demo_credentials
from exchange.bybit.sim.account import Account, MarketPrices
from exchange.bybit.sim.auth import ApiKeyring
from exchange.bybit.sim.clock import SimClock
from exchange.bybit.sim.funding import FundingMarket, FundingSchedule
from exchange.bybit.sim.matching import MatchingEngine, TakerMarket
from exchange.bybit.sim.orders import OpenOrders
from exchange.bybit.sim.pushes import AccountPushes, PrivateListener
from exchange.bybit.sim.records import SETTLE_COIN, STARTING_BALANCE, Order, Position

TradeListener = Callable[[str, str, str, Decimal, Decimal, int], None]


class ExchangeMarket(MarketPrices, TakerMarket, FundingMarket, Protocol):
    """Everything the exchange's parts read from the market, and the two hooks it drives them by."""

    seed: int
    paused: bool

    def symbols(self, category: str) -> list[str]: ...

    def add_trade_listener(self, callback: TradeListener) -> None: ...

    def add_step_listener(self, callback: Callable[[int], None]) -> None: ...


class SimExchange:
    """The demo venue: ``market``, ``account`` (money), ``orders``, ``engine``, ``funding``, ``pushes``, keys."""

    def __init__(
        self,
        market: ExchangeMarket,
        clock: SimClock,
        *,
        funding_speed: float = 1.0,
        seed: int | None = None,
        starting_balance: Decimal = STARTING_BALANCE,
    ) -> None:
        self.market = market
        self.clock = clock
        self.orders = OpenOrders()
        seed = market.seed if seed is None else seed
        coins = [
            market.instrument(category, symbol).settle_coin
            for category in ("linear", "inverse")
            for symbol in market.symbols(category)
            if market.instrument(category, symbol).settle_coin != SETTLE_COIN
        ]
        self.account = Account(market, clock, self.orders, seed=seed, starting_balance=starting_balance, coins=coins)
        self.api_keys = ApiKeyring()
        self.api_keys.add(
            demo_credentials.DEMO_API_KEY,
            demo_credentials.DEMO_API_SECRET,
            note="fluxum-demo",
            created_ms=self.account.created_ms,
        )
        self.pushes = AccountPushes(self.account)
        self.engine = MatchingEngine(self.account, market, self.orders, self.pushes)
        self.funding = FundingSchedule(self.account, market, self.pushes, speed=funding_speed)
        market.add_trade_listener(self.engine.on_public_trade)
        market.add_step_listener(self._on_market_step)

    def __repr__(self) -> str:
        return f"SimExchange({self.account!r})"

    def _on_market_step(self, now_ms: int) -> None:
        self.engine.on_step(now_ms)
        self.funding.on_step(now_ms)

    # ------------------------------------------------------------------------------------------ requests

    def place_order(self, params: dict[str, Any]) -> Order:
        """Validate and process ``order/create`` parameters (raises :class:`~.records.Rejection`)."""
        return self.engine.create(params)

    def cancel_order(self, params: dict[str, Any]) -> Order:
        """Process ``order/cancel`` parameters (raises :class:`~.records.Rejection`)."""
        return self.engine.cancel(params)

    def amend_order(self, params: dict[str, Any]) -> Order:
        """Process ``order/amend`` parameters (raises :class:`~.records.Rejection`)."""
        return self.engine.amend(params)

    def set_leverage(self, category: str, symbol: str, leverage: Decimal) -> Position:
        """``position/set-leverage``; the new position is pushed (raises :class:`~.records.Rejection`)."""
        pos = self.account.set_leverage(category, symbol, leverage)
        self.pushes.position(category, symbol)
        return pos

    # ------------------------------------------------------------------------------------------ records

    def wallet_record(self, coins: set[str] | None = None) -> dict[str, Any]:
        return self.pushes.wallet_record(coins)

    def position_record(self, pos: Position, *, ws: bool) -> dict[str, Any]:
        return self.pushes.position_record(pos, ws=ws)

    def add_listener(self, listener: PrivateListener) -> None:
        """Receive every private push (``listener(topic, records)``)."""
        self.pushes.add_listener(listener)

    def remove_listener(self, listener: PrivateListener) -> None:
        self.pushes.remove_listener(listener)
