"""``fluxum completion bash|zsh|tcsh``: a completion script generated from the parser itself (shtab), so it
always knows every command and flag. Install it as shtab documents, e.g.
``fluxum completion bash > ~/.local/share/bash-completion/completions/fluxum``."""

from __future__ import annotations

import argparse

SHELLS = ("bash", "zsh", "tcsh")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("shell", choices=SHELLS, help="the shell to complete in")


def run(args: argparse.Namespace) -> int:
    import shtab

    from app.cli import build_parser

    print(shtab.complete(build_parser(), shell=args.shell))
    return 0
