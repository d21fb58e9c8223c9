"""Half-open links: a stalled busy stream is found and replaced in seconds; a quiet healthy one is left alone.

The exchange's stall fault keeps the sockets open but sends nothing and answers no ping (JSON or protocol), as
a dead path behind a NAT does. The session must notice on its own: the public link's idle probe (3 s of
silence on a busy book, then a ping with a 2 s deadline), the private link's heartbeat. The deadlines awaited
here are failure bounds; the measured detection times are printed.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest

from exchange.bybit.ws import WsLink
from exchange.session import Timeouts
from tests.support.expect import instance
from tests.support.runtime import CATEGORY, is_ready, quiesce, resume, running_session, sim_settings
from tests.support.waiting import until


@pytest.mark.slow
async def test_stalled_public_link_is_detected_and_replaced() -> None:
    timeouts = Timeouts()  # the defaults: idle probe 3 s, probe deadline 2 s
    async with running_session(timeouts=timeouts) as rt:
        session = rt.session
        link = instance(WsLink, session._public)  # the link's own probe state is what is tested
        await until(lambda: link.frames > 100, what="a busy public stream")
        before = session.reconnects
        started = time.monotonic()
        rt.sim.faults.stall(30.0, "public")  # longer than any detection: only the session can end it
        await until(
            lambda: session.reconnects > before,
            3 * (timeouts.idle_probe_s + timeouts.probe_timeout_s),
            "the stalled public link to be declared dead",
        )
        detected = time.monotonic() - started
        reason = session.last_reconnect_reason
        await until(lambda: is_ready(rt), what="Ready on a fresh link")
        ready = time.monotonic() - started
        assert "no pong" in reason and reason.startswith("public"), reason
        assert session.reconnects == before + 1
        await quiesce(rt)
        resume(rt)
        print(
            f"\nstalled public link: declared dead after {detected:.2f} s ({reason}); Ready again after "
            f"{ready:.2f} s (budget: idle probe {timeouts.idle_probe_s:g} s + probe deadline "
            f"{timeouts.probe_timeout_s:g} s + 0.2 s watchdog tick)"
        )


async def test_stalled_private_link_is_detected_by_its_heartbeat() -> None:
    timeouts = Timeouts(ping_interval_s=2.0, pong_timeout_s=2.0)
    async with running_session(timeouts=timeouts) as rt:
        session = rt.session
        before = session.reconnects
        started = time.monotonic()
        rt.sim.faults.stall(30.0, "private")
        await until(
            lambda: session.reconnects > before,
            3 * (timeouts.ping_interval_s + timeouts.pong_timeout_s),
            "the stalled private link to be declared dead",
        )
        detected = time.monotonic() - started
        assert session.last_reconnect_reason.startswith("private"), session.last_reconnect_reason
        await until(lambda: is_ready(rt), what="Ready on a fresh link")
        print(
            f"\nstalled private link (ping every {timeouts.ping_interval_s:g} s, pong deadline "
            f"{timeouts.pong_timeout_s:g} s): declared dead after {detected:.2f} s"
        )


@pytest.mark.slow
async def test_a_dead_private_link_is_found_in_seconds_with_the_default_heartbeat() -> None:
    """The account stream is quiet by nature, so silence alone is no sign; but a dead one freezes fills, orders
    and the wallet under a green Ready. After 5 s of quiet it is pinged (2 s deadline): found in about 7 s, where
    the 20 s ping and its 10 s deadline alone took up to 30."""
    timeouts = Timeouts()
    async with running_session(timeouts=timeouts) as rt:
        session = rt.session
        private = instance(WsLink, session._private)  # the link's own probe state is what is tested
        await until(lambda: not private._pings_sent, 10.0, "the opening ping answered")
        before = session.reconnects
        started = time.monotonic()
        rt.sim.faults.stall(60.0, "private")
        bound = timeouts.private_idle_probe_s + timeouts.probe_timeout_s
        await until(lambda: session.reconnects > before, 2 * bound, "the dead private link found")
        assert session.last_reconnect_reason.startswith("private: no pong"), session.last_reconnect_reason
        print(f"\ndead private link found after {time.monotonic() - started:.2f} s (budget ~{bound:g} s)")
        await until(lambda: is_ready(rt), what="Ready on a fresh link")


async def test_short_stall_is_a_gap_not_a_reconnect() -> None:
    """A stall shorter than the idle probe loses frames but not the link: the books resubscribe instead, and
    their tickers with them (ticker deltas lost in the stall would otherwise leave fields stale)."""
    async with running_session() as rt:
        session = rt.session
        resubscribes = session.counters["resubscribes"]
        gaps = {symbol: book.counters.gaps for symbol, book in session.books.items()}
        rt.sim.faults.stall(1.0, "public")
        # Every book lost deltas in the stall; each finds out at its next delta (u jumps). Pausing the market
        # before a book has had one would leave its gap undiscoverable (no delta ever comes): wait for all.
        await until(
            lambda: all(book.counters.gaps > gaps[symbol] for symbol, book in session.books.items()),
            10.0,
            "every book to find its gap",
        )
        await until(lambda: session.counters["resubscribes"] > resubscribes, 10.0, "a resubscribe after the gap")
        await quiesce(rt)  # books equal to the exchange's, tickers equal to what it last published
        assert session.reconnects == 0
        assert is_ready(rt)
        resume(rt)


@pytest.mark.slow
async def test_quiet_healthy_links_are_not_torn_down() -> None:
    """No market moves and no account activity for several seconds: pings are answered, nothing reconnects."""
    timeouts = Timeouts(ping_interval_s=1.0)
    async with running_session(timeouts=timeouts) as rt:
        session = rt.session
        await quiesce(rt)  # the market is paused: the public link goes silent too, beyond the idle probe
        public, private = instance(WsLink, session._public), instance(WsLink, session._private)
        fills, orders = session.counters["fills"], len(session.orders)
        public_frames, private_frames = public.frames, private.frames
        # Several seconds of silence, counted in pongs (one per ping interval) rather than slept.
        await until(lambda: private.frames >= private_frames + 6, 20.0, "six private pongs")
        await until(lambda: public.frames >= public_frames + 6, 20.0, "six public pongs")
        assert session.reconnects == 0, session.last_reconnect_reason
        assert is_ready(rt)
        assert session._private is private and session._public is public, "a healthy link was replaced"
        assert session.counters["fills"] == fills and len(session.orders) == orders  # it really was quiet
        assert private.ping_rtt_ms is not None and public.ping_rtt_ms is not None
        print(
            f"\nquiet links kept: private {private.frames - private_frames} frames (all pongs), rtt "
            f"{private.ping_rtt_ms:.1f} ms; public {public.frames - public_frames} frames"
        )
        resume(rt)


# ------------------------------------------------------------------------------------------ lost pongs


async def test_a_lost_pong_while_frames_flow_is_asked_again_not_a_reconnect() -> None:
    """The exchange drops one pong but the book keeps speaking: the link is pinged once more and kept."""
    timeouts = Timeouts(ping_interval_s=1.0, pong_timeout_s=1.0)
    async with running_session(timeouts=timeouts) as rt:
        session = rt.session
        link = instance(WsLink, session._public)  # the link's own probe state is what is tested
        rt.sim.faults.lose_pongs(1, "public")
        await until(lambda: rt.sim.counters["ws.pongs_lost"] == 1, 10.0, "the exchange to swallow a pong")
        await until(lambda: link.lost_pongs == 1, 10.0, "the link to ask again")
        rtt = link.ping_rtt_ms
        await until(lambda: link.ping_rtt_ms != rtt, 10.0, "the second ping answered")
        assert session.reconnects == 0, session.last_reconnect_reason
        assert session._public is link and is_ready(rt)


@pytest.mark.slow
async def test_a_lost_pong_then_a_quiet_market_is_not_a_reconnect() -> None:
    """A pong lost (in a short stall) just before the market goes quiet: the outstanding ping must not block the
    idle probe, or the silence runs into the pong's deadline and reads as a dead link."""
    async with running_session() as rt:  # the real heartbeat figures: pong deadline 10 s, idle probe 3 s
        session = rt.session
        link = instance(WsLink, session._public)  # the link's own probe state is what is tested
        await until(lambda: not link._pings_sent, 10.0, "the first ping answered")
        rt.sim.faults.lose_pongs(1, "public")
        await link._ping(10.0)  # a regular ping, at a moment the test chooses
        ping_deadline = time.time() + 10.0
        await until(lambda: rt.sim.counters["ws.pongs_lost"] == 1, 10.0, "the exchange to swallow the pong")
        await until(lambda: link.frames > link._frames_at_ping, 10.0, "a frame after the ping")
        await quiesce(rt)  # the market stops: the public link falls silent with the ping unanswered
        await until(lambda: time.time() > ping_deadline + 1.0, 15.0, "the lost ping's deadline to pass")
        assert session.reconnects == 0, session.last_reconnect_reason
        assert session._public is link and is_ready(rt)
        assert not link._pings_sent and link.ping_rtt_ms is not None  # the probe in the quiet was answered
        resume(rt)


async def test_pongs_lost_for_good_end_the_link() -> None:
    """Frames flow but no ping is ever answered (the path to the exchange is gone one way): two pings, then a
    reconnect, within the pong deadline plus one probe deadline."""
    timeouts = Timeouts(ping_interval_s=1.0, pong_timeout_s=1.0)
    async with running_session(timeouts=timeouts) as rt:
        session = rt.session
        rt.sim.faults.lose_pongs(1000, "public")
        await until(
            lambda: session.reconnects == 1, 3 * (timeouts.pong_timeout_s + timeouts.probe_timeout_s), "a reconnect"
        )
        assert session.last_reconnect_reason == "public: no pong to 2 pings (frames still arriving)"
        await until(lambda: is_ready(rt), what="Ready on a fresh link")  # the fault held only the old sockets


@pytest.mark.slow
async def test_a_path_that_dies_just_after_a_ping_is_found_at_the_probe_deadline() -> None:
    """A regular ping is out (pong deadline 30 s here) when the link stalls: silence still triggers the short
    probe, so the link is declared dead in about idle probe + probe deadline, not at the pong deadline."""
    timeouts = Timeouts(pong_timeout_s=30.0)
    async with running_session(timeouts=timeouts) as rt:
        session = rt.session
        link = instance(WsLink, session._public)  # the link's own probe state is what is tested
        await until(lambda: not link._pings_sent, 10.0, "the first ping answered")
        rt.sim.faults.lose_pongs(1, "public")
        await link._ping(timeouts.pong_timeout_s)
        await until(lambda: rt.sim.counters["ws.pongs_lost"] == 1, 10.0, "the pong swallowed")
        await until(lambda: link.frames > link._frames_at_ping, 10.0, "a frame after the ping")
        rt.sim.faults.stall(60.0, "public")
        await until(
            lambda: session.reconnects == 1,
            2 * (timeouts.idle_probe_s + timeouts.probe_timeout_s),
            "the stalled link declared dead well before the 30 s pong deadline",
        )
        assert "no pong" in session.last_reconnect_reason, session.last_reconnect_reason
        await until(lambda: is_ready(rt), what="Ready on a fresh link")


@pytest.mark.slow
async def test_a_fill_lost_in_a_short_private_stall_is_found_from_the_position_and_read_again() -> None:
    """A stall shorter than the heartbeat's deadline loses the frames sent meanwhile and the link stays Ready: an
    execution the ledger never sees. The next position push says the exchange holds more; once that has lasted
    the grace, the desk shows the difference, tells it once and reads the executions again, which ends it."""
    async with running_session(sim_settings(symbols="BTCUSDT")) as rt:
        session, desk = rt.session, rt.session.desk
        before = session.reconnects
        rt.sim.faults.stall(0.5, "private")
        await rt.rest.place_order(CATEGORY, "BTCUSDT", "Buy", "Market", Decimal("0.010"))  # pushed into the stall
        await asyncio.sleep(1.0)
        await rt.rest.place_order(CATEGORY, "BTCUSDT", "Buy", "Market", Decimal("0.005"))
        await until(
            lambda: desk.positions.get("BTCUSDT") is not None and desk.positions["BTCUSDT"].size == Decimal("0.015"),
            what="the exchange's position",
        )
        entry = desk.ledger.entry("BTCUSDT")
        assert entry is not None and entry.position == Decimal("0.005"), "the stall lost nothing: nothing tested"
        started = time.monotonic()
        await until(lambda: "BTCUSDT" in desk.position_disagreements, what="the difference shown")
        shown = time.monotonic() - started
        await until(lambda: desk.ledger.entry("BTCUSDT").position == Decimal("0.015"), what="the lost fill read again")  # type: ignore[union-attr]
        assert not desk.position_disagreements and session.reconnects == before and is_ready(rt)
        print(f"\nfill lost in a 0.5 s private stall: shown after {shown:.1f} s, then read again over REST")
