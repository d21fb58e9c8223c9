"""What a recording's lines hold, and what is taken out of them before they reach the disk.

Secrets never reach a recording: no request header is kept (the key and the signature travel there), an auth op's
arguments are replaced, query and body parameters named like a key or a signature are dropped, and, as a last net,
every occurrence of the session's API key and secret is replaced in the bytes before they are compressed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote

import orjson

__all__ = [
    "FORMAT_VERSION",
    "REDACTED",
    "SUFFIX",
    "Scrubber",
    "clean_body",
    "clean_query",
    "clean_sent",
    "fluxum_version",
]

FORMAT_VERSION = 1
SUFFIX = ".jsonl.zst"
REDACTED = "<redacted>"
SECRET_PARAMS = frozenset({"api_key", "apikey", "api_secret", "secret", "sign", "signature", "x-bapi-sign"})
MIN_SECRET_CHARS = 6  # a shorter "secret" would blank ordinary words out of the frames


def fluxum_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("fluxum")
    except PackageNotFoundError:
        return "unknown"


def clean_sent(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A frame Fluxum sent, as recorded: an auth op keeps its op and req_id, never its arguments."""
    if payload.get("op") == "auth":
        return {**payload, "args": REDACTED}
    return dict(payload)


def clean_query(query: str) -> str:
    """A query string without any parameter named like a key or a signature."""
    parts = query.split("&") if query else []
    return "&".join(part for part in parts if unquote(part.split("=", 1)[0]).lower() not in SECRET_PARAMS)


def clean_body(body: bytes | None) -> object:
    """A request body as recorded: its JSON object without key or signature fields (else its text)."""
    if body is None:
        return None
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body.decode("utf-8", "replace")
    if isinstance(value, dict):
        return {key: item for key, item in value.items() if str(key).lower() not in SECRET_PARAMS}
    return value


class Scrubber:
    """Replaces every occurrence of the given secrets in a batch of bytes (the last net under the structure)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self._secrets = sorted({s.encode() for s in secrets if len(s) >= MIN_SECRET_CHARS}, key=len, reverse=True)

    def __call__(self, data: bytes) -> bytes:
        for secret in self._secrets:
            if secret in data:
                data = data.replace(secret, REDACTED.encode())
        return data
