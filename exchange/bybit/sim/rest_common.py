"""What every ``/v5`` REST answer of the local exchange has in common: the envelope, errors, rate limits.

Bybit answers business errors with HTTP 200 and a ``retCode``; it puts ``X-Bapi-Limit``,
``X-Bapi-Limit-Status`` (remaining) and ``X-Bapi-Limit-Reset-Timestamp`` on responses; it answers 10006
``Too many visits!`` when a per-UID bucket is empty and HTTP 403 when an IP floods it. The middleware here
does all of that for every handler, applies the 10006 and 403 faults, turns :class:`RestError` into Bybit's
envelope and any other exception into ``10016`` (never a 500 traceback), and answers unknown ``/v5`` paths
with 404 and ``10017 route not found``.

Buckets (Bybit's v5 docs, "Rate Limit Rules"): per API key (or IP when unsigned) and path, rolling 1 s: order
create/cancel/amend 10/s, order/execution/position/wallet reads 50/s, fee-rate 5/s, others 10/s; every path not listed
(market data) shares the IP bucket of 600 requests per 5 s, which answers HTTP 403 when exceeded, as Bybit does."""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qsl

import orjson
from aiohttp import web
from aiohttp.typedefs import Middleware

from exchange.bybit.sim.clock import SimClock

log = logging.getLogger(__name__)

UID_LIMITS: dict[str, int] = {
    "/v5/order/create": 10,
    "/v5/order/cancel": 10,
    "/v5/order/amend": 10,
    "/v5/order/realtime": 50,
    "/v5/order/history": 50,
    "/v5/execution/list": 50,
    "/v5/position/list": 50,
    "/v5/account/wallet-balance": 50,
    "/v5/account/fee-rate": 5,
    "/v5/user/query-api": 10,
}
IP_LIMIT = 600
IP_WINDOW_S = 5.0
UID_WINDOW_S = 1.0
_MAX_BUCKETS = 10_000

ERROR_TOO_MANY_VISITS = (10006, "Too many visits!")
ERROR_SYSTEM = (10016, "System error. Please try again later.")


class RestError(Exception):
    """A request refused with Bybit's ``retCode``/``retMsg`` (HTTP 200 unless ``http_status`` says so)."""

    def __init__(self, ret_code: int, ret_msg: str, http_status: int = 200) -> None:
        super().__init__(f"{ret_code} {ret_msg}")
        self.ret_code = ret_code
        self.ret_msg = ret_msg
        self.http_status = http_status


def envelope(
    result: dict[str, Any] | None = None, ret_code: int = 0, ret_msg: str = "OK", now_ms: int | None = None
) -> dict[str, Any]:
    """Bybit's response envelope, keys in Bybit's order."""
    return {
        "retCode": ret_code,
        "retMsg": ret_msg,
        "result": {} if result is None else result,
        "retExtInfo": {},
        "time": int(time.time() * 1000) if now_ms is None else now_ms,
    }


class RestFaults(Protocol):
    """The REST faults the middleware applies (see :class:`~.faults.Faults`)."""

    @property
    def forbidden(self) -> bool: ...

    @property
    def rate_limited(self) -> bool: ...

    @property
    def rate_limit_reset_ms(self) -> int: ...


@dataclass(frozen=True)
class RestSite:
    """What every ``/v5`` answer shares: the clock that stamps it, the counters, the REST faults, the limits."""

    clock: SimClock
    counters: Counter[str]
    faults: RestFaults
    limiter: RateLimiter


def json_response(body: dict[str, Any], status: int = 200) -> web.Response:
    """An orjson-encoded JSON response."""
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def error_response(site: RestSite, ret_code: int, ret_msg: str, http_status: int = 200) -> web.Response:
    """Bybit's error envelope (``result`` is ``{}``), counted as ``rest.<retCode>``."""
    site.counters[f"rest.{ret_code}"] += 1
    return json_response(envelope(None, ret_code, ret_msg, site.clock.now_ms()), status=http_status)


def ok_response(site: RestSite, result: dict[str, Any]) -> web.Response:
    """A successful envelope stamped with server time."""
    return json_response(envelope(result, 0, "OK", site.clock.now_ms()))


def query_params(request: web.Request) -> dict[str, str]:
    """The query parameters from the raw query string (last one wins), as Bybit reads them."""
    return dict(parse_qsl(request.rel_url.raw_query_string, keep_blank_values=True))


class RateLimiter:
    """Rolling-window request counters per bucket; answers the three headers and whether to refuse."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._buckets: dict[tuple[str, str], deque[float]] = {}
        self._monotonic = monotonic

    def hit(self, path: str, api_key: str | None, peer: str, now_ms: int) -> tuple[bool, bool, dict[str, str]]:
        """Count one request; returns ``(allowed, ip_bucket, headers)``."""
        limit = UID_LIMITS.get(path)
        if limit is not None:
            key = (path, api_key or peer)
            window = UID_WINDOW_S
            ip_bucket = False
        else:
            key = ("ip", peer)
            limit = IP_LIMIT
            window = IP_WINDOW_S
            ip_bucket = True
        mono = self._monotonic()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= _MAX_BUCKETS:
                self._buckets.clear()
            bucket = self._buckets[key] = deque()
        while bucket and bucket[0] <= mono - window:
            bucket.popleft()
        allowed = len(bucket) < limit
        if allowed:
            bucket.append(mono)
        oldest = bucket[0] if bucket else mono
        reset_ms = now_ms + max(0, int((oldest + window - mono) * 1000))
        headers = {
            "X-Bapi-Limit": str(limit),
            "X-Bapi-Limit-Status": str(max(0, limit - len(bucket))),
            "X-Bapi-Limit-Reset-Timestamp": str(reset_ms),
        }
        return allowed, ip_bucket, headers


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


WEBSOCKET_PATHS = ("/v5/public/", "/v5/private", "/v5/trade")


def rest_middleware(site: RestSite) -> Middleware:
    """Faults, rate limits and error envelopes around every handler (see the module docstring)."""

    @web.middleware
    async def bybit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if not path.startswith("/v5/") or path.startswith(WEBSOCKET_PATHS):
            return await _guarded(site, request, handler)  # REST faults and limits are for REST, not WS handshakes
        site.counters["rest.requests"] += 1
        if site.faults.forbidden:
            site.counters["rest.403"] += 1
            return web.Response(status=403, text="access too frequent")
        return await _limited(site, request, handler)

    return bybit_middleware


async def _limited(site: RestSite, request: web.Request, handler: Handler) -> web.StreamResponse:
    """The request counted against its bucket, answered 10006 or 403 when over, with the limit headers."""
    faults = site.faults
    peer = request.remote or "unknown"
    api_key = request.headers.get("X-BAPI-API-KEY")
    allowed, ip_bucket, headers = site.limiter.hit(request.path, api_key, peer, site.clock.now_ms())
    if faults.rate_limited:
        headers["X-Bapi-Limit-Status"] = "0"
        headers["X-Bapi-Limit-Reset-Timestamp"] = str(faults.rate_limit_reset_ms)
        response: web.StreamResponse = error_response(site, *ERROR_TOO_MANY_VISITS)
    elif not allowed and ip_bucket:
        site.counters["rest.403"] += 1
        response = web.Response(status=403, text="access too frequent")
    elif not allowed:
        response = error_response(site, *ERROR_TOO_MANY_VISITS)
    else:
        response = await _guarded(site, request, handler)
    response.headers.update(headers)
    return response


async def _guarded(site: RestSite, request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except RestError as error:
        return error_response(site, error.ret_code, error.ret_msg, error.http_status)
    except web.HTTPNotFound:
        site.counters["rest.404"] += 1
        if request.path.startswith("/v5/"):
            return json_response(envelope(None, 10017, "route not found", site.clock.now_ms()), status=404)
        return web.Response(status=404, text="404: Not Found")
    except web.HTTPException as error:
        site.counters[f"rest.http_{error.status}"] += 1
        return web.Response(status=error.status, text=error.text or error.reason, headers=error.headers)
    except Exception:
        site.counters["rest.internal_error"] += 1
        log.exception("REST handler failed on %s %s", request.method, request.path)
        return error_response(site, *ERROR_SYSTEM)
