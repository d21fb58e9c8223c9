"""``fluxum bybit place-order``: place an order (the code lives in :mod:`app.commands.orders`)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from app.commands.orders import add_place_arguments

    add_place_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from app.commands.orders import run_place

    return run_place(args)
