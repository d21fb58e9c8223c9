"""The link figures the connection bar shows: a message rate and a round trip that describe the link now, not the
last moment it was busy."""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

import aiohttp
import pytest

from exchange.bybit.ws import WsLink
from exchange.config import load_settings
from exchange.hub import EventHub
from exchange.journal import Journal
from exchange.session import Session

T0 = 1_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def session(clock: Clock) -> Session:
    environ = {"BYBIT_TESTNET_API_KEY": "k" * 12, "BYBIT_TESTNET_API_SECRET": "s" * 12}
    return Session(
        load_settings(cfg="testnet", base_url="http://127.0.0.1:9", environ=environ),
        hub=EventHub(),
        journal=Journal(":memory:"),
        clock=clock,
    )


class Socket(SimpleNamespace):
    """Just enough of an aiohttp socket for a link to count as open, and to close."""

    closed = False

    async def close(self) -> bool:
        self.closed = True
        return True


def open_link(clock: Clock, ping_interval: float = 20.0) -> WsLink:
    link = WsLink(
        "ws://127.0.0.1:9",
        cast(aiohttp.ClientSession, None),  # never used: the test hands the link its socket
        lambda frame, ms: None,
        name="public",
        clock=clock,
        ping_interval=ping_interval,
    )
    link._ws = Socket()  # type: ignore[assignment]
    return link


def pong_after(link: WsLink, clock: Clock, seconds: float) -> None:
    link._pings_sent["p1"] = clock.now
    clock.now += seconds
    link._handle_text('{"op": "pong", "req_id": "p1", "success": true}')


def stream(s: Session, clock: Clock, frames: int, seconds: float) -> None:
    for _ in range(frames):
        clock.now += seconds / frames
        s._topic({"topic": "tickers.BTCUSDT"}, int(clock.now * 1000))


async def test_the_message_rate_falls_to_zero_on_a_quiet_link_and_with_no_link_at_all() -> None:
    clock = Clock()
    s = session(clock)
    s._public = open_link(clock)
    stream(s, clock, 180, 2.0)
    assert s.link_stats().messages_per_second == pytest.approx(90, abs=1)
    clock.now += 5
    assert s.link_stats().messages_per_second == 0, "five quiet seconds: nothing is arriving"
    stream(s, clock, 90, 1.0)
    s._publish_stats()  # the last figures before the link went (as Failed publishes them)
    assert s.desk.stats is not None and s.desk.stats.messages_per_second > 0
    await s._teardown()  # the sockets are closed: Reconnecting or Failed from here, for as long as it lasts
    clock.now += 25
    assert s.desk.stats.messages_per_second == 0, "no socket open: the desk must not keep the last rate"
    assert s.link_stats().messages_per_second == 0


async def test_a_round_trip_is_shown_only_while_its_link_is_open_and_recent() -> None:
    clock = Clock()
    s = session(clock)
    link = s._public = open_link(clock, ping_interval=20.0)
    pong_after(link, clock, 3.8)  # a slow moment: a 3800 ms round trip
    assert s.link_stats().ping_rtt_ms is not None and round(s.link_stats().ping_rtt_ms or 0) == 3800
    pong_after(link, clock, 0.012)  # measured again (RTT_RECHECK_S after a slow one): the figure is the new one
    assert round(s.link_stats().ping_rtt_ms or 0) == 12
    clock.now += 21.5
    assert s.link_stats().ping_rtt_ms is not None, "within a ping interval and the probe deadline the figure stands"
    clock.now += 1
    assert s.link_stats().ping_rtt_ms is None, "the next pong is overdue: no figure"
    pong_after(link, clock, 0.012)
    link._pings_sent["p2"] = clock.now  # a ping out, its pong late
    clock.now += 0.9
    assert round(s.link_stats().ping_rtt_ms or 0) == 12, "a pong a little late: the figure stands"
    clock.now += 0.2
    assert s.link_stats().ping_rtt_ms is None, "a pong outstanding over a second: the round trip is not 12 ms"
    link._pings_sent.clear()
    await link.close()
    assert s.link_stats().ping_rtt_ms is None, "a closed socket has no round trip"
