"""The REST backfill: what the private stream never replays (wallet, positions, open orders, executions since the
journal's completeness mark), read on every recovery and handed to the account as each read arrives.

Kept apart from :mod:`exchange.session`, which decides when the backfill runs and what its failure means; here
is only the order of the reads and what each one tells the account.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from collections.abc import Callable

from exchange.account_state import AccountState
from exchange.bybit.rest import UnreadableRecord
from exchange.events import Notice
from exchange.hub import EventHub
from exchange.market_data import MarketData
from exchange.sources import RestApi

REST_CATCH_UP_S = 1.0  # how long Bybit's execution list is given to show an execution its stream or positions did


class Backfill:
    """The REST reads of one account (and, once, the category's instruments)."""

    def __init__(
        self,
        rest: RestApi,
        account: AccountState,
        market: MarketData,
        hub: EventHub,
        counters: Counter[str],
        category: str,
        exchange_ms: Callable[[], int],
    ) -> None:
        self.rest = rest
        self.account = account
        self.market = market
        self.hub = hub
        self.counters = counters
        self.category = category
        self._exchange_ms = exchange_ms  # the exchange's clock now (epoch ms), as the REST client measured it

    async def instruments(self) -> None:
        self.market.take_instruments(await self.rest.instruments(self.category))

    async def account_reads(self) -> None:
        """Wallet, positions, open orders, then executions: each read handed to the account as it arrives."""
        rest, account = self.rest, self.account
        try:
            account.take_wallet(await rest.wallet_balance())
        except UnreadableRecord as error:  # the wallet shown stays as it was; the backfill goes on
            self.counters["rejected_records"] += 1
            self.hub.publish(Notice("warning", f"Wallet not taken: {error}"))
        read_at = self._exchange_ms()
        positions = await rest.positions(self.category) if self.category != "spot" else None
        served = self._exchange_ms()
        doubt = math.ceil(rest.clock_error_ms)  # how good our estimate of its clock is
        unreadable = self.rejected_records("/v5/position/list")
        account.take_positions(positions or [], read_at, unreadable)
        asked = account.order_mark()
        orders = await rest.open_orders(self.category)
        account.take_open_orders(orders, asked, self.rejected_records("/v5/order/realtime"))
        await self.executions(account.backfill_from_ms)
        if account.history_behind(positions):  # a position holds an execution the list did not show yet
            await asyncio.sleep(REST_CATCH_UP_S)
            await self.executions(account.backfill_from_ms)
        account.reconcile_positions(positions, read_at, served, doubt, unreadable)

    def rejected_records(self, path: str) -> frozenset[str]:
        """Tell the records of ``path`` the REST client left out of its last listing; their symbols, which the
        account then keeps as they were rather than read them as flat or closed."""
        rejected = self.rest.rejected_records
        if not rejected:
            return frozenset()
        symbols = set()
        for record in [record for record in rejected if record.path == path]:
            rejected.remove(record)
            symbols.add(record.symbol)
            self.counters["rejected_records"] += 1
            self.hub.publish(Notice("warning", f"{path} record of {record.symbol!r} rejected: {record.why}"))
        return frozenset(symbols)

    async def executions(self, since_ms: int | None) -> None:
        """Executions from ``since_ms`` (all when None) into the account; the journal is whole up to the read."""
        start = None if since_ms is None else max(0, since_ms - 1000)  # overlap a second; the journal de-duplicates
        asked_at = self._exchange_ms()
        records = await self.rest.executions(self.category, start_time_ms=start)
        self.account.take_history(records, asked_at)

    async def reread_executions(self, journaled: bool) -> None:
        """The account says executions may be missing: read them again once Bybit's REST view caught up with the
        push that could not be taken (from the journal's completeness mark when ``journaled``, else all)."""
        await asyncio.sleep(REST_CATCH_UP_S)
        await self.executions(self.account.complete_until_ms() if journaled else None)
        self.account.finish_recovery()
