"""``fluxum sim``: run the local Bybit v5 exchange in the foreground.

It prints one line with the base URL once it accepts connections (so scripts can wait for it), then serves
until Ctrl-C, SIGTERM or SIGHUP and exits 0. The server is imported inside :func:`run`, so ``fluxum --help`` stays
fast.

With ``--faults`` the ``/_sim/`` requests must carry a control token: ``--faults-token`` or ``FLUXUM_SIM_TOKEN``
gives it, otherwise one is made at random and printed at the end of that line. Fault control is for this machine:
on any other address it is refused unless ``--faults-on-network`` says so, and listening on the network at all
is announced on stderr.

With ``--replay PATH`` it serves a recording instead of a market (:mod:`exchange.bybit.sim.replay_host`): the
first line names the URLs as above, the second what the recording holds; ``--speed X`` plays it X times as fast.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from app.cli import UserError

if TYPE_CHECKING:
    from exchange.bybit.sim.replay_host import ReplayHost
    from exchange.bybit.sim.server import SimConfig, SimServer
    from exchange.recording.served import ServedRecording

CATEGORY_CHOICES = ("linear", "spot", "inverse")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=str, default="0", help="port to listen on; 0 picks a free one (default)")
    parser.add_argument("--seed", type=str, default="1", help="seed of the market (same seed, same market)")
    parser.add_argument(
        "--symbols",
        default="BTCUSDT,ETHUSDT,SOLUSDT,XRPUSDT,DOGEUSDT",
        help="comma-separated symbols to list: USDT ones, and inverse BTCUSD/ETHUSD (a USDT symbol also lists its "
        "inverse perpetual when inverse is served; default: BTCUSDT,ETHUSDT,SOLUSDT,XRPUSDT,DOGEUSDT)",
    )
    parser.add_argument(
        "--categories",
        default="linear,spot",
        help="comma-separated categories to serve: linear, spot, inverse (default: linear,spot)",
    )
    parser.add_argument("--no-demo-trader", action="store_true", help="do not trade on the demo account")
    parser.add_argument(
        "--demo-trader-category",
        default="linear",
        help="the category the demo trader trades: linear or inverse (default: linear)",
    )
    parser.add_argument("--faults", action="store_true", help="enable the /_sim/ fault-injection endpoints")
    parser.add_argument(
        "--faults-token",
        default=None,
        metavar="TOKEN",
        help="the X-Fluxum-Sim-Token that /_sim/ requests must carry (better: set FLUXUM_SIM_TOKEN; "
        "default: a random one, printed at start)",
    )
    parser.add_argument(
        "--faults-on-network",
        action="store_true",
        help="allow --faults on a non-loopback --host: anyone who can reach it and knows the token drives faults",
    )
    parser.add_argument(
        "--replay",
        type=Path,
        default=None,
        metavar="PATH",
        help="serve this recording (--record, or record = true) as a Bybit v5 host instead of a market",
    )
    parser.add_argument(
        "--speed",
        default=None,
        metavar="X",
        help="with --replay: play X times as fast as recorded (default 1)",
    )
    parser.add_argument(
        "--funding-speed",
        type=str,
        default="1",
        help="simulated funding time per wall time (480 settles funding every minute; default 1)",
    )


def build_config(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> SimConfig:
    """Turn the flags into a :class:`SimConfig`, or raise :class:`UserError` with one sentence."""
    from exchange.bybit.sim.instruments import build_instruments, known_symbols
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
    if not build_instruments(symbols, categories):
        raise UserError(f"--symbols {','.join(symbols)} lists nothing in --categories {','.join(categories)}")
    demo_category = _demo_trader_category(args.demo_trader_category, categories)
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
        control_token=_fault_control(args, os.environ if environ is None else environ),
        faults_on_network=args.faults_on_network,
        demo_trader=not args.no_demo_trader,
        demo_trader_category=demo_category,
        funding_speed=speed,
    )


def _first_stream(categories: tuple[str, ...]) -> str:
    """The public stream the banner names: linear's when served, else the first category's."""
    return "linear" if "linear" in categories else categories[0]


def _demo_trader_category(category: str, served: tuple[str, ...]) -> str:
    """The demo trader's category: linear or inverse, and one the exchange serves."""
    if category not in ("linear", "inverse"):
        raise UserError(f"--demo-trader-category must be linear or inverse, not {category!r}")
    if category not in served:
        raise UserError(f"--demo-trader-category {category} needs {category} among --categories")
    return category


def _fault_control(args: argparse.Namespace, environ: Mapping[str, str]) -> str | None:
    """Check the fault flags; return the token given by ``--faults-token`` or ``FLUXUM_SIM_TOKEN``, or None for
    a random one."""
    from exchange.bybit.sim.control_access import TOKEN_ENV, check_token
    from exchange.hosts import is_loopback_host

    if not args.faults:
        for flag, given in (("--faults-token", args.faults_token), ("--faults-on-network", args.faults_on_network)):
            if given:
                raise UserError(f"{flag} needs --faults")
        return None
    if not is_loopback_host(args.host) and not args.faults_on_network:
        raise UserError(
            f"--faults with --host {args.host} would let anyone on the network drive the exchange's faults: listen "
            "on 127.0.0.1, or add --faults-on-network to mean it"
        )
    token = args.faults_token if args.faults_token is not None else environ.get(TOKEN_ENV) or None
    try:
        return None if token is None else check_token(token)
    except ValueError as error:
        raise UserError(f"{_token_source(args)}: {error}") from None


def _token_source(args: argparse.Namespace) -> str:
    from exchange.bybit.sim.control_access import TOKEN_ENV

    return "--faults-token" if args.faults_token is not None else TOKEN_ENV


def network_warning(config: SimConfig) -> str | None:
    """The line that says the exchange listens beyond this machine, or None on loopback."""
    from exchange.hosts import is_loopback_host

    if is_loopback_host(config.host):
        return None
    faults = " and so are its fault controls (with the token)" if config.faults_enabled else ""
    return f"fluxum sim: warning: listening on {config.host}: the demo exchange is reachable from the network{faults}"


def _int(text: str, flag: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise UserError(f"{flag} must be an integer, not {text!r}") from None


def run(args: argparse.Namespace) -> int:
    if args.replay is not None:
        return _run_replay(args)
    if args.speed is not None:
        raise UserError("--speed needs --replay (the market's own pace is --funding-speed)")
    config = build_config(args)
    _log_to_stderr()
    warning = network_warning(config)
    if warning is not None:
        sys.stderr.write(warning + "\n")
        sys.stderr.flush()
    token_source = None if config.control_token is None else _token_source(args)
    return asyncio.run(_serve(config, token_source=token_source))


def _log_to_stderr() -> None:
    if not logging.getLogger().handlers:  # a client's text in a log line stays on its line, inert
        from exchange.printable import PrintableFormatter

        handler = logging.StreamHandler()
        handler.setFormatter(PrintableFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logging.basicConfig(level=logging.WARNING, handlers=[handler])


async def _serve(config: SimConfig, token_source: str | None = None) -> int:
    from app.signals import on_stop_signals
    from exchange.bybit.sim.server import SimServer

    try:
        sim = SimServer(config)
    except ValueError as error:  # build_config checks the same things first; this is the last word
        raise UserError(str(error)) from None
    stop = asyncio.Event()
    with on_stop_signals(lambda signum: stop.set()):
        return await _serve_until(sim, config, stop, token_source)


async def _serve_until(sim: SimServer, config: SimConfig, stop: asyncio.Event, token_source: str | None) -> int:
    from exchange.bybit.sim.demo_credentials import DEMO_API_KEY

    try:
        await sim.start()
    except OSError as error:
        raise UserError(f"cannot listen on {config.host}:{config.port}: {error.strerror or error}") from None
    faults = ""
    if config.faults_enabled:  # a token made here is printed; a given one is not repeated
        token = f"from {token_source}" if token_source else sim.control_token
        faults = f", faults at /_sim/, control token {token}"
    sys.stdout.write(
        f"fluxum sim: Bybit v5 at {sim.base_url} ({sim.ws_url}/v5/public/{_first_stream(config.categories)}, "
        f"demo key {DEMO_API_KEY}{faults})\n"
    )
    sys.stdout.flush()
    try:
        await stop.wait()
    finally:
        await sim.stop()
    return 0


# ------------------------------------------------------------------------------------------------ --replay


def _run_replay(args: argparse.Namespace) -> int:
    """Serve the recording at ``--replay`` until Ctrl-C, SIGTERM or SIGHUP; a bad file is one line and exit 2."""
    from exchange.hosts import is_loopback_host
    from exchange.printable import printable
    from exchange.recording.opened import RecordingUnreadable
    from exchange.recording.served import scan

    for flag, given in (
        ("--faults", args.faults),
        ("--faults-token", args.faults_token),
        ("--faults-on-network", args.faults_on_network),
    ):
        if given:
            raise UserError(f"{flag} does not apply to --replay: a served recording has the faults it recorded")
    port = _int(args.port, "--port")
    if not 0 <= port <= 65535:
        raise UserError(f"--port must be between 0 and 65535, not {port}")
    speed = _replay_speed(args.speed)
    try:
        recording = scan(args.replay)
    except (OSError, RecordingUnreadable) as error:
        why = getattr(error, "strerror", None) or str(error)
        raise UserError(f"cannot serve {printable(str(args.replay), 200)}: {printable(why, 200)}") from None
    _log_to_stderr()
    if not is_loopback_host(args.host):
        sys.stderr.write(f"fluxum sim: warning: listening on {args.host}: the recording is readable from the network\n")
    return asyncio.run(_serve_replay(recording, args.host, port, speed))


def _replay_speed(text: str | None) -> float:
    from app.commands.replay import speed

    if text is None:
        return 1.0
    try:
        value = speed(text)
    except argparse.ArgumentTypeError as error:
        raise UserError(f"--speed: {error}") from None
    if value is None:
        raise UserError("--speed max does not apply to a served recording: give a number (1 is as recorded)")
    return value


async def _serve_replay(recording: ServedRecording, host: str, port: int, speed: float) -> int:
    from app.signals import on_stop_signals
    from exchange.bybit.sim.replay_host import ReplayHost

    served = ReplayHost(recording, host=host, port=port, speed=speed)
    try:
        await served.start()
    except OSError as error:
        raise UserError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    stop = asyncio.Event()
    try:
        with on_stop_signals(lambda signum: stop.set()):  # before the banner: a script stops us once it read it
            for line in replay_banner(served):
                sys.stdout.write(line + "\n")
            sys.stdout.flush()
            ended = asyncio.create_task(served.finished.wait())
            stopped = asyncio.create_task(stop.wait())
            await asyncio.wait({ended, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if ended.done():
                sys.stdout.write("fluxum sim: the recording ended; still serving its last state until stopped\n")
                sys.stdout.flush()
                await stopped
            ended.cancel()
    finally:
        await served.stop()
    return 0


def replay_banner(served: ReplayHost) -> list[str]:
    """The two lines printed at start: where to point a client, and what the recording holds."""
    import time

    from exchange.printable import printable

    recording = served.recording
    streams = ", ".join(f"{served.ws_url}{path}" for path in recording.paths.values()) or "no WebSocket recorded"
    first = (
        f"fluxum sim: Bybit v5 at {served.base_url} ({streams}), replaying {printable(recording.path.name, 120)} "
        f"at {served.speed:g}x from the first client's arrival"
    )
    header = recording.header

    def when(ms: int) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}"

    sockets = recording.sockets.values()
    by_link = ", ".join(f"{sum(s.link == link for s in sockets)} {link}" for link in recording.paths)
    ended = [s.ending() for s in sockets]
    closed = sum(1 for e in ended if e is not None and e.code is not None)
    dropped = sum(1 for e in ended if e is not None and e.code is None)
    symbols = ",".join(recording.symbols) or "no symbols"
    second = (
        f"fluxum sim: the recording: {printable(str(header.get('environment', '?')), 20)} "
        f"{printable(str(header.get('category', '?')), 20)} {printable(symbols, 200)}, "
        f"{when(recording.first_ms)} to {when(recording.last_ms)} UTC "
        f"({(recording.last_ms - recording.first_ms) / 1000:.1f} s), "
        f"{len(recording.sockets)} connections ({by_link or 'none'}; "
        f"{closed} closed by the exchange, {dropped} dropped), "
        f"{recording.frames} frames, {recording.replies.count} REST replies"
        + (f", {recording.rejected} unreadable parts left out" if recording.rejected else "")
    )
    return [first, second]
