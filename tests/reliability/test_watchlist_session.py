"""The session's watched symbols changing while it runs: added and removed on the open link with no reconnect, the
new book equal to the exchange's through its snapshot, and an addition during an outage subscribed by the next
connection with the others."""

from __future__ import annotations

from decimal import Decimal

import pytest

from exchange.book import BookState
from exchange.desk import Instrument
from exchange.events import LinkState
from exchange.session import Backoff
from exchange.watchlist import WatchRefused
from tests.support.runtime import EmbeddedRuntime, book_mismatch, is_ready, quiesce, running_session, sim_settings
from tests.support.waiting import until

XRP_TOPICS = {"orderbook.50.XRPUSDT", "publicTrade.XRPUSDT", "tickers.XRPUSDT"}


def subscribed(rt: EmbeddedRuntime) -> set[str]:
    """What the exchange holds subscribed on the session's open public connection."""
    connections = rt.sim.connections.all("public")
    return {topic for conn in connections if not conn.closed for topic in conn.subscriptions}


async def test_watch_and_unwatch_on_the_open_link() -> None:
    async with running_session(sim_settings(symbols="BTCUSDT,ETHUSDT")) as rt:
        session = rt.session
        link = [conn.conn_id for conn in rt.sim.connections.all("public")]
        assert await session.watch(" xrpusdt") == "XRPUSDT"
        assert session.desk.symbols == ["BTCUSDT", "ETHUSDT", "XRPUSDT"] == session.symbols
        assert subscribed(rt) >= XRP_TOPICS and set(session.desired_topics()) >= XRP_TOPICS
        await quiesce(rt)  # the new book and ticker equal to the exchange's, like every other
        assert book_mismatch(rt, "XRPUSDT") is None
        rt.sim.faults.resume_market()
        await session.unwatch("XRPUSDT")
        assert not subscribed(rt) & XRP_TOPICS and not set(session.desired_topics()) & XRP_TOPICS
        assert "XRPUSDT" not in session.books and session.symbols == ["BTCUSDT", "ETHUSDT"]
        assert session.reconnects == 0 and session.state.kind is LinkState.READY
        assert [conn.conn_id for conn in rt.sim.connections.all("public")] == link
        with pytest.raises(WatchRefused, match="BTCUSDT is already watched"):
            await session.watch("BTCUSDT")
        with pytest.raises(WatchRefused, match="NOPEUSDT is not listed by the exchange in linear"):
            await session.watch("NOPEUSDT")
        session.desk.instruments["GHOSTUSDT"] = Instrument("GHOSTUSDT", Decimal("0.1"), Decimal("1"))
        with pytest.raises(WatchRefused, match="GHOSTUSDT not added: the exchange refused its order book topic"):
            await session.watch("GHOSTUSDT")  # listed, then refused by the stream: nothing of it stays
        assert "GHOSTUSDT" not in session.desk.symbols and not any("GHOST" in t for t in session.desired_topics())
        assert not any("GHOST" in topic for topic in subscribed(rt))
        with pytest.raises(WatchRefused, match="XRPUSDT is not watched"):
            await session.unwatch("XRPUSDT")
        await session.unwatch("ETHUSDT")
        with pytest.raises(WatchRefused, match="BTCUSDT is the only symbol watched"):
            await session.unwatch("BTCUSDT")
        assert session.reconnects == 0 and session.counters["unknown_topic_frames"] == 0


async def test_a_symbol_added_in_an_outage_is_subscribed_by_the_next_connection() -> None:
    slow = Backoff(initial_s=1.0, factor=1.0, cap_s=1.0, burst=1000)  # an outage of about a second
    async with running_session(sim_settings(symbols="BTCUSDT"), backoff=slow) as rt:
        session = rt.session
        await rt.sim.faults.drop_connections()
        await until(lambda: session.state.kind is LinkState.RECONNECTING, what="the outage")
        await session.watch("SOLUSDT")
        assert session.books["SOLUSDT"].state is BookState.AWAITING_SNAPSHOT
        await until(lambda: is_ready(rt), what="Ready again")
        assert session.books["SOLUSDT"].state is BookState.SYNCED  # Ready waited for its snapshot too
        assert {"orderbook.50.SOLUSDT", "tickers.SOLUSDT"} <= subscribed(rt)
        await until(lambda: session.desk.last_price("SOLUSDT") is not None, what="its ticker")
