"""``fluxum`` / ``fluxum dashboard``: the full-screen desk."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options yet: the desk starts on the embedded local exchange."""


def run(args: argparse.Namespace) -> int:
    from app.app import FluxumApp

    FluxumApp().run()
    return 0
