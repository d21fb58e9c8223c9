"""``fluxum`` / ``fluxum dashboard``: the full-screen desk.

With no keys and ``-cfg sim`` (the default) it starts the embedded local exchange and watches its demo
account; ``--base-url`` points it at any Bybit-compatible host (an external ``fluxum sim``). q or ctrl+q quits
cleanly. A failed session leaves its reason and the log file's path on the terminal.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from app.commands.options import (
        add_feed_argument,
        add_record_argument,
        add_runtime_arguments,
        add_session_arguments,
    )

    add_session_arguments(parser)
    add_runtime_arguments(parser)
    add_record_argument(parser)
    add_feed_argument(parser)
    add_trade_argument(parser)


def add_trade_argument(parser: argparse.ArgumentParser) -> None:
    """``--trade``: order actions where a real exchange (or somebody else's host) is at the other end."""
    parser.add_argument(
        "--trade",
        action="store_true",
        help="allow order actions (placing, amending and cancelling orders) on testnet, demo, production or a "
        "-cfg sim host that is not this machine; the local exchange always allows them. Without it the desk is "
        "watch-only.",
    )


def run(args: argparse.Namespace) -> int:
    from app.commands.options import feed_from_args, recorder_from_args, settings_from_args

    settings = settings_from_args(args, trading_enabled=args.trade)
    feed = feed_from_args(args, settings)
    recorder = recorder_from_args(args, settings)
    import sys

    from app.app import FluxumApp
    from exchange.events import LinkState

    app = FluxumApp(
        settings,
        runtime_options={
            "seed": args.seed,
            "demo_trader": not args.no_demo_trader,
            "journal_dir": args.journal_dir,
            "recorder": recorder,
            "feed": feed,
        },
    )
    app.run()
    if app.desk.state.kind is LinkState.FAILED:
        from exchange.printable import printable

        print(f"fluxum: the session failed: {printable(app.desk.state.reason, None)}", file=sys.stderr)
        if app.log_path is not None:
            print(f"fluxum: the log is in {printable(str(app.log_path), None)}", file=sys.stderr)
        return 1
    return int(app.return_code or 0)
