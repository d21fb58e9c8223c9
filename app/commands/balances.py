"""``fluxum bybit balances``: the UNIFIED wallet, account totals then one line per coin; ``--json`` prints
Bybit's account record as it came."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from app.commands.common import add_connection_arguments, add_json_argument

    add_connection_arguments(parser)
    add_json_argument(parser)
    parser.add_argument(
        "--account-type", default="UNIFIED", metavar="TYPE", help="Bybit account type (default UNIFIED)"
    )


def run(args: argparse.Namespace) -> int:
    from app.commands.common import run_async

    return run_async(lambda: _balances(args))


async def _balances(args: argparse.Namespace) -> int:
    from app.commands.common import connect, format_fields, format_table, print_json

    async with connect(args, command="balances") as (settings, client):
        if args.json:
            print_json(await client.wallet_balance_raw(args.account_type.upper()))
            return 0
        wallet = await client.wallet_balance(args.account_type.upper())
    print(
        format_fields(
            [
                ("account", args.account_type.upper()),
                ("total equity", wallet.total_equity),
                ("total wallet balance", wallet.total_wallet_balance),
                ("total available", wallet.total_available),
            ]
        )
    )
    print()
    if not wallet.coins:
        print("no coins in this account")
        return 0
    rows = [(c.coin, c.equity, c.wallet_balance, c.unrealised_pnl, c.usd_value) for c in wallet.coins]
    print(format_table(("COIN", "EQUITY", "WALLET BALANCE", "UNREALISED PNL", "USD VALUE"), rows))
    return 0
