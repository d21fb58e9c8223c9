"""Who may trade on the local exchange: the API keyring and Bybit's two signature checks (REST, private WS).

The checks follow Bybit's rules to the byte: REST signs ``timestamp + key + recv_window + payload`` where the
payload is the raw query string or the raw body exactly as received, and the private stream signs
``"GET/realtime" + expires``. Failures carry Bybit's retCodes and messages so a client's error handling is
exercised for real. A secret never leaves this module: not in reprs, messages or logs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from exchange.bybit.signing import DEFAULT_RECV_WINDOW, rest_signature, signatures_match, ws_auth_signature
from exchange.secrets import Secret

log = logging.getLogger(__name__)

FUTURE_TOLERANCE_MS = 1000
"""Bybit accepts a request timestamp up to 1 s ahead of its own clock."""

PERMISSIONS: dict[str, list[str]] = {
    "ContractTrade": ["Order", "Position"],
    "Spot": ["SpotTrade"],
    "Wallet": ["AccountTransfer", "SubMemberTransfer"],
    "Options": ["OptionsTrade"],
    "Derivatives": ["DerivativesTrade"],
    "CopyTrading": [],
    "BlockTrade": [],
    "Exchange": [],
    "NFT": [],
    "Affiliate": [],
    "Earn": [],
}


@dataclass(frozen=True)
class ApiKey:
    """One API key of the account, with the details ``user/query-api`` reports (never the secret)."""

    api_key: str
    secret: Secret = field(repr=False)
    key_id: int = 1
    note: str = ""
    read_only: bool = False
    created_ms: int = 0


class ApiKeyring:
    """The account's keys: the documented demo key by default; tests may add more."""

    def __init__(self) -> None:
        self._keys: dict[str, ApiKey] = {}

    def add(self, api_key: str, secret: str, *, note: str = "", read_only: bool = False, created_ms: int = 0) -> ApiKey:
        key = ApiKey(
            api_key=api_key,
            secret=Secret(secret),
            key_id=len(self._keys) + 1,
            note=note,
            read_only=read_only,
            created_ms=created_ms,
        )
        self._keys[api_key] = key
        return key

    def remove(self, api_key: str) -> None:
        self._keys.pop(api_key, None)

    def get(self, api_key: str | None) -> ApiKey | None:
        if not api_key:
            return None
        return self._keys.get(api_key)

    def __contains__(self, api_key: object) -> bool:
        return api_key in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"ApiKeyring(keys={sorted(self._keys)})"


class AuthFailure(Exception):
    """A request whose credentials Bybit would refuse: ``retCode`` + ``retMsg``, never the secret."""

    def __init__(self, ret_code: int, ret_msg: str) -> None:
        super().__init__(f"{ret_code} {ret_msg}")
        self.ret_code = ret_code
        self.ret_msg = ret_msg


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        value = headers.get(name.lower())
    return value


def verify_rest(headers: Mapping[str, str], payload: str, keyring: ApiKeyring, server_ms: int) -> ApiKey:
    """Check one signed REST request as Bybit does; returns the key or raises :class:`AuthFailure`.

    Order of checks: key (10003), timestamp window (10002), signature (10004).
    """
    api_key = _header(headers, "X-BAPI-API-KEY")
    key = keyring.get(api_key)
    if key is None:
        raise AuthFailure(10003, "API key is invalid.")
    raw_ts = _header(headers, "X-BAPI-TIMESTAMP") or ""
    raw_window = _header(headers, "X-BAPI-RECV-WINDOW")
    window_text = raw_window if raw_window is not None else str(DEFAULT_RECV_WINDOW)
    try:
        timestamp = int(raw_ts)
        recv_window = int(window_text)
    except ValueError:
        raise AuthFailure(10002, _window_message(raw_ts, server_ms, window_text)) from None
    if recv_window <= 0:
        raise AuthFailure(10002, _window_message(raw_ts, server_ms, window_text))
    if not (server_ms - recv_window <= timestamp < server_ms + FUTURE_TOLERANCE_MS):
        raise AuthFailure(10002, _window_message(raw_ts, server_ms, window_text))
    given = _header(headers, "X-BAPI-SIGN") or ""
    origin = f"{raw_ts}{key.api_key}{window_text}{payload}"
    expected = rest_signature(key.secret, raw_ts, key.api_key, window_text, payload)
    if not signatures_match(expected, given.lower()):
        raise AuthFailure(10004, f"error sign! origin_string[{origin}]")
    return key


def _window_message(raw_ts: str, server_ms: int, window: str) -> str:
    return (
        "invalid request, please check your server timestamp or recv_window param. "
        f"req_timestamp[{raw_ts}],server_timestamp[{server_ms}],recv_window[{window}]"
    )


WS_PARAMS_ERROR = "Params Error"
WS_INVALID_KEY = "Invalid apikey"
WS_INVALID_SIGN = "Invalid sign"
"""Bybit's exact text for a bad private-stream signature is undocumented; the /v5/trade stream says this."""


def verify_ws_auth(args: Any, keyring: ApiKeyring, server_ms: int) -> ApiKey:
    """Check a private-stream ``auth`` op's ``[api_key, expires, signature]``; raises :class:`AuthFailure`.

    ``expires`` may be a JSON number or a numeric string (pybit sends one, ccxt the other); an expiry that is
    not in the future at the server is ``Params Error``, like a malformed request.
    """
    if not isinstance(args, list) or len(args) != 3:
        raise AuthFailure(10001, WS_PARAMS_ERROR)
    api_key, expires_raw, signature = args
    if not isinstance(api_key, str) or not isinstance(signature, str) or isinstance(expires_raw, bool):
        raise AuthFailure(10001, WS_PARAMS_ERROR)
    try:
        if isinstance(expires_raw, str):
            expires = int(expires_raw)
        elif isinstance(expires_raw, int):
            expires = expires_raw
        elif isinstance(expires_raw, float) and expires_raw.is_integer():
            expires = int(expires_raw)
        else:
            raise ValueError(expires_raw)
    except ValueError:
        raise AuthFailure(10001, WS_PARAMS_ERROR) from None
    if expires <= server_ms:
        raise AuthFailure(10001, WS_PARAMS_ERROR)
    key = keyring.get(api_key)
    if key is None:
        raise AuthFailure(10003, WS_INVALID_KEY)
    expected = ws_auth_signature(key.secret.reveal(), expires_raw if isinstance(expires_raw, str) else expires)
    if not signatures_match(expected, signature.lower()):
        raise AuthFailure(10004, WS_INVALID_SIGN)
    return key
