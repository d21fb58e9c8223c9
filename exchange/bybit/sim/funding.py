"""Funding settlement every 8 hours of simulated time, so a demo shows funding rows and the ledger books them.

Funding instants sit on the 8-hour grid of simulated time (00:00, 08:00, 16:00 UTC at speed 1, like Bybit's
``nextFundingTime``); a speed factor shrinks the interval so a demo reaches one in seconds. The schedule is
driven by the market's step (through :class:`~.venue.SimExchange`), never by its own timer, so tests step it
by hand.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Protocol

from exchange.bybit.sim.account import Account
from exchange.bybit.sim.pushes import AccountPushes
from exchange.bybit.sim.records import Execution

log = logging.getLogger(__name__)

FUNDING_INTERVAL_MS = 8 * 60 * 60 * 1000
FUNDED_CATEGORIES = ("linear", "inverse")
"""The perpetuals that pay funding: linear in USDT, inverse in their settle coin."""


class FundingMarket(Protocol):
    """The market's side of funding: the rate per symbol, and the next instant its tickers show."""

    def funding_rate(self, category: str, symbol: str) -> Decimal: ...

    def set_next_funding_time(self, ms: int, category: str | None = None, symbol: str | None = None) -> None: ...


class FundingSchedule:
    """Settles funding on every open perpetual position when simulated time crosses a funding instant."""

    def __init__(self, account: Account, market: FundingMarket, pushes: AccountPushes, *, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("funding speed must be positive")
        self.account = account
        self.market = market
        self.pushes = pushes
        self.speed = speed
        self.interval_ms = max(1, int(FUNDING_INTERVAL_MS / speed))
        self.settlements = 0
        self.next_funding_ms = 0
        self._schedule(self._next_after(account.clock.now_ms()))

    def _schedule(self, at_ms: int) -> None:
        """Remember the next instant and tell the market, whose tickers show it as ``nextFundingTime``."""
        self.next_funding_ms = at_ms
        for category in FUNDED_CATEGORIES:
            self.market.set_next_funding_time(at_ms, category)

    def _next_after(self, now_ms: int) -> int:
        return (now_ms // self.interval_ms + 1) * self.interval_ms

    def on_step(self, now_ms: int) -> None:
        """Settle once if a funding instant has passed (missed instants settle once: no catch-up storm)."""
        if now_ms < self.next_funding_ms:
            return
        self._schedule(self._next_after(now_ms))
        try:
            self.settle(now_ms)
        except Exception:
            log.exception("funding settlement failed")

    def settle(self, now_ms: int) -> list[Execution]:
        """Charge or pay funding on every open perpetual position now; pushes execution + position + wallet."""
        account = self.account
        executions: list[Execution] = []
        for pos in [p for category in FUNDED_CATEGORIES for p in account.open_positions(category)]:
            rate = self.market.funding_rate(pos.category, pos.symbol)
            execution = account.apply_funding(pos.category, pos.symbol, rate, now_ms)
            if execution is not None:
                executions.append(execution)
        self.settlements += 1
        if not executions:
            return executions
        self.pushes.executions(executions)
        for execution in executions:
            self.pushes.position(execution.category, execution.symbol)
        self.pushes.wallet()
        log.info("funding settled on %d position(s)", len(executions))
        return executions
