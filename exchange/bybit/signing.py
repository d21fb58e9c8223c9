"""Bybit v5 request signing, shared by the client (which signs) and the local exchange (which verifies).

Bybit signs the exact bytes on the wire: ``timestamp + api_key + recv_window + (raw query | raw body)`` for REST
and ``"GET/realtime" + expires`` for the private WebSocket, both as lowercase hex HMAC-SHA256.

The client passes the secret as a :class:`~exchange.secrets.Secret`, revealed only inside the HMAC call, so no
frame of ours holds it as a plain string (a traceback rendered with locals shows ``Secret('********')``; the
stdlib's own ``hmac`` frames necessarily hold the key bytes, which is why the app's crash report never prints
locals). A verifier with plain strings (the local exchange, tests) may pass a ``str``.
"""

from __future__ import annotations

import hashlib
import hmac

from exchange.secrets import Secret

DEFAULT_RECV_WINDOW = 5000


def _hmac_hex(secret: Secret | str, payload: str) -> str:
    key = secret.__str__ if isinstance(secret, str) else secret.reveal
    return hmac.new(key().encode(), payload.encode(), hashlib.sha256).hexdigest()


def rest_signature(
    secret: Secret | str,
    timestamp: int | str,
    api_key: str,
    recv_window: int | str,
    payload: str,
) -> str:
    """Signature of one REST request; ``payload`` is the raw query string (GET) or the raw JSON body (POST)."""
    return _hmac_hex(secret, f"{timestamp}{api_key}{recv_window}{payload}")


def ws_auth_signature(secret: Secret | str, expires_ms: int | str) -> str:
    """Signature of the private WebSocket ``auth`` op for a given expiry (ms since the epoch)."""
    return _hmac_hex(secret, f"GET/realtime{expires_ms}")


def signatures_match(expected: str, given: str) -> bool:
    """Constant-time comparison, so a verifier leaks nothing about the right signature."""
    return hmac.compare_digest(expected.encode(), given.encode())
