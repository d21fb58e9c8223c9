"""Symbols watched and unwatched while the session runs (the watchlist): subscribed or unsubscribed on the open
public link, never a reconnect.

An added symbol's book goes through the same snapshot path as every other; a removed one leaves the desk at once
and its frames still in flight are dropped quietly until the unsubscribe is acked. Without a link, the next
connection subscribes the watched set. The rules and figures (the cap, a name that is no symbol) are
:mod:`exchange.watchlist`; this module applies them to a running session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from exchange.backfill import Backfill
from exchange.desk import Desk
from exchange.market_data import MarketData
from exchange.printable import printable
from exchange.retry import Timeouts
from exchange.sources import FrameLink, LinkDead
from exchange.subscriptions import Subscriptions
from exchange.watchlist import WatchRefused, addition_refused, read_symbol

log = logging.getLogger("exchange.session")  # the session's doing: logged under its name


class SymbolWatch:
    """Adds and removes one running session's symbols; ``public`` is its public link now (None: none open) and
    ``lose`` ends its connection for a reason (a link found dead while asking)."""

    def __init__(
        self,
        desk: Desk,
        market: MarketData,
        subscriptions: Subscriptions,
        symbols: list[str],
        *,
        category: str,
        timeouts: Timeouts,
        backfill: Backfill | None,
        public: Callable[[], FrameLink | None],
        lose: Callable[[str], None],
    ) -> None:
        self.desk = desk
        self.market = market
        self.subscriptions = subscriptions
        self.symbols = symbols  # the session's own list, kept in step with the desk's
        self.category = category
        self.timeouts = timeouts
        self.backfill = backfill
        self._public = public
        self._lose = lose

    async def watch(self, text: str) -> str:
        """Watch one more symbol (see :meth:`exchange.session.Session.watch`)."""
        symbol = read_symbol(text)
        if not self.desk.instruments and self.backfill is not None and symbol not in self.desk.symbols:
            with contextlib.suppress(Exception):  # unread, the refusal below says so
                await asyncio.wait_for(self.backfill.instruments(), self.timeouts.backfill_s)
        refused = addition_refused(symbol, self.desk.symbols, self.desk.instruments.keys(), self.category)
        if refused is not None:
            raise WatchRefused(refused)
        topics = self.market.add_symbol(symbol)
        self.symbols.append(symbol)
        link = self._public()
        if link is not None and link.open_:
            self.market.awaiting_snapshot(topics[0])
            try:
                await self.subscriptions.subscribe(link, topics)
            except LinkDead as dead:  # the next connection subscribes it with the others
                self._lose(str(dead))
        if topics[0] not in self.market.topics:  # Bybit does not know its book: nothing to watch
            await self.drop(symbol)
            raise WatchRefused(f"{symbol} not added: the exchange refused its order book topic.")
        return symbol

    async def unwatch(self, symbol: str) -> None:
        """Stop watching ``symbol`` (see :meth:`exchange.session.Session.unwatch`)."""
        if symbol not in self.desk.symbols:
            raise WatchRefused(f"{printable(symbol, 40)} is not watched.")
        if len(self.desk.symbols) == 1:
            raise WatchRefused(f"{symbol} is the only symbol watched: add another before removing it.")
        await self.drop(symbol)

    async def drop(self, symbol: str) -> None:
        """``symbol`` leaves the desk at once; its topics are unsubscribed on the open link."""
        if symbol in self.symbols:
            self.symbols.remove(symbol)
        topics = self.market.remove_symbol(symbol)
        link = self._public()
        if link is None or not link.open_ or not topics:
            self.market.left(topics)
            return
        try:
            reply = await self.subscriptions.unsubscribe(link, topics)
        except LinkDead as dead:
            self._lose(str(dead))
            return
        if reply.get("success") is True:
            self.market.left(topics)
        else:  # its frames stay dropped quietly until the link is renewed
            log.warning("unsubscribe of %s refused: %s", symbol, printable(str(reply.get("ret_msg")), 80))
