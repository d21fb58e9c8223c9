"""Each kind of REST reply classified on its own (no host, no client state), and what the session makes of
the typed errors the classification yields."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest

from exchange.bybit.errors import (
    AUTH_CODES,
    AuthenticationError,
    BadResponse,
    BybitError,
    Forbidden,
    RateLimited,
    ServerUnavailable,
    TimestampRejected,
)
from exchange.bybit.rest_replies import Accepted, Reply, classify
from exchange.numbers import MAX_EPOCH_MS
from exchange.retry import Backoff, fatal_reason, key_rejected, retry_after
from tests.support.fake_bybit import FakeBybit, Sleeps, make_client

PATH = "/v5/account/wallet-balance"
KEY = "FLUXUMKEY1234567"


def reply(status: int = 200, body: bytes | dict[str, Any] = b"", headers: dict[str, str] | None = None) -> Reply:
    raw = orjson.dumps(body) if isinstance(body, dict) else body
    return Reply(status, headers or {}, raw, 1.0, 1.1)


def bybit(code: int, msg: str = "OK", result: Any = None) -> dict[str, Any]:
    return {"retCode": code, "retMsg": msg, "result": result, "retExtInfo": {}, "time": 1}


def test_an_accepted_reply_carries_its_result_or_an_empty_one() -> None:
    answer = classify(reply(body=bybit(0, result={"list": [1]})), PATH, KEY)
    assert isinstance(answer, Accepted) and answer.result == {"list": [1]}
    empty = classify(reply(body=bybit(0, result=None)), PATH, KEY)
    assert isinstance(empty, Accepted) and empty.result == {}


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (502, b"<html>bad gateway</html>", None),
        (503, b"", None),
        (429, b"slow down", None),
        (200, bybit(10016, "System error"), 10016),
        (500, bybit(10016, "System error"), 10016),
    ],
)
def test_outages_are_server_unavailable_that_may_have_been_sent(status: int, body: Any, code: int | None) -> None:
    outcome = classify(reply(status, body), PATH, KEY)
    assert type(outcome) is ServerUnavailable
    assert outcome.maybe_sent and outcome.ret_code == code and outcome.http_status == status
    assert outcome.ret_msg and outcome.path == PATH


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_a_bad_response(status: int) -> None:
    outcome = classify(reply(status, b"", {"Location": "http://elsewhere.invalid/"}), PATH, KEY)
    assert type(outcome) is BadResponse and "redirect" in outcome.ret_msg


def test_what_is_not_bybit_s_envelope_is_a_bad_response_or_401_a_rejected_key() -> None:
    for body in (b"", b"<html>captive portal</html>", b"[1, 2]", orjson.dumps({"result": {}})):
        outcome = classify(reply(200, body), PATH, KEY)
        assert type(outcome) is BadResponse and "not a Bybit envelope" in outcome.ret_msg
    unauthorized = classify(reply(401, b"Unauthorized"), PATH, KEY)
    assert type(unauthorized) is AuthenticationError and unauthorized.http_status == 401


def test_clock_and_limit_codes_are_their_own_types() -> None:
    skew = classify(reply(body=bybit(10002, "invalid request, please check your server timestamp")), PATH, KEY)
    assert type(skew) is TimestampRejected and skew.ret_code == 10002
    headers = {"X-Bapi-Limit-Reset-Timestamp": "1700000001000"}
    limited = classify(reply(body=bybit(10006, "Too many visits!"), headers=headers), PATH, KEY)
    assert type(limited) is RateLimited and limited.reset_ms == 1_700_000_001_000
    absurd = {"X-Bapi-Limit-Reset-Timestamp": str(MAX_EPOCH_MS * 10)}
    unknown = classify(reply(body=bybit(10006, "Too many visits!"), headers=absurd), PATH, KEY)
    assert type(unknown) is RateLimited and unknown.reset_ms is None


@pytest.mark.parametrize("code", sorted(AUTH_CODES))
def test_every_auth_code_is_an_authentication_error_without_the_origin_string(code: int) -> None:
    message = f"error sign! origin_string[1{KEY}5000accountType=UNIFIED]"
    outcome = classify(reply(body=bybit(code, message)), PATH, KEY)
    assert type(outcome) is AuthenticationError and outcome.ret_code == code
    assert KEY not in str(outcome) and "origin_string[1" not in str(outcome)


def test_a_business_rejection_keeps_bybit_s_code_and_message() -> None:
    outcome = classify(reply(body=bybit(110007, "ab not enough for new order")), PATH, KEY)
    assert type(outcome) is BybitError
    assert outcome.ret_code == 110007 and outcome.ret_msg == "ab not enough for new order"


# ------------------------------------------------------------------------------------- what the caller does


def test_the_session_reads_the_typed_errors() -> None:
    for code in sorted(AUTH_CODES):
        plain = BybitError(code, "refused")  # built by anyone, not only by classify
        assert key_rejected(plain) and fatal_reason(plain) == f"API key rejected by Bybit ({code}): refused"
    assert key_rejected(AuthenticationError(None, "unauthorized", 401))
    assert (
        fatal_reason(BybitError(10001, "params error")) == "Bybit rejected a request as invalid (10001): params error"
    )
    assert not key_rejected(BybitError(110007, "no money")) and fatal_reason(BybitError(110007, "no money")) is None
    assert fatal_reason(ValueError("10003")) is None and not key_rejected(ValueError("10003"))
    assert retry_after(Forbidden(None, "denied", until_ms=5_000), 0) == pytest.approx(5.05)
    assert retry_after(RateLimited(10006, "busy", reset_ms=8_000), 1_000) == pytest.approx(7.05)
    assert retry_after(RateLimited(10006, "busy"), 0) is None
    assert retry_after(ServerUnavailable(None, "down"), 0) is None


async def test_reads_wait_by_the_one_backoff(fake: FakeBybit) -> None:
    """The transport's resends are spaced by :class:`exchange.retry.Backoff`, the reconnects' policy, with the
    REST figures (0.5 s doubling to 8 s by default): one formula, not two."""
    sleeps = Sleeps()
    fake.on("/v5/market/tickers", "502", "503")
    async with make_client(
        fake, sleep=sleeps, rng=random.Random(7), backoff=Backoff(initial_s=1.0, cap_s=8.0)
    ) as client:
        assert await client.tickers("linear")
    expected = random.Random(7)
    backoff = Backoff(initial_s=1.0, cap_s=8.0)
    assert sleeps.calls == [backoff.delay(1, expected), backoff.delay(2, expected)]
