"""What a slow recovery waits on is said, not hidden behind "sockets open": a slow private auth is named
("authenticating", dated from when it was sent), and a 10006 met in the backfill is named with Bybit's reset,
which the bar counts down. A quick recovery adds no state at all."""

from __future__ import annotations

from typing import Any

import pytest

from exchange.events import LinkState, SessionState, StateChanged
from tests.support.runtime import is_ready, running_session
from tests.support.waiting import until

AUTH_DELAY_S = 2.5
STEPS = ("authenticating", "subscribing", "waiting for book snapshots", "reading the account")
RATE_LIMIT_S = 3.0


async def _reconnect(rt: Any) -> list[SessionState]:
    """Drop every link and return the states until Ready again."""
    states = rt.hub.subscribe([StateChanged], name="test")
    before = rt.session.reconnects
    await rt.sim.faults.drop_connections("")
    await until(lambda: rt.session.reconnects > before and is_ready(rt), 30.0, "Ready after the drop")
    return [e.state for e in states.drain() if isinstance(e, StateChanged)]


async def test_a_slow_auth_is_named_from_the_moment_it_was_sent() -> None:
    async with running_session() as rt:
        rt.sim.faults.auth_delay_s = AUTH_DELAY_S
        states = await _reconnect(rt)
        connected = [s for s in states if s.kind is LinkState.CONNECTED]
        assert [s.reason for s in connected][:2] == ["sockets open", "authenticating"], [str(s) for s in states]
        named = connected[1]
        assert named.waiting and not connected[0].waiting, "the bar is told the recovery is held up, not fine"
        nxt = states[states.index(named) + 1]
        print(f"\nslow auth: named for {(nxt.since_ms - named.since_ms) / 1000:.2f} s, then {nxt}")
        assert named.since_ms - connected[0].since_ms < 1000, "dated from the auth, not from when it was found slow"
        assert nxt.since_ms - named.since_ms >= AUTH_DELAY_S * 1000 - 300, "the wait it names is the auth's"
        assert rt.session.reconnects == 1


async def test_a_10006_in_the_backfill_is_named_with_its_reset(monkeypatch: pytest.MonkeyPatch) -> None:
    async with running_session() as rt:
        real = rt.rest.wallet_balance
        fired: dict[str, int] = {}

        async def wallet_balance(*args: Any, **kwargs: Any) -> Any:
            if not fired:
                rt.sim.faults.rate_limit_for(RATE_LIMIT_S)
                fired["reset_ms"] = rt.sim.faults.rate_limit_reset_ms
            return await real(*args, **kwargs)

        monkeypatch.setattr(rt.rest, "wallet_balance", wallet_balance)
        states = await _reconnect(rt)
        limited = [s for s in states if s.kind is LinkState.CONNECTED and "10006" in s.reason]
        assert limited, [str(s) for s in states]
        assert limited[0].next_retry_ms is not None and limited[0].waiting
        assert abs(limited[0].next_retry_ms - fired["reset_ms"]) < 1000, (limited[0], fired)  # the sim's clock is ours
        assert "reading the account" in limited[0].reason, limited[0].reason
        assert rt.session.reconnects == 1, "waited out inside the step"
        assert states[-1].kind is LinkState.READY


async def test_a_recovery_says_sockets_open_first_and_then_only_its_steps() -> None:
    """A quick recovery says "sockets open" and is Ready; a step that took over a second on a loaded machine may
    be named too, but nothing else is said within Connected, and no state other than these comes between."""
    async with running_session() as rt:
        states = await _reconnect(rt)
        kinds = [kind for i, kind in enumerate(s.kind for s in states) if i == 0 or states[i - 1].kind != kind]
        assert kinds == [LinkState.RECONNECTING, LinkState.CONNECTING, LinkState.CONNECTED, LinkState.READY], [
            str(s) for s in states
        ]
        connected = [s.reason for s in states if s.kind is LinkState.CONNECTED]
        assert connected[0] == "sockets open"
        assert set(connected[1:]) <= set(STEPS), connected


async def test_a_slow_auth_keeps_no_book_dark() -> None:
    """The public topics are asked for while the private stream authenticates: every book is live again before
    the slow auth is answered, so the desk sees the market though the account is still on its way."""
    from exchange.book import BookState

    async with running_session() as rt:
        rt.sim.faults.auth_delay_s = AUTH_DELAY_S
        before = rt.session.reconnects
        await rt.sim.faults.drop_connections("")
        await until(lambda: rt.session.reconnects > before, 10.0, "the reconnect")

        def live() -> bool:
            return all(book.state is BookState.SYNCED for book in rt.session.books.values())

        def authenticating() -> bool:
            return rt.session.state.kind is LinkState.CONNECTED and rt.session.state.reason == "authenticating"

        await until(lambda: authenticating() and live(), 10.0, "every book live while the auth is still on its way")
        await until(lambda: is_ready(rt), 30.0, "Ready once the auth is answered")
