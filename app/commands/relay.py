"""``fluxum relay --nats nats://HOST:PORT``: the public Bybit streams held once, published to NATS JetStream.

Desks started with ``--feed nats://HOST:PORT`` read them (see :mod:`exchange.relay`). The relay runs headless and
prints as ``fluxum monitor`` does (its Bybit link's states, books, notices), plus its own lines: the bus up or down,
and what it published every :data:`FIGURES_S` seconds. It reconnects to Bybit and to NATS by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

FIGURES_S = 10.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from app.commands.options import (
        add_duration_argument,
        add_log_level_argument,
        add_runtime_arguments,
        add_session_arguments,
    )

    parser.add_argument(
        "--nats", required=True, metavar="NATS_URL", help="the NATS server (nats://HOST:PORT), with JetStream on"
    )
    add_session_arguments(parser)
    add_runtime_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print JSON lines with a 'type' field")
    add_duration_argument(parser)
    add_log_level_argument(parser)


def run(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from app.commands.options import nats_url, settings_from_args

    url = nats_url(args.nats, "--nats")
    assert url is not None
    settings = settings_from_args(args)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=getattr(logging, args.log_level), stream=sys.stderr)
    try:
        return asyncio.run(_relay(settings, args, url))
    except KeyboardInterrupt:
        return 0


async def _relay(settings: Any, args: argparse.Namespace, url: str) -> int:
    """Run the public session and the relay until ``--duration`` or a stop signal."""
    import asyncio

    from app.cli import UserError
    from app.commands.monitor import _consume, _Printer, _stop_when
    from app.runtime import open_runtime
    from app.signals import on_stop_signals
    from exchange.events import LinkState
    from exchange.relay.publisher import Relay
    from exchange.relay.subjects import FeedSubjects
    from exchange.summary import StateTrail

    stop = asyncio.Event()
    out = _Printer(json_lines=args.json, gone=stop.set)
    relay = Relay(
        url,
        FeedSubjects(settings.environment.value, settings.category),
        say=lambda kind, text: out.line(kind, text),
        credentials=settings.bus_credentials,
    )
    with on_stop_signals(lambda signum: stop.set()):
        async with open_runtime(
            settings, seed=args.seed, demo_trader=not args.no_demo_trader, private=False, wrap_frames=relay.tap
        ) as runtime:
            session = runtime.session
            subscription = runtime.hub.subscribe(name="relay-monitor")
            out.start(runtime)
            if args.duration is not None:
                asyncio.get_running_loop().call_later(args.duration, stop.set)
            publishing = asyncio.create_task(relay.run(session), name="relay")
            publishing.add_done_callback(lambda _: stop.set())  # gave way or failed: the relay ends
            figures = asyncio.create_task(_figures(relay, out), name="relay-figures")
            runner = asyncio.create_task(session.run(), name="session")
            stopper = asyncio.create_task(_stop_when(stop, session))
            trail = StateTrail(session.state)
            consumer = asyncio.create_task(_consume(subscription, session, out, set(), trail))
            await runner
            relay.stop()
            for task in (stopper, figures):
                task.cancel()
            await asyncio.gather(publishing, stopper, figures, return_exceptions=True)
            subscription.close()
            await consumer
            out.summary(session.desk, trail)
            if isinstance(relay.conflict, str):
                raise UserError(f"relay gave way: {relay.conflict}")
            refused = _refused(publishing)
            if refused is not None:
                raise UserError(refused)
            if _publishing_failed(publishing):
                return 1
            return 1 if session.state.kind is LinkState.FAILED else 0


def _refused(publishing: asyncio.Task[None]) -> str | None:
    """NATS's refusal of the relay's credentials, whole (what to check is at its end), or None."""
    from exchange.relay.bus import BusRefused

    if publishing.cancelled() or not isinstance(publishing.exception(), BusRefused):
        return None
    return str(publishing.exception())


def _publishing_failed(publishing: asyncio.Task[None]) -> bool:
    """Whether the relay stopped on an error of its own, said on stderr in one line (a stop asked for is none)."""
    from exchange.printable import printable
    from exchange.retry import describe

    if publishing.cancelled() or publishing.exception() is None:
        return False
    error = publishing.exception()
    print(f"fluxum: the relay stopped publishing: {printable(describe(error, 160), None)}", file=sys.stderr)
    return True


async def _figures(relay: Any, out: Any) -> None:
    """What the relay published, every :data:`FIGURES_S` seconds."""
    import asyncio

    last = 0
    while True:
        await asyncio.sleep(FIGURES_S)
        counted = relay.counters
        published = counted["published"]
        dropped = counted["dropped_bus_down"] + counted["dropped_queue_full"]
        out.line(
            "relay",
            f"published {published - last} messages in {FIGURES_S:g} s ({counted['snapshots']} snapshots, "
            f"{dropped} dropped in all)",
            published=published,
            snapshots=counted["snapshots"],
            dropped=dropped,
        )
        last = published
