"""The chart's data: one symbol's candles at one interval, backfilled over REST and continued live.

:class:`ChartFeed` opens its own public link (the desk's session and its subscriptions stay as they are),
subscribes ``kline.<interval>.<symbol>``, then reads ``/v5/market/kline`` into the series: a push that came while
the page was read is superseded by it, and the next push (every second or so) brings the open candle again. When
the link dies or the read fails the feed says it is not live, waits, and starts over; a push older than
:data:`STALE_AFTER_S` makes it not live too. Nothing here is drawn: the chart widget reads :attr:`series` and
:meth:`live`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from exchange.bybit.errors import BybitError
from exchange.bybit.rest import RestClient
from exchange.bybit.ws import WsLink
from exchange.candles import MAX_CANDLES, CandleSeries, kline_topic
from exchange.sources import LinkDead

__all__ = ["RETRY_AFTER_S", "STALE_AFTER_S", "ChartFeed"]

log = logging.getLogger(__name__)

STALE_AFTER_S = 65.0
"""Bybit pushes the open candle every 1-60 s (the local exchange every second): a minute and a little more of
silence is an outage. A dead socket is found sooner by the link's own pings (every 20 s)."""
RETRY_AFTER_S = 3.0
SUBSCRIBE_TIMEOUT_S = 10.0


class ChartFeed:
    """Candles of ``symbol`` at ``interval`` from ``rest`` (backfill) and the public WebSocket at ``url``."""

    def __init__(
        self,
        rest: RestClient,
        http: aiohttp.ClientSession,
        url: str,
        category: str,
        symbol: str,
        interval: str,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rest = rest
        self.http = http
        self.url = url
        self.category = category
        self.series = CandleSeries(symbol, interval)
        self.topic = kline_topic(interval, symbol)
        self.clock = clock
        self.problem = "connecting"
        self.backfills = 0
        self._connected = False
        self._last_push: float | None = None

    def live(self) -> bool:
        """True while the link is up, the backfill read, and a push came within :data:`STALE_AFTER_S`."""
        last = self._last_push
        return self._connected and last is not None and self.clock() - last <= STALE_AFTER_S

    def status(self) -> str:
        """What the chart says of its data: ``live``, or why not (a short phrase, never from the network)."""
        if self.live():
            return "live"
        return "not live: " + (self.problem if not self._connected else "no candle for a while")

    async def run(self) -> None:
        """Keep the series fed until cancelled."""
        while True:
            try:
                await self._run_once()
            except LinkDead:
                self.problem = "the link dropped"
            except (TimeoutError, BybitError, aiohttp.ClientError, OSError) as error:
                self.problem = "the candles could not be read"
                log.info("chart %s: %s", self.topic, type(error).__name__)
            self._connected = False
            await asyncio.sleep(RETRY_AFTER_S)

    async def _run_once(self) -> None:
        link = WsLink(self.url, self.http, self._on_frame, name=f"chart {self.topic}")
        await link.open()
        reader = asyncio.create_task(link.run(), name=f"chart-{self.topic}")
        try:
            ack = await link.request({"op": "subscribe", "args": [self.topic]}, SUBSCRIBE_TIMEOUT_S)
            if ack.get("success") is not True:
                self.problem = "the exchange refused the candle topic"
                return
            result = await self.rest.get(
                "/v5/market/kline",
                {"category": self.category, "symbol": self.series.symbol, "interval": self.series.interval,
                 "limit": MAX_CANDLES},
            )  # fmt: skip
            self.series.backfill(result.get("list"))
            self.backfills += 1
            self._connected = True
            self._last_push = self.clock()
            await reader
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            await link.close()

    def _on_frame(self, frame: dict[str, Any], *_: Any) -> None:
        if frame.get("topic") != self.topic:
            return
        self.series.push(frame.get("data"))
        self._last_push = self.clock()
