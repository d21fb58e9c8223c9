"""The private stream's auth: the signed request, and what a refusal means.

Bybit answers an auth signed with an expiry already past with a bare "Params Error", the same words it has for a
bad key. So a first "Params Error" means "measure the clock and ask again" (a :class:`LinkDead`: the session asks
again on the same link, and only reconnects if the clock could not be measured), and only one signed on a clock
just measured and good to well within the expiry means the key itself (a :class:`SessionFailed`). Kept apart
from :mod:`exchange.session`, which decides when to measure and when to ask.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exchange.bybit.signing import ws_auth_signature
from exchange.printable import printable
from exchange.retry import SessionFailed
from exchange.secrets import Credentials
from exchange.sources import LinkDead
from exchange.subscriptions import MAX_REASON_CHARS


def auth_request(credentials: Credentials, expires_ms: int) -> dict[str, Any]:
    """The auth request, signed to expire at ``expires_ms`` (the exchange's epoch ms)."""
    signature = ws_auth_signature(credentials.api_secret, expires_ms)
    return {"op": "auth", "args": [credentials.api_key, expires_ms, signature]}


def clock_trusted(clock_error_ms: float, auth_expiry_s: float) -> bool:
    """Whether a clock measured to ``clock_error_ms`` is good to well within the auth's validity: then an auth
    signed with it cannot arrive expired, and a "Params Error" is about the key, not the time."""
    return clock_error_ms < auth_expiry_s * 1000 / 4


def auth_refusal(reply: Mapping[str, Any], clock_checked: bool) -> LinkDead | SessionFailed:
    """What a refused auth ``reply`` means: :class:`LinkDead` (check the clock, then try again) for a "Params
    Error" unless the clock was just measured and trusted (``clock_checked``); else :class:`SessionFailed`."""
    message = printable(str(reply.get("ret_msg") or "rejected"))  # the Failed reason people read
    if message == "Params Error" and not clock_checked:
        return LinkDead("auth refused (Params Error): checking the clock")  # Bybit's reply to a stale expiry
    if message == "Params Error":  # signed on a clock measured just now, and refused again: not the clock
        message = "Params Error again with the clock re-measured (the key or its permissions?)"
    return SessionFailed(f"API key rejected by the private stream: {message[:MAX_REASON_CHARS]}")
