"""Who may drive the local exchange's faults over HTTP: the caller with the run's token, never a web page.

Any web page can send a POST to a loopback port as a "simple request" (a ``text/plain``, form or multipart body,
no custom header) without the browser asking the server first, and DNS rebinding lets a page reach the port
under a host name of its own. So every ``/_sim/`` request must:

- pass the check every request to the exchange passes (:func:`~.site_access.site_refusal`): this server's
  ``Host`` (a rebound name is refused; when bound elsewhere on purpose, with ``faults_on_network``, that address,
  or any address literal when bound to every interface), no ``Origin`` but its own, no cross-site
  ``Sec-Fetch-Site``;
- carry the run's control token in ``X-Fluxum-Sim-Token`` (a page cannot know it, and cannot set a custom header
  without a CORS preflight, which this server never grants), compared in constant time;
- say ``Content-Type: application/json`` when it is a POST (no simple request can).

Curl and scripts send no ``Origin`` and pass. A refusal is answered 403 with its reason, counted in
``control.refused`` and ``control.refused.<check>``, and nothing is applied.
"""

from __future__ import annotations

import hmac
import secrets
from typing import TYPE_CHECKING

from exchange.bybit.sim.site_access import site_refusal

if TYPE_CHECKING:
    from aiohttp import web

TOKEN_HEADER = "X-Fluxum-Sim-Token"
TOKEN_ENV = "FLUXUM_SIM_TOKEN"
MIN_TOKEN_CHARS = 16
MAX_TOKEN_CHARS = 256


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


def refusal(request: web.Request, token: str, bound_host: str, port: int) -> tuple[str, str] | None:
    """Why ``request`` may not drive the faults, as ``(check, reason)``, or None when it may."""
    refused = site_refusal(request, bound_host, port)
    if refused is not None:
        return refused
    given = request.headers.get(TOKEN_HEADER, "")
    if not hmac.compare_digest(given.encode("utf-8", "replace"), token.encode()):
        return "token", f"missing or wrong {TOKEN_HEADER} (the control token of this run)"
    if request.method == "POST" and request.content_type != "application/json":
        return "content_type", "a control request must be sent as Content-Type: application/json"
    return None
