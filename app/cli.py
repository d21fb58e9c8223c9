"""The ``fluxum`` command line.

Every command lives in its own module under :mod:`app.commands`, which keeps its module-level imports light
(heavy ones happen inside ``run``), so building the parser stays cheap and ``fluxum --help`` lists everything
honestly: a command that is not built yet says so in the help and exits with status 2 when called.

Errors a user can cause end in one line on stderr and a non-zero exit, never a traceback. What a command writes
to stdout and stderr passes :func:`app.printable_output.printable_output`: nothing it was sent (a ``retMsg``, a
coin, a symbol, a file's text) can drive the terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from app.printable_output import printable_output
from exchange.listing import UnlistedSymbols
from exchange.printable import printable

EXIT_USAGE = 2
EXIT_READER_GONE = 141  # 128 + SIGPIPE, what `yes | head -1` reports for `yes`


class UserError(Exception):
    """A mistake the user can fix (bad file, bad flag, rejected key): printed as one line, exit status 2."""

    exit_code = EXIT_USAGE


@dataclass(frozen=True)
class Command:
    """One command of the CLI: where it lives and what the help says about it."""

    name: str
    help: str
    module: str | None  # "app.commands.x" exposing add_arguments(parser) and run(args) -> int; None = planned
    owns_terminal: bool = False  # a full-screen app draws the terminal itself (and guards what it draws)

    @property
    def built(self) -> bool:
        return self.module is not None


PLANNED = "[planned, not built yet]"

TOP_LEVEL: tuple[Command, ...] = (
    Command(
        "dashboard",
        "open the full-screen desk (the default when no command is given)",
        "app.commands.dashboard",
        owns_terminal=True,
    ),
    Command("sim", "run the local Bybit v5 exchange in the foreground", "app.commands.sim"),
    Command("serve", "the dashboard in a browser, one desk per tab (http://127.0.0.1:8000)", "app.commands.serve"),
    Command("monitor", "run the session headless and print states, fills and top of book", "app.commands.monitor"),
    Command(
        "relay", "hold the public Bybit streams once and publish them to NATS for many desks", "app.commands.relay"
    ),
    Command("replay", "play a recorded session back in the desk, or --headless", "app.commands.replay"),
    Command("history", "the link's outages, uptime and events, kept beside the journal", "app.commands.history"),
    Command("config", "the config file: init (a commented template), path, check", "app.commands.config"),
    Command("completion", "print a shell completion script (bash, zsh or tcsh)", "app.commands.completion"),
)

BYBIT: tuple[Command, ...] = (
    Command("ledger", "per-symbol P&L ledger from an exported execution history", "app.commands.ledger"),
    Command("balances", "wallet balances", "app.commands.balances"),
    Command("positions", "open positions", "app.commands.positions"),
    Command("order-book", "a plain-text ladder refreshing in the terminal", "app.commands.order_book"),
    Command("place-order", "place an order", "app.commands.place_order"),
    Command("cancel-order", "cancel an order", "app.commands.cancel_order"),
    Command("order-status", "status of an order", "app.commands.order_status"),
    Command("trades", "execution history", "app.commands.trades"),
)


def _load(command: Command) -> object:
    assert command.module is not None
    return importlib.import_module(command.module)


def _add(subparsers: argparse._SubParsersAction, command: Command) -> None:
    parser = subparsers.add_parser(command.name, help=command.help, description=command.help)
    if command.built:
        module = _load(command)
        module.add_arguments(parser)  # type: ignore[attr-defined]
        parser.set_defaults(_run=module.run, _owns_terminal=command.owns_terminal)  # type: ignore[attr-defined]
    else:
        parser.set_defaults(_run=_planned(command), _owns_terminal=False)


def _planned(command: Command) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        print(f"fluxum: '{command.name}' is planned but not built yet", file=sys.stderr)
        return EXIT_USAGE

    return run


OWN_OPTIONS = ("-h", "--help", "-V", "--version")
"""Options of ``fluxum`` itself; any other leading option is the dashboard's."""


def version() -> str:
    """The installed distribution's version (one place: pyproject.toml)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as distribution_version

    try:
        return distribution_version("fluxum")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fluxum",
        description="A terminal trading desk for Bybit v5. With no command it opens the dashboard (on the "
        "embedded local exchange when no API keys are set); options alone, as in `fluxum -cfg testnet`, are the "
        "dashboard's.",
    )
    parser.add_argument("-V", "--version", action="version", version=f"fluxum {version()}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    for command in TOP_LEVEL:
        _add(commands, command)
    bybit = commands.add_parser("bybit", help="Bybit account and market commands", description="Bybit commands")
    bybit_commands = bybit.add_subparsers(title="bybit commands", metavar="COMMAND")
    for command in BYBIT:
        _add(bybit_commands, command)

    def bybit_help(args: argparse.Namespace) -> int:
        bybit.print_help()
        return 0

    bybit.set_defaults(_run=bybit_help)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or (argv[0].startswith("-") and argv[0] not in OWN_OPTIONS):
        argv = ["dashboard", *argv]  # `fluxum -cfg testnet`, `fluxum --base-url URL`: the dashboard's options
    try:
        args = parser.parse_args(argv)
        guard = contextlib.nullcontext() if getattr(args, "_owns_terminal", False) else printable_output()
        with guard:
            code = _run(args)
            sys.stdout.flush()  # a reader gone before the last buffered line is noticed here, not at exit
            return code
    except BrokenPipeError:
        return _reader_gone()


def _reader_gone() -> int:
    """stdout's reader left (``fluxum bybit trades | head -1``): stop quietly with the status a SIGPIPE gives.

    stdout is pointed at /dev/null so the interpreter's own flush at exit has nowhere to fail."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.__stdout__.fileno() if sys.__stdout__ else 1)
        os.close(devnull)
    return EXIT_READER_GONE


def _run(args: argparse.Namespace) -> int:
    """The command, with the errors a user can cause turned into one line and an exit status."""
    try:
        return int(args._run(args) or 0)
    except UserError as error:
        print(f"fluxum: {printable(str(error), None)}", file=sys.stderr)
        return error.exit_code
    except UnlistedSymbols as error:  # --symbols names one the exchange does not list
        print(f"fluxum: {printable(str(error), None)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    # Run as ``python -m app.cli`` this file is ``__main__``, a second copy of the module: the commands raise the
    # UserError of ``app.cli``, which only ``app.cli``'s own main catches.
    from app.cli import main as cli_main

    sys.exit(cli_main())
