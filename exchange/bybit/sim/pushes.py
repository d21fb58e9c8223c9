"""The account's private pushes: Bybit's records for order, execution, position and wallet, to listeners.

Listeners (``listener(topic, records)``, records already in Bybit's shape) are the private WebSocket's hub
and tests; the account, the matching engine and the funding schedule only say what changed, so none of them
knows about sockets, faults or wire shapes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from exchange.bybit.sim import wire
from exchange.bybit.sim.account import Account
from exchange.bybit.sim.records import Execution, Order, Position

log = logging.getLogger(__name__)

PrivateListener = Callable[[str, list[dict[str, Any]]], None]
"""``listener(topic, records)`` with topic one of order / execution / position / wallet."""


class AccountPushes:
    """Formats what changed on the account and hands it to every listener, in the order it happened."""

    def __init__(self, account: Account) -> None:
        self._account = account
        self._listeners: list[PrivateListener] = []

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

    # ------------------------------------------------------------------------------------------ records

    def position_record(self, pos: Position, *, ws: bool) -> dict[str, Any]:
        """A position as ``position/list`` (``ws=False``) or the ``position`` topic shows it, marked now."""
        account = self._account
        inst = account.instrument(pos.category, pos.symbol)
        mark = account.safe_mark(pos.category, pos.symbol, pos.avg_price)
        return wire.position_record(pos, inst, mark, ws=ws)

    def wallet_record(self, coins: set[str] | None = None) -> dict[str, Any]:
        """The UNIFIED wallet as ``account/wallet-balance`` and the ``wallet`` topic show it."""
        return wire.wallet_record(self._account.wallet_figures(), coins)

    # ------------------------------------------------------------------------------------------ pushes

    def order(self, order: Order) -> None:
        self.publish("order", [wire.order_record(order)])

    def executions(self, executions: list[Execution]) -> None:
        self.publish("execution", [wire.execution_record(e) for e in executions])

    def position(self, category: str, symbol: str) -> None:
        """The symbol's position (linear and inverse: spot has none)."""
        if category not in ("linear", "inverse"):
            return
        self.publish("position", [self.position_record(self._account.position(category, symbol), ws=True)])

    def wallet(self) -> None:
        self.publish("wallet", [self.wallet_record()])
