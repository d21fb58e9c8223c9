"""``fluxum bybit order-book --symbol S [--depth N]``: a plain-text ladder refreshing in the terminal.

It runs the same session as the dashboard (public data only, no keys needed) and redraws at most a few times a
second, asks above bids, with the book's state always on the header line: a book that is not SYNCED says so.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio

REFRESH_S = 0.25
CLEAR_SCREEN = "\x1b[H\x1b[2J"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from app.commands.options import add_duration_argument, add_session_arguments

    add_session_arguments(parser)
    parser.add_argument("--symbol", required=True, help="the symbol, e.g. BTCUSDT")
    parser.add_argument("--depth", type=int, default=10, help="levels per side to show (default 10)")
    add_duration_argument(parser)
    parser.add_argument("--once", action="store_true", help="print one ladder once the book is live, then exit")


def run(args: argparse.Namespace) -> int:
    import asyncio

    from app.cli import UserError
    from app.commands.options import settings_from_args

    if not 1 <= args.depth <= 200:
        raise UserError("--depth must be between 1 and 200")
    args.symbols = args.symbol
    settings = settings_from_args(args)
    try:
        return asyncio.run(_watch(settings, args))
    except KeyboardInterrupt:
        return 0


async def _watch(settings, args: argparse.Namespace) -> int:
    import asyncio

    from app.signals import on_stop_signals

    symbol = settings.symbols[0]
    tty = sys.stdout.isatty() and not args.once
    stopping = asyncio.Event()  # a stop signal ends the watch as Ctrl-C does: the session and exchange stop
    with on_stop_signals(lambda signum: stopping.set()):
        return await _draw(settings, args, symbol, tty, stopping)


async def _draw(settings, args: argparse.Namespace, symbol: str, tty: bool, stopping: asyncio.Event) -> int:
    """Redraw the ladder on every change until the session ends, the duration passes or ``stopping`` is set."""
    import asyncio
    import time

    from app.cli import UserError
    from app.printable_output import write_control
    from app.runtime import open_runtime
    from exchange.book import BookState
    from exchange.events import LinkState

    async with open_runtime(settings, demo_trader=True, private=False) as runtime:
        session = runtime.session
        runner = asyncio.create_task(session.run(), name="session")
        deadline = None if args.duration is None else time.monotonic() + args.duration
        drawn = None
        try:
            while not runner.done() and not stopping.is_set():
                book = session.books[symbol]
                if session.state.kind is LinkState.FAILED:
                    raise UserError(f"session failed: {session.state.reason}")
                if book.version != drawn:
                    drawn = book.version
                    text = _ladder(symbol, book, session.desk.instrument(symbol), args.depth, session.state)
                    if args.once:
                        if book.state is BookState.SYNCED:
                            sys.stdout.write(text + "\n")
                            return 0
                    else:
                        if tty:
                            write_control(CLEAR_SCREEN)
                        sys.stdout.write(("" if tty else "\n") + text + "\n")
                        sys.stdout.flush()
                if book.topic not in session.desired_topics():
                    raise UserError(f"Bybit does not know {symbol} in {settings.category}")
                if deadline is not None and time.monotonic() >= deadline:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), REFRESH_S)
        finally:
            await session.stop()
            await runner
    return 0


def _ladder(symbol, book, instrument, depth, state) -> str:
    from exchange.printable import printable

    price_dp = instrument.price_decimals if instrument else 2
    qty_dp = instrument.qty_decimals if instrument else 4
    asks = list(reversed(book.depth_levels("ask", depth)))
    bids = book.depth_levels("bid", depth)
    lines = [
        f"{symbol}  book {book.state.value}"
        + (f" ({printable(book.resync_reason)})" if book.resync_reason else "")  # may quote the unreadable level
        + f"  u={book.u}  session {state.kind.value}",
        f"{'price':>16} {'size':>14} {'total':>14}",
    ]
    for price, size, total in asks:
        lines.append(f"{price:>16,.{price_dp}f} {size:>14,.{qty_dp}f} {total:>14,.{qty_dp}f}  ask")
    spread, mid = book.spread(), book.mid()
    lines.append(
        f"{'spread':>16} {spread:>14,.{price_dp}f}   mid {mid:,.{price_dp + 1}f}"
        if spread is not None and mid is not None
        else f"{'':>16} one side empty"
    )
    for price, size, total in bids:
        lines.append(f"{price:>16,.{price_dp}f} {size:>14,.{qty_dp}f} {total:>14,.{qty_dp}f}  bid")
    return "\n".join(lines)
