"""Topic subscriptions on a public link: the requests (spot: at most 10 topics each), and what a reply means.

Bybit refuses a whole batch for one topic it does not know and names only that one; the others may or may not be
subscribed, so each is asked for again on its own. Kept apart from :mod:`exchange.session` because the same
rules serve a connection's recovery, a symbol watched while running and a resync's resubscribe.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from exchange.bybit.protocol import subscribe_batches
from exchange.events import Notice
from exchange.hub import EventHub
from exchange.market_data import MarketData
from exchange.printable import printable
from exchange.retry import Timeouts
from exchange.sources import FrameLink, LinkDead

MAX_REASON_CHARS = 120  # of a server's words in a state's reason: states are kept, shown and recorded

Reply = Mapping[str, Any]
Step = Callable[[Awaitable[Reply]], Awaitable[Reply]]
"""How a request is awaited: within a recovery, raced against the link's loss."""


async def _awaited(request: Awaitable[Reply]) -> Reply:
    return await request


class Subscriptions:
    """The subscribe, unsubscribe and resubscribe requests for the market's topics, and their acks."""

    def __init__(
        self, market: MarketData, hub: EventHub, counters: Counter[str], category: str, timeouts: Timeouts
    ) -> None:
        self.market = market
        self.hub = hub
        self.counters = counters
        self.category = category
        self.timeouts = timeouts

    async def subscribe(self, link: FrameLink, topics: list[str], step: Step = _awaited) -> None:
        """Subscribe ``topics`` in batches; a refused topic is dropped for good, the rest of its batch asked for
        one by one. :class:`LinkDead` when a reply refuses for another reason."""
        for batch in subscribe_batches(self.category, topics):
            reply = await step(link.request({"op": "subscribe", "args": batch}, self.timeouts.subscribe_s))
            for topic in self.check_ack(reply, batch):
                reply = await step(link.request({"op": "subscribe", "args": [topic]}, self.timeouts.subscribe_s))
                self.check_ack(reply, [topic])

    async def unsubscribe(self, link: FrameLink, topics: list[str]) -> Reply:
        return await link.request({"op": "unsubscribe", "args": topics}, self.timeouts.subscribe_s)

    async def resubscribe(self, link: FrameLink, topics: list[str]) -> list[str]:
        """Unsubscribe and subscribe again, for fresh snapshots; returns the topics to ask for again, each on its
        own (see :meth:`check_ack`)."""
        await self.unsubscribe(link, topics)
        reply = await link.request({"op": "subscribe", "args": topics}, self.timeouts.subscribe_s)
        self.counters["resubscribes"] += 1
        return self.check_ack(reply, topics)

    def check_ack(self, reply: Reply, batch: list[str]) -> list[str]:
        """Check a subscribe reply; returns the topics of ``batch`` to ask for again, each on its own: a refusal
        names only one topic (the one dropped for good here), and the others may or may not be subscribed."""
        if reply.get("success") is True:
            return []
        message = printable(str(reply.get("ret_msg") or ""))
        if "already subscribed" in message:
            return []
        if "handler not found" in message:
            bad = message.rsplit("topic:", 1)[-1].strip()
            rejected = [topic for topic in batch if topic == bad] or batch
            for topic in rejected:
                self.market.drop_topic(topic)
                self.counters["topics_rejected"] += 1
                self.hub.publish(Notice("error", f"Bybit does not know topic {topic}"))
            return [topic for topic in batch if topic not in rejected and topic in self.market.topics]
        raise LinkDead(f"subscribe refused: {message[:MAX_REASON_CHARS] or 'no reason given'}")
