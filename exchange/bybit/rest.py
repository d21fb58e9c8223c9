"""The signed Bybit v5 REST client: bootstrap reads, backfill and order entry for the session and the CLI.

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
  does not extend its own ban. The last rate-limit headers are kept for the UI.
* **Outages.** 5xx, ``10016``, dropped connections and timeouts are retried on reads with exponential
  backoff and jitter, then raise :class:`ServerUnavailable`. Writes are never retried blindly.
* **Orders are never sent twice.** :meth:`RestClient.place_order` always carries an ``orderLinkId``; when
  the outcome is ambiguous (timeout, connection lost after sending, 5xx) it looks the order up by that id
  instead of resending, and raises :class:`OrderOutcomeUnknown` if it cannot find it. Rejections Bybit makes
  *before* processing (10002 timestamp, 10006 rate limit) are definite "not placed" answers, so those are
  resent.
* **Secrets stay secret.** The API secret is revealed only to compute a signature. Exceptions and logs carry
  no secret, no signature, no origin string (Bybit echoes one in 10004 replies) and no full API key.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson
import yarl

from exchange.bybit.errors import (
    AUTH_CODES,
    RATE_LIMIT_CODE,
    SYSTEM_BUSY_CODE,
    TIMESTAMP_CODE,
    AuthenticationError,
    BadResponse,
    BybitError,
    Forbidden,
    OrderOutcomeUnknown,
    RateLimited,
    ServerUnavailable,
    TimestampRejected,
    clean_message,
    error_for,
)
from exchange.bybit.protocol import ProtocolError, parse_order, parse_position, parse_wallet
from exchange.bybit.signing import DEFAULT_RECV_WINDOW, rest_signature
from exchange.config import Endpoints
from exchange.events import OpenOrder, PositionSnapshot, PublicTrade, WalletSnapshot
from exchange.numbers import MAX_EPOCH_MS, NumberError, read_decimal, read_epoch_ms, read_whole
from exchange.secrets import Credentials

__all__ = [
    "BookSnapshot",
    "OrderAck",
    "RateLimitStatus",
    "RejectedRecord",
    "RestClient",
    "RestStats",
    "UnreadableRecord",
    "encode_query",
    "new_order_link_id",
    "redact_headers",
]

log = logging.getLogger(__name__)

MAX_REPLY_BYTES = 16 << 20
"""The largest reply read (Bybit's largest, a page of 1000 instruments, is about 1 MB): a host streaming more is a
bad reply, refused once this much has come, never read whole into memory."""
SECRET_HEADERS = frozenset({"x-bapi-sign", "x-bapi-api-key"})
"""Headers that never appear in a log line (the key is not secret, but it identifies the account)."""

EXECUTION_WINDOW_MS = 7 * 24 * 3600 * 1000
"""``/v5/execution/list`` answers at most seven days per query."""

MAX_PAGES = 1000
"""A cursor loop that has not ended after this many pages is a server bug, not more data."""

ORDER_LINK_ID_MAX = 36

LINEAR_SETTLE_COINS = ("USDT", "USDC")
"""Bybit lists linear positions and open orders one settle coin at a time; these are all of them."""


# ------------------------------------------------------------------------------------------------ data


@dataclass(frozen=True)
class OrderAck:
    """Bybit's acknowledgement of an order request (the order itself is processed asynchronously).

    ``resolved`` is True when the reply was lost and the ack was recovered by looking the order up by its
    ``orderLinkId``; ``status`` is the order status seen by that lookup (empty for a direct ack).
    """

    order_id: str
    order_link_id: str
    resolved: bool = False
    status: str = ""


@dataclass(frozen=True)
class RateLimitStatus:
    """Bybit's rate-limit headers from the latest reply of one path."""

    path: str
    limit: int | None
    remaining: int | None
    reset_ms: int | None


@dataclass(frozen=True)
class BookSnapshot:
    """``/v5/market/orderbook``: best first on both sides, exact decimals."""

    symbol: str
    bids: tuple[tuple[Decimal, Decimal], ...]
    asks: tuple[tuple[Decimal, Decimal], ...]
    ts_ms: int
    u: int
    seq: int | None
    cts: int | None


@dataclass(frozen=True)
class RejectedRecord:
    """One record of a listing that could not be read (a number out of range, a missing field): left out of the
    answer so the rest of the listing still counts; the session tells it and keeps its symbol as it was."""

    path: str
    symbol: str
    why: str


REJECTED_RECORDS_KEPT = 100


class UnreadableRecord(BadResponse):
    """A reply in Bybit's envelope whose one record cannot be read (a number out of range): the exchange is
    answering, so a caller may go on without that record."""


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
    rejected_records: int = 0  # position and open-order records left out of a listing (see RejectedRecord)


@dataclass
class _Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes
    sent_s: float
    received_s: float


async def _read_capped(response: aiohttp.ClientResponse, path: str) -> bytes:
    """The reply's body, or :class:`BadResponse` once it is known to pass :data:`MAX_REPLY_BYTES`."""
    declared = response.content_length
    if declared is not None and declared > MAX_REPLY_BYTES:
        raise BadResponse(None, _too_large(declared), response.status, path=path)
    body = bytearray()
    while more := await response.content.read(MAX_REPLY_BYTES + 1 - len(body)):
        body += more
        if len(body) > MAX_REPLY_BYTES:
            raise BadResponse(None, _too_large(None), response.status, path=path)
    return bytes(body)


def _too_large(declared: int | None) -> str:
    size = "" if declared is None else f" ({declared:,} bytes)"
    return f"a reply larger than {MAX_REPLY_BYTES >> 20} MB{size}: not a Bybit reply, not read"


class _Failure(Exception):
    """A request that got no HTTP reply; ``maybe_sent`` is False only when the connection was never made."""

    def __init__(self, text: str, maybe_sent: bool = True) -> None:
        super().__init__(text)
        self.text = text
        self.maybe_sent = maybe_sent


class _WireHeaders(dict[str, str]):
    """Request headers whose repr hides the signature and key (tracebacks with locals, crash screens)."""

    def __repr__(self) -> str:
        return repr(redact_headers(self))


class _PreEncoded(str):
    """A query value Bybit gave us already percent-encoded (``nextPageCursor``): sent back as is."""


# ------------------------------------------------------------------------------------------------ helpers


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
        text = quote(str(value), safe="%:,=/") if isinstance(value, _PreEncoded) else quote(_value_text(value), safe="")
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


def new_order_link_id(rng: random.Random | None = None) -> str:
    """A fresh client order id: ``fx-`` and 32 hex digits (35 characters, Bybit allows 36)."""
    bits = (rng or random.SystemRandom()).getrandbits(128)
    return "fx-" + uuid.UUID(int=bits, version=4).hex


HEADER_LIMIT = MAX_EPOCH_MS
"""Whole-number headers (limits, epoch-ms reset times, Retry-After seconds) are below this, so a reset time is one
``datetime`` can still show."""


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    """A whole-number header, or None when absent or not one below :data:`HEADER_LIMIT` (a 4000-digit reset time
    would make the wait's float arithmetic raise OverflowError)."""
    value = headers.get(name)
    if value is None:
        return None
    try:
        return read_whole(str(value).strip(), name, HEADER_LIMIT)
    except NumberError:
        return None


def _ms(value: object) -> int | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        return None


def _levels(raw: object, path: str) -> tuple[tuple[Decimal, Decimal], ...]:
    if not isinstance(raw, list):
        raise BadResponse(None, "book side is not a list", path=path)
    try:
        return tuple((read_decimal(level[0], "price"), read_decimal(level[1], "size")) for level in raw)
    except (NumberError, IndexError, TypeError, KeyError):
        raise BadResponse(None, "book level is not [price, size] as decimal strings", path=path) from None


# ------------------------------------------------------------------------------------------------ client


class RestClient:
    """Bybit v5 REST over one aiohttp session; safe to share between the session's tasks."""

    def __init__(
        self,
        endpoints_or_base_url: Endpoints | str,
        credentials: Credentials | None,
        *,
        session: aiohttp.ClientSession | None = None,
        recv_window: int = DEFAULT_RECV_WINDOW,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        rng: random.Random | None = None,
        timeout_s: float = 10.0,
        read_tries: int = 3,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 8.0,
        rate_limit_retries: int = 3,
        rate_limit_max_wait_s: float = 30.0,
        forbidden_first_s: float = 3.0,
        forbidden_cap_s: float = 60.0,
        resolve_tries: int = 4,
    ) -> None:
        base = endpoints_or_base_url.rest if isinstance(endpoints_or_base_url, Endpoints) else endpoints_or_base_url
        self.base_url = base.rstrip("/")
        self._credentials = credentials
        self._session = session
        self._owns_session = session is None
        self.recv_window = recv_window
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._read_tries = max(1, read_tries)
        self._backoff_base_s = backoff_base_s
        self._backoff_cap_s = backoff_cap_s
        self._rate_limit_retries = rate_limit_retries
        self._rate_limit_max_wait_s = rate_limit_max_wait_s
        self.forbidden_first_s = forbidden_first_s  # a 403's cool-down: this long, doubled for each one
        self.forbidden_cap_s = forbidden_cap_s  # straight after it, up to this; a non-403 answer starts over
        self._forbidden_streak = 0
        self._resolve_tries = max(1, resolve_tries)
        self.clock_offset_ms: float = 0.0
        self.clock_error_ms: float = 0.0  # half the round trip of the measurement: the offset is good to this
        self.clock_synced = False
        self._sync_lock = asyncio.Lock()
        self.forbidden_until_ms: int = 0
        self.rate_limits: dict[str, RateLimitStatus] = {}
        self.last_rate_limit: RateLimitStatus | None = None
        self.stats = RestStats()
        self.rejected_records: deque[RejectedRecord] = deque(maxlen=REJECTED_RECORDS_KEPT)  # drained by the session

    def __repr__(self) -> str:
        key = self._credentials.key_hint if self._credentials else "none"
        return f"RestClient({self.base_url!r}, key={key})"

    async def __aenter__(self) -> RestClient:
        self._ensure_session()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session if this client created it."""
        if self._owns_session and self._session is not None and not self._session.closed:
            await self._session.close()
        if self._owns_session:
            self._session = None

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None or (self._owns_session and self._session.closed):
            self._session = aiohttp.ClientSession(timeout=self._timeout)
            self._owns_session = True
        return self._session

    @property
    def has_credentials(self) -> bool:
        return self._credentials is not None

    # ---------------------------------------------------------------------------------------- clock

    def local_ms(self) -> float:
        return self._clock() * 1000.0

    def server_now_ms(self) -> int:
        """Bybit's time as this client believes it to be."""
        return int(self.local_ms() + self.clock_offset_ms)

    async def sync_clock(self) -> float:
        """Measure the offset to Bybit's clock (server time minus the local midpoint of the request)."""
        async with self._sync_lock:
            return await self._sync_clock_locked()

    async def _ensure_clock(self) -> None:
        """Sync once even when several requests need it at the same moment."""
        async with self._sync_lock:
            if not self.clock_synced:
                await self._sync_clock_locked()

    async def _sync_clock_locked(self) -> float:
        result, reply = await self._request("GET", "/v5/market/time", {}, signed=False, retry=True)
        server_ms = self._server_ms(result, reply)
        midpoint_ms = (reply.sent_s + reply.received_s) * 500.0
        self.clock_offset_ms = server_ms - midpoint_ms
        self.clock_error_ms = (reply.received_s - reply.sent_s) * 500.0
        self.clock_synced = True
        self.stats.clock_syncs += 1
        log.debug("clock offset to Bybit: %+.1f ms", self.clock_offset_ms)
        return self.clock_offset_ms

    @staticmethod
    def _server_ms(result: Mapping[str, Any], reply: _Reply) -> float:
        nano = result.get("timeNano")
        if nano:
            try:
                return read_whole(nano, "timeNano", MAX_EPOCH_MS * 1_000_000) / 1_000_000
            except NumberError:
                pass
        second = result.get("timeSecond")
        if second:
            try:
                return read_whole(second, "timeSecond", MAX_EPOCH_MS // 1000) * 1000.0
            except NumberError:
                pass
        raise BadResponse(None, "market/time carries no timeNano or timeSecond", reply.status, path="/v5/market/time")

    # ---------------------------------------------------------------------------------------- core

    async def get(self, path: str, params: Mapping[str, object] | None = None, *, signed: bool = False) -> Any:
        """A GET's ``result``; reads are retried on outages."""
        result, _ = await self._request("GET", path, params or {}, signed=signed, retry=True)
        return result

    async def post(self, path: str, params: Mapping[str, object]) -> Any:
        """A signed POST's ``result``; never resent after it may have reached the server."""
        result, _ = await self._request("POST", path, params, signed=True, retry=False)
        return result

    async def _request(
        self, method: str, path: str, params: Mapping[str, object], *, signed: bool, retry: bool
    ) -> tuple[Any, _Reply]:
        if signed and self._credentials is None:
            raise AuthenticationError(None, f"{path} needs API keys", None, path=path)
        query = encode_query(params) if method == "GET" else ""
        body = encode_body(params) if method != "GET" else None
        outage_tries = 0
        timestamp_retried = False
        rate_limit_waits = 0
        while True:
            self._refuse_in_cooldown(path)
            if signed and not self.clock_synced:
                await self._ensure_clock()
                self._refuse_in_cooldown(path)
            try:
                reply = await self._send(method, path, query, body, signed)
            except _Failure as failure:
                if retry and outage_tries + 1 < self._read_tries:
                    outage_tries += 1
                    await self._backoff(outage_tries, path, failure.text)
                    continue
                raise ServerUnavailable(None, failure.text, None, path=path, maybe_sent=failure.maybe_sent) from None
            self._note_rate_limit(path, reply.headers)

            if reply.status != 403:
                self._forbidden_streak = 0
            else:
                self._start_cooldown(reply)
                raise Forbidden(
                    None,
                    self._body_text(reply) or "access denied",
                    403,
                    path=path,
                    until_ms=self.forbidden_until_ms,
                )
            envelope = self._envelope(reply)
            code = _ms(envelope.get("retCode")) if envelope is not None else None
            message = clean_message(envelope.get("retMsg") if envelope else self._body_text(reply), self._api_key)
            log.debug("%s %s -> HTTP %s retCode %s", method, path, reply.status, code)

            if reply.status >= 500 or reply.status == 429 or code == SYSTEM_BUSY_CODE:
                text = message or f"HTTP {reply.status}"
                if retry and outage_tries + 1 < self._read_tries:
                    outage_tries += 1
                    await self._backoff(outage_tries, path, text)
                    continue
                raise ServerUnavailable(code, text, reply.status, path=path, maybe_sent=True)
            if 300 <= reply.status < 400:
                raise BadResponse(
                    None,
                    f"a redirect (HTTP {reply.status}), not followed: Bybit never redirects",
                    reply.status,
                    path=path,
                )
            if envelope is None or code is None:
                if reply.status == 401:
                    raise AuthenticationError(None, message or "unauthorized", 401, path=path)
                raise BadResponse(
                    None, f"not a Bybit envelope ({message[:80] or 'empty body'})", reply.status, path=path
                )
            if code == 0:
                result = envelope.get("result")
                return (result if result is not None else {}), reply

            if code == TIMESTAMP_CODE:
                self.stats.timestamp_rejections += 1
                if signed and not timestamp_retried:
                    timestamp_retried = True
                    log.info("Bybit rejected the request timestamp; resyncing the clock")
                    self.clock_synced = False
                    continue
                raise TimestampRejected(code, message, reply.status, path=path)
            if code == RATE_LIMIT_CODE:
                self.stats.rate_limited += 1
                reset_ms = _int_header(reply.headers, "X-Bapi-Limit-Reset-Timestamp")
                if rate_limit_waits < self._rate_limit_retries:
                    rate_limit_waits += 1
                    await self._wait_for_reset(reset_ms, path)
                    continue
                raise RateLimited(code, message, reply.status, path=path, reset_ms=reset_ms)
            if code in AUTH_CODES:
                raise AuthenticationError(code, message, reply.status, path=path)
            raise error_for(code, message, reply.status, path=path)

    async def _send(self, method: str, path: str, query: str, body: bytes | None, signed: bool) -> _Reply:
        session = self._ensure_session()
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
                raw = await _read_capped(response, path)
                return _Reply(response.status, response.headers.copy(), raw, sent, self._clock())
        except aiohttp.ClientConnectorError as error:
            # The connection was never made: the request certainly did not reach the server.
            raise _Failure(f"cannot connect to {self.base_url} ({type(error).__name__})", maybe_sent=False) from None
        except TimeoutError:
            raise _Failure(f"no reply within {self._timeout.total:g} s") from None
        except aiohttp.ClientError as error:
            raise _Failure(f"connection lost ({type(error).__name__})") from None

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

    @property
    def _api_key(self) -> str | None:
        return self._credentials.api_key if self._credentials else None

    @staticmethod
    def _envelope(reply: _Reply) -> dict[str, Any] | None:
        if not reply.body:
            return None
        try:
            document = orjson.loads(reply.body)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(document, dict) or "retCode" not in document:
            return None
        return document

    def _body_text(self, reply: _Reply) -> str:
        text = reply.body[:200].decode("utf-8", "replace").strip()
        envelope = self._envelope(reply)
        if envelope is not None:
            text = str(envelope.get("retMsg", text))
        return clean_message(" ".join(text.split()), self._api_key)

    def _refuse_in_cooldown(self, path: str) -> None:
        if self.forbidden_until_ms and self.local_ms() < self.forbidden_until_ms:
            self.stats.refused_in_cooldown += 1
            raise Forbidden(
                None,
                "cooling down after an earlier HTTP 403",
                403,
                path=path,
                until_ms=self.forbidden_until_ms,
            )

    def _start_cooldown(self, reply: _Reply) -> None:
        self.stats.forbidden += 1
        self._forbidden_streak += 1
        growth = 2.0 ** min(self._forbidden_streak - 1, 30)
        cooldown_s = min(self.forbidden_cap_s, self.forbidden_first_s * growth)
        retry_after = _int_header(reply.headers, "Retry-After")
        if retry_after is not None and retry_after > 0:
            cooldown_s = max(cooldown_s, float(retry_after))
        self.forbidden_until_ms = int(self.local_ms() + cooldown_s * 1000)
        log.warning("Bybit answered HTTP 403; no requests for %.0f s", cooldown_s)

    def _note_rate_limit(self, path: str, headers: Mapping[str, str]) -> None:
        limit = _int_header(headers, "X-Bapi-Limit")
        remaining = _int_header(headers, "X-Bapi-Limit-Status")
        reset = _int_header(headers, "X-Bapi-Limit-Reset-Timestamp")
        if limit is None and remaining is None and reset is None:
            return
        status = RateLimitStatus(path, limit, remaining, reset)
        self.rate_limits[path] = status
        self.last_rate_limit = status

    async def _wait_for_reset(self, reset_ms: int | None, path: str) -> None:
        # 50 ms past the reset so the server's own clock has certainly reached it.
        wait_s = 1.0 if reset_ms is None else (reset_ms - self.server_now_ms()) / 1000.0 + 0.05
        wait_s = min(max(wait_s, 0.0), self._rate_limit_max_wait_s)
        log.info("Bybit rate limit on %s; waiting %.2f s for the reset", path, wait_s)
        await self._sleep(wait_s)

    async def _backoff(self, attempt: int, path: str, reason: str) -> None:
        self.stats.retries += 1
        ceiling = min(self._backoff_cap_s, self._backoff_base_s * 2 ** (attempt - 1))
        delay = ceiling / 2 + self._rng.uniform(0, ceiling / 2)  # "equal jitter": never zero, never in lockstep
        log.info("%s failed (%s); retry %d in %.2f s", path, reason, attempt, delay)
        await self._sleep(delay)

    async def _pages(
        self, path: str, params: Mapping[str, object], list_key: str = "list"
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Every page of a cursor-paged signed read."""
        cursor: str | None = None
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            page_params = dict(params)
            if cursor:
                page_params["cursor"] = _PreEncoded(cursor)
            result = await self.get(path, page_params, signed=True)
            records = result.get(list_key) if isinstance(result, dict) else None
            if not isinstance(records, list):
                raise BadResponse(None, f"result has no {list_key!r} list", path=path)
            if not records:
                return
            yield records
            cursor = str(result.get("nextPageCursor") or "")
            if not cursor or cursor in seen:
                return
            seen.add(cursor)
        log.warning("%s: still paging after %d pages; stopped", path, MAX_PAGES)

    # ---------------------------------------------------------------------------------------- public reads

    async def server_time_ms(self) -> int:
        result, reply = await self._request("GET", "/v5/market/time", {}, signed=False, retry=True)
        return int(self._server_ms(result, reply))

    async def instruments(self, category: str, symbol: str | None = None) -> list[dict[str, Any]]:
        """Instrument records (tick size, qty step...) as Bybit sends them, every page."""
        records: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            params: dict[str, object] = {
                "category": category,
                "symbol": symbol,
                "limit": 1000 if not symbol else None,
            }
            if cursor:
                params["cursor"] = _PreEncoded(cursor)
            result = await self.get("/v5/market/instruments-info", params)
            page = result.get("list") or []
            records.extend(page)
            cursor = result.get("nextPageCursor") or None
            if not page or not cursor:
                break
        return records

    async def orderbook(self, category: str, symbol: str, limit: int = 25) -> BookSnapshot:
        path = "/v5/market/orderbook"
        result = await self.get(path, {"category": category, "symbol": symbol, "limit": limit})
        try:
            return BookSnapshot(
                symbol=str(result["s"]),
                bids=_levels(result["b"], path),
                asks=_levels(result["a"], path),
                ts_ms=int(result["ts"]),
                u=int(result["u"]),
                seq=_ms(result.get("seq")),
                cts=_ms(result.get("cts")),
            )
        except (KeyError, TypeError, ValueError):
            raise BadResponse(None, "order book lacks s, b, a, ts or u", path=path) from None

    async def tickers(self, category: str, symbol: str | None = None) -> list[dict[str, Any]]:
        result = await self.get("/v5/market/tickers", {"category": category, "symbol": symbol})
        return list(result.get("list") or [])

    async def recent_trades(self, category: str, symbol: str, limit: int = 60) -> list[PublicTrade]:
        """Recent public trades, oldest first (Bybit lists newest first)."""
        path = "/v5/market/recent-trade"
        result = await self.get(path, {"category": category, "symbol": symbol, "limit": limit})
        trades = []
        try:
            for item in result.get("list") or []:
                trades.append(
                    PublicTrade(
                        symbol=str(item["symbol"]),
                        time_ms=read_epoch_ms(item["time"], "time"),
                        side=str(item["side"]),
                        price=read_decimal(item["price"], "price"),
                        qty=read_decimal(item["size"], "size"),
                        trade_id=str(item["execId"]),
                        block=bool(item.get("isBlockTrade", False)),
                    )
                )
        except (KeyError, TypeError, ValueError):
            raise BadResponse(None, "a trade lacks symbol, time, side, price, size or execId", path=path) from None
        trades.sort(key=lambda trade: trade.time_ms)
        return trades

    # ---------------------------------------------------------------------------------------- private reads

    async def wallet_balance_raw(self, account_type: str = "UNIFIED") -> dict[str, Any]:
        """The account record of ``/v5/account/wallet-balance`` as Bybit sends it (``{}`` when absent)."""
        result = await self.get("/v5/account/wallet-balance", {"accountType": account_type}, signed=True)
        accounts = result.get("list") or []
        return dict(accounts[0]) if accounts else {}

    async def wallet_balance(self, account_type: str = "UNIFIED") -> WalletSnapshot:
        raw = await self.wallet_balance_raw(account_type)
        return self._parse(parse_wallet, raw, "/v5/account/wallet-balance")

    async def positions(
        self, category: str, symbol: str | None = None, settle_coin: str | None = None
    ) -> list[PositionSnapshot]:
        """Every position of the category, every page. Bybit lists linear positions one settle coin at a time:
        without a symbol or a coin, USDT's then USDC's (a position left out would read as flat)."""
        if category == "linear" and not symbol and not settle_coin:
            return [p for coin in LINEAR_SETTLE_COINS for p in await self.positions(category, settle_coin=coin)]
        params: dict[str, object] = {"category": category, "limit": 200}
        if symbol:
            params["symbol"] = symbol
        elif category in ("linear", "inverse") and settle_coin:
            params["settleCoin"] = settle_coin if category == "linear" else None
        positions: list[PositionSnapshot] = []
        async for page in self._pages("/v5/position/list", params):
            positions.extend(self._parse_page(parse_position, page, "/v5/position/list"))
        return positions

    async def open_orders(
        self, category: str, symbol: str | None = None, settle_coin: str | None = None
    ) -> list[OpenOrder]:
        """Open (New, PartiallyFilled, Untriggered) orders, every page; linear ones per settle coin, as for
        :meth:`positions` (an order left out would read as closed)."""
        if category == "linear" and not symbol and not settle_coin:
            return [o for coin in LINEAR_SETTLE_COINS for o in await self.open_orders(category, settle_coin=coin)]
        params: dict[str, object] = {"category": category, "openOnly": 0, "limit": 50}
        if symbol:
            params["symbol"] = symbol
        elif category == "linear" and settle_coin:
            params["settleCoin"] = settle_coin
        orders: list[OpenOrder] = []
        async for page in self._pages("/v5/order/realtime", params):
            orders.extend(self._parse_page(parse_order, page, "/v5/order/realtime"))
        return orders

    async def order_by_link_id(self, category: str, symbol: str, order_link_id: str) -> OpenOrder | None:
        """The order with this client id among open and recently closed orders, or None."""
        return await self._realtime_order(category, symbol, {"orderLinkId": order_link_id})

    async def order(
        self, category: str, symbol: str, *, order_id: str | None = None, order_link_id: str | None = None
    ) -> OpenOrder | None:
        """One order by id: open or recent orders first, then the order history; None when unknown."""
        if not order_id and not order_link_id:
            raise ValueError("order() needs an order_id or an order_link_id")
        ids: dict[str, object] = {"orderId": order_id, "orderLinkId": order_link_id}
        found = await self._realtime_order(category, symbol, ids)
        if found is not None:
            return found
        try:
            result = await self.get("/v5/order/history", {"category": category, "symbol": symbol, **ids}, signed=True)
        except BybitError as error:
            if error.http_status == 404 or error.ret_code == 10017:  # a host without order history
                return None
            raise
        for record in result.get("list") or []:
            order = self._parse(parse_order, record, "/v5/order/history")
            if (order_id and order.order_id == order_id) or (order_link_id and order.order_link_id == order_link_id):
                return order
        return None

    async def _realtime_order(self, category: str, symbol: str, ids: Mapping[str, object]) -> OpenOrder | None:
        result = await self.get("/v5/order/realtime", {"category": category, "symbol": symbol, **ids}, signed=True)
        for record in result.get("list") or []:
            order = self._parse(parse_order, record, "/v5/order/realtime")
            if all(value is None or getattr(order, _ORDER_FIELDS[key]) == value for key, value in ids.items()):
                return order
        return None

    async def executions(
        self,
        category: str,
        *,
        start_time_ms: int | None = None,
        symbol: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """The account's executions as Bybit's raw records: all pages, unique by ``execId``, oldest first.

        Bybit answers at most seven days per query, so a start further back is read window by window.
        """
        windows: list[tuple[int | None, int | None]] = [(start_time_ms, None)]
        if start_time_ms is not None:
            if not self.clock_synced:
                await self._ensure_clock()
            now = self.server_now_ms()
            if now - start_time_ms > EXECUTION_WINDOW_MS:
                windows = []
                first = start_time_ms
                while now - first > EXECUTION_WINDOW_MS:
                    last = first + EXECUTION_WINDOW_MS - 1
                    windows.append((first, last))
                    first = last + 1
                windows.append((first, None))  # the newest window: Bybit ends it seven days on, after now
        listed: list[dict[str, Any]] = []
        for begin, end in windows:
            params: dict[str, object] = {
                "category": category,
                "symbol": symbol,
                "startTime": begin,
                "endTime": end,
                "limit": max(1, min(limit, 100)),
            }
            async for page in self._pages("/v5/execution/list", params):
                listed.extend(page)
        return _oldest_first_unique(listed)

    async def query_api(self) -> dict[str, Any]:
        """What Bybit knows about the key in use (permissions, read-only, expiry)."""
        return dict(await self.get("/v5/user/query-api", {}, signed=True))

    # ---------------------------------------------------------------------------------------- orders

    async def place_order(
        self,
        category: str,
        symbol: str,
        side: str,
        order_type: str,
        qty: Decimal,
        price: Decimal | None = None,
        time_in_force: str | None = None,
        order_link_id: str | None = None,
        reduce_only: bool = False,
    ) -> OrderAck:
        """Submit an order once; an ambiguous outcome is resolved by its ``orderLinkId``, never resent."""
        link_id = order_link_id or new_order_link_id(self._rng)
        if len(link_id) > ORDER_LINK_ID_MAX:
            raise ValueError(f"orderLinkId is longer than {ORDER_LINK_ID_MAX} characters")
        params: dict[str, object] = {
            "category": category,
            "symbol": symbol,
            "side": side,
            "orderType": order_type,
            "qty": qty,
            "price": price,
            "timeInForce": time_in_force,
            "orderLinkId": link_id,
        }
        if reduce_only:
            params["reduceOnly"] = True
        try:
            result = await self.post("/v5/order/create", params)
        except ServerUnavailable as error:
            if not error.maybe_sent:
                raise
            log.warning("order %s: outcome unknown (%s); looking it up", link_id, error.ret_msg)
            return await self._resolve(category, symbol, link_id, error.ret_msg)
        return self._ack(result, link_id, "/v5/order/create")

    async def _resolve(self, category: str, symbol: str, link_id: str, reason: str) -> OrderAck:
        for attempt in range(1, self._resolve_tries + 1):
            try:
                order = await self.order_by_link_id(category, symbol, link_id)
            except (ServerUnavailable, RateLimited, TimestampRejected) as error:
                log.info("order %s lookup %d failed: %s", link_id, attempt, error)
                order = None
            if order is not None:
                self.stats.resolved_orders += 1
                log.info("order %s found after a lost reply: %s %s", link_id, order.order_id, order.status)
                return OrderAck(order.order_id, order.order_link_id or link_id, resolved=True, status=order.status)
            if attempt < self._resolve_tries:
                await self._backoff(attempt, "/v5/order/realtime", f"order {link_id} not found yet")
        raise OrderOutcomeUnknown(link_id, f"{reason}; no order with this orderLinkId was found afterwards")

    async def cancel_order(
        self, category: str, symbol: str, order_id: str | None = None, order_link_id: str | None = None
    ) -> OrderAck:
        """Ask Bybit to cancel one order (an acknowledgement: the ``order`` stream confirms it)."""
        if not order_id and not order_link_id:
            raise ValueError("cancel_order() needs an order_id or an order_link_id")
        params = {"category": category, "symbol": symbol, "orderId": order_id, "orderLinkId": order_link_id}
        result = await self.post("/v5/order/cancel", params)
        return self._ack(result, order_link_id or "", "/v5/order/cancel")

    @staticmethod
    def _ack(result: object, link_id: str, path: str) -> OrderAck:
        if not isinstance(result, dict) or not result.get("orderId"):
            raise BadResponse(None, "the acknowledgement has no orderId", path=path)
        return OrderAck(str(result["orderId"]), str(result.get("orderLinkId") or link_id))

    def _parse_page(self, parser: Callable[[Any], Any], page: list[Any], path: str) -> list[Any]:
        """The records of one listing page that parse; each other one is counted and kept in
        :attr:`rejected_records` (one absurd number must not fail every backfill, and so every reconnect)."""
        parsed = []
        for record in page:
            try:
                parsed.append(parser(record))
            except ProtocolError as error:
                symbol = record.get("symbol") if isinstance(record, dict) else None
                rejected = RejectedRecord(path, symbol[:40] if isinstance(symbol, str) else "", str(error))
                self.stats.rejected_records += 1
                self.rejected_records.append(rejected)
                log.warning("%s: a record of %r left out: %s", path, rejected.symbol, rejected.why)
        return parsed

    @staticmethod
    def _parse(parser: Callable[[Any], Any], record: Any, path: str) -> Any:
        try:
            return parser(record)
        except ProtocolError as error:
            raise UnreadableRecord(None, str(error), path=path) from None


_ORDER_FIELDS = {"orderId": "order_id", "orderLinkId": "order_link_id"}


def _oldest_first_unique(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Bybit lists newest first; keep the first copy of each ``execId`` and return them oldest first."""
    unique: dict[str, dict[str, Any]] = {}
    for record in records:
        exec_id = record.get("execId")
        if exec_id is None or exec_id in unique:
            continue
        unique[str(exec_id)] = record
    ordered = list(reversed(list(unique.values())))
    # A stable sort: fills of the same millisecond keep Bybit's order.
    ordered.sort(key=lambda record: _ms(record.get("execTime")) or 0)
    return ordered
