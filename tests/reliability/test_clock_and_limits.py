"""Clock offsets, 10006 and 403 met inside the session's reconnect cycle (the REST client's own tests cover it
alone).

The exchange's clock is shifted while a session runs; each shift is followed by two forced reconnects. The
first may meet the old offset (one ``10002`` that the REST client answers with a resync, or one private auth
that arrives expired and makes the session measure the clock and ask again on the same link, with no extra
reconnect); the second must be clean,
and its auth must be signed with the measured offset: ``expires`` is the exchange's now plus the auth expiry.

10006 and 403 are switched on exactly when the backfill starts (a wrapper around the first backfill read): the
exchange applies both faults to every ``/v5`` path, WebSocket handshakes included, so switching them on
earlier would test the handshake instead of the backfill.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

import exchange.private_auth as auth_module
from exchange.bybit import signing
from exchange.events import LinkState, SessionState, StateChanged
from tests.support.runtime import is_ready, running_session
from tests.support.waiting import until

OFFSETS_MS = (-30_000, -6_000, 1_500, 30_000)


class AuthSpy:
    """Every private auth the session signs: (expires, the exchange's clock when it was signed)."""

    def __init__(self) -> None:
        self.sim: Any = None
        self.signed: list[tuple[int, int]] = []


@pytest.fixture
def auth_spy(monkeypatch: pytest.MonkeyPatch) -> AuthSpy:
    spy = AuthSpy()
    real = signing.ws_auth_signature  # what the auth request calls, by its own name for it

    def signature(secret: str, expires: int) -> str:
        spy.signed.append((expires, spy.sim.clock.now_ms() if spy.sim is not None else 0))
        return real(secret, expires)

    monkeypatch.setattr(auth_module, "ws_auth_signature", signature)
    return spy


async def _reconnect(rt: Any) -> None:
    before = rt.session.reconnects
    await rt.sim.faults.drop_connections("")
    await until(lambda: rt.session.reconnects > before and is_ready(rt), 30.0, "Ready after a forced reconnect")


async def test_clock_offsets_in_the_reconnect_cycle(auth_spy: AuthSpy) -> None:
    async with running_session() as rt:
        session, sim, rest = rt.session, rt.sim, rt.rest
        auth_spy.sim = sim
        expiry_ms = int(session.timeouts.auth_expiry_s * 1000)
        report = []
        for offset in OFFSETS_MS:
            sim.faults.set_clock_offset(offset)
            first = {
                "10002": sim.counters["rest.10002"],
                "auth_fail": sim.counters["ws.private.auth_fail"],
                "reconnects": session.reconnects,
            }
            await _reconnect(rt)
            first_10002 = sim.counters["rest.10002"] - first["10002"]
            first_auth_fail = sim.counters["ws.private.auth_fail"] - first["auth_fail"]
            extra_reconnects = session.reconnects - first["reconnects"] - 1
            assert first_10002 <= 1, f"offset {offset}: {first_10002} timestamp rejections in one backfill"
            assert first_auth_fail <= 1 and extra_reconnects == 0, (
                first_auth_fail,
                extra_reconnects,
            )

            second = {
                "10002": sim.counters["rest.10002"],
                "auth_fail": sim.counters["ws.private.auth_fail"],
                "auth_ok": sim.counters["ws.private.auth_ok"],
                "syncs": rest.stats.clock_syncs,
            }
            signed_before = len(auth_spy.signed)
            await _reconnect(rt)
            assert sim.counters["rest.10002"] == second["10002"], f"offset {offset}: 10002 after a resync"
            assert sim.counters["ws.private.auth_fail"] == second["auth_fail"]
            assert sim.counters["ws.private.auth_ok"] == second["auth_ok"] + 1
            expires, server_now = auth_spy.signed[-1]
            assert len(auth_spy.signed) == signed_before + 1
            # Signed with the measured offset: valid for auth_expiry_s of the *exchange's* time.
            assert abs((expires - server_now) - expiry_ms) < 1_000, (offset, expires - server_now)
            assert abs(rest.clock_offset_ms - offset) < 1_000, (offset, rest.clock_offset_ms)
            assert session.wallet is not None  # the backfill ran
            report.append(
                f"{offset:+d} ms: first cycle {first_10002}x 10002, {first_auth_fail}x expired auth; "
                f"then expires = server + {(expires - server_now) / 1000:.2f} s"
            )
        sim.faults.set_clock_offset(0)
        assert session.state.kind is LinkState.READY
        print("\nclock offsets:\n  " + "\n  ".join(report))


async def test_session_starts_against_a_skewed_exchange() -> None:
    """The first auth of a run is signed after measuring the clock, so a +30 s exchange is no obstacle."""
    from exchange.bybit.sim.clock import SimClock

    async with running_session(sim_overrides={"clock": SimClock(offset_ms=30_000)}) as rt:
        assert rt.sim.counters["ws.private.auth_fail"] == 0
        assert rt.session.reconnects == 0
        assert rt.sim.counters["rest.10002"] == 0


def _arm(rt: Any, fault: Callable[[], None]) -> dict[str, int]:
    """Switch ``fault`` on when the next backfill starts (the session's first backfill read is the wallet)."""
    armed = {"armed": 1, "fired": 0}
    real = rt.rest.wallet_balance

    async def wallet_balance(*args: Any, **kwargs: Any) -> Any:
        if armed["armed"]:
            armed["armed"] = 0
            armed["fired"] += 1
            fault()
        return await real(*args, **kwargs)

    rt.rest.wallet_balance = wallet_balance
    return armed


async def test_10006_during_backfill_is_waited_out_within_the_step() -> None:
    async with running_session() as rt:
        session, rest = rt.session, rt.rest
        states = rt.hub.subscribe([StateChanged], name="test")
        armed = _arm(rt, lambda: rt.sim.faults.rate_limit_for(1.0))
        limited = rest.stats.rate_limited
        await _reconnect(rt)
        assert armed["fired"] == 1
        assert rest.stats.rate_limited > limited, "the backfill never met the 10006"
        assert session.reconnects == 1, "the 10006 was waited for inside the step, not by reconnecting"
        kinds = [e.state.kind for e in states.drain() if isinstance(e, StateChanged)]
        assert LinkState.FAILED not in kinds
        print(
            f"\n10006 in backfill: {rest.stats.rate_limited - limited} answers waited out, states "
            + " -> ".join(k.value for k in kinds)
        )


async def test_10006_outlasting_the_client_retries_waits_for_the_reset() -> None:
    async with running_session() as rt:
        session, rest = rt.session, rt.rest
        rest.transport.rate_limit_retries = 0  # the REST client gives up at once: the session must wait, not fail
        states = rt.hub.subscribe([StateChanged], name="test")
        fired: dict[str, int] = {}

        def fault() -> None:
            rt.sim.faults.rate_limit_for(1.0)
            fired["reset_ms"] = rt.sim.faults.rate_limit_reset_ms

        _arm(rt, fault)
        requests = rt.sim.counters["rest.requests"]
        await _reconnect(rt)
        events = [e.state for e in states.drain() if isinstance(e, StateChanged)]
        waits = [s for s in events if s.kind is LinkState.RECONNECTING]
        assert LinkState.FAILED not in [s.kind for s in events]
        assert len(waits) == 2, [str(s) for s in events]  # the drop, then the 10006
        assert "rate limit" in waits[1].reason, waits[1].reason
        assert waits[1].next_retry_ms is not None and waits[1].next_retry_ms >= fired["reset_ms"], (
            waits[1],
            fired,
        )
        assert rt.sim.counters["rest.10006"] == 1, "nothing was sent to the exchange before the reset"
        print(
            f"\n10006 beyond the client's retries: session waited {_delay(waits[1]):.2f} s "
            f"(reset in {(fired['reset_ms'] - waits[1].since_ms) / 1000:.2f} s); "
            f"{rt.sim.counters['rest.requests'] - requests} requests in all"
        )
        assert session.state.kind is LinkState.READY


async def test_403_during_backfill_cools_down_then_retries() -> None:
    async with running_session() as rt:
        session, rest = rt.session, rt.rest
        rest.transport.forbidden_first_s = 1.0  # the client's first cool-down (3 s by default), shortened for the test
        states = rt.hub.subscribe([StateChanged], name="test")
        _arm(rt, lambda: rt.sim.faults.forbid_for(0.3))
        await _reconnect(rt)
        events = [e.state for e in states.drain() if isinstance(e, StateChanged)]
        waits = [s for s in events if s.kind is LinkState.RECONNECTING]
        assert LinkState.FAILED not in [s.kind for s in events]
        assert rest.stats.forbidden == 1
        assert len(waits) == 2, [str(s) for s in events]
        assert "403" in waits[1].reason, waits[1].reason
        assert waits[1].next_retry_ms is not None and waits[1].next_retry_ms >= rest.transport.forbidden_until_ms
        assert rest.stats.refused_in_cooldown == 0, "the session knocked again during the cool-down"
        assert session.state.kind is LinkState.READY
        print(f"\n403 in backfill: cooled down {_delay(waits[1]):.2f} s, then Ready; {session.reconnects} reconnects")


def _delay(state: SessionState) -> float:
    assert state.next_retry_ms is not None
    return (state.next_retry_ms - state.since_ms) / 1000


async def test_r_gets_through_a_403_cool_down_once_the_exchange_listens_again() -> None:
    """The cool-down is the client's own guess: an explicit reconnect lifts it for one attempt."""
    async with running_session() as rt:
        session, rest = rt.session, rt.rest
        rest.transport.forbidden_first_s = 60.0  # a long guess, so only lifting it can make the desk Ready soon
        _arm(rt, lambda: rt.sim.faults.forbid_for(0.3))
        await rt.sim.faults.drop_connections("")
        await until(lambda: "403" in session.state.reason, 20.0, "the 403 cool-down")
        assert rest.transport.forbidden_until_ms > 0
        await until(lambda: not rt.sim.faults.forbidden, 5.0, "the ban over")
        assert session.reconnect_now()
        await until(lambda: is_ready(rt), 15.0, "Ready on r, long before the cool-down's end")
        assert rest.stats.forbidden == 1


async def test_a_403_ban_still_on_after_a_cool_down_costs_a_probe_not_a_connection() -> None:
    """After each cool-down one unsigned market/time decides; no socket is opened while the IP is refused."""
    ban_s = 3.0
    async with running_session() as rt:
        session, rest = rt.session, rt.rest
        rest.transport.forbidden_first_s = 0.5
        ban_end: list[float] = []

        def forbid() -> None:
            rt.sim.faults.forbid_for(ban_s)
            ban_end.append(time.time() + ban_s)

        _arm(rt, forbid)
        starts = len(session._connection_starts)
        await _reconnect(rt)
        opened = list(session._connection_starts)[starts:]
        during = [t for t in opened if ban_end[0] - ban_s + 0.1 < t < ban_end[0] - 0.1]
        assert rest.stats.forbidden >= 2, "the ban outlasted the first cool-down"
        assert not during, f"{len(during)} connections opened during the ban"
        assert rest.stats.refused_in_cooldown == 0
