"""``fluxum monitor``: the session without the UI, one line per thing worth knowing.

Prints every state change, every fill, notices, alerts (the config's ``[[alerts]]`` rules, whose commands it also
runs), and a top-of-book line per symbol at most twice a second (and only when it moved). ``--json`` prints JSON
lines with a ``type`` field instead, for scripts (an alert's line also has ``kind: "alert"``). With no keys and
``-cfg sim`` (the default) it starts the embedded local exchange. Ctrl-C, SIGTERM or SIGHUP stops it cleanly
(the journal closed) and it exits 0; it exits 1 when the session failed, or when ``--duration`` ended before the
session ever reached Ready (a script's health check must not pass on a desk that never connected).

Whenever it stops (``--duration``, a stop signal, the session Failed) it prints a summary last: with ``--json``
one ``{"type": "summary", ...}`` line (:func:`exchange.summary.desk_summary`: every book level, the ledger as exact
decimals, the state transitions), a pure function of the desk, so the summaries of two runs of the same session (a
live run and its replay) compare line for line; without, a few readable lines. A stdout whose reader left gets
none, and the monitor ends as every command then does (status 141).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio

    from exchange.desk import Desk
    from exchange.session import Session
    from exchange.summary import StateTrail

BOOK_LINE_INTERVAL_S = 0.5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from app.commands.options import (
        add_duration_argument,
        add_feed_argument,
        add_log_level_argument,
        add_record_argument,
        add_runtime_arguments,
        add_session_arguments,
    )

    add_session_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print JSON lines with a 'type' field")
    add_duration_argument(parser)
    add_runtime_arguments(parser)
    add_record_argument(parser)
    add_feed_argument(parser)
    add_log_level_argument(parser)


def run(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from app.commands.options import feed_from_args, recorder_from_args, settings_from_args

    settings = settings_from_args(args)
    feed_from_args(args, settings)  # a bad --feed is refused before a recording file is created
    recorder = recorder_from_args(args, settings)
    # Library log lines go to stderr in the same shape as the lines on stdout, not as bare logger text
    # (unless a caller configured logging already).
    if not logging.getLogger().handlers:
        from exchange.printable import PrintableFormatter

        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            PrintableFormatter("%(asctime)s.%(msecs)03d LOG    %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
        )
        logging.basicConfig(level=getattr(logging, args.log_level), handlers=[handler])
    from exchange.journal import JournalError

    try:
        return asyncio.run(_monitor(settings, args, recorder))
    except KeyboardInterrupt:
        return 0
    except JournalError as error:  # the journal cannot be opened or read: one line, the file and the fix
        from app.cli import EXIT_USAGE

        print(f"fluxum: {error}", file=sys.stderr)
        return EXIT_USAGE


async def _monitor(settings: Any, args: argparse.Namespace, recorder: Any = None) -> int:
    """Run the session until ``--duration`` or a stop signal (even one that comes while the exchange starts),
    then close it, and the journal with it."""
    import asyncio

    from app.runtime import open_runtime
    from app.signals import on_stop_signals
    from exchange.events import LinkState
    from exchange.summary import StateTrail

    stop = asyncio.Event()
    out = _Printer(json_lines=args.json, gone=stop.set)
    with on_stop_signals(lambda signum: stop.set()):
        async with open_runtime(
            settings,
            seed=args.seed,
            demo_trader=not args.no_demo_trader,
            journal_dir=args.journal_dir,
            recorder=recorder,
            feed=getattr(args, "feed", None),
        ) as runtime:
            session = runtime.session
            subscription = runtime.hub.subscribe(name="monitor")
            out.start(runtime)
            alerts = _AlertRunner(runtime, out) if settings.alerts else None
            if args.duration is not None:
                asyncio.get_running_loop().call_later(args.duration, stop.set)
            runner = asyncio.create_task(session.run(), name="session")
            stopper = asyncio.create_task(_stop_when(stop, session))
            reached: set[LinkState] = set()
            trail = StateTrail(session.state)  # the state it starts in, which no event announces
            consumer = asyncio.create_task(_consume(subscription, session, out, reached, trail))
            await runner
            stopper.cancel()
            if alerts is not None:
                await alerts.stop()
            await asyncio.sleep(0)
            subscription.close()
            await consumer
            out.summary(session.desk, trail)
            return _exit_status(session, args, reached, out)


def _exit_status(session: Session, args: argparse.Namespace, reached: set[Any], out: _Printer) -> int:
    """1 when the session failed or ``--duration`` ended before Ready; a stdout whose reader left ends as the
    other commands end then (the status a SIGPIPE gives), with no complaint on stderr."""
    from app.cli import EXIT_READER_GONE
    from exchange.events import LinkState

    if session.state.kind is LinkState.FAILED:
        return 1
    if out.lost:
        return EXIT_READER_GONE
    if args.duration is not None and LinkState.READY not in reached:
        last = session.state
        print(f"fluxum: the session never reached Ready in {args.duration:g} s (last: {last})", file=sys.stderr)
        return 1
    return 0


async def _stop_when(stop: asyncio.Event, session: Session) -> None:
    await stop.wait()
    await session.stop()


async def _consume(subscription: Any, session: Any, out: _Printer, reached: set[Any], trail: StateTrail) -> None:
    """Print what the hub publishes; ``reached`` collects every state the session went through, ``trail`` every
    transition in order."""
    import asyncio

    from exchange.events import AlertChanged, BookChanged, BookStateChanged, FillReceived, Notice, StateChanged

    loop = asyncio.get_running_loop()  # its time is a replay's recorded time
    last_line: dict[str, float] = {}
    last_top: dict[str, tuple] = {}
    async for event in subscription:
        if isinstance(event, StateChanged):
            reached.add(event.state.kind)
            trail.add(event.state)
            out.state(event)
        elif isinstance(event, FillReceived):
            out.fill(event)
        elif isinstance(event, Notice):
            out.notice(event)
        elif isinstance(event, AlertChanged):
            out.alert(event)
        elif isinstance(event, BookStateChanged):
            out.book_state(event)
        elif isinstance(event, BookChanged):
            now = loop.time()
            if now - last_line.get(event.symbol, 0.0) < BOOK_LINE_INTERVAL_S:
                continue
            book = session.books.get(event.symbol)
            if book is None:
                continue
            top = (book.best_bid(), book.best_ask(), book.state)
            if last_top.get(event.symbol) == top:
                continue
            last_top[event.symbol] = top
            last_line[event.symbol] = now
            out.book(event.symbol, book)


class _AlertRunner:
    """The config's alert rules on the session's desk, their commands run as the dashboard runs them."""

    def __init__(self, runtime: Any, out: _Printer) -> None:
        import asyncio

        from app.alert_delivery import AlertCommands
        from exchange.alert_watch import AlertWatch

        self.commands = AlertCommands(on_first_failure=lambda text: out.note("warning", text))
        self.watch = AlertWatch(
            runtime.session.desk,
            runtime.hub,
            runtime.settings.alerts,
            deliver=lambda rule, alert: self.commands.launch(rule.command, alert),
        )
        self.watch.subscribe()
        self.task = asyncio.create_task(self.watch.run(), name="alerts")

    async def stop(self) -> None:
        """One last look at the desk (a Failed session ends the monitor at once), then the commands' ends."""
        import asyncio
        import contextlib

        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        self.watch.step(self.watch.subscribe().drain())
        await self.commands.wait()


class _Printer:
    """Human lines or JSON lines; flushes every line so a pipe sees it at once.

    A line quotes the exchange (symbols, reasons, notices): a human line is made one printable line, so a
    symbol can neither drive the terminal nor forge another line; a JSON line keeps the exact data with its
    terminal controls escaped (orjson escapes C0, not C1 or bidi controls).
    """

    def __init__(
        self, *, json_lines: bool, gone: Callable[[], None] = lambda: None, clock: Callable[[], float] = time.time
    ) -> None:
        """``clock``: the time lines are stamped with (a replay's is the recording's)."""
        self.json_lines = json_lines
        self._clock = clock
        self._gone = gone  # called once if stdout goes away (a closed pipe, a terminal that hung up)
        self.lost = False

    def _emit(self, kind: str, line: str, /, **fields: Any) -> None:
        from exchange.printable import escape_json_controls, printable

        if self.lost:
            return
        if self.json_lines:
            import orjson

            record = {"type": kind, "time_ms": int(self._clock() * 1000), **fields}
            text = escape_json_controls(orjson.dumps(record, default=str).decode()) + "\n"
        else:
            now = self._clock()
            stamp = time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now * 1000) % 1000:03d}"
            text = f"{stamp} {kind.upper():<6} {printable(line, None)}\n"
        self._write(text)

    def _write(self, text: str) -> None:
        if self.lost:
            return
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except OSError:  # nobody reads any more: stop as on SIGTERM, and let nothing fail at exit
            import os

            self.lost = True
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            self._gone()

    def summary(self, desk: Desk, trail: StateTrail) -> None:
        """The last line(s): the JSON summary as :func:`exchange.summary.desk_summary` makes it (no ``time_ms``,
        so two summaries of the same desk are the same bytes), or per symbol its top of book, ``u``, position
        and P&L, then the transitions."""
        from exchange.summary import desk_summary, summary_json

        if self.lost:
            return
        if self.json_lines:
            self._write(summary_json(desk_summary(desk, trail)) + "\n")
            return
        for symbol in sorted(desk.books):
            book = desk.books[symbol]
            entry = desk.ledger.entry(symbol)
            account = "flat" if entry is None else f"position {entry.position} pnl {entry.pnl:.8g}{_coin(entry)}"
            fills = desk.ledger.fill_count(symbol)
            self._emit(
                "summary",
                f"{symbol:<10} bid {_level(book.best_bid())} | ask {_level(book.best_ask())}  u {book.u}"
                f"  {book.state.value} | {account} ({fills} fill{'' if fills == 1 else 's'})",
            )
        states = trail.states()
        path = " -> ".join(state.kind.value for state in states[-6:])
        self._emit("summary", f"{len(states) + trail.dropped} states, last {path}")

    def start(self, runtime: Any) -> None:
        settings = runtime.settings
        where = settings.endpoints.rest if settings.endpoints else "?"
        self.begin(runtime.environment_label, where, settings, feed=runtime.session.desk.feed)

    def line(self, kind: str, text: str, **fields: Any) -> None:
        """A line of another kind (the relay's own: the bus, its figures); a JSON line has the text too."""
        self._emit(kind, text, text=text, **fields)

    def begin(self, environment: str, where: str, settings: Any, feed: str = "") -> None:
        """The first line: which environment, where, what is watched, and from which feed if not Bybit's own."""
        private = "watching the account" if settings.credentials else "public market data only"
        source = f", public data from {feed}" if feed else ""
        self._emit(
            "start",
            f"{environment} at {where}{source}, {settings.category} {','.join(settings.symbols)}, {private}",
            environment=environment,
            base_url=where,
            symbols=list(settings.symbols),
            **({"feed": feed} if feed else {}),
        )

    def state(self, event: Any) -> None:
        state = event.state
        extra = ""
        if state.next_retry_ms is not None:
            extra = f" (next try in {max(0, state.next_retry_ms - int(self._clock() * 1000)) / 1000:.1f} s)"
        self._emit(
            "state",
            f"{state}{extra}",
            state=state.kind.value,
            reason=state.reason,
            attempt=state.attempt,
            next_retry_ms=state.next_retry_ms,
        )

    def book_state(self, event: Any) -> None:
        reason = f": {event.reason}" if event.reason else ""
        self._emit(
            "book_state",
            f"{event.symbol} book {event.state.value}{reason}",
            symbol=event.symbol,
            state=event.state.value,
            reason=event.reason,
        )

    def book(self, symbol: str, book: Any) -> None:
        bid, ask = book.best_bid(), book.best_ask()
        spread = book.spread()
        text = (
            f"{symbol:<10} bid {_level(bid)} | ask {_level(ask)}"
            f"{f'  spread {spread:.8g}' if spread is not None else ''}  {book.state.value}"
        )
        self._emit("book", text, symbol=symbol, bid=bid, ask=ask, state=book.state.value, u=book.u)

    def fill(self, event: Any) -> None:
        # A backfill is applied as one batch and each of its fills carries the batch's final entry: that is not
        # the position the fill made, so a backfilled line gives none (the next live fill's line has it).
        fill, entry = event.fill, None if event.backfilled else event.entry
        source = " (backfill)" if event.backfilled else ""
        text = f"{fill.symbol:<10} {fill.exec_type} {fill.side} {fill.qty} @ {fill.price} fee {fill.fee}{_coin(fill)}"
        text += source
        if entry is not None:
            text += f" | position {entry.position} avg {entry.running_price:.8g} pnl {entry.pnl:.8g}{_coin(entry)}"
        self._emit(
            "fill",
            text,
            symbol=fill.symbol,
            exec_id=fill.exec_id,
            exec_type=fill.exec_type,
            side=fill.side,
            qty=str(fill.qty),
            price=str(fill.price),
            fee=str(fill.fee),
            backfilled=event.backfilled,
            position=str(entry.position) if entry else None,
            pnl=str(entry.pnl) if entry else None,
        )

    def notice(self, event: Any) -> None:
        self.note(event.level, event.text)

    def note(self, level: str, text: str) -> None:
        self._emit("notice", f"{level}: {text}", level=level, text=text)

    def alert(self, event: Any) -> None:
        from app.alert_delivery import alert_record

        self._emit("alert", event.text, **alert_record(event))


def _level(level: Any) -> str:
    if level is None:
        return "-"
    price, size = level
    return f"{price:.10g} x {size:.10g}"


def _coin(counted: Any) -> str:
    """`` BTC`` after the money of an inverse fill or entry (its settle coin; the line is made printable when
    written), nothing after a linear one's (the quote coin, as ever)."""
    from exchange.ledger import ContractKind

    return f" {counted.settle_coin}" if counted.contract is ContractKind.INVERSE and counted.settle_coin else ""
