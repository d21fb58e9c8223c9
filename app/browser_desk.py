"""The desk in a browser: textual-serve runs one dashboard process per browser tab and relays its screen and keys.

The page's WebSocket drives a desk that may hold an account's keys, so it answers only the page it served: a
WebSocket whose ``Origin`` is not this server's address (another site the user has open, a DNS-rebound name) is
refused, since a browser lets any page open a WebSocket to ``127.0.0.1``. Logs are plain lines: the command line's
printable guard would turn colour codes into litter.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import signal
import socket
import sys
from collections.abc import Callable
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.web_runner import GracefulExit
from textual_serve.server import Server

from exchange.hosts import address_literal, is_loopback_host
from exchange.printable import printable

__all__ = ["DeskServer", "bind", "origin", "page_origins", "serve"]

log = logging.getLogger("fluxum.serve")

SHUTDOWN_S = 5.0
"""How long a stop waits for the open tabs' desks to quit before their connections are cut."""

DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str) -> tuple[str, str, int] | None:
    """A URL's origin as a browser sends it (scheme, host, port), the default port filled in; None if malformed."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port or DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:
        return None
    if not parts.hostname or port is None:
        return None
    return parts.scheme.lower(), parts.hostname.lower(), port


def page_origins(public_url: str, host: str, port: int) -> frozenset[tuple[str, str, int]]:
    """Where the desk's page may be loaded from: its public URL and, on loopback, this machine's other names."""
    origins = {found} if (found := origin(public_url)) else set()
    if is_loopback_host(host):
        origins |= {("http", name, port) for name in ("127.0.0.1", "localhost", "::1")}
    return frozenset(origins)


class DeskServer(Server):
    """textual-serve's server for Fluxum: one dashboard per tab, only for pages from :func:`page_origins`."""

    def __init__(self, command: str, *, host: str, port: int, public_url: str) -> None:
        super().__init__(command, host=host, port=port, title="Fluxum", public_url=public_url)
        self.origins = page_origins(public_url, host, port)
        self._tabs: set[asyncio.Task[object]] = set()

    def initialize_logging(self) -> None:
        logging.basicConfig(level=logging.INFO, format="fluxum serve: %(message)s", stream=sys.stderr)
        logging.getLogger("aiohttp.access").setLevel(logging.WARNING)

    async def on_startup(self, app: web.Application) -> None:
        """Nothing: :func:`serve` announces the address once it accepts connections."""

    async def on_shutdown(self, app: web.Application) -> None:
        """Each open tab's connection is ended, which asks its desk to quit (textual-serve's own way out), so a
        stop takes as long as the desks take to close their links, not the shutdown's whole grace."""
        for tab in self._tabs:
            tab.cancel()

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        sent = request.headers.get("Origin", "")
        if origin(sent) not in self.origins:
            log.warning("refused a desk to a page from %s: not this server's page", printable(sent or "nowhere", 120))
            raise web.HTTPForbidden(text="this desk answers only its own page\n")
        tab = asyncio.current_task()
        assert tab is not None
        self._tabs.add(tab)
        try:
            return await super().handle_websocket(request)
        finally:
            self._tabs.discard(tab)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host``:``port`` (0: a free port). Raises OSError when the address cannot be had."""
    literal = address_literal(host)
    family = socket.AF_INET6 if isinstance(literal, ipaddress.IPv6Address) else socket.AF_INET
    return socket.create_server((host.strip("[]"), port), family=family)


def serve(server: DeskServer, sock: socket.socket, announce: Callable[[str], None]) -> None:
    """Serve on ``sock`` until SIGINT, SIGTERM or SIGHUP; ``announce`` is called with the public URL once
    connections are accepted. Each open tab's desk is asked to quit on the way out."""
    server.initialize_logging()
    loop = asyncio.new_event_loop()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(signum, server.request_exit)
    try:
        web.run_app(
            server._make_app(),
            sock=sock,
            handle_signals=False,
            loop=loop,
            shutdown_timeout=SHUTDOWN_S,
            print=lambda _banner: announce(server.public_url),
        )
    except GracefulExit:  # a signal before the app was running
        pass
    finally:
        sock.close()
        loop.close()
