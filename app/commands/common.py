"""What the account commands share: connection flags, a connected REST client, errors, and plain tables.

``connect(args)`` gives every command the same rules: ``-cfg sim`` without ``--base-url`` starts a fresh local
exchange in this process (and says so, since nothing it does outlives the command); ``-cfg sim`` with
``--base-url`` talks to an external ``fluxum sim`` with its documented demo keys; other environments need keys
from the environment or the secrets file, never from argv.

:func:`run_async` turns every failure a person can meet into one line and an exit status: 2 for mistakes and
rejections (fix the input or the key), 1 for an exchange that is unavailable or slowing us down (try later).
Module-level imports stay light so ``fluxum --help`` stays instant.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from exchange.bybit.rest import RestClient
    from exchange.config import Settings

EXIT_UNAVAILABLE = 1
EMBEDDED_NOTE = "fluxum: using a fresh local exchange (embedded simulator, demo account); nothing outlives this command"


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    """``-cfg``, ``--base-url``, ``--config``, ``--secrets-file``, ``--symbols``, ``--category``, as for every
    command."""
    from app.commands.options import add_session_arguments

    add_session_arguments(parser)


def add_json_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document with Bybit's field names and exact decimal strings, for scripts",
    )


def add_yes_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--yes",
        action="store_true",
        help="confirm an order action on production (real money) without typing the symbol at the prompt",
    )


def load_settings_from_args(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Settings:
    """Validated settings; a configuration mistake is a one-line UserError (see :mod:`app.commands.options`)."""
    from app.commands.options import settings_from_args

    return settings_from_args(args, environ=environ)


def require_confirmation(
    settings: Settings,
    args: argparse.Namespace,
    action: str,
    word: str,
    *,
    interactive: bool | None = None,
    ask: Callable[[str], str] | None = None,
) -> None:
    """On production, or on a ``-cfg sim`` host that is not this machine, an order action needs a typed
    confirmation: ``word`` (the symbol) typed at the prompt when a person is at the terminal, or ``--yes`` on the
    command line (scripts). Checked before anything is sent."""
    from app.cli import UserError
    from exchange.config import Environment

    if not settings.needs_typed_confirmation or getattr(args, "yes", False):
        return
    if interactive is None:
        interactive = sys.stdin.isatty() and sys.stderr.isatty()
    if not interactive:
        if settings.environment is Environment.PRODUCTION:
            raise UserError(f"refusing to {action} on production without --yes (this is real money)")
        raise UserError(f"refusing to {action} without --yes: {settings.stakes} (-cfg sim names it, nothing proves it)")
    try:
        typed = (ask or _ask_at_the_terminal)(f"{settings.stakes}: type {word} to {action}: ")
    except (EOFError, KeyboardInterrupt):
        typed = ""
    if typed.strip() != word:
        raise UserError(f"not confirmed: nothing was sent (type {word} exactly, or pass --yes)")


def _ask_at_the_terminal(prompt: str) -> str:
    """The prompt on stderr (stdout may be redirected to a file), the answer from stdin."""
    sys.stderr.write(prompt)
    sys.stderr.flush()
    return sys.stdin.readline()


@contextlib.asynccontextmanager
async def connect(
    args: argparse.Namespace,
    *,
    command: str = "this command",
    private: bool = True,
    settings: Settings | None = None,
    environ: Mapping[str, str] | None = None,
) -> AsyncIterator[tuple[Settings, RestClient]]:
    """Settings and a connected :class:`RestClient`; an embedded local exchange lives as long as the block."""
    from app.cli import UserError
    from exchange.bybit.rest import RestClient
    from exchange.config import Endpoints, Environment
    from exchange.secrets import Credentials, Secret, default_secrets_path

    if settings is None:
        settings = load_settings_from_args(args, environ)
    async with contextlib.AsyncExitStack() as stack:
        if settings.environment is Environment.SIM:
            from exchange.bybit.sim.demo_credentials import DEMO_API_KEY, DEMO_API_SECRET

            demo = Credentials(DEMO_API_KEY, Secret(DEMO_API_SECRET))
            if settings.embedded:
                from exchange.bybit.sim.instruments import DEFAULT_CATEGORIES
                from exchange.bybit.sim.server import SimConfig, SimServer

                categories = tuple(dict.fromkeys((*DEFAULT_CATEGORIES, settings.category)))  # inverse on demand
                try:
                    sim = await stack.enter_async_context(
                        SimServer(SimConfig(demo_trader=False, categories=categories))
                    )
                except OSError as error:
                    raise _unavailable(f"cannot start the local exchange: {error.strerror or error}") from None
                print(EMBEDDED_NOTE, file=sys.stderr)
                settings = settings.with_endpoints(Endpoints.for_base_url(sim.base_url), demo)
            elif settings.credentials is None:
                assert settings.endpoints is not None
                settings = settings.with_endpoints(settings.endpoints, demo)  # an external `fluxum sim`
        if private and settings.credentials is None:
            prefix = f"BYBIT_{settings.environment.value.upper()}_API"
            path = getattr(args, "secrets_file", None) or default_secrets_path()
            raise UserError(
                f"{command} needs API keys: set {prefix}_KEY and {prefix}_SECRET or put them in the secrets file {path}"
            )
        assert settings.endpoints is not None
        client = await stack.enter_async_context(RestClient(settings.endpoints, settings.credentials))
        yield settings, client


def run_async(main: Callable[[], Coroutine[Any, Any, int]], *, rejected: str = "request") -> int:
    """Run one command's coroutine; every exchange failure becomes a one-line :class:`UserError`.

    ``rejected`` names what Bybit refused in the message ("order", "cancel"...).
    """
    import asyncio

    from app.cli import UserError
    from exchange.bybit.errors import (
        AuthenticationError,
        BadResponse,
        BybitError,
        Forbidden,
        OrderOutcomeUnknown,
        RateLimited,
        ServerUnavailable,
        TimestampRejected,
    )

    try:
        return asyncio.run(main())
    except AuthenticationError as error:
        code = error.ret_code if error.ret_code is not None else f"HTTP {error.http_status}"
        raise UserError(f"Bybit rejected the API key ({code}): {error.ret_msg}") from None
    except OrderOutcomeUnknown as error:
        raise _unavailable(
            f"the order's outcome is unknown ({error.ret_msg}); it was NOT sent again: check it with "
            f"`fluxum bybit order-status --link-id {error.order_link_id}`"
        ) from None
    except TimestampRejected as error:
        raise _unavailable(
            f"Bybit rejected the request time twice ({error.ret_code}); check this machine's clock"
        ) from None
    except (RateLimited, Forbidden, ServerUnavailable, BadResponse) as error:
        raise _unavailable(str(error)) from None
    except BybitError as error:
        raise UserError(f"{rejected} rejected by Bybit ({error.ret_code}): {error.ret_msg}") from None


def _unavailable(message: str) -> Exception:
    from app.cli import UserError

    error = UserError(message)
    error.exit_code = EXIT_UNAVAILABLE
    return error


# ------------------------------------------------------------------------------------------------ input


def parse_positive_decimal(text: str, flag: str, example: str) -> Decimal:
    """A flag's value as an exact positive decimal, or a UserError naming the flag."""
    from app.cli import UserError
    from exchange.numbers import NumberError, read_decimal
    from exchange.printable import printable

    try:
        value = read_decimal(text.strip(), flag)
    except NumberError:
        value = None
    if value is None or value <= 0:
        raise UserError(f"{flag} must be a positive number like {example}, not {printable(text, 40)!r}")
    return value


def parse_symbol(text: str) -> str:
    from app.cli import UserError

    symbol = text.strip().upper()
    if not symbol.isalnum():
        raise UserError(f"{text!r} is not a Bybit symbol (letters and digits, like BTCUSDT)")
    return symbol


async def instrument_or_fail(client: RestClient, category: str, symbol: str) -> dict[str, Any]:
    """The instrument record of ``symbol``, or a UserError saying the exchange does not list it."""
    from app.cli import UserError
    from exchange.bybit.errors import INVALID_REQUEST_CODE, BybitError

    try:
        records = await client.instruments(category, symbol)
    except BybitError as error:
        if error.ret_code == INVALID_REQUEST_CODE:
            records = []
        else:
            raise
    for record in records:
        if record.get("symbol") == symbol:
            return record
    raise UserError(f"unknown symbol {symbol} on Bybit {category}")


# ------------------------------------------------------------------------------------------------ output


def show(value: object) -> str:
    """A value for a table cell: decimals without exponent, ``None`` as empty, text as one printable line (a
    coin, a symbol or an order link id is the exchange's: it must neither drive the terminal nor break the
    table's lines)."""
    from exchange.printable import printable

    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    return printable(str(value))


def _numeric(cell: str) -> bool:
    try:
        Decimal(cell)
    except InvalidOperation:
        return False
    return True


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain aligned table: numeric columns right-aligned, everything else left-aligned."""
    cells = [[show(value) for value in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    right = [bool(cells) and all(not row[i] or _numeric(row[i]) for row in cells) for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right, strict=True)]
        return "  ".join(parts).rstrip()

    return "\n".join([line(list(headers))] + [line(row) for row in cells])


def format_fields(pairs: Sequence[tuple[str, object]]) -> str:
    """``name  value`` lines, names padded to one column."""
    width = max(len(name) for name, _ in pairs)
    return "\n".join(f"{name.ljust(width)}  {show(value)}".rstrip() for name, value in pairs)


def print_json(value: object) -> None:
    """One JSON document on stdout: the exchange's strings kept exact, their terminal controls escaped (orjson
    escapes C0, not C1 or bidi controls), as ``fluxum monitor --json`` writes its lines."""
    import orjson

    from exchange.printable import escape_json_controls

    print(escape_json_controls(orjson.dumps(value, default=str).decode()))
