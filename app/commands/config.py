"""``fluxum config init|path|check``: the config file every command reads when ``--config`` is not given.

``init`` writes a commented template (owner-only, never over an existing file without ``--force``), ``path``
prints where it lives, ``check`` validates it as a session would and prints ``ok`` or the one-line error (exit 2).
API keys never go in this file: they live in the owner-only secrets file or the environment.
"""

from __future__ import annotations

import argparse
from pathlib import Path

TEMPLATE = """\
# Fluxum configuration (`fluxum config check` validates it). Every key is optional: the defaults are shown.
# Command-line flags win over this file. API keys do not belong here: put them in the owner-only secrets file
# ({secrets}) or in BYBIT_<ENV>_API_KEY / BYBIT_<ENV>_API_SECRET.

# environment = "sim"             # sim (the embedded local exchange), testnet, demo or production
# symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]  # the watchlist at start (at most 50; the palette reloads it)
# category = "linear"             # linear, spot, or inverse (coin-margined BTCUSD/ETHUSD, money in the coin)
# depth = 50                      # order-book depth: 1, 50, 200 or 1000
# mark_source = "mark"            # mark: Bybit's markPrice when known; book: always the book's mid
# notify = "none"                 # desktop notification escape for alerts: none, osc9 or osc777
# record = false                  # record every session (fluxum monitor and the desk) in the user's data directory
# record_cap_mb = 2048            # the recordings there together: the oldest are deleted past this
# record_part_mb = 64             # one file of a recording: the next part starts past this

# Order entry (the desk's b / s / m keys; orders need --trade off the local exchange)
# max_notional = 10000            # the largest order sent, in the quote currency (USD for inverse): above it, refused
# max_price_distance = 10         # % from the book's mid a limit or amended price may be: further, refused
# default_qty = {{ BTCUSDT = "0.001", ETHUSDT = "0.01" }}  # per symbol; a symbol not named gets one lot step

# Alerts (see the README): one [[alerts]] table per rule.
# [[alerts]]
# when = "link_down"
# after = "10s"
# command = ["notify-send", "Fluxum"]
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(title="actions", metavar="ACTION", dest="action")
    init = actions.add_parser("init", help="write a commented template to the default path (or --config FILE)")
    init.add_argument("--force", action="store_true", help="replace an existing file")
    actions.add_parser("path", help="print the default config file's path")
    actions.add_parser("check", help="validate the config file: print ok, or the error and exit 2")
    for action in (init, actions.choices["check"]):
        action.add_argument("--config", type=Path, default=None, metavar="FILE", help="this file, not the default")
    parser.set_defaults(_help=parser.print_help)


def run(args: argparse.Namespace) -> int:
    from exchange.config import default_config_path

    if args.action is None:
        args._help()
        return 0
    if args.action == "path":
        print(default_config_path())
        return 0
    path = args.config or default_config_path()
    return _init(path, force=args.force) if args.action == "init" else _check(path, explicit=args.config is not None)


def _init(path: Path, *, force: bool) -> int:
    from app.cli import UserError
    from exchange.private_file import write_private
    from exchange.secrets import default_secrets_path

    if (path.exists() or path.is_symlink()) and not force:
        raise UserError(f"{path} exists already: pass --force to replace it")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_private(path, lambda file: file.write(TEMPLATE.format(secrets=default_secrets_path())))
    except OSError as error:
        raise UserError(f"cannot write {path}: {error.strerror or error}") from None
    print(f"wrote {path}")
    return 0


def _check(path: Path, *, explicit: bool) -> int:
    from app.cli import UserError
    from exchange.config import ConfigError, check_config_file

    if not explicit and not path.exists():
        print(f"ok (no config file at {path}: the defaults apply)")
        return 0
    try:
        check_config_file(path)
    except ConfigError as error:
        raise UserError(str(error)) from None
    print("ok")
    return 0
