"""The local Bybit v5 exchange as one aiohttp server: REST under ``/v5``, public and private WebSockets.

One port serves everything with Bybit's own paths, so an official client works unchanged apart from its base
URL: ``base_url`` for REST (``http://127.0.0.1:PORT``) and ``ws_url`` + ``/v5/public/linear`` etc. for
streams. The server runs in-process (``async with SimServer(config) as sim``) for tests and the embedded
dashboard, or in the foreground through ``fluxum sim``. Stopping it closes every socket with 1001 and cancels
its tasks.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from exchange.bybit.sim import account as account_module
from exchange.bybit.sim import control, demo_trader, private_ws, public_ws, rest_market, rest_private
from exchange.bybit.sim.clock import SimClock
from exchange.bybit.sim.connection import MAX_QUEUE_BYTES, MAX_QUEUE_FRAMES, ConnectionRegistry, SimConnection
from exchange.bybit.sim.control_access import TOKEN_HEADER, check_token, new_token
from exchange.bybit.sim.faults import Faults
from exchange.bybit.sim.instruments import DEFAULT_CATEGORIES, DEFAULT_SYMBOLS, build_instruments
from exchange.bybit.sim.market import BOOK_LEVELS, Market
from exchange.bybit.sim.rest_common import SIM_KEY, RateLimiter, bybit_middleware
from exchange.bybit.sim.site_access import site_middleware
from exchange.hosts import is_loopback_host

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 1024 * 1024


@dataclass
class SimConfig:
    """How to run the local exchange; the defaults are the dashboard's embedded exchange."""

    host: str = "127.0.0.1"
    port: int = 0  # 0 picks a free port
    seed: int = 1
    symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    categories: tuple[str, ...] = DEFAULT_CATEGORIES
    faults_enabled: bool = False  # the /_sim/ control endpoints (the Python fault API always works)
    control_token: str | None = None  # what /_sim/ requests must carry; None makes a random one for the run
    faults_on_network: bool = False  # allow the /_sim/ endpoints on a non-loopback host (anyone there may call)
    demo_trader: bool = True
    funding_speed: float = 1.0  # 8 h of simulated funding time per 8 h of wall time at 1.0; 480 = every minute
    market_interval_s: float = 0.05
    clock: SimClock | None = None
    run_market: bool = True  # False: the market only moves when something calls market.step() (tests)
    publish: bool = True  # False: the public feed only publishes on public_feed.publish_now() (tests)
    book_levels: int = BOOK_LEVELS
    ws_queue_frames: int = MAX_QUEUE_FRAMES
    ws_queue_bytes: int = MAX_QUEUE_BYTES


class SimServer:
    """The running exchange: ``market``, ``account``, ``faults``, ``connections``, ``counters``, ``clock``, and
    ``control_token``, which HTTP fault requests must carry (see :mod:`exchange.bybit.sim.control_access`)."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config = config or SimConfig()
        if config.faults_enabled and not is_loopback_host(config.host) and not config.faults_on_network:
            raise ValueError(
                f"fault control on {config.host} would be open to the network: bind a loopback address, or set "
                "faults_on_network to mean it"
            )
        self.control_token = new_token() if config.control_token is None else check_token(config.control_token)
        self.clock = config.clock or SimClock()
        self.counters: Counter[str] = Counter()
        instruments = build_instruments(config.symbols, config.categories)
        self.market = Market(instruments, seed=config.seed, clock=self.clock, book_levels=config.book_levels)
        self.connections = ConnectionRegistry(config.seed)
        self.faults = Faults(self, enabled=config.faults_enabled)
        self.rate_limiter = RateLimiter()
        self.account = account_module.Account(self.market, self.clock, funding_speed=config.funding_speed)
        self.public_feed: public_ws.PublicFeed  # set by public_ws.add_routes
        self.demo_trader: Any = None
        self.app = self._build_app()
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.host = config.host
        self.port = config.port
        self.started = False

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[site_middleware, bybit_middleware], client_max_size=MAX_REQUEST_BYTES)
        app[SIM_KEY] = self
        rest_market.add_routes(app, self)
        public_ws.add_routes(app, self)
        rest_private.add_routes(app, self)
        private_ws.add_routes(app, self)
        if self.config.faults_enabled:
            control.add_routes(app, self)
        return app

    # ----------------------------------------------------------------------------------------- addresses

    @property
    def control_headers(self) -> dict[str, str]:
        """The header every ``/_sim/`` request carries: ``{"X-Fluxum-Sim-Token": control_token}``."""
        return {TOKEN_HEADER: self.control_token}

    @property
    def base_url(self) -> str:
        """REST base URL, e.g. ``http://127.0.0.1:PORT``."""
        return f"http://{self._url_host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """WebSocket base URL; append ``/v5/public/linear``, ``/v5/private`` ..."""
        return f"ws://{self._url_host}:{self.port}"

    @property
    def _url_host(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    # ----------------------------------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Listen, then start the market, the public feed and (if configured) the demo trader."""
        if self.started:
            return
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.config.host, self.config.port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = sockets[0].getsockname()[1]
        loop = asyncio.get_running_loop()
        if self.config.run_market:
            self._tasks.append(loop.create_task(self.market.run(self.config.market_interval_s), name="sim-market"))
        self.public_feed.start(background=self.config.publish)
        if self.config.demo_trader:
            self.demo_trader = demo_trader.DemoTrader(self)
            self.demo_trader.start()
        self.started = True
        log.info("local Bybit v5 exchange listening at %s", self.base_url)

    async def stop(self) -> None:
        """Stop everything and close every socket (1001 going away); safe to call twice."""
        if not self.started:
            return
        self.started = False
        if self.demo_trader is not None:
            try:
                await self.demo_trader.stop()
            except Exception:
                log.exception("demo trader did not stop cleanly")
            self.demo_trader = None
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.public_feed.stop()
        await asyncio.gather(*(c.close(code=1001) for c in self.connections.all()), return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SimServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ----------------------------------------------------------------------------------------- sockets

    def open_connection(self, ws: web.WebSocketResponse, request: web.Request, kind: str) -> SimConnection:
        """Register a prepared WebSocket as a :class:`SimConnection` with this server's queue bounds."""
        conn = SimConnection(
            ws,
            kind,
            self.connections.new_conn_id(),
            self.counters,
            request=request,
            max_frames=self.config.ws_queue_frames,
            max_bytes=self.config.ws_queue_bytes,
        )
        self.connections.register(conn)
        self.counters[f"ws.connections.{kind.split(':')[0]}"] += 1
        conn.start()
        return conn

    async def close_connection(self, conn: SimConnection) -> None:
        """Forget a connection whose socket is gone (the handler's ``finally``)."""
        self.connections.unregister(conn)
        await conn.finish()
