"""The wire under the Bybit v5 REST endpoints: signing, the clock offset, cool-downs, rate limits and the one
retry policy. It knows no endpoint but ``/v5/market/time`` (the clock); :mod:`exchange.bybit.rest` builds the
API on it.

What it guarantees, because a desk depends on it:

* **It signs the bytes on the wire.** A GET's query string is built once (sorted keys, percent-encoded) and
  sent unchanged (``yarl.URL(..., encoded=True)``); a POST's body is the exact orjson bytes that were
  signed.
* **Clock.** The timestamp is the local clock plus an offset measured from ``/v5/market/time`` (server time
  minus the local midpoint of the request), synced lazily before the first signed request. ``10002`` resyncs
  and retries once; it never widens ``recv_window`` (that only hides a broken clock). A second ``10002``
  raises.
* **Limits.** ``10006`` waits for ``X-Bapi-Limit-Reset-Timestamp`` (capped), then retries, a bounded number
  of times. HTTP 403 starts a cool-down during which every call fails fast *without sending*, so a banned IP
  does not extend its own ban. The last rate-limit headers are kept for the UI. A caller that waits on a
  person (an order being sent) hears of each wait as it starts (:func:`waits_told`).
* **Outages.** 5xx, ``10016``, dropped connections and timeouts are retried on reads with the backoff of
  :class:`exchange.retry.Backoff`, then raise :class:`ServerUnavailable`. Writes are never retried blindly.
* **Bounded, and only where asked.** A reply is read up to :data:`~exchange.bybit.rest_replies.MAX_REPLY_BYTES`;
  a redirect is never followed.
* **Secrets stay secret.** The API secret is revealed only to compute a signature. Exceptions and logs carry
  no secret, no signature, no origin string (Bybit echoes one in 10004 replies) and no full API key.

Each attempt is classified first (:func:`~exchange.bybit.rest_replies.classify`: an answer or a typed error),
then :meth:`RestTransport._may_retry` decides, by the error's type, whether to wait and send again or raise.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal
from typing import TypedDict
from urllib.parse import quote

import aiohttp
import orjson
import yarl

from exchange.bybit.errors import (
    AuthenticationError,
    BadResponse,
    BybitError,
    Forbidden,
    RateLimited,
    ServerUnavailable,
    TimestampRejected,
)
from exchange.bybit.rest_replies import Accepted, Reply, body_text, classify, int_header, read_capped
from exchange.bybit.signing import DEFAULT_RECV_WINDOW, rest_signature
from exchange.numbers import MAX_EPOCH_MS, NumberError, read_whole
from exchange.retry import Backoff
from exchange.secrets import Credentials
from exchange.sources import RateLimitStatus, RestExchange, Tap

__all__ = [
    "PreEncoded",
    "RateLimitStatus",
    "RestStats",
    "RestTransport",
    "Wire",
    "WireFailure",
    "WaitTold",
    "encode_body",
    "encode_query",
    "redact_headers",
    "waits_told",
]

WaitTold = Callable[[str, float], None]
"""Hears ``(path, seconds)`` as a rate-limit wait before a resend starts."""
_WAIT_TOLD: ContextVar[WaitTold | None] = ContextVar("fluxum_rate_limit_wait_told", default=None)


@contextmanager
def waits_told(told: WaitTold) -> Iterator[None]:
    """Tell ``told`` of every 10006 wait of the requests made inside (in this task only: a context variable, so
    another task's requests on the same transport are not told), so a person sending an order sees it waiting."""
    token = _WAIT_TOLD.set(told)
    try:
        yield
    finally:
        _WAIT_TOLD.reset(token)


log = logging.getLogger(__name__)

SECRET_HEADERS = frozenset({"x-bapi-sign", "x-bapi-api-key"})
"""Headers that never appear in a log line (the key is not secret, but it identifies the account)."""

RECORDED_HEADERS = ("X-Bapi-Limit", "X-Bapi-Limit-Status", "X-Bapi-Limit-Reset-Timestamp", "Retry-After")
"""The reply headers a recorder keeps: the ones the transport acts on."""

TIME_PATH = "/v5/market/time"

READ_BACKOFF = Backoff(initial_s=0.5, cap_s=8.0)
"""Between resends of a read after an outage: 0.5 s doubling to 8 s, half of each delay random."""


@dataclass
class RestStats:
    """Counters for the connection bar and for tests that must prove a fault was met exactly once."""

    requests: int = 0  # HTTP requests actually sent
    retries: int = 0  # resends after 5xx / 10016 / connection errors / timeouts
    clock_syncs: int = 0
    timestamp_rejections: int = 0  # 10002 replies
    rate_limited: int = 0  # 10006 replies
    forbidden: int = 0  # HTTP 403 replies
    refused_in_cooldown: int = 0  # calls refused locally during a 403 cool-down
    resolved_orders: int = 0  # ambiguous submissions resolved through their orderLinkId
    rejected_records: int = 0  # position and open-order records left out of a listing


@dataclass
class _Tries:
    """What one request has used of its retry allowances."""

    outages: int = 0
    resynced: bool = False
    rate_limit_waits: int = 0


class _WireHeaders(dict[str, str]):
    """Request headers whose repr hides the signature and key (tracebacks with locals, crash screens)."""

    def __repr__(self) -> str:
        return repr(redact_headers(self))


class PreEncoded(str):
    """A query value Bybit gave us already percent-encoded (``nextPageCursor``): sent back as is."""


def _value_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def encode_query(params: Mapping[str, object]) -> str:
    """The query string both signed and sent: keys sorted, values percent-encoded, ``None`` dropped."""
    parts = []
    for key in sorted(params):
        value = params[key]
        if value is None:
            continue
        text = quote(str(value), safe="%:,=/") if isinstance(value, PreEncoded) else quote(_value_text(value), safe="")
        parts.append(f"{quote(key, safe='')}={text}")
    return "&".join(parts)


def encode_body(params: Mapping[str, object]) -> bytes:
    """The JSON body that is both signed and sent; decimals as strings, as Bybit expects every number."""
    clean: dict[str, object] = {}
    for key, value in params.items():
        if value is None:
            continue
        clean[key] = format(value, "f") if isinstance(value, Decimal) else value
    return orjson.dumps(clean)


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers fit for a debug log: the signature and the key replaced."""
    return {name: ("<redacted>" if name.lower() in SECRET_HEADERS else value) for name, value in headers.items()}


Wire = Callable[[str, str, str, bytes | None], Awaitable[Reply]]
"""Sends one request (method, path, query, body) and returns the reply, or raises :class:`WireFailure`."""


class WireFailure(Exception):
    """A request that got no HTTP reply; ``maybe_sent`` is False only when the connection was never made."""

    def __init__(self, text: str, maybe_sent: bool = True) -> None:
        super().__init__(text)
        self.text = text
        self.maybe_sent = maybe_sent


class TransportOptions(TypedDict, total=False):
    """What a :class:`RestTransport` may be given beyond its host and key (the defaults are its own)."""

    session: aiohttp.ClientSession | None
    recv_window: int
    clock: Callable[[], float]
    sleep: Callable[[float], Awaitable[object]]
    rng: random.Random | None
    timeout_s: float
    read_tries: int
    backoff: Backoff
    rate_limit_retries: int
    rate_limit_max_wait_s: float
    forbidden_first_s: float
    forbidden_cap_s: float
    retry_after_cap_s: float
    tap: Tap | None
    wire: Wire | None


class RestTransport:
    """Signed requests to one Bybit REST host over one aiohttp session; safe to share between tasks."""

    def __init__(
        self,
        base_url: str,
        credentials: Credentials | None,
        *,
        session: aiohttp.ClientSession | None = None,
        recv_window: int = DEFAULT_RECV_WINDOW,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        rng: random.Random | None = None,
        timeout_s: float = 10.0,
        read_tries: int = 3,
        backoff: Backoff = READ_BACKOFF,
        rate_limit_retries: int = 3,
        rate_limit_max_wait_s: float = 30.0,
        forbidden_first_s: float = 3.0,
        forbidden_cap_s: float = 60.0,
        retry_after_cap_s: float = 900.0,
        tap: Tap | None = None,
        wire: Wire | None = None,
    ) -> None:
        """``tap`` hears of every request sent and what came back (never a request header); ``wire`` answers
        the requests instead of the network (a recording's replies), behind the same retries and parsing."""
        self._tap = tap
        self._wire = wire
        self.base_url = base_url.rstrip("/")
        self._credentials = credentials
        self._session = session
        self._owns_session = session is None
        self.recv_window = recv_window
        self._clock = clock
        self._sleep = sleep
        self.rng = rng or random.Random()
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.read_tries = max(1, read_tries)  # sends of a read met by outages, the first one included
        self.backoff = backoff
        self.rate_limit_retries = rate_limit_retries
        self.rate_limit_max_wait_s = rate_limit_max_wait_s
        self.forbidden_first_s = forbidden_first_s  # a 403's cool-down: this long, doubled for each one
        self.forbidden_cap_s = forbidden_cap_s  # straight after it, up to this; a non-403 answer starts over
        self.retry_after_cap_s = retry_after_cap_s  # a 403's Retry-After is honoured up to this, never for good
        self._forbidden_streak = 0
        self.forbidden_until_ms: int = 0
        self.clock_offset_ms: float = 0.0
        self.clock_error_ms: float = 0.0  # half the round trip of the measurement: the offset is good to this
        self.clock_synced = False
        self._sync_lock = asyncio.Lock()
        self.rate_limits: dict[str, RateLimitStatus] = {}
        self.last_rate_limit: RateLimitStatus | None = None
        self.stats = RestStats()

    @property
    def key_hint(self) -> str:
        return self._credentials.key_hint if self._credentials else "none"

    @property
    def has_credentials(self) -> bool:
        return self._credentials is not None

    @property
    def _api_key(self) -> str | None:
        return self._credentials.api_key if self._credentials else None

    def ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None or (self._owns_session and self._session.closed):
            self._session = aiohttp.ClientSession(timeout=self._timeout)
            self._owns_session = True
        return self._session

    async def close(self) -> None:
        """Close the HTTP session if this transport created it."""
        if self._owns_session and self._session is not None and not self._session.closed:
            await self._session.close()
        if self._owns_session:
            self._session = None

    # ---------------------------------------------------------------------------------------- clock

    def local_ms(self) -> float:
        return self._clock() * 1000.0

    def server_now_ms(self) -> int:
        """Bybit's time as this client believes it to be."""
        return int(self.local_ms() + self.clock_offset_ms)

    async def server_time_ms(self) -> float:
        """Bybit's clock as ``/v5/market/time`` states it."""
        return _server_ms(await self.request("GET", TIME_PATH, {}, signed=False, retry=True))

    async def sync_clock(self) -> float:
        """Measure the offset to Bybit's clock (server time minus the local midpoint of the request)."""
        async with self._sync_lock:
            return await self._sync_clock_locked()

    async def ensure_clock(self) -> None:
        """Sync once even when several requests need it at the same moment."""
        async with self._sync_lock:
            if not self.clock_synced:
                await self._sync_clock_locked()

    async def _sync_clock_locked(self) -> float:
        answer = await self.request("GET", TIME_PATH, {}, signed=False, retry=True)
        reply = answer.reply
        self.clock_offset_ms = _server_ms(answer) - (reply.sent_s + reply.received_s) * 500.0
        self.clock_error_ms = (reply.received_s - reply.sent_s) * 500.0
        self.clock_synced = True
        self.stats.clock_syncs += 1
        log.debug("clock offset to Bybit: %+.1f ms", self.clock_offset_ms)
        return self.clock_offset_ms

    # ---------------------------------------------------------------------------------------- requests

    async def request(
        self, method: str, path: str, params: Mapping[str, object], *, signed: bool, retry: bool
    ) -> Accepted:
        """Bybit's answer to one request; ``retry`` allows resending it after an outage (reads only)."""
        if signed and self._credentials is None:
            raise AuthenticationError(None, f"{path} needs API keys", None, path=path)
        query = encode_query(params) if method == "GET" else ""
        body = encode_body(params) if method != "GET" else None
        tries = _Tries()
        while True:
            outcome = await self._attempt(method, path, query, body, signed)
            if isinstance(outcome, Accepted):
                return outcome
            if not await self._may_retry(outcome, tries, signed=signed, retry=retry):
                raise outcome

    async def _attempt(
        self, method: str, path: str, query: str, body: bytes | None, signed: bool
    ) -> Accepted | BybitError:
        """Send once (unless a 403 cool-down forbids it) and classify what came back."""
        refused = self._refusal(path)
        if refused is None and signed and not self.clock_synced:
            await self._sync_before(path)
            refused = self._refusal(path)
        if refused is not None:
            return refused
        try:
            reply = await self._send(method, path, query, body, signed)
        except WireFailure as failure:
            return ServerUnavailable(None, failure.text, None, path=path, maybe_sent=failure.maybe_sent)
        self._note_rate_limit(path, reply.headers)
        if reply.status == 403:
            return self._start_cooldown(reply, path)
        self._forbidden_streak = 0
        outcome = classify(reply, path, self._api_key)
        log.debug("%s %s -> HTTP %s %s", method, path, reply.status, type(outcome).__name__)
        return outcome

    async def _sync_before(self, path: str) -> None:
        """Sync the clock a signed request needs. When that fails the request was never sent, which is what
        lets an order submission say "not placed" instead of "outcome unknown"."""
        try:
            await self.ensure_clock()
        except (ServerUnavailable, BadResponse) as error:
            reason = f"the clock sync before sending failed ({error.ret_msg})"
            raise ServerUnavailable(error.ret_code, reason, error.http_status, path=path, maybe_sent=False) from None

    async def _may_retry(self, error: BybitError, tries: _Tries, *, signed: bool, retry: bool) -> bool:
        """The one retry policy: wait as ``error`` asks and return True to send again, or False to raise it."""
        if isinstance(error, TimestampRejected):
            self.stats.timestamp_rejections += 1
            if signed and not tries.resynced:
                tries.resynced = True
                log.info("Bybit rejected the request timestamp; resyncing the clock")
                self.clock_synced = False
                return True
        elif isinstance(error, RateLimited):
            self.stats.rate_limited += 1
            if tries.rate_limit_waits < self.rate_limit_retries:
                tries.rate_limit_waits += 1
                await self._wait_for_reset(error.reset_ms, error.path)
                return True
        elif isinstance(error, ServerUnavailable) and retry and tries.outages + 1 < self.read_tries:
            tries.outages += 1
            await self.pause(tries.outages, error.path, error.ret_msg)
            return True
        return False

    async def pause(self, attempt: int, path: str, reason: str) -> None:
        """Wait before the ``attempt``-th resend (counted from 1) by :attr:`backoff`."""
        self.stats.retries += 1
        delay = self.backoff.delay(attempt, self.rng)
        log.info("%s failed (%s); retry %d in %.2f s", path, reason, attempt, delay)
        await self._sleep(delay)

    async def _send(self, method: str, path: str, query: str, body: bytes | None, signed: bool) -> Reply:
        if self._wire is not None:
            self.stats.requests += 1
            return await self._wire(method, path, query, body)
        session = self.ensure_session()
        url = yarl.URL(f"{self.base_url}{path}" + (f"?{query}" if query else ""), encoded=True)
        headers = _WireHeaders()
        if signed:
            headers.update(self._signed_headers(query if body is None else body.decode()))
        if body is not None:
            headers["Content-Type"] = "application/json"
        if log.isEnabledFor(logging.DEBUG):
            log.debug("sending %s %s headers=%s", method, path, redact_headers(headers))
        sent = self._clock()
        self.stats.requests += 1
        try:
            # Bybit's API never redirects: following one would send the signed headers (the key, a signature valid
            # for the receive window) and an order's body to a host nobody configured.
            async with session.request(
                method, url, data=body, headers=headers, timeout=self._timeout, allow_redirects=False
            ) as response:
                raw = await read_capped(response, path)
                reply = Reply(response.status, response.headers.copy(), raw, sent, self._clock())
        except aiohttp.ClientConnectorError as error:
            # The connection was never made: the request certainly did not reach the server.
            failure = WireFailure(f"cannot connect to {self.base_url} ({type(error).__name__})", maybe_sent=False)
        except TimeoutError:
            failure = WireFailure(f"no reply within {self._timeout.total:g} s")
        except aiohttp.ClientError as error:
            failure = WireFailure(f"connection lost ({type(error).__name__})")
        except BybitError as error:  # a reply over the size limit
            self._tell(RestExchange(method, path, query, body, None, {}, b"", sent, self._clock(), str(error)))
            raise
        else:
            if self._tap is not None:
                kept = {name: reply.headers[name] for name in RECORDED_HEADERS if name in reply.headers}
                self._tell(RestExchange(method, path, query, body, reply.status, kept, raw, sent, reply.received_s))
            return reply
        self._tell(RestExchange(method, path, query, body, None, {}, b"", sent, self._clock(), failure.text))
        raise failure from None

    def _tell(self, exchange: RestExchange) -> None:
        if self._tap is not None:
            self._tap.rest_exchanged(exchange)

    def _signed_headers(self, payload: str) -> dict[str, str]:
        credentials = self._credentials
        assert credentials is not None
        timestamp = str(self.server_now_ms())
        window = str(self.recv_window)
        return {
            "X-BAPI-API-KEY": credentials.api_key,
            "X-BAPI-TIMESTAMP": timestamp,
            "X-BAPI-RECV-WINDOW": window,
            "X-BAPI-SIGN": rest_signature(credentials.api_secret, timestamp, credentials.api_key, window, payload),
        }

    # ---------------------------------------------------------------------------------------- limits

    def _refusal(self, path: str) -> Forbidden | None:
        """The error for a request made during a 403 cool-down (it is not sent), else None."""
        if not self.forbidden_until_ms or self.local_ms() >= self.forbidden_until_ms:
            return None
        self.stats.refused_in_cooldown += 1
        return Forbidden(
            None, "cooling down after an earlier HTTP 403", 403, path=path, until_ms=self.forbidden_until_ms
        )

    def lift_cooldown(self) -> None:
        """Send the next request despite the cool-down (the trader asked to try now); the streak is kept, so a
        403 again starts a cool-down twice as long as the last one."""
        self.forbidden_until_ms = 0

    def _start_cooldown(self, reply: Reply, path: str) -> Forbidden:
        """Start the cool-down a 403 imposes: the first one short, doubled for each 403 straight after it."""
        self.stats.forbidden += 1
        self._forbidden_streak += 1
        growth = 2.0 ** min(self._forbidden_streak - 1, 30)
        cooldown_s = min(self.forbidden_cap_s, self.forbidden_first_s * growth)
        retry_after = int_header(reply.headers, "Retry-After")
        if retry_after is not None and retry_after > 0:
            cooldown_s = max(cooldown_s, min(float(retry_after), self.retry_after_cap_s))
        self.forbidden_until_ms = int(self.local_ms() + cooldown_s * 1000)
        log.warning("Bybit answered HTTP 403; no requests for %.0f s", cooldown_s)
        message = body_text(reply, self._api_key) or "access denied"
        return Forbidden(None, message, 403, path=path, until_ms=self.forbidden_until_ms)

    def _note_rate_limit(self, path: str, headers: Mapping[str, str]) -> None:
        limit = int_header(headers, "X-Bapi-Limit")
        remaining = int_header(headers, "X-Bapi-Limit-Status")
        reset = int_header(headers, "X-Bapi-Limit-Reset-Timestamp")
        if limit is None and remaining is None and reset is None:
            return
        status = RateLimitStatus(path, limit, remaining, reset)
        self.rate_limits[path] = status
        self.last_rate_limit = status

    async def _wait_for_reset(self, reset_ms: int | None, path: str) -> None:
        # 50 ms past the reset so the server's own clock has certainly reached it.
        wait_s = 1.0 if reset_ms is None else (reset_ms - self.server_now_ms()) / 1000.0 + 0.05
        wait_s = min(max(wait_s, 0.0), self.rate_limit_max_wait_s)
        log.info("Bybit rate limit on %s; waiting %.2f s for the reset", path, wait_s)
        told = _WAIT_TOLD.get()
        if told is not None:
            told(path, wait_s)
        await self._sleep(wait_s)


def _server_ms(answer: Accepted) -> float:
    """The server time in a ``/v5/market/time`` answer: ``timeNano`` when readable, else ``timeSecond``."""
    result = answer.result if isinstance(answer.result, dict) else {}
    nano = _whole_field(result, "timeNano", MAX_EPOCH_MS * 1_000_000)
    if nano is not None:
        return nano / 1_000_000
    second = _whole_field(result, "timeSecond", MAX_EPOCH_MS // 1000)
    if second is not None:
        return second * 1000.0
    raise BadResponse(None, "market/time carries no timeNano or timeSecond", answer.reply.status, path=TIME_PATH)


def _whole_field(result: Mapping[str, object], name: str, limit: int) -> int | None:
    value = result.get(name)
    if not value:
        return None
    try:
        return read_whole(value, name, limit)
    except NumberError:
        return None
