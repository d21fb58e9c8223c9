"""The REST client's error policy, fault by fault, against the scripted Bybit of :mod:`tests.test_rest`.

Waits go through an injected ``sleep`` that records and returns at once, and the 403 cool-down runs on an
injected clock, so nothing here waits for real time.

Order submission semantics pinned here:

* a reply lost *after* the request may have reached Bybit (dropped connection, timeout, 5xx, 10016) is
  resolved by looking the order up by its ``orderLinkId``: found -> its ack (``resolved=True``); not found
  after a few lookups -> :class:`OrderOutcomeUnknown`. ``order/create`` is never sent a second time;
* a connection that could not even be opened is a plain :class:`ServerUnavailable` with ``maybe_sent=False``;
* 10002 and 10006 are rejections before processing, so the create is resent after the resync / the wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest

from exchange.bybit.errors import (
    BybitError,
    Forbidden,
    OrderOutcomeUnknown,
    RateLimited,
    ServerUnavailable,
    TimestampRejected,
)
from exchange.bybit.rest import RestClient
from exchange.bybit.rest_transport import waits_told
from exchange.retry import Backoff
from tests.support.fake_bybit import API_KEY, CANARY, FakeBybit, Sleeps, credentials, make_client, sim_client


class FakeClock:
    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


# ================================================================================================ 10002


async def test_timestamp_rejection_resyncs_once_then_succeeds(fake: FakeBybit) -> None:
    async with make_client(fake) as client:
        await client.wallet_balance()
        fake.server_offset_ms = 30_000  # the server's clock jumps: our offset is now stale
        wallet = await client.wallet_balance()
    assert wallet.total_equity == Decimal("3.31216591")
    assert client.stats.timestamp_rejections == 1
    assert fake.count("/v5/market/time") == 2  # the lazy sync and one resync
    assert client.transport.recv_window == 5000  # never widened
    assert all(s.headers.get("X-BAPI-RECV-WINDOW", "5000") == "5000" for s in fake.seen)


async def test_second_timestamp_rejection_raises(fake: FakeBybit) -> None:
    fake.on("/v5/account/wallet-balance", "10002", "10002", "10002")
    async with make_client(fake) as client:
        with pytest.raises(TimestampRejected) as caught:
            await client.wallet_balance()
    assert caught.value.ret_code == 10002
    assert fake.count("/v5/account/wallet-balance") == 2
    assert client.stats.timestamp_rejections == 2


async def test_timestamp_rejection_on_order_create_resends_after_resync(fake: FakeBybit) -> None:
    fake.on("/v5/order/create", "10002")
    async with make_client(fake) as client:
        ack = await client.place_order("linear", "BTCUSDT", "Buy", "Market", Decimal("0.01"), order_link_id="ts-1")
    assert ack.order_link_id == "ts-1" and not ack.resolved
    assert fake.count("/v5/order/create") == 2 and len(fake.orders) == 1


# ================================================================================================ 10006


async def test_rate_limit_waits_for_the_reset_timestamp(fake: FakeBybit) -> None:
    local = 1_700_000_000.0
    fake.fixed_server_ms = int(local * 1000) + 5_000
    fake.reset_in_ms = 1_200
    sleeps = Sleeps()
    fake.on("/v5/account/wallet-balance", "10006")
    async with make_client(fake, clock=lambda: local, sleep=sleeps) as client:
        await client.wallet_balance()
    # The reset is 1.2 s after server time; the client knows the server clock, so it waits 1.2 s (+50 ms).
    assert sleeps.calls == [pytest.approx(1.25)]
    assert client.stats.rate_limited == 1
    assert fake.count("/v5/account/wallet-balance") == 2


async def test_rate_limit_wait_is_capped_and_bounded(fake: FakeBybit) -> None:
    fake.reset_in_ms = 3_600_000
    sleeps = Sleeps()
    fake.on("/v5/account/wallet-balance", *["10006"] * 10)
    async with make_client(fake, sleep=sleeps, rate_limit_retries=2, rate_limit_max_wait_s=30) as client:
        with pytest.raises(RateLimited) as caught:
            await client.wallet_balance()
    assert sleeps.calls == [30, 30]
    assert caught.value.reset_ms is not None and caught.value.ret_code == 10006
    assert fake.count("/v5/account/wallet-balance") == 3


async def test_a_rate_limit_wait_is_told_to_the_task_that_waits_and_no_other(fake: FakeBybit) -> None:
    """An order sent by a person says it is waiting (waits_told) as the wait starts; a read of another task on
    the same client waiting at the same time is not told to it."""
    local = 1_700_000_000.0
    fake.fixed_server_ms = int(local * 1000) + 5_000
    fake.reset_in_ms = 1_200
    fake.on("/v5/account/wallet-balance", "10006")
    fake.on("/v5/position/list", "10006")
    told: list[tuple[str, float]] = []
    async with make_client(fake, clock=lambda: local, sleep=Sleeps()) as client:

        async def told_read() -> None:
            with waits_told(lambda path, seconds: told.append((path, seconds))):
                await client.wallet_balance()

        await asyncio.gather(told_read(), client.positions("linear"))
    assert told == [("/v5/account/wallet-balance", pytest.approx(1.25))]
    assert client.stats.rate_limited == 2


# ================================================================================================ 403


async def test_forbidden_cools_down_without_sending(fake: FakeBybit) -> None:
    clock = FakeClock()
    fake.on("/v5/market/tickers", "403")
    async with make_client(fake, clock=clock, forbidden_first_s=60) as client:
        with pytest.raises(Forbidden) as first:
            await client.tickers("linear")
        assert first.value.until_ms == int(clock.now * 1000) + 60_000
        sent = len(fake.seen)
        clock.now += 59
        for call in (client.tickers("linear"), client.wallet_balance(), client.server_time_ms()):
            with pytest.raises(Forbidden):
                await call
        assert len(fake.seen) == sent  # nothing left the machine during the cool-down
        assert client.stats.refused_in_cooldown == 3
        clock.now += 2
        tickers = await client.tickers("linear")
    assert tickers and len(fake.seen) == sent + 1


async def test_forbidden_cool_down_starts_short_and_doubles_to_its_cap(fake: FakeBybit) -> None:
    """An 8 s block must not cost a minute: the first 403 waits a few seconds, each one straight after it
    twice as long (to the cap), and an answer that is not a 403 starts the streak over."""
    clock = FakeClock()
    fake.on("/v5/market/tickers", *["403"] * 7)
    cooldowns: list[float] = []
    async with make_client(fake, clock=clock) as client:
        for _ in range(7):
            with pytest.raises(Forbidden) as refused:
                await client.tickers("linear")
            cooldowns.append((refused.value.until_ms - clock.now * 1000) / 1000)
            clock.now = refused.value.until_ms / 1000 + 0.01
        assert await client.tickers("linear")  # the block is over
        fake.on("/v5/market/tickers", "403")
        with pytest.raises(Forbidden) as again:
            await client.tickers("linear")
    assert cooldowns == [3.0, 6.0, 12.0, 24.0, 48.0, 60.0, 60.0], cooldowns
    assert (again.value.until_ms - clock.now * 1000) / 1000 == 3.0


# ================================================================================================ outages


async def test_5xx_on_reads_retries_with_exponential_backoff_and_jitter(fake: FakeBybit) -> None:
    sleeps = Sleeps()
    fake.on("/v5/market/tickers", "502", "10016")
    async with make_client(fake, sleep=sleeps, backoff=Backoff(initial_s=1.0, cap_s=8.0)) as client:
        tickers = await client.tickers("linear")
    assert tickers
    assert fake.count("/v5/market/tickers") == 3
    first, second = sleeps.calls
    assert 0.5 <= first <= 1.0 and 1.0 <= second <= 2.0  # equal jitter: half fixed, half random
    assert client.stats.retries == 2


async def test_jitter_differs_between_clients(fake: FakeBybit) -> None:
    import random

    delays = []
    for seed in (1, 2):
        sleeps = Sleeps()
        fake.on("/v5/market/tickers", "503")
        async with make_client(fake, sleep=sleeps, rng=random.Random(seed)) as client:
            await client.tickers("linear")
        delays.append(sleeps.calls[0])
    assert delays[0] != delays[1]


async def test_reads_give_up_after_bounded_tries(fake: FakeBybit) -> None:
    fake.on("/v5/market/tickers", "500", "500", "500", "500")
    async with make_client(fake) as client:
        with pytest.raises(ServerUnavailable) as caught:
            await client.tickers("linear")
    assert caught.value.http_status == 500
    assert fake.count("/v5/market/tickers") == 3


async def test_dropped_connection_and_timeout_on_reads_are_retried(fake: FakeBybit) -> None:
    fake.on("/v5/market/tickers", "drop", "hang")
    async with make_client(fake, timeout_s=0.3) as client:
        tickers = await client.tickers("linear")
    assert tickers and fake.count("/v5/market/tickers") == 3


async def test_non_envelope_reply_is_a_bad_response(fake: FakeBybit) -> None:
    fake.on("/v5/market/tickers", "404")
    async with make_client(fake) as client:
        with pytest.raises(BybitError) as caught:
            await client.tickers("linear")
    assert caught.value.http_status == 404 and "unexpected reply" in str(caught.value)


async def test_cancel_is_not_resent_after_an_outage(fake: FakeBybit) -> None:
    fake.on("/v5/order/cancel", "502")
    async with make_client(fake) as client:
        await client.place_order("linear", "BTCUSDT", "Buy", "Limit", Decimal("0.01"), Decimal(1), order_link_id="c-1")
        with pytest.raises(ServerUnavailable):
            await client.cancel_order("linear", "BTCUSDT", order_link_id="c-1")
    assert fake.count("/v5/order/cancel") == 1


# ========================================================================================= ambiguous orders


@pytest.mark.parametrize("answer", ["accept_garbled", "accept_no_id"])
async def test_create_answered_by_an_unreadable_success_is_resolved_by_link_id(fake: FakeBybit, answer: str) -> None:
    """A 2xx reply to order/create that cannot be read (not Bybit's envelope, an ack without ``orderId``) says
    the order may be live: it is looked up by its ``orderLinkId``, never reported as failed (a person would
    place it again) and never resent."""
    fake.on("/v5/order/create", answer)
    async with make_client(fake) as client:
        ack = await client.place_order("linear", "BTCUSDT", "Buy", "Limit", Decimal("0.01"), Decimal(50000))
    assert ack.resolved and ack.order_id == "order-1" and ack.status == "New"
    assert fake.count("/v5/order/create") == 1 and client.stats.resolved_orders == 1


async def test_create_refused_before_bybit_is_a_bad_reply_not_a_lookup(fake: FakeBybit) -> None:
    """A 4xx page from something in front of Bybit (404 here) is a definite "not placed": no lookup."""
    fake.on("/v5/order/create", "404")
    async with make_client(fake) as client:
        with pytest.raises(BybitError) as caught:
            await client.place_order("linear", "BTCUSDT", "Buy", "Market", Decimal("0.01"))
    assert caught.value.http_status == 404 and not isinstance(caught.value, OrderOutcomeUnknown)
    assert fake.count("/v5/order/create") == 1 and fake.count("/v5/order/realtime") == 0


async def test_create_accepted_then_connection_dropped_is_resolved_by_link_id(fake: FakeBybit) -> None:
    fake.on("/v5/order/create", "accept_drop")
    async with make_client(fake) as client:
        ack = await client.place_order("linear", "BTCUSDT", "Buy", "Limit", Decimal("0.01"), Decimal(50000))
    assert ack.resolved and ack.status == "New"
    assert ack.order_id == "order-1" and ack.order_link_id.startswith("fx-")
    assert fake.count("/v5/order/create") == 1  # never sent twice
    lookup = [s for s in fake.seen if s.path == "/v5/order/realtime"][0]
    assert lookup.params["orderLinkId"] == ack.order_link_id
    assert client.stats.resolved_orders == 1


async def test_create_that_timed_out_after_acceptance_is_resolved(fake: FakeBybit) -> None:
    fake.on("/v5/order/create", "hang")

    async with make_client(fake, timeout_s=0.3) as client:
        task = client.place_order("linear", "BTCUSDT", "Sell", "Market", Decimal("0.5"), order_link_id="slow-1")
        # The server "processed" it but never answered: simulate by storing the order while the reply hangs.
        fake.orders["slow-1"] = {
            "orderId": "late-9",
            "orderLinkId": "slow-1",
            "symbol": "BTCUSDT",
            "side": "Sell",
            "orderType": "Market",
            "price": "0",
            "qty": "0.5",
            "cumExecQty": "0.5",
            "leavesQty": "0",
            "orderStatus": "Filled",
            "updatedTime": "1",
        }
        ack = await task
    assert (ack.order_id, ack.order_link_id, ack.status, ack.resolved) == ("late-9", "slow-1", "Filled", True)
    assert fake.count("/v5/order/create") == 1


async def test_create_never_accepted_is_outcome_unknown_and_not_resent(fake: FakeBybit) -> None:
    sleeps = Sleeps()
    fake.on("/v5/order/create", "drop")
    fake.on("/v5/order/realtime", "503")  # the first lookup also fails: it is retried, not fatal
    async with make_client(fake, sleep=sleeps, resolve_tries=3) as client:
        with pytest.raises(OrderOutcomeUnknown) as caught:
            await client.place_order("linear", "BTCUSDT", "Buy", "Market", Decimal("0.01"), order_link_id="gone-1")
    error = caught.value
    assert error.order_link_id == "gone-1" and "gone-1" in str(error) and "not sent again" in str(error)
    assert fake.count("/v5/order/create") == 1
    assert fake.count("/v5/order/realtime") == 4  # 3 lookups, one of them retried after its 503
    assert fake.orders == {}


async def test_create_on_5xx_is_resolved_not_resent(fake: FakeBybit) -> None:
    fake.on("/v5/order/create", "503")
    async with make_client(fake, resolve_tries=2) as client:
        with pytest.raises(OrderOutcomeUnknown):
            await client.place_order("linear", "BTCUSDT", "Buy", "Market", Decimal("0.01"))
    assert fake.count("/v5/order/create") == 1


async def test_create_when_the_host_is_down_is_not_placed(fake: FakeBybit) -> None:
    async with make_client(fake) as client:
        await client.sync_clock()
        client.transport.base_url = "http://127.0.0.1:9"  # the discard port: nothing listens, the connect is refused
        with pytest.raises(ServerUnavailable) as caught:
            await client.place_order("linear", "BTCUSDT", "Buy", "Market", Decimal("0.01"))
    assert caught.value.maybe_sent is False


@pytest.mark.parametrize(("first", "sync"), [(None, "503"), ("10002", "503"), (None, "404"), ("10002", "404")])
async def test_create_whose_clock_sync_fails_was_not_placed(fake: FakeBybit, first: str | None, sync: str) -> None:
    """The clock sync before a signed write fails (5xx or a page that is not Bybit's on ``/v5/market/time``):
    the order never left, so it is a plain "not placed" (``maybe_sent`` False), neither a lookup nor an "outcome
    unknown". The same when the sync is the resync after a 10002 (Bybit rejected that create unprocessed)."""
    async with make_client(fake, resolve_tries=2) as client:
        if first is not None:
            await client.sync_clock()
            fake.on("/v5/order/create", first)
        fake.on("/v5/market/time", *[sync] * 3)
        with pytest.raises(ServerUnavailable) as caught:
            await client.place_order("linear", "BTCUSDT", "Buy", "Market", Decimal("0.01"))
    assert caught.value.maybe_sent is False
    assert "clock" in str(caught.value)
    assert fake.count("/v5/order/create") == (0 if first is None else 1)
    assert fake.count("/v5/order/realtime") == 0 and not fake.orders


# ================================================================================================ secrets


async def test_canary_secret_never_leaks(fake: FakeBybit, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fake.invalid_sign_reply = None
    texts: list[str] = []
    async with make_client(fake, timeout_s=0.3, resolve_tries=1) as client:
        texts.append(repr(client))
        fake.on("/v5/order/create", "drop")
        fake.on("/v5/market/tickers", "500", "500", "500", "403")
        for call in (
            client.place_order("linear", "BTCUSDT", "Buy", "Market", Decimal("0.01")),
            client.tickers("linear"),
            client.tickers("linear"),
            client.wallet_balance(),
        ):
            with pytest.raises(BybitError) as caught:
                await call
            texts += [str(caught.value), repr(caught.value)]
    async with RestClient(fake.url, credentials(), sleep=Sleeps()) as other:
        fake.invalid_sign_reply = f"error sign! origin_string[1{API_KEY}5000category=linear]"
        with pytest.raises(BybitError) as caught:
            await other.wallet_balance()
        texts += [str(caught.value), repr(caught.value), repr(credentials())]
    signatures = {s.headers["X-BAPI-SIGN"] for s in fake.seen if "X-BAPI-SIGN" in s.headers}
    assert signatures  # signed requests really happened
    everything = "\n".join(texts) + "\n" + caplog.text
    assert "sending POST /v5/order/create" in caplog.text  # debug logging was on
    assert CANARY not in everything
    assert API_KEY not in everything
    assert "origin_string[1" not in everything
    assert not any(signature in everything for signature in signatures)


# ======================================================================================== the local exchange


@pytest.mark.integration
async def test_sim_clock_offsets_cost_at_most_one_10002_each(sim: Any) -> None:
    async with sim_client(sim) as client:
        await client.wallet_balance()
        for offset_ms in (-30_000, -6_000, 1_500, 30_000, 0):
            sim.faults.set_clock_offset(offset_ms)
            rejected_before = client.stats.timestamp_rejections
            wallet = await client.wallet_balance()
            assert wallet.total_equity > 0
            assert client.stats.timestamp_rejections - rejected_before <= 1, offset_ms
            assert client.clock_offset_ms == pytest.approx(offset_ms, abs=1_000) or offset_ms == 1_500
            assert 0 <= client.clock_error_ms < 1_000  # half a loopback round trip: the offset is good to it
    assert sim.counters["rest.auth_fail.10002"] == client.stats.timestamp_rejections
    assert client.stats.timestamp_rejections >= 3  # -30 s, -6 s and +30 s were each far outside the window
    assert client.transport.recv_window == 5000


@pytest.mark.integration
async def test_sim_rate_limit_waits_for_the_reset(sim: Any) -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:  # a real wait: the simulator's limit runs on its own clock
        waits.append(seconds)
        await asyncio.sleep(seconds)

    async with sim_client(sim, sleep=sleep) as client:
        await client.wallet_balance()
        sim.faults.rate_limit_for(0.3)
        wallet = await client.wallet_balance()
    assert wallet.total_equity > 0
    assert sim.counters["rest.10006"] >= 1 and client.stats.rate_limited == sim.counters["rest.10006"]
    assert waits and 0 < waits[0] <= 0.3 + 0.05 + 0.1  # until the advertised reset, not a blind guess
    assert client.last_rate_limit is not None and client.last_rate_limit.remaining is not None


@pytest.mark.integration
async def test_sim_forbidden_cools_down_without_sending(sim: Any) -> None:
    shift = [0.0]
    async with sim_client(sim, clock=lambda: time.time() + shift[0], forbidden_first_s=60) as client:
        await client.wallet_balance()
        sim.faults.forbid_for(60)
        with pytest.raises(Forbidden):
            await client.tickers("linear")
        requests = sim.counters["rest.requests"]
        with pytest.raises(Forbidden):
            await client.wallet_balance()
        with pytest.raises(Forbidden):
            await client.place_order("linear", "BTCUSDT", "Buy", "Market", Decimal("0.001"))
        assert sim.counters["rest.requests"] == requests  # nothing was sent during the cool-down
        sim.faults.forbid_for(0)
        shift[0] = 61.0  # the cool-down is over
        tickers = await client.tickers("linear")
    assert tickers and sim.counters["rest.403"] == 1


# ================================================================================================ redirects


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_a_redirect_is_an_error_and_the_signed_request_never_goes_elsewhere(status: int) -> None:
    """Bybit's API never redirects: a host that does (a hostile relay, a captive portal) is a bad reply, and the
    signed headers (the API key and a signature valid for the receive window) are sent to nobody else."""
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    elsewhere: list[dict[str, str]] = []

    async def record(request: web.Request) -> web.Response:
        elsewhere.append(dict(request.headers))
        return web.json_response({"retCode": 0, "retMsg": "OK", "result": {"list": []}, "time": 1})

    async def redirect(request: web.Request) -> web.Response:
        if request.path == "/v5/market/time":
            now = time.time()
            result = {"timeSecond": str(int(now)), "timeNano": str(int(now * 1e9))}
            return web.json_response({"retCode": 0, "retMsg": "OK", "result": result, "time": 1})
        location = f"{other_url}/steal"
        return web.Response(status=status, headers={"Location": location})

    other_app, relay_app = web.Application(), web.Application()
    other_app.router.add_route("*", "/{tail:.*}", record)
    relay_app.router.add_route("*", "/{tail:.*}", redirect)
    async with TestServer(other_app) as other, TestServer(relay_app) as relay:
        other_url = str(other.make_url("")).rstrip("/")
        client = RestClient(str(relay.make_url("")).rstrip("/"), credentials(), sleep=Sleeps())
        async with client:
            with pytest.raises(BybitError) as caught:
                await client.wallet_balance()
    assert elsewhere == []
    assert f"HTTP {status}" in str(caught.value) and "redirect" in str(caught.value)
    assert str(caught.value).isprintable()


# ================================================================================================ reply size


@pytest.mark.parametrize("declared", [True, False])
async def test_a_reply_larger_than_any_bybit_reply_is_refused_without_reading_it_all(declared: bool) -> None:
    """A host streaming gigabytes (declared in Content-Length or chunked) is a bad reply once past the cap: the
    client read the whole body into memory (3 GB of spaces: 8.4 GB peak RSS, 29 s)."""
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    from exchange.bybit.rest_replies import MAX_REPLY_BYTES

    sent: list[int] = []
    chunk = b" " * (1 << 20)
    total = MAX_REPLY_BYTES + 64 * len(chunk)

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        if declared:
            response.content_length = total
        await response.prepare(request)
        with contextlib.suppress(ConnectionError):
            for _ in range(total // len(chunk)):
                await response.write(chunk)
                sent.append(len(chunk))
        return response

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", endless)
    async with TestServer(app) as host:
        client = RestClient(str(host.make_url("")).rstrip("/"), None, sleep=Sleeps())
        async with client:
            with pytest.raises(BybitError) as caught:
                await client.server_time_ms()
    assert "larger than" in str(caught.value)
    assert sum(sent) < total  # the client stopped reading; the host could not send it all


# ================================================================================================ shapes


def _time_result() -> dict[str, str]:
    now = time.time()
    return {"timeSecond": str(int(now)), "timeNano": str(int(now * 1e9))}


WRONG_SHAPES: list[Any] = [
    [],
    "text",
    5,
    True,
    {"list": "abc"},
    {"list": {"a": 1}},
    {"list": 5},
    {"list": [1, "x", None, [1, 2]]},
    {"list": [{}], "nextPageCursor": {"a": 1}},
    {"list": [{"symbol": 5, "execId": [1]}], "nextPageCursor": 5},
]


@pytest.mark.parametrize("shape", WRONG_SHAPES, ids=[repr(s)[:24] for s in WRONG_SHAPES])
async def test_a_reply_of_the_wrong_shape_is_a_bad_reply_or_a_record_left_out_never_a_crash(shape: Any) -> None:
    """``retCode`` 0 with a ``result`` that is not an object, a ``list`` that is not a list, records that are not
    objects: every endpoint answers with what it promises (records that are objects) or a :class:`BybitError`;
    no AttributeError or TypeError reaches the session or the CLI."""
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    async def answer(request: web.Request) -> web.Response:
        result = _time_result() if request.path == "/v5/market/time" else shape
        return web.json_response({"retCode": 0, "retMsg": "OK", "result": result, "time": 1})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    calls: dict[str, Callable[[RestClient], Awaitable[object]]] = {
        "instruments": lambda c: c.instruments("linear"),
        "orderbook": lambda c: c.orderbook("linear", "BTCUSDT"),
        "tickers": lambda c: c.tickers("linear"),
        "recent_trades": lambda c: c.recent_trades("linear", "BTCUSDT"),
        "wallet_balance": lambda c: c.wallet_balance(),
        "wallet_balance_raw": lambda c: c.wallet_balance_raw(),
        "positions": lambda c: c.positions("linear"),
        "open_orders": lambda c: c.open_orders("linear"),
        "order_by_link_id": lambda c: c.order_by_link_id("linear", "BTCUSDT", "fx-1"),
        "order": lambda c: c.order("linear", "BTCUSDT", order_id="1"),
        "executions": lambda c: c.executions("linear"),
        "query_api": lambda c: c.query_api(),
        "place_order": lambda c: c.place_order("linear", "BTCUSDT", "Buy", "Market", Decimal("0.01")),
        "cancel_order": lambda c: c.cancel_order("linear", "BTCUSDT", order_id="1"),
    }
    crashed: dict[str, str] = {}
    async with TestServer(app) as host:
        client = RestClient(str(host.make_url("")).rstrip("/"), credentials(), sleep=Sleeps())
        async with client:
            for name, call in calls.items():
                try:
                    answered = await call(client)
                except BybitError as error:
                    assert str(error).isprintable()
                    continue
                except Exception as error:  # noqa: BLE001  (what the test looks for)
                    crashed[name] = repr(error)
                    continue
                if isinstance(answered, list):
                    assert all(not isinstance(item, (str, int, list)) for item in answered), (name, answered)
    assert crashed == {}


async def test_a_403_asking_for_an_absurd_wait_cools_down_within_bounds(fake: FakeBybit) -> None:
    """``Retry-After`` is the host's word: honoured up to a bound, never a cool-down of millennia (whose error
    could not even say when it ends: a year past 9999 raised ValueError while the Forbidden was built)."""
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    async def forbid(request: web.Request) -> web.Response:
        return web.Response(status=403, text="access denied", headers={"Retry-After": "99999999999999"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forbid)
    clock = FakeClock()
    async with TestServer(app) as host:
        client = RestClient(str(host.make_url("")).rstrip("/"), None, clock=clock, sleep=Sleeps())
        async with client:
            with pytest.raises(Forbidden) as caught:
                await client.tickers("linear")
    cooldown_s = (caught.value.until_ms - clock.now * 1000) / 1000
    assert 60 <= cooldown_s <= 3600, cooldown_s
    assert "no requests are sent until" in str(caught.value)


@pytest.mark.parametrize(("path", "action"), [("/v5/order/amend", "hang"), ("/v5/order/cancel-all", "503")])
async def test_an_amend_or_cancel_all_with_a_lost_answer_is_never_sent_again(
    fake: FakeBybit, path: str, action: str
) -> None:
    """The desk's new order actions keep the rule: an ambiguous answer is told, the request is not repeated."""
    fake.on(path, action)
    async with make_client(fake, timeout_s=0.3) as client:
        with pytest.raises(ServerUnavailable) as caught:
            if path == "/v5/order/amend":
                await client.amend_order("linear", "BTCUSDT", "order-1", price=Decimal(50000))
            else:
                await client.cancel_all_orders("linear", "BTCUSDT")
    assert caught.value.maybe_sent and fake.count(path) == 1
