"""``fluxum bybit cancel-order``: cancel an order (the code lives in :mod:`app.commands.orders`)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from app.commands.orders import add_cancel_arguments

    add_cancel_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from app.commands.orders import run_cancel

    return run_cancel(args)
