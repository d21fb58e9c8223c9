"""Auth faults on a running session: an expired-looking rejection is retried once on a re-measured clock, a revoked
key (or one refused again on that clock) is Failed, or takes down the account part only where the desk asks so."""

from __future__ import annotations

import asyncio

from exchange.book import BookState
from exchange.events import LinkState
from tests.support.runtime import is_ready, running_session
from tests.support.waiting import until


async def test_key_revoked_on_the_exchange_fails_the_session_without_retrying():
    async with running_session(wait_ready=True) as rt:
        rt.sim.faults.auth_reject_message = "Invalid apikey"
        rt.sim.faults.auth_reject = True
        await rt.sim.faults.drop_connections("private", None)
        await until(lambda: rt.session.state.kind is LinkState.FAILED, what="Failed")
        assert "Invalid apikey" in rt.session.state.reason
        await asyncio.wait_for(rt.task, 5)  # run() ended by itself: no retry loop
        assert rt.sim.counters["ws.private.auth_rejected_by_fault"] == 1


async def test_params_error_refused_again_on_a_re_measured_clock_takes_the_account_down_not_the_books() -> None:
    """Bybit's "Params Error" is its answer to an auth that arrived expired, so the first one is asked again on
    the same link after measuring the clock again (no reconnect: the books never go dark for it); refused again
    with the clock just measured, it is the key: the account part goes down, the public books stay live, no
    reconnect loop, and ``r`` (reconnect_now) tries the key again."""
    async with running_session(wait_ready=True) as rt:
        session, faults, counters = rt.session, rt.sim.faults, rt.sim.counters
        session.public_without_account = True  # as the desk runs it (app/app.py)
        session.hold_when_failed = True
        syncs = rt.rest.stats.clock_syncs
        before = session.reconnects
        faults.auth_reject = True  # "Params Error", with the exchange's clock where the client measured it
        await faults.drop_connections("private", None)
        await until(lambda: bool(session.desk.account_down), what="the account part down")
        await until(lambda: is_ready(rt), what="Ready on public data")
        assert "rejected" in session.desk.account_down, session.desk.account_down
        assert rt.rest.stats.clock_syncs > syncs, "the clock was measured again before the key was judged"
        rejected = counters["ws.private.auth_rejected_by_fault"]
        assert rejected == 2, f"{rejected} refused auths: the key is judged on the second"
        reconnects = session.reconnects
        frames = session._public.frames if session._public is not None else 0
        await until(lambda: session._public is not None and session._public.frames > frames + 50, what="live books")
        assert session.reconnects == reconnects and counters["ws.private.auth_rejected_by_fault"] == rejected
        assert session.reconnects - before == 1, "the drop only: the auth is asked again on the same link"
        assert session.state.kind is LinkState.READY
        assert all(book.state is BookState.SYNCED for book in session.books.values())
        assert not any(health.stale for health in session.topic_health())
        print(
            f"\nParams Error twice: {session.reconnects - before} reconnects, account down: {session.desk.account_down}"
        )

        faults.auth_reject = False
        ok = counters["ws.private.auth_ok"]
        assert session.reconnect_now()
        await until(lambda: is_ready(rt) and counters["ws.private.auth_ok"] > ok, what="the account back")
        assert not session.desk.account_down and session.private and session._private is not None
        assert session.state.reason == "all topics live"


async def test_params_error_from_a_skewed_exchange_is_retried_and_recovers() -> None:
    """The same reply caused by a real clock skew: the re-measured clock fixes it and the key stays trusted."""
    async with running_session(wait_ready=True) as rt:
        session = rt.session
        session.public_without_account = True
        rt.sim.faults.set_clock_offset(30_000)  # the exchange's clock jumps ahead: the next auth arrives expired
        before = rt.sim.counters["ws.private.auth_ok"]
        await rt.sim.faults.drop_connections("private", None)
        await until(lambda: is_ready(rt) and rt.sim.counters["ws.private.auth_ok"] > before, what="Ready again")
        assert not session.desk.account_down
        assert rt.sim.counters["ws.private.auth_fail"] <= 1
