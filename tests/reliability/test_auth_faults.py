"""Auth faults on a running session: an expired-looking rejection is retried, a revoked key is Failed."""

from __future__ import annotations

import asyncio

from exchange.events import LinkState
from tests.support.runtime import running_session
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


async def test_params_error_is_retried_and_recovers_once_the_fault_clears():
    async with running_session(wait_ready=True) as rt:
        rt.sim.faults.auth_reject = True  # "Params Error": what Bybit says to a stale expiry
        await rt.sim.faults.drop_connections("private", None)
        await until(lambda: rt.sim.counters["ws.private.auth_rejected_by_fault"] >= 2, what="two rejected auths")
        assert rt.session.state.kind is not LinkState.FAILED
        rt.sim.faults.auth_reject = False
        await until(lambda: rt.session.state.kind is LinkState.READY, what="Ready again")
