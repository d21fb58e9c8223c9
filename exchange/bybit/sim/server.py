"""The local Bybit v5 exchange as one aiohttp server: REST under ``/v5``, public and private WebSockets.

One port serves everything with Bybit's own paths, so an official client works unchanged apart from its base
URL: ``base_url`` for REST (``http://127.0.0.1:PORT``) and ``ws_url`` + ``/v5/public/linear`` etc. for
streams. The server runs in-process (``async with SimServer(config) as sim``) for tests and the embedded
dashboard, or in the foreground through ``fluxum sim``. Stopping it closes every socket with 1001 and cancels
its tasks.

The venue itself (market, account, orders, matching, funding) is a :class:`~.venue.SimExchange`; the server
builds it, then the network parts around it (public feed, private hub, faults, routes), each given the parts it
serves, all before the first request.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass

from aiohttp import web

from exchange.bybit.sim import control, private_ws, public_ws, rest_market, rest_private
from exchange.bybit.sim.account import Account
from exchange.bybit.sim.clock import SimClock
from exchange.bybit.sim.connection import MAX_QUEUE_BYTES, MAX_QUEUE_FRAMES, ConnectionRegistry
from exchange.bybit.sim.control_access import TOKEN_HEADER, check_token, new_token
from exchange.bybit.sim.demo_trader import DemoTrader
from exchange.bybit.sim.faults import Faults
from exchange.bybit.sim.instruments import DEFAULT_CATEGORIES, DEFAULT_SYMBOLS, build_instruments
from exchange.bybit.sim.market import BOOK_LEVELS, Market
from exchange.bybit.sim.public_ws import PublicFeed
from exchange.bybit.sim.rest_common import RateLimiter, RestSite, rest_middleware
from exchange.bybit.sim.site_access import SiteAddress, site_middleware
from exchange.bybit.sim.venue import SimExchange
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
    demo_trader_category: str = "linear"  # or "inverse" (with "inverse" among the categories)
    demo_symbols: tuple[str, ...] = ()  # what the demo trader trades: every listed symbol of its category if empty
    funding_speed: float = 1.0  # 8 h of simulated funding time per 8 h of wall time at 1.0; 480 = every minute
    market_interval_s: float = 0.05
    clock: SimClock | None = None
    run_market: bool = True  # False: the market only moves when something calls market.step() (tests)
    publish: bool = True  # False: the public feed only publishes on public_feed.publish_now() (tests)
    book_levels: int = BOOK_LEVELS
    ws_queue_frames: int = MAX_QUEUE_FRAMES
    ws_queue_bytes: int = MAX_QUEUE_BYTES


class SimServer:
    """The running exchange: ``exchange`` (market, account, orders, funding), ``faults``, ``connections``,
    ``public_feed``, ``counters``, ``clock``, and ``control_token``, which HTTP fault requests must carry (see
    :mod:`exchange.bybit.sim.control_access`). Every part is built here, before the first request."""

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
        self.exchange = SimExchange(self.market, self.clock, funding_speed=config.funding_speed)
        self.connections = ConnectionRegistry(
            self.counters, config.seed, max_frames=config.ws_queue_frames, max_bytes=config.ws_queue_bytes
        )
        self.public_feed = PublicFeed(self.market, self.clock, self.connections, self.counters, config.seed)
        self.faults = Faults(
            connections=self.connections,
            feed=self.public_feed,
            account=self.exchange.account,
            market=self.market,
            clock=self.clock,
            counters=self.counters,
            enabled=config.faults_enabled,
        )
        self.rate_limiter = RateLimiter()
        self.address = SiteAddress(config.host, config.port)
        self.private_hub = private_ws.PrivateHub(
            self.exchange, self.faults, self.connections, self.clock, self.counters
        )
        self.demo_trader: DemoTrader | None = None
        self.app = self._build_app()
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.started = False

    @property
    def account(self) -> Account:
        """The demo account's money (wallet, positions, executions)."""
        return self.exchange.account

    @property
    def host(self) -> str:
        return self.address.host

    @property
    def port(self) -> int:
        """The port listened on (the one picked, once started with port 0)."""
        return self.address.port

    def _build_app(self) -> web.Application:
        site = RestSite(self.clock, self.counters, self.faults, self.rate_limiter)
        middlewares = [site_middleware(self.address, site), rest_middleware(site)]
        app = web.Application(middlewares=middlewares, client_max_size=MAX_REQUEST_BYTES)
        rest_market.add_routes(app, rest_market.MarketRoutes(self.market, self.public_feed, site))
        public_ws.add_routes(app, self.public_feed)
        rest_private.add_routes(app, rest_private.PrivateRoutes(self.exchange, self.faults, site))
        private_ws.add_routes(app, self.private_hub)
        if self.config.faults_enabled:
            control.add_routes(
                app,
                control.Control(self.faults, self.counters, self.connections, self.control_token, self.address),
            )
        return app

    # ----------------------------------------------------------------------------------------- addresses

    @property
    def control_headers(self) -> dict[str, str]:
        """The header every ``/_sim/`` request carries: ``{"X-Fluxum-Sim-Token": control_token}``."""
        return {TOKEN_HEADER: self.control_token}

    @property
    def base_url(self) -> str:
        """REST base URL, e.g. ``http://127.0.0.1:PORT``."""
        return self.address.base_url

    @property
    def ws_url(self) -> str:
        """WebSocket base URL; append ``/v5/public/linear``, ``/v5/private`` ..."""
        return self.address.ws_url

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
            self.address.port = sockets[0].getsockname()[1]
        loop = asyncio.get_running_loop()
        if self.config.run_market:
            self._tasks.append(loop.create_task(self.market.run(self.config.market_interval_s), name="sim-market"))
        self.public_feed.start(background=self.config.publish)
        if self.config.demo_trader:
            self.demo_trader = DemoTrader(
                self.exchange,
                counters=self.counters,
                seed=self.config.seed,
                category=self.config.demo_trader_category,
                symbols=self.config.demo_symbols,
            )
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
