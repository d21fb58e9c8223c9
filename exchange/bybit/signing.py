"""Bybit v5 request signing, shared by the client (which signs) and the local exchange (which verifies).

Bybit signs the exact bytes on the wire: ``timestamp + api_key + recv_window + (raw query | raw body)`` for REST
and ``"GET/realtime" + expires`` for the private WebSocket, both as lowercase hex HMAC-SHA256.
"""

from __future__ import annotations

import hashlib
import hmac

DEFAULT_RECV_WINDOW = 5000


def _hmac_hex(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def rest_signature(secret: str, timestamp: int | str, api_key: str, recv_window: int | str, payload: str) -> str:
    """Signature of one REST request; ``payload`` is the raw query string (GET) or the raw JSON body (POST)."""
    return _hmac_hex(secret, f"{timestamp}{api_key}{recv_window}{payload}")


def ws_auth_signature(secret: str, expires_ms: int | str) -> str:
    """Signature of the private WebSocket ``auth`` op for a given expiry (ms since the epoch)."""
    return _hmac_hex(secret, f"GET/realtime{expires_ms}")


def signatures_match(expected: str, given: str) -> bool:
    """Constant-time comparison, so a verifier leaks nothing about the right signature."""
    return hmac.compare_digest(expected.encode(), given.encode())
