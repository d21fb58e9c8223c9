"""``fluxum serve``: the dashboard in a browser, one desk per tab (:mod:`app.browser_desk`, textual-serve).

Each tab runs ``fluxum dashboard`` with the options given here, as its own process: the keys come from the
environment or the secrets file as in a terminal, never from the command line. The configuration is checked once
here, so a mistake is one line now rather than a blank tab later. It prints one line with the URL once it accepts
connections, then serves until Ctrl-C, SIGTERM or SIGHUP.

The page has no login: whoever reaches the address has the desk. So it listens on loopback unless
``--allow-remote`` says otherwise (behind a reverse proxy with its own login, say), and a desk that may trade
(``--trade``) is served beyond this machine only with ``--allow-remote-trade``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path
from urllib.parse import urlsplit

from app.cli import UserError

DEFAULT_PORT = 8000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from app.commands.dashboard import add_trade_argument
    from app.commands.options import add_feed_argument, add_runtime_arguments, add_session_arguments

    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port to listen on; 0 picks a free one (default {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--public-url",
        default=None,
        metavar="URL",
        help="the address browsers open, when it is not http://HOST:PORT (a reverse proxy, an SSH tunnel's port, "
        "a --host of 0.0.0.0); the desk answers only pages from it",
    )
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="listen or be reached beyond this machine: the page has no login, whoever reaches it has the desk",
    )
    parser.add_argument(
        "--allow-remote-trade",
        action="store_true",
        help="with --trade: let a desk reached beyond this machine place and cancel orders (implies --allow-remote)",
    )
    add_session_arguments(parser)
    add_runtime_arguments(parser)
    add_feed_argument(parser)
    add_trade_argument(parser)


def run(args: argparse.Namespace) -> int:
    from app.browser_desk import DeskServer, bind, serve
    from app.commands.options import feed_from_args, settings_from_args
    from app.signals import SERVER_PID

    if not 0 <= args.port <= 65535:
        raise UserError(f"--port must be between 0 and 65535, not {args.port}")
    feed_from_args(args, settings_from_args(args, trading_enabled=args.trade))  # a mistake is one line, here
    _check_exposure(args)
    try:
        sock = bind(args.host, args.port)
    except OSError as error:
        raise UserError(f"cannot listen on {args.host}:{args.port}: {error.strerror or error}") from None
    port = sock.getsockname()[1]
    public_url = args.public_url or _url(args.host, port)
    # exec: each desk is the server's own child, told the server's pid, so it quits once the server is gone
    os.environ[SERVER_PID] = str(os.getpid())
    command = f"exec {shlex.join(dashboard_argv(args))}"
    server = DeskServer(command, host=args.host, port=port, public_url=public_url)
    serve(server, sock, announce=lambda url: print(f"fluxum serve: the desk on {url} (Ctrl-C stops)", flush=True))
    return 0


def dashboard_argv(args: argparse.Namespace) -> list[str]:
    """The command each tab runs: this Python, Fluxum's own ``app`` (``-P``: never one in the working
    directory), ``dashboard`` and the options given; each value one word, paths absolute."""
    argv = [sys.executable, "-P", "-m", "app.cli", "dashboard", f"--seed={args.seed}"]
    for option in ("cfg", "base_url", "symbols", "category", "feed"):
        if (value := getattr(args, option)) is not None:
            argv.append(f"--{option.replace('_', '-')}={value}")
    for option in ("config", "secrets_file", "journal_dir"):
        if (path := getattr(args, option)) is not None:
            argv.append(f"--{option.replace('_', '-')}={Path(path).expanduser().absolute()}")
    argv += [flag for flag, chosen in (("--no-demo-trader", args.no_demo_trader), ("--trade", args.trade)) if chosen]
    return argv


def _check_exposure(args: argparse.Namespace) -> None:
    """Refuse to hand the desk beyond this machine unless asked in so many words; warn when asked."""
    from exchange.hosts import address_literal, is_loopback_host

    public = urlsplit(args.public_url).hostname if args.public_url else args.host
    if args.public_url is not None and (urlsplit(args.public_url).scheme not in ("http", "https") or not public):
        raise UserError(f"--public-url must be an http:// or https:// URL, not {args.public_url!r}")
    literal = address_literal(args.host)
    if args.public_url is None and literal is not None and literal.is_unspecified:
        raise UserError(f"--host {args.host} listens everywhere: name the address browsers open with --public-url")
    if is_loopback_host(args.host) and is_loopback_host(public or ""):
        return
    if args.trade and not args.allow_remote_trade:
        raise UserError(
            f"refusing to serve a desk that trades beyond this machine ({public}): "
            "pass --allow-remote-trade if everyone who can reach it may place orders"
        )
    if not (args.allow_remote or args.allow_remote_trade):
        raise UserError(
            f"refusing to serve the desk beyond this machine ({public}): the page has no login; "
            "pass --allow-remote if everyone who can reach it may see the account"
        )
    print(f"fluxum serve: warning: anyone who can reach {public} has this desk, without a login", file=sys.stderr)


def _url(host: str, port: int) -> str:
    from exchange.hosts import address_literal

    literal = address_literal(host)
    shown = f"[{literal}]" if literal is not None and literal.version == 6 else host
    return f"http://{shown}:{port}"
