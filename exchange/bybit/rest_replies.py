"""What one Bybit v5 REST reply means: read it (capped), then classify it as an answer or a typed error.

Classification is pure: it looks at the status, the headers and the envelope, never at the client's state, so
the transport can decide what to do with each kind (:mod:`exchange.bybit.rest_transport`) and a test can
check each verdict on its own. The error types are the outcomes a caller acts on:

* :class:`ServerUnavailable`: an outage (5xx, 429, ``10016``, no reply): a read may be sent again later;
* :class:`TimestampRejected`: ``10002``, the clock is off: resync, then send again once;
* :class:`RateLimited`: ``10006``: wait for the reset the headers name, then send again;
* :class:`Forbidden`: HTTP 403: nothing is sent during the cool-down (the transport's verdict, as it keeps the
  cool-down);
* :class:`AuthenticationError`: the key was refused (:data:`~exchange.bybit.errors.AUTH_CODES`, HTTP 401);
* anything else (:class:`BadResponse`, a business :class:`BybitError`): final.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from exchange.bybit.errors import (
    RATE_LIMIT_CODE,
    SYSTEM_BUSY_CODE,
    AuthenticationError,
    BadResponse,
    BybitError,
    RateLimited,
    ServerUnavailable,
    clean_message,
    error_for,
)
from exchange.numbers import MAX_EPOCH_MS, NumberError, read_whole

__all__ = [
    "HEADER_LIMIT",
    "MAX_REPLY_BYTES",
    "Accepted",
    "Reply",
    "body_text",
    "classify",
    "envelope",
    "int_header",
    "read_capped",
    "whole_or_none",
]

MAX_REPLY_BYTES = 16 << 20
"""The largest reply read (Bybit's largest, a page of 1000 instruments, is about 1 MB): a host streaming more is a
bad reply, refused once this much has come, never read whole into memory."""

HEADER_LIMIT = MAX_EPOCH_MS
"""Whole-number headers (limits, epoch-ms reset times, Retry-After seconds) are below this, so a reset time is one
``datetime`` can still show."""


@dataclass(frozen=True)
class Reply:
    """One HTTP reply as read, with the local times the request left and the reply arrived (the clock sync's
    midpoint)."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    sent_s: float
    received_s: float


@dataclass(frozen=True)
class Accepted:
    """A reply with ``retCode`` 0: its ``result``, an object as in every v5 reply (``{}`` when Bybit sent none)."""

    result: dict[str, Any]
    reply: Reply


async def read_capped(response: aiohttp.ClientResponse, path: str) -> bytes:
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


def int_header(headers: Mapping[str, str], name: str) -> int | None:
    """A whole-number header, or None when absent or not one below :data:`HEADER_LIMIT` (a 4000-digit reset time
    would make the wait's float arithmetic raise OverflowError)."""
    value = headers.get(name)
    if value is None:
        return None
    try:
        return read_whole(str(value).strip(), name, HEADER_LIMIT)
    except NumberError:
        return None


def whole_or_none(value: object) -> int | None:
    """``value`` as an int (Bybit sends numbers as strings), or None when it is not one."""
    if value == "" or isinstance(value, bool) or not isinstance(value, str | int | float):
        return None  # a JSON null, list or object, or a bool (an int to Python, never a count to Bybit)
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def envelope(reply: Reply) -> dict[str, Any] | None:
    """Bybit's ``{"retCode": ..., "result": ...}`` document, or None when the body is something else."""
    if not reply.body:
        return None
    try:
        document = orjson.loads(reply.body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(document, dict) or "retCode" not in document:
        return None
    return document


def body_text(reply: Reply, api_key: str | None) -> str:
    """What the reply says, fit for an error message: ``retMsg``, else the body's first 200 bytes on one line."""
    text = reply.body[:200].decode("utf-8", "replace").strip()
    document = envelope(reply)
    if document is not None:
        text = str(document.get("retMsg", text))
    return clean_message(" ".join(text.split()), api_key)


def classify(reply: Reply, path: str, api_key: str | None) -> Accepted | BybitError:
    """The answer in ``reply``, or the typed error it amounts to (an HTTP 403 never reaches here: the transport
    turns it into :class:`~exchange.bybit.errors.Forbidden` with the cool-down it starts)."""
    document = envelope(reply)
    code = whole_or_none(document.get("retCode")) if document is not None else None
    message = clean_message(document.get("retMsg") if document else body_text(reply, api_key), api_key)
    status = reply.status
    if status >= 500 or status == 429 or code == SYSTEM_BUSY_CODE:
        return ServerUnavailable(code, message or f"HTTP {status}", status, path=path, maybe_sent=True)
    if 300 <= status < 400:
        return BadResponse(None, f"a redirect (HTTP {status}), not followed: Bybit never redirects", status, path=path)
    if document is None or code is None:
        if status == 401:
            return AuthenticationError(None, message or "unauthorized", 401, path=path)
        return BadResponse(None, f"not a Bybit envelope ({message[:80] or 'empty body'})", status, path=path)
    if code == 0:
        result = document.get("result")
        if result is not None and not isinstance(result, dict):
            return BadResponse(None, f"result is a {type(result).__name__}, not an object", status, path=path)
        return Accepted(result if result is not None else {}, reply)
    if code == RATE_LIMIT_CODE:
        reset_ms = int_header(reply.headers, "X-Bapi-Limit-Reset-Timestamp")
        return RateLimited(code, message, status, path=path, reset_ms=reset_ms)
    return error_for(code, message, status, path=path)
