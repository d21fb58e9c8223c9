"""``fluxum sim``: run the local Bybit v5 exchange in the foreground.

It prints one line with the base URL once it accepts connections (so scripts can wait for it), then serves
until Ctrl-C, SIGTERM or SIGHUP and exits 0. The server is imported inside :func:`run`, so ``fluxum --help`` stays
fast.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import TYPE_CHECKING

from app.cli import UserError

if TYPE_CHECKING:
    from exchange.bybit.sim.server import SimConfig, SimServer

CATEGORY_CHOICES = ("linear", "spot", "inverse")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=str, default="0", help="port to listen on; 0 picks a free one (default)")
    parser.add_argument("--seed", type=str, default="1", help="seed of the market (same seed, same market)")
    parser.add_argument(
        "--symbols",
        default="BTCUSDT,ETHUSDT,SOLUSDT,XRPUSDT,DOGEUSDT",
        help="comma-separated USDT symbols to list (default: BTCUSDT,ETHUSDT,SOLUSDT,XRPUSDT,DOGEUSDT)",
    )
    parser.add_argument(
        "--categories",
        default="linear,spot",
        help="comma-separated categories to serve: linear, spot, inverse (default: linear,spot)",
    )
    parser.add_argument("--no-demo-trader", action="store_true", help="do not trade on the demo account")
    parser.add_argument("--faults", action="store_true", help="enable the /_sim/ fault-injection endpoints")
    parser.add_argument(
        "--funding-speed",
        type=str,
        default="1",
        help="simulated funding time per wall time (480 settles funding every minute; default 1)",
    )


def build_config(args: argparse.Namespace) -> SimConfig:
    """Turn the flags into a :class:`SimConfig`, or raise :class:`UserError` with one sentence."""
    from exchange.bybit.sim.instruments import known_symbols
    from exchange.bybit.sim.server import SimConfig

    port = _int(args.port, "--port")
    if not 0 <= port <= 65535:
        raise UserError(f"--port must be between 0 and 65535, not {port}")
    seed = _int(args.seed, "--seed")
    symbols = tuple(s.strip() for s in args.symbols.split(",") if s.strip())
    if not symbols:
        raise UserError("--symbols needs at least one symbol")
    unknown = [s for s in symbols if s not in known_symbols()]
    if unknown:
        raise UserError(f"unknown symbol {unknown[0]!r}: the local exchange lists {', '.join(known_symbols())}")
    categories = tuple(c.strip() for c in args.categories.split(",") if c.strip())
    bad = [c for c in categories if c not in CATEGORY_CHOICES]
    if bad or not categories:
        raise UserError(f"--categories must be chosen from {', '.join(CATEGORY_CHOICES)}")
    try:
        speed = float(args.funding_speed)
    except ValueError:
        raise UserError(f"--funding-speed must be a number, not {args.funding_speed!r}") from None
    if not 0 < speed <= 1_000_000:
        raise UserError("--funding-speed must be a positive number (up to 1000000)")
    return SimConfig(
        host=args.host,
        port=port,
        seed=seed,
        symbols=symbols,
        categories=categories,
        faults_enabled=args.faults,
        demo_trader=not args.no_demo_trader,
        funding_speed=speed,
    )


def _int(text: str, flag: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise UserError(f"{flag} must be an integer, not {text!r}") from None


def run(args: argparse.Namespace) -> int:
    config = build_config(args)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return asyncio.run(_serve(config))


async def _serve(config: SimConfig) -> int:
    from app.signals import on_stop_signals
    from exchange.bybit.sim.server import SimServer

    stop = asyncio.Event()
    with on_stop_signals(lambda signum: stop.set()):
        return await _serve_until(SimServer(config), config, stop)


async def _serve_until(sim: SimServer, config: SimConfig, stop: asyncio.Event) -> int:
    from exchange.bybit.sim.demo_credentials import DEMO_API_KEY

    try:
        await sim.start()
    except OSError as error:
        raise UserError(f"cannot listen on {config.host}:{config.port}: {error.strerror or error}") from None
    faults = ", faults at /_sim/" if config.faults_enabled else ""
    sys.stdout.write(
        f"fluxum sim: Bybit v5 at {sim.base_url} ({sim.ws_url}/v5/public/linear, demo key {DEMO_API_KEY}{faults})\n"
    )
    sys.stdout.flush()
    try:
        await stop.wait()
    finally:
        await sim.stop()
    return 0
