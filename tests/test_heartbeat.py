"""The WebSocket heartbeat on a scripted clock: when a ping goes out, when a link is declared dead, and when not.

No sockets: a :class:`Line` plays the exchange's side (market frames every 50 ms until the market goes quiet,
a pong 20 ms after each ping unless the path is dead or the pong is lost) and calls the link's own
``check_heartbeat`` every watchdog tick, so every timing here is exact and nothing sleeps.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from exchange.bybit.ws import RTT_RECHECK_S, SLOW_RTT_KEPT_S, WATCHDOG_TICK_S, LinkDead, WsLink

FRAME_EVERY_S = 0.05
PONG_AFTER_S = 0.02


class Line:
    """One link and the exchange behind it, on a clock that only this harness moves."""

    def __init__(
        self,
        *,
        quiet_from: float = float("inf"),
        dead_from: float = float("inf"),
        lose: int = 0,
        public: bool = True,
        pong_without_id: bool = False,
        idle_probe_after: float | None = None,
        probe_timeout: float | None = None,
    ) -> None:
        self.t = 0.0
        self.quiet_from, self.dead_from, self.lose = quiet_from, dead_from, lose
        self.pong_without_id = pong_without_id
        self.pings: list[float] = []
        self.died_at: float | None = None
        self.reason = ""
        self._pongs: list[tuple[float, str]] = []
        self._next_frame = 0.0
        figures = {"idle_probe_after": 3.0, "probe_timeout": 2.0} if public else {"idle_probe_after": 20.0}
        if idle_probe_after is not None:
            figures["idle_probe_after"] = idle_probe_after
        if probe_timeout is not None:
            figures["probe_timeout"] = probe_timeout
        self.link = WsLink(
            "ws://127.0.0.1/",
            None,  # type: ignore[arg-type]  # never opened: the harness feeds frames itself
            lambda frame, ms: None,
            name="public" if public else "private",
            clock=lambda: self.t,
            ping_interval=20.0,
            pong_timeout=10.0,
            **figures,  # type: ignore[arg-type]
        )
        self.link.last_frame_at = 0.0
        self.link._last_ping_at = 0.0  # as if the opening ping was answered at 0: the next regular one is at 20 s
        self.link.send = self._send  # type: ignore[method-assign]

    async def _send(self, payload: dict[str, Any]) -> None:
        self.pings.append(self.t)
        if self.t >= self.dead_from:
            return
        if self.lose > 0:
            self.lose -= 1
            return
        pong: dict[str, Any] = {"success": True, "ret_msg": "pong", "op": "ping"}
        if not self.pong_without_id:
            pong["req_id"] = payload["req_id"]
        self._pongs.append((self.t + PONG_AFTER_S, orjson.dumps(pong).decode()))

    def _deliver_until(self, end: float) -> None:
        while self._next_frame <= end:
            if self._next_frame < min(self.quiet_from, self.dead_from):
                self.t = self._next_frame
                self.link._handle_text('{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1,"data":{}}')
            self._next_frame += FRAME_EVERY_S
        for at, text in sorted(self._pongs):
            if at <= end and at < self.dead_from:
                self.t = at
                self.link._handle_text(text)
        self._pongs = [(at, text) for at, text in self._pongs if at > end]
        self.t = end

    async def run(self, until: float, naps: bool = False) -> Line:
        """Tick the watchdog until ``until`` or until it declares the link dead: every ``WATCHDOG_TICK_S``, or,
        with ``naps``, as the link's own watchdog does, after ``next_look_in()``."""
        while self.t < until:
            self._deliver_until(self.t + (self.link.next_look_in() if naps else WATCHDOG_TICK_S))
            try:
                await self.link.check_heartbeat()
            except LinkDead as dead:
                self.died_at, self.reason = self.t, str(dead)
                break
        return self


async def test_a_busy_healthy_link_pings_every_interval_and_lives() -> None:
    line = await Line().run(100.0)
    assert line.died_at is None and line.pings == pytest.approx([20.2, 40.2, 60.2, 80.2], abs=WATCHDOG_TICK_S)
    assert line.link.ping_rtt_ms == pytest.approx(PONG_AFTER_S * 1000, abs=1e-6)


async def test_a_quiet_healthy_public_link_is_probed_and_lives() -> None:
    line = await Line(quiet_from=5.0).run(60.0)
    assert line.died_at is None
    assert 10 <= len(line.pings) <= 20  # a probe every ~3 s of quiet, each answered


async def test_a_path_that_dies_between_pings_is_found_by_the_idle_probe() -> None:
    line = await Line(dead_from=10.0).run(60.0)
    assert line.died_at is not None and line.died_at - 10.0 <= 3.0 + 2.0 + 2 * WATCHDOG_TICK_S
    assert "no pong (silent for" in line.reason


async def test_a_path_that_dies_just_before_a_regular_ping_is_found_as_fast() -> None:
    """The regular ping (10 s deadline) goes out after the path died: the quiet still sends the short probe."""
    line = await Line(dead_from=19.0).run(60.0)
    assert line.died_at is not None and line.died_at - 19.0 <= 1.2 + 3.0 + 2.0 + 2 * WATCHDOG_TICK_S, line.pings


async def test_a_pong_lost_while_frames_flow_is_asked_for_again() -> None:
    line = await Line(lose=1).run(60.0)
    assert line.died_at is None and line.link.lost_pongs == 1
    # the second ping at the first one's deadline (the first tick past it)
    assert line.pings[:2] == pytest.approx([20.2, 30.2], abs=WATCHDOG_TICK_S + 1e-9)


async def test_a_pong_lost_as_the_market_goes_quiet_is_asked_for_again() -> None:
    """The CI failure, exactly: the market stops just before the regular ping, whose pong is lost."""
    line = await Line(quiet_from=19.99, lose=1).run(60.0)
    assert line.died_at is None, line.reason
    assert line.pings[1] - line.pings[0] == pytest.approx(3.0, abs=WATCHDOG_TICK_S + 1e-9)


async def test_pongs_lost_for_good_while_frames_flow_end_the_link_after_two_pings() -> None:
    line = await Line(lose=10**6).run(60.0)
    assert line.died_at is not None and line.died_at <= 20.2 + 10.0 + 2.0 + WATCHDOG_TICK_S
    assert line.reason == "public: no pong to 2 pings (frames still arriving)"
    assert len(line.pings) == 2


async def test_a_quiet_private_link_is_pinged_only_on_its_interval() -> None:
    line = await Line(quiet_from=1.0, public=False).run(100.0)
    assert line.died_at is None and line.pings == pytest.approx([20.2, 40.2, 60.2, 80.2], abs=WATCHDOG_TICK_S)


async def test_a_late_pong_to_the_first_ping_times_the_first_ping() -> None:
    """The first pong was only late, not lost: it arrives after the second ping and names the first's req_id."""
    line = Line(lose=1)
    await line.run(30.3)  # the second ping went out at 30.2
    first = next(iter(line.link._pings_sent))
    line.t = 31.0
    line.link._handle_text(orjson.dumps({"success": True, "ret_msg": "pong", "op": "ping", "req_id": first}).decode())
    assert line.link.ping_rtt_ms == pytest.approx((31.0 - 20.2) * 1000, abs=1e-6)
    assert not line.link._pings_sent and line.link._ping_deadline is None


async def test_a_slow_round_trip_is_measured_again_within_seconds_not_a_ping_interval() -> None:
    """A pong 3.8 s late (behind a slow auth, a burst): the next ping goes RTT_RECHECK_S later, so the figure on
    the bar is a slow moment's for seconds, not for the 20 s until the regular ping."""
    line = Line(lose=1)
    await line.run(20.3)  # the regular ping went out at 20.2; its pong is held back
    (held,) = line.link._pings_sent
    line.t = 24.0
    line.link._handle_text(orjson.dumps({"success": True, "ret_msg": "pong", "op": "ping", "req_id": held}).decode())
    assert line.link.ping_rtt_ms == pytest.approx(3800, abs=1e-6)
    await line.run(30.0)
    assert line.died_at is None
    assert line.pings[1] == pytest.approx(24.0 + RTT_RECHECK_S, abs=WATCHDOG_TICK_S + 1e-9), line.pings
    assert line.link.ping_rtt_ms == pytest.approx(PONG_AFTER_S * 1000, abs=1e-6)
    assert len(line.pings) == 2, "a fast round trip again: back to the regular interval"


async def test_a_slow_round_trip_is_not_shown_past_its_recheck() -> None:
    """ "ping 3800 ms" describes a slow moment: once its recheck could have answered and did not, no figure is
    shown rather than the slow one for the rest of the ping interval."""
    line = Line(lose=1)
    line.link._ws = SimpleNamespace(closed=False)  # type: ignore[assignment]  # open, as far as the figure goes
    await line.run(20.3)
    (held,) = line.link._pings_sent
    line.t = 24.0
    line.link._handle_text(orjson.dumps({"success": True, "ret_msg": "pong", "op": "ping", "req_id": held}).decode())
    line.lose = 1  # the recheck's pong is lost too
    await line.run(25.0)
    assert line.link.current_rtt_ms(25.0) == pytest.approx(3800, abs=1e-6), "the slow figure, while it is news"
    await line.run(24.0 + SLOW_RTT_KEPT_S + WATCHDOG_TICK_S)
    assert line.died_at is None and len(line.pings) == 2, line.pings
    assert line.link.current_rtt_ms(line.t) is None, "a slow figure past its recheck is no figure"


async def test_a_pong_that_names_no_ping_answers_the_latest() -> None:
    line = await Line(pong_without_id=True).run(25.0)
    assert line.died_at is None and line.link.ping_rtt_ms == pytest.approx(PONG_AFTER_S * 1000, abs=1e-6)


async def test_a_dead_private_path_is_found_at_the_private_probe() -> None:
    """The session's private figures: pinged after 5 s of quiet, 2 s deadline."""
    line = Line(quiet_from=1.0, dead_from=30.0, public=False, idle_probe_after=5.0, probe_timeout=2.0)
    await line.run(80.0)
    assert line.died_at is not None and line.died_at - 30.0 <= 5.0 + 2.0 + 2 * WATCHDOG_TICK_S, line.pings


async def test_a_quiet_healthy_private_link_answers_its_probes_and_lives() -> None:
    line = await Line(quiet_from=1.0, public=False, idle_probe_after=5.0, probe_timeout=2.0).run(60.0)
    assert line.died_at is None and 10 <= len(line.pings) <= 12  # one every ~5 s of quiet


@pytest.mark.slow
async def test_a_pong_waiting_in_the_socket_while_the_loop_was_held_is_read_before_any_verdict() -> None:
    """A long synchronous step (a big replay) holds the event loop past a probe's deadline while its pong sits in
    the socket: the watchdog notices its own late tick and lets the reader run before judging the link."""
    import asyncio
    import time

    import aiohttp
    from aiohttp import web

    async def answer_pings(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            ping = orjson.loads(message.data)
            await ws.send_str(orjson.dumps({"op": "pong", "req_id": ping.get("req_id"), "args": ["1"]}).decode())
        return ws

    server = web.Application()
    server.router.add_get("/ws", answer_pings)
    runner = web.AppRunner(server)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with aiohttp.ClientSession() as http:
            link = WsLink(
                f"ws://127.0.0.1:{port}/ws",
                http,
                lambda frame, ms: None,
                name="private",
                ping_interval=20.0,
                pong_timeout=2.0,
                idle_probe_after=5.0,
                probe_timeout=2.0,
            )
            await link.open()
            running = asyncio.create_task(link.run())
            while not link._pings_sent:  # the opening ping is out
                await asyncio.sleep(0.001)
            time.sleep(2.5)  # the loop held past the 2 s deadline, the pong unread
            await asyncio.sleep(1.0)
            assert not running.done(), running.exception()
            assert link.ping_rtt_ms is not None and not link._pings_sent
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
            await link.close()
    finally:
        await runner.cleanup()


async def test_a_handshake_redirected_elsewhere_is_refused_before_anything_is_sent() -> None:
    """Bybit's streams never redirect: a relay that does (to another host, or from wss:// to plain ws://) would
    get the private stream's auth (the API key and a signature valid until it expires) sent where nobody
    configured. The link is refused and nothing is sent on it."""
    import aiohttp
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    from exchange.bybit.ws import LinkDead, WsLink

    heard: list[str] = []

    async def elsewhere(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            heard.append(message.data)
        return ws

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(str(other.make_url("/steal")))

    other_app, relay_app = web.Application(), web.Application()
    other_app.router.add_get("/steal", elsewhere)
    relay_app.router.add_get("/{tail:.*}", redirect)
    async with TestServer(other_app) as other, TestServer(relay_app) as relay, aiohttp.ClientSession() as http:
        link = WsLink(str(relay.make_url("/v5/private")), http, lambda frame, ms: None, name="private")
        with pytest.raises(LinkDead) as caught:
            await link.open()
            await link.send({"op": "auth", "args": ["key", 1, "signature"]})
        await asyncio.sleep(0.2)
    assert "redirect" in str(caught.value)
    assert heard == []


SCENARIOS: dict[str, dict[str, Any]] = {
    "busy and healthy": {},
    "quiet and healthy": {"quiet_from": 10.0},
    "dies between pings": {"dead_from": 10.0},
    "dies as it goes quiet": {"quiet_from": 10.0, "dead_from": 12.0},
    "a pong lost": {"lose": 1},
    "pongs lost for good while frames flow": {"lose": 99},
    "quiet private": {"public": False, "quiet_from": 5.0},
}


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_a_watchdog_that_naps_until_its_next_look_pings_and_finds_a_dead_link_as_the_fixed_tick_does(
    scenario: str,
) -> None:
    fixed = await Line(**SCENARIOS[scenario]).run(90.0)
    napping = await Line(**SCENARIOS[scenario]).run(90.0, naps=True)
    assert (fixed.died_at is None) == (napping.died_at is None), (fixed.reason, napping.reason)
    if fixed.died_at is not None and napping.died_at is not None:
        assert napping.died_at <= fixed.died_at + 1e-9  # it wakes at the deadline itself, not up to a tick after
    naps, ticks = [t for t in napping.pings if t < 89.0], [t for t in fixed.pings if t < 89.0]  # (the window's end)
    assert len(naps) == len(ticks) and all(nap <= tick + 1e-9 for nap, tick in zip(naps, ticks, strict=True))
