"""A symbol the exchange does not list: its topics are refused and dropped, the others all live before Ready."""

from __future__ import annotations

from exchange.events import Notice
from tests.support.runtime import is_ready, running_session, sim_settings
from tests.support.waiting import until


async def test_an_unknown_symbol_is_dropped_and_every_other_topic_is_live_at_ready() -> None:
    settings = sim_settings(symbols="BTCUSDT,ETHUSDT,SOLUSDT")
    async with running_session(settings, sim_overrides={"symbols": ("BTCUSDT", "ETHUSDT")}, wait_ready=False) as rt:
        notices = rt.hub.subscribe([Notice], name="test")
        await until(lambda: is_ready(rt), what="Ready")
        session, sim = rt.session, rt.sim
        wanted = set(session.desired_topics())
        assert wanted and not any("SOLUSDT" in topic for topic in wanted)
        # at the moment Ready was reached, the exchange already had every remaining topic subscribed
        public = [c for c in sim.connections.all("public") if not c.closed]
        assert len(public) == 1 and public[0].subscriptions == wanted
        assert session.counters["topics_rejected"] == 3
        told = [e.text for e in notices.drain() if isinstance(e, Notice) and "does not know" in e.text]
        assert len(told) == 3
