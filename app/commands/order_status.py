"""``fluxum bybit order-status``: one order's status (the code lives in :mod:`app.commands.orders`)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from app.commands.orders import add_status_arguments

    add_status_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from app.commands.orders import run_status

    return run_status(args)
