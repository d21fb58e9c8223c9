"""``fluxum replay PATH [--headless]``: a recorded session played back through the same session, books and ledger.

Without ``--headless`` it opens the desk on the recording (:mod:`app.replay_app`).

The recording drives the session instead of the network (:mod:`exchange.recording.replay`), on the recording's
own clock (:mod:`exchange.recording.clock`): ``--speed X`` plays X times as fast as it was recorded, ``--speed
max`` as fast as it can be processed, with every deadline, backoff and receive time taken from the recording, never
from the wall. It prints what ``fluxum monitor`` printed live (``--json``: the same JSON lines, stamped with the
recording's time), then the same summary, so ``diff`` of the two summary lines tells whether the replay was exact.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from exchange.recording.opened import Recording


def speed(text: str) -> float | None:
    """``max`` (None: as fast as possible) or a positive multiplier."""
    if text.strip().lower() == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither a number nor 'max'") from None
    if not 0 < value <= 1e6:
        raise argparse.ArgumentTypeError("the speed must be above 0 (1 is as recorded) or 'max'")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from app.commands.options import add_log_level_argument

    parser.add_argument("path", type=Path, metavar="PATH", help="a recording (--record, or record = true)")
    parser.add_argument("--headless", action="store_true", help="no desk: print lines as 'fluxum monitor' does")
    parser.add_argument("--json", action="store_true", help="print JSON lines with a 'type' field")
    parser.add_argument(
        "--speed", type=speed, default=1.0, metavar="X|max", help="X times as fast as recorded, or max (default 1)"
    )
    parser.add_argument("--paused", action="store_true", help="in the desk: open paused at the recording's start")
    add_log_level_argument(parser)


def run(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from app.cli import EXIT_USAGE
    from exchange.printable import printable
    from exchange.recording.clock import recording_loop
    from exchange.recording.opened import Recording, RecordingUnreadable

    try:
        recording = Recording.load(args.path)
    except (OSError, RecordingUnreadable) as error:
        why = getattr(error, "strerror", None) or str(error)
        print(f"fluxum: cannot replay {printable(str(args.path), 200)}: {printable(why, 200)}", file=sys.stderr)
        return EXIT_USAGE
    if not args.headless:
        from app.replay_app import run_desk

        return run_desk(recording, args)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=getattr(logging, args.log_level), stream=sys.stderr)
    try:
        with asyncio.Runner(loop_factory=lambda: recording_loop(args.speed)) as runner:
            return runner.run(_replay(recording, args))
    except KeyboardInterrupt:
        return 0


async def _replay(recording: Recording, args: argparse.Namespace) -> int:
    """Play the recording through a session on a fresh journal, printing as the monitor does, then the summary."""
    import asyncio
    import tempfile

    from app.commands.monitor import _consume, _exit_status, _Printer
    from app.signals import on_stop_signals
    from exchange.config import load_settings
    from exchange.events import LinkState
    from exchange.hub import EventHub
    from exchange.journal import Journal
    from exchange.recording.clock import recording_clock
    from exchange.recording.replay import recorded_settings, replay
    from exchange.summary import StateTrail

    clock = recording_clock(recording.start_ms / 1000.0)
    settings = recorded_settings(recording, load_settings(environ={}))
    with tempfile.TemporaryDirectory(prefix="fluxum-replay-") as folder:
        journal = Journal(Path(folder) / "replay.sqlite3") if settings.credentials is not None else None
        hub = EventHub()
        played = replay(recording, settings, clock=clock, hub=hub, journal=journal)
        session = played.session
        out = _Printer(json_lines=args.json, clock=clock)
        out.begin(session.desk.environment, f"recording {Path(args.path).name}", settings)
        subscription = hub.subscribe(name="replay")
        reached: set[LinkState] = set()
        trail = StateTrail(session.state)
        consumer = asyncio.create_task(_consume(subscription, session, out, reached, trail))
        with on_stop_signals(lambda signum: asyncio.ensure_future(session.stop())):
            await played.run()
        await asyncio.sleep(0)
        subscription.close()
        await consumer
        out.summary(session.desk, trail)
        if journal is not None:
            journal.close()
        figures = played.figures
        if figures.diverged():
            print(f"fluxum: the replay went where the recording did not ({figures})", file=sys.stderr)
        status: Any = _exit_status(session, argparse.Namespace(duration=None), reached, out)
        return int(status)
