"""Who may drive the local exchange's faults over HTTP: the caller with the run's token, never a web page.

Any web page can send a POST to a loopback port as a "simple request" (a ``text/plain``, form or multipart body,
no custom header) without the browser asking the server first, and DNS rebinding lets a page reach the port
under a host name of its own. So every ``/_sim/`` request must:

- carry the run's control token in ``X-Fluxum-Sim-Token`` (a page cannot know it, and cannot set a custom header
  without a CORS preflight, which this server never grants), compared in constant time;
- say ``Content-Type: application/json`` when it is a POST (no simple request can);
- name this server in ``Host``: a loopback name or address with its port (a rebound name is refused); when the
  server was bound elsewhere on purpose (``faults_on_network``), that address, or any address literal when bound
  to every interface;
- not come from another site: an ``Origin`` must be the server's own, a ``Sec-Fetch-Site`` same-origin or none.

Curl and scripts send no ``Origin`` and pass. A refusal is answered 403 with its reason, counted in
``control.refused`` and ``control.refused.<check>``, and nothing is applied.
"""

from __future__ import annotations

import hmac
import secrets
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from exchange.hosts import address_literal, is_loopback_host

if TYPE_CHECKING:
    from aiohttp import web

TOKEN_HEADER = "X-Fluxum-Sim-Token"
TOKEN_ENV = "FLUXUM_SIM_TOKEN"
MIN_TOKEN_CHARS = 16
MAX_TOKEN_CHARS = 256
SAME_SITE_FETCHES = ("same-origin", "none")


def new_token() -> str:
    """A fresh random control token (43 URL-safe characters, 256 bits)."""
    return secrets.token_urlsafe(32)


def check_token(token: str) -> str:
    """``token`` if it can be a control token, else ValueError with one sentence: it goes in a header and must
    not be guessable, so 16 to 256 visible ASCII characters."""
    if not MIN_TOKEN_CHARS <= len(token) <= MAX_TOKEN_CHARS:
        raise ValueError(f"a control token needs {MIN_TOKEN_CHARS} to {MAX_TOKEN_CHARS} characters, not {len(token)}")
    if not all("!" <= char <= "~" for char in token):
        raise ValueError("a control token may hold only visible ASCII characters (no spaces)")
    return token


def is_network_bind(host: str) -> bool:
    """True when listening on ``host`` is reachable from other machines (anything but loopback)."""
    return not is_loopback_host(host)


def own_address(netloc: str, bound_host: str, port: int) -> bool:
    """Whether ``netloc`` (a ``Host`` header, or an origin's ``host:port``) names the server listening on
    ``bound_host`` and ``port``."""
    if not netloc or any(char in netloc for char in "@/?#\\"):
        return False
    parts = urlsplit(f"//{netloc}")
    try:
        named_port = parts.port or 80
    except ValueError:
        return False
    hostname = parts.hostname or ""
    if named_port != port or not hostname:
        return False
    if is_loopback_host(bound_host):
        return is_loopback_host(hostname)
    bound = address_literal(bound_host)
    if bound is not None and bound.is_unspecified:
        return is_loopback_host(hostname) or address_literal(hostname) is not None
    named = address_literal(hostname)
    if bound is not None and named is not None:
        return bound == named
    return hostname == bound_host.strip("[]").lower()


def refusal(request: web.Request, token: str, bound_host: str, port: int) -> tuple[str, str] | None:
    """Why ``request`` may not drive the faults, as ``(check, reason)``, or None when it may."""
    headers = request.headers
    host = headers.get("Host", "")
    if not own_address(host, bound_host, port):
        return "host", f"Host {host[:100]!r} is not this exchange's address"
    origin = headers.get("Origin")
    if origin is not None and not _own_origin(origin, bound_host, port):
        return "origin", f"Origin {origin[:100]!r} is another site: control requests come from scripts, not pages"
    if headers.get("Sec-Fetch-Site", "none") not in SAME_SITE_FETCHES:
        return "origin", "a cross-site fetch (Sec-Fetch-Site) may not drive the exchange"
    given = headers.get(TOKEN_HEADER, "")
    if not hmac.compare_digest(given.encode("utf-8", "replace"), token.encode()):
        return "token", f"missing or wrong {TOKEN_HEADER} (the control token of this run)"
    if request.method == "POST" and request.content_type != "application/json":
        return "content_type", "a control request must be sent as Content-Type: application/json"
    return None


def _own_origin(origin: str, bound_host: str, port: int) -> bool:
    parts = urlsplit(origin)
    return parts.scheme == "http" and parts.path == "" and own_address(parts.netloc, bound_host, port)
