"""``fluxum bybit trades``: the account's execution history (fills and funding), oldest first.

Every page of ``/v5/execution/list`` is read (Bybit answers seven days per query, older starts are read window
by window), duplicates are dropped by ``execId``, and the newest ``--limit`` are shown; ``--json`` prints them as
one JSON array of Bybit's records as they came.
"""

from __future__ import annotations

import argparse
import re
import time

RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from app.commands.common import add_connection_arguments, add_json_argument

    add_connection_arguments(parser)
    add_json_argument(parser)
    parser.add_argument("--symbol", default=None, help="only this symbol")
    parser.add_argument(
        "--since",
        default=None,
        metavar="WHEN",
        help="start: 2024-05-01, 2024-05-01T12:00 (UTC), epoch ms, or a duration back such as 30m, "
        "12h, 3d (default: Bybit's last seven days)",
    )
    parser.add_argument("--limit", type=int, default=50, help="show at most this many, the newest (default 50)")


def parse_since(text: str, now_ms: int) -> int:
    """``--since`` as epoch ms (UTC for dates without a zone)."""
    from datetime import UTC, datetime

    from app.cli import UserError

    text = text.strip()
    if text.isascii() and text.isdigit():
        from exchange.numbers import NumberError, read_epoch_ms

        try:
            return read_epoch_ms(text, "--since")
        except NumberError as error:
            raise UserError(str(error)) from None
    match = RELATIVE.match(text.lower())
    if match:
        return now_ms - int(match.group(1)) * UNIT_MS[match.group(2)]
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UserError(f"--since {text!r} is not a date (2024-05-01T12:00), epoch ms or a duration like 12h") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def run(args: argparse.Namespace) -> int:
    from app.cli import UserError
    from app.commands.common import parse_symbol, run_async

    if args.limit < 1:
        raise UserError(f"--limit must be at least 1, not {args.limit}")
    symbol = parse_symbol(args.symbol) if args.symbol else None
    since = parse_since(args.since, int(time.time() * 1000)) if args.since else None
    return run_async(lambda: _trades(args, symbol, since))


async def _trades(args: argparse.Namespace, symbol: str | None, since: int | None) -> int:
    from app.commands.common import connect, format_table, print_json

    async with connect(args, command="trades") as (settings, client):
        records = await client.executions(settings.category, start_time_ms=since, symbol=symbol)
    if args.json:
        print_json(records[-args.limit :])
        return 0
    if not records:
        where = f" in {symbol}" if symbol else ""
        print(f"no {settings.category} executions{where}" + (" since then" if since else " in the last 7 days"))
        return 0
    shown = records[-args.limit :]
    rows = [
        (
            _time_text(record.get("execTime")),
            record.get("symbol", ""),
            record.get("side", ""),
            record.get("execType", ""),
            record.get("execQty", ""),
            record.get("execPrice", ""),
            record.get("execFee", ""),
            "maker" if record.get("isMaker") else "taker",
            record.get("orderLinkId") or record.get("orderId", ""),
        )
        for record in shown
    ]
    print(format_table(("TIME (UTC)", "SYMBOL", "SIDE", "TYPE", "QTY", "PRICE", "FEE", "ROLE", "ORDER"), rows))
    if len(records) > len(shown):
        print(f"({len(records) - len(shown)} older executions not shown; raise --limit to see them)")
    return 0


def _time_text(value: object) -> str:
    from datetime import UTC, datetime

    from exchange.numbers import NumberError, read_epoch_ms

    try:
        epoch_ms = read_epoch_ms(value, "execTime")
    except NumberError:
        text = str(value or "")
        return text if len(text) <= 24 else text[:21] + "..."
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
