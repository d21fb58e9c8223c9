"""``fluxum bybit positions``: the account's open positions (size signed: negative is short)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from app.commands.common import add_connection_arguments

    add_connection_arguments(parser)
    parser.add_argument("--symbol", default=None, help="only this symbol (default: every USDT-settled one)")
    parser.add_argument("--all", action="store_true", help="also list flat (zero-size) positions")


def run(args: argparse.Namespace) -> int:
    from app.commands.common import run_async

    return run_async(lambda: _positions(args))


async def _positions(args: argparse.Namespace) -> int:
    from app.commands.common import connect, format_table, parse_symbol

    symbol = parse_symbol(args.symbol) if args.symbol else None
    async with connect(args, command="positions") as (settings, client):
        positions = await client.positions(settings.category, symbol=symbol)
    shown = [p for p in positions if args.all or p.size != 0]
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
