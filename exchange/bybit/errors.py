"""What can go wrong talking to Bybit's REST API, as exceptions the session and the CLI can act on.

The classes follow what a caller must *do*, not Bybit's numbering: a rejected key
(:class:`AuthenticationError`) cannot be fixed by retrying, so the session goes to Failed;
:class:`RateLimited`, :class:`Forbidden` and :class:`ServerUnavailable` are waits;
:class:`OrderOutcomeUnknown` means "do not send it again, look it up"; anything else is a business rejection
carrying Bybit's own ``retCode`` and ``retMsg``.

Messages never carry a secret, a signature or the signature's origin string: Bybit echoes the latter in its
10004 reply (``error sign! origin_string[...]``), so :func:`clean_message` cuts it before an exception is
built.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from exchange.printable import printable

__all__ = [
    "AUTH_CODES",
    "AuthenticationError",
    "BadResponse",
    "BybitError",
    "Forbidden",
    "OrderOutcomeUnknown",
    "RateLimited",
    "ServerUnavailable",
    "TimestampRejected",
    "clean_message",
    "error_for",
]

AUTH_CODES = frozenset({10003, 10004, 10005, 10010})
"""Invalid key, bad signature, permission denied, IP not whitelisted: a person must change the key."""

TIMESTAMP_CODE = 10002
RATE_LIMIT_CODE = 10006
SYSTEM_BUSY_CODE = 10016
INVALID_REQUEST_CODE = 10001
"""Bybit calls the request itself invalid (a parameter it does not take): resending it cannot help."""
ROUTE_NOT_FOUND_CODE = 10017
"""The host does not serve the path (a host without order history)."""

_ORIGIN = re.compile(r"origin_string\[.*\]", re.DOTALL)
_MAX_MESSAGE = 300


def clean_message(message: object, api_key: str | None = None) -> str:
    """Bybit's ``retMsg`` made safe to show: no origin string, no full API key, one printable line of bounded
    length (no terminal control, see :mod:`exchange.printable`)."""
    text = str(message if message is not None else "")
    text = _ORIGIN.sub("origin_string[redacted]", text)
    if api_key and len(api_key) > 4:
        text = text.replace(api_key, f"{api_key[:4]}…")
    return printable(text, _MAX_MESSAGE + 1)


class BybitError(Exception):
    """A request Bybit refused with a non-zero ``retCode`` (or an HTTP error); the message is one sentence.

    ``ret_msg`` is kept printable whoever built the error: the message reaches notifications, the connection
    bar, stderr, logs and tracebacks.
    """

    def __init__(self, ret_code: int | None, ret_msg: str, http_status: int | None = None, *, path: str = "") -> None:
        self.ret_code = ret_code
        self.ret_msg = printable(str(ret_msg), _MAX_MESSAGE + 1)
        self.http_status = http_status
        self.path = path
        super().__init__(self._sentence())

    def _sentence(self) -> str:
        where = f"{self.path} " if self.path else ""
        code = f"retCode {self.ret_code}" if self.ret_code is not None else f"HTTP {self.http_status}"
        return f"Bybit rejected {where}({code}): {self.ret_msg}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(ret_code={self.ret_code!r}, ret_msg={self.ret_msg!r}, "
            f"http_status={self.http_status!r}, path={self.path!r})"
        )

    def __reduce__(self) -> tuple[Callable[..., BybitError], tuple[type[BybitError], dict[str, object]]]:
        return (_rebuild, (type(self), dict(self.__dict__)))


def _rebuild(cls: type[BybitError], state: dict[str, object]) -> BybitError:
    error = cls.__new__(cls)
    error.__dict__.update(state)
    Exception.__init__(error, error._sentence())
    return error


class AuthenticationError(BybitError):
    """Bybit refused the credentials (10003 invalid key, 10004 bad signature, 10005 permission, 10010 IP)."""

    def _sentence(self) -> str:
        code = self.ret_code if self.ret_code is not None else f"HTTP {self.http_status}"
        return f"Bybit rejected the API key ({code}): {self.ret_msg}"


class BadResponse(BybitError):
    """A reply that is not Bybit's envelope or lacks what the request promises (a proxy page, a cut body)."""

    def _sentence(self) -> str:
        where = f" to {self.path}" if self.path else ""
        status = f" (HTTP {self.http_status})" if self.http_status is not None else ""
        return f"unexpected reply{where}{status}: {self.ret_msg}"


class TimestampRejected(BybitError):
    """10002 twice in a row: the clock could not be brought into Bybit's ``recv_window`` by a resync."""


class RateLimited(BybitError):
    """10006 that outlasted the client's bounded waits; ``reset_ms`` is when Bybit says the limit resets."""

    def __init__(
        self,
        ret_code: int | None,
        ret_msg: str,
        http_status: int | None = None,
        *,
        path: str = "",
        reset_ms: int | None = None,
    ) -> None:
        self.reset_ms = reset_ms
        super().__init__(ret_code, ret_msg, http_status, path=path)

    def _sentence(self) -> str:
        when = f"; it resets at {_clock_text(self.reset_ms)}" if self.reset_ms else ""
        return f"Bybit rate limit hit ({self.ret_code}): {self.ret_msg}{when}"


class Forbidden(BybitError):
    """HTTP 403 (IP rate limit or region block): nothing is sent until ``until_ms`` (local epoch ms)."""

    def __init__(
        self,
        ret_code: int | None,
        ret_msg: str,
        http_status: int | None = 403,
        *,
        path: str = "",
        until_ms: int = 0,
    ) -> None:
        self.until_ms = until_ms
        super().__init__(ret_code, ret_msg, http_status, path=path)

    def _sentence(self) -> str:
        return (
            f"Bybit refused this IP (HTTP 403: {self.ret_msg}); no requests are sent until {_clock_text(self.until_ms)}"
        )


class ServerUnavailable(BybitError):
    """5xx, 10016, a refused or dropped connection, or a timeout, after the retries the request allows.

    ``maybe_sent`` is False only when the request certainly never reached the server (connection refused),
    which is what lets an order submission tell "not placed" from "outcome unknown".
    """

    def __init__(
        self,
        ret_code: int | None,
        ret_msg: str,
        http_status: int | None = None,
        *,
        path: str = "",
        maybe_sent: bool = True,
    ) -> None:
        self.maybe_sent = maybe_sent
        super().__init__(ret_code, ret_msg, http_status, path=path)

    def _sentence(self) -> str:
        where = f" for {self.path}" if self.path else ""
        code = f" ({self.ret_code})" if self.ret_code is not None else ""
        return f"Bybit is unavailable{where}{code}: {self.ret_msg}"


class OrderOutcomeUnknown(BybitError):
    """An order submission whose fate could not be learnt; it was NOT sent again.

    Look it up later by ``order_link_id`` (the client's id, which Bybit keeps unique per account).
    """

    def __init__(self, order_link_id: str, reason: str) -> None:
        self.order_link_id = order_link_id
        super().__init__(None, reason, None, path="/v5/order/create")

    def _sentence(self) -> str:
        return (
            f"the outcome of order {self.order_link_id} is unknown ({self.ret_msg}); it was not sent again: "
            f"look it up by its orderLinkId"
        )


def error_for(ret_code: int, ret_msg: str, http_status: int | None = None, *, path: str = "") -> BybitError:
    """The exception class a ``retCode`` belongs to (retry-driven codes are handled before this is called)."""
    if ret_code in AUTH_CODES:
        return AuthenticationError(ret_code, ret_msg, http_status, path=path)
    if ret_code == TIMESTAMP_CODE:
        return TimestampRejected(ret_code, ret_msg, http_status, path=path)
    if ret_code == RATE_LIMIT_CODE:
        return RateLimited(ret_code, ret_msg, http_status, path=path)
    if ret_code == SYSTEM_BUSY_CODE:
        return ServerUnavailable(ret_code, ret_msg, http_status, path=path)
    return BybitError(ret_code, ret_msg, http_status, path=path)


def _clock_text(epoch_ms: int | None) -> str:
    if not epoch_ms:
        return "unknown"
    try:
        return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).strftime("%H:%M:%S UTC")
    except (ValueError, OverflowError, OSError):  # past what datetime can show: the sentence must still be built
        return "unknown"
