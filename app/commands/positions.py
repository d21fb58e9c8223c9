"""``fluxum bybit positions``: the account's open positions (size signed: negative is short); ``--json`` prints
them as a JSON array with Bybit's field names, every decimal the exact string Bybit sent."""

from __future__ import annotations

import argparse
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from exchange.events import PositionSnapshot


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from app.commands.common import add_connection_arguments, add_json_argument

    add_connection_arguments(parser)
    add_json_argument(parser)
    parser.add_argument("--symbol", default=None, help="only this symbol (default: every USDT-settled one)")
    parser.add_argument("--all", action="store_true", help="also list flat (zero-size) positions")


def run(args: argparse.Namespace) -> int:
    from app.commands.common import run_async

    return run_async(lambda: _positions(args))


async def _positions(args: argparse.Namespace) -> int:
    from app.commands.common import connect, format_table, parse_symbol, print_json

    symbol = parse_symbol(args.symbol) if args.symbol else None
    async with connect(args, command="positions") as (settings, client):
        positions = await client.positions(settings.category, symbol=symbol)
    shown = [p for p in positions if args.all or p.size != 0]
    if args.json:
        print_json([position_record(p) for p in shown])
        return 0
    if not shown:
        print(f"no open {settings.category} positions" + (f" in {symbol}" if symbol else ""))
        return 0
    rows = [
        (
            p.symbol,
            "Buy" if p.size > 0 else "Sell" if p.size < 0 else "",
            p.size,
            p.avg_price,
            p.mark_price,
            p.unrealised_pnl,
            p.cum_realised_pnl,
            p.leverage,
            p.liq_price,
        )
        for p in shown
    ]
    headers = (
        "SYMBOL",
        "SIDE",
        "SIZE",
        "AVG PRICE",
        "MARK PRICE",
        "UNREALISED PNL",
        "REALISED PNL",
        "LEVERAGE",
        "LIQ PRICE",
    )
    print(format_table(headers, rows))
    return 0


def position_record(position: PositionSnapshot) -> dict[str, object]:
    """A position with Bybit's field names; a decimal written with ``format(value, "f")`` is the string it was
    read from (``Decimal`` keeps every digit and trailing zero), the size unsigned beside its side, as Bybit has it."""

    def text(value: Decimal | None) -> str | None:
        return None if value is None else format(value, "f")

    return {
        "symbol": position.symbol,
        "side": "Buy" if position.size > 0 else "Sell" if position.size < 0 else "",
        "size": text(abs(position.size)),
        "avgPrice": text(position.avg_price),
        "markPrice": text(position.mark_price),
        "liqPrice": text(position.liq_price),
        "unrealisedPnl": text(position.unrealised_pnl),
        "cumRealisedPnl": text(position.cum_realised_pnl),
        "leverage": text(position.leverage),
        "positionIM": text(position.position_im),
        "updatedTime": str(position.updated_ms) if position.updated_ms else None,
    }
