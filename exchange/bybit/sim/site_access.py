"""Who may reach the local exchange at all: its own clients, never a web page the user happens to visit.

The exchange listens on loopback with a published demo key, so a page in the user's browser could otherwise
drive it: browsers let a page open a WebSocket to any address (``ws://127.0.0.1:P/v5/private``, sending the
page's ``Origin``), log in with the demo key and trade; a page can POST a form or ``text/plain`` body without
asking first; and DNS rebinding points a name of the page's own at the port, so even a "same-origin" request
arrives under a foreign ``Host``. So every request must:

- name this server in ``Host``: a loopback name or address with its port when bound to loopback (a rebound name
  is refused); when bound elsewhere on purpose, that address (or name), or any address literal when bound to
  every interface;
- not come from another site: an ``Origin``, when present, must be the server's own (``http://`` and a ``Host``
  as above), and a ``Sec-Fetch-Site`` same-origin or none.

pybit (websocket-client sends ``Origin: http://<the URL's host:port>``, the server's own), ccxt, aiohttp, curl
and Fluxum's client pass unchanged. :func:`site_middleware` applies this to every route but the ``/_sim/``
control endpoints, whose guard (:mod:`~.control_access`) applies the same check and then asks for the token. A
refusal is HTTP 403 with Bybit's envelope, counted in ``access.refused`` and ``access.refused.<check>``; a
WebSocket is never upgraded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Middleware

from exchange.bybit.sim.rest_common import Handler, RestSite, envelope, json_response
from exchange.hosts import address_literal, is_loopback_host

log = logging.getLogger(__name__)

SAME_SITE_FETCHES = ("same-origin", "none")
CONTROL_PREFIX = "/_sim/"  # where exchange.bybit.sim.control puts its routes (guarded there, with the token)
REFUSED_CODE = 10010
"""Bybit's retCode for a request from where the key may not be used (its "Unmatched IP")."""


@dataclass
class SiteAddress:
    """Where the server listens; ``port`` is the one bound (known once the server started)."""

    host: str
    port: int

    @property
    def base_url(self) -> str:
        """REST base URL, e.g. ``http://127.0.0.1:PORT`` (an IPv6 host in brackets)."""
        return f"http://{self._url_host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """WebSocket base URL; append ``/v5/public/linear``, ``/v5/private`` ..."""
        return f"ws://{self._url_host}:{self.port}"

    @property
    def _url_host(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host


def own_address(netloc: str, bound_host: str, port: int) -> bool:
    """Whether ``netloc`` (a ``Host`` header, or an origin's ``host:port``) names the server listening on
    ``bound_host`` and ``port``."""
    if not netloc or any(char in netloc for char in "@/?#\\"):
        return False
    try:
        parts = urlsplit(f"//{netloc}")
        named_port = parts.port or 80
    except ValueError:  # an unclosed "[", a port that is not a number
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


def site_refusal(request: web.Request, bound_host: str, port: int) -> tuple[str, str] | None:
    """Why ``request`` comes from somewhere other than this exchange's own clients, as ``(check, reason)``
    with check ``host`` or ``origin``, or None when it does not."""
    headers = request.headers
    host = headers.get("Host", "")
    if not own_address(host, bound_host, port):
        return "host", f"Host {host[:100]!r} is not this exchange's address"
    origin = headers.get("Origin")
    if origin is not None and not _own_origin(origin, bound_host, port):
        return "origin", f"Origin {origin[:100]!r} is another site: this exchange answers programs, not web pages"
    if headers.get("Sec-Fetch-Site", "none") not in SAME_SITE_FETCHES:
        return "origin", "a fetch from another site (Sec-Fetch-Site) may not reach this exchange"
    return None


def site_middleware(address: SiteAddress, site: RestSite) -> Middleware:
    """Refuse, before any handler or WebSocket upgrade, a request that :func:`site_refusal` refuses."""

    @web.middleware
    async def own_clients_only(request: web.Request, handler: Handler) -> web.StreamResponse:
        resource = request.match_info.route.resource
        if resource is not None and resource.canonical.startswith(CONTROL_PREFIX):
            return await handler(request)
        refused = site_refusal(request, address.host, address.port)
        if refused is None:
            return await handler(request)
        check, reason = refused
        counters = site.counters
        counters["access.refused"] += 1
        counters[f"access.refused.{check}"] += 1
        if counters[f"access.refused.{check}"] == 1:  # the first of a kind; the rest are counted
            log.warning("request to %r refused (%s): %s", request.path[:100], check, reason)
        return json_response(envelope(None, REFUSED_CODE, reason, site.clock.now_ms()), status=403)

    return own_clients_only


def _own_origin(origin: str, bound_host: str, port: int) -> bool:
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    return parts.scheme == "http" and parts.path == "" and own_address(parts.netloc, bound_host, port)
