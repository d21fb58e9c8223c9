"""Command-line options shared by every command that connects: where, with which keys, watching what."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_session_arguments(parser: argparse.ArgumentParser) -> None:
    """``--cfg`` (or ``-cfg``), ``--base-url``, ``--config``, ``--secrets-file``, ``--symbols``, ``--category``;
    never keys."""
    parser.add_argument(
        "--cfg",
        "-cfg",
        default=None,
        choices=["sim", "testnet", "demo", "production"],
        metavar="ENV",
        help="environment: sim, testnet, demo or production (default: sim, the embedded local exchange)",
    )
    parser.add_argument(
        "--base-url",
        default=None,
        metavar="URL",
        help="any Bybit-compatible host, e.g. an external `fluxum sim` (http://127.0.0.1:PORT)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="FILE",
        help="TOML config file (symbols, category, depth, mark_source, notify, alerts; default: "
        "`fluxum config path`, when it exists)",
    )
    parser.add_argument(
        "--secrets-file",
        type=Path,
        default=None,
        metavar="FILE",
        help="owner-only TOML secrets file (default: the user's config dir); keys are read from "
        "BYBIT_<ENV>_API_KEY/_SECRET first",
    )
    parser.add_argument(
        "--symbols",
        default=None,
        metavar="LIST",
        help="comma-separated symbols (default BTCUSDT,ETHUSDT,SOLUSDT; BTCUSD,ETHUSD for inverse)",
    )
    parser.add_argument(
        "--category",
        default=None,
        choices=["linear", "spot", "inverse"],
        help="what the desk watches: linear (USDT perpetuals), spot, or inverse (coin-margined BTCUSD, ETHUSD: "
        "money in the coin); default: the config's category, else linear",
    )


def add_runtime_arguments(parser: argparse.ArgumentParser) -> None:
    """``--seed``, ``--no-demo-trader`` (the embedded exchange) and ``--journal-dir``: what a running desk needs
    beyond where it connects."""
    parser.add_argument("--seed", type=int, default=1, help="seed of the embedded local exchange (default 1)")
    parser.add_argument(
        "--no-demo-trader", action="store_true", help="embedded exchange only: no demo trading on the account"
    )
    parser.add_argument(
        "--journal-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="where the fills journal lives (default: the user's data directory; a temporary "
        "one for the embedded exchange)",
    )


def settings_from_args(args: argparse.Namespace, **overrides: Any) -> Any:
    """Validated :class:`exchange.config.Settings`; a configuration mistake becomes a one-line UserError."""
    from app.cli import UserError
    from exchange.config import ConfigError, config_file_or_default, load_settings

    try:
        return load_settings(
            cfg=getattr(args, "cfg", None),
            base_url=getattr(args, "base_url", None),
            symbols=getattr(args, "symbols", None),
            category=getattr(args, "category", None),
            config_file=config_file_or_default(getattr(args, "config", None)),
            secrets_file=getattr(args, "secrets_file", None),
            nats=bool(getattr(args, "feed", None) or getattr(args, "nats", None)),
            **overrides,
        )
    except ConfigError as error:
        raise UserError(str(error)) from None


def add_record_argument(parser: argparse.ArgumentParser) -> None:
    """``--record PATH``: record the session (what came in, what went out, and when) into PATH."""
    parser.add_argument(
        "--record",
        type=Path,
        default=None,
        metavar="PATH",
        help="record the session into PATH, replacing it (zstandard-compressed JSON lines, docs/formats.md; "
        "`record = true` in the config records every session in the user's data directory)",
    )


def recorder_from_args(args: argparse.Namespace, settings: Any) -> Any:
    """The session recorder ``--record`` or the config's ``record = true`` asks for, its first file created (a
    bad path is a one-line UserError now, not a failure later); None when nothing is recorded. A desk on a relay
    is recorded as any other: what its session received from the relay, replayed through the same session."""
    import time

    from app.cli import UserError
    from exchange.recording.writer import RecordingPlan, RecordingUnwritable, SessionRecorder, default_plan

    mb = 1024 * 1024
    path = getattr(args, "record", None)
    if path is not None:
        plan = RecordingPlan(path, settings.record_part_mb * mb, settings.record_cap_mb * mb)
    elif settings.record:
        plan = default_plan(settings.environment.value, time.time(), settings.record_cap_mb, settings.record_part_mb)
    else:
        return None
    recorder = SessionRecorder(plan)
    try:
        recorder.open()
    except RecordingUnwritable as error:
        raise UserError(str(error)) from None
    return recorder


def add_duration_argument(parser: argparse.ArgumentParser) -> None:
    """``--duration SECONDS``: a headless command stops by itself after this long."""
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop after this many seconds (default: until Ctrl-C)",
    )


def add_log_level_argument(parser: argparse.ArgumentParser) -> None:
    """``--log-level``: the library's log lines on stderr (secrets are never logged)."""
    parser.add_argument(
        "--log-level",
        default="WARNING",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="library log lines on stderr (default WARNING; secrets are never logged)",
    )


def add_feed_argument(parser: argparse.ArgumentParser) -> None:
    """``--feed nats://HOST:PORT``: public data from a relay (`fluxum relay`) instead of Bybit's own socket."""
    parser.add_argument(
        "--feed",
        default=None,
        metavar="NATS_URL",
        help="public market data from a `fluxum relay` over NATS (nats://HOST:PORT); the account's private "
        "stream and REST stay direct, with this desk's own keys",
    )


def feed_from_args(args: argparse.Namespace, settings: Any) -> str | None:
    """``--feed``'s NATS URL, checked; a one-line UserError for a bad URL, or for a desk that would start its own
    embedded exchange (the relay reads another one: its books and this desk's account would not be one market)."""
    from app.cli import UserError

    feed = nats_url(getattr(args, "feed", None))
    if feed is not None and settings.embedded:
        raise UserError(
            "--feed: the relay reads an exchange this desk must share: give its --base-url (a `fluxum sim`), "
            "or -cfg testnet, demo or production"
        )
    return feed


def nats_url(text: str | None, flag: str = "--feed") -> str | None:
    """A NATS URL as given (``nats://HOST[:PORT]``), or a one-line UserError; None stays None. A URL with a user,
    password or token is refused: the command line is no place for a secret."""
    from urllib.parse import urlsplit

    from app.cli import UserError
    from exchange.printable import printable

    if text is None:
        return None
    try:
        parts = urlsplit(text)
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        parts, port_ok = None, False
    if parts is not None and "@" in parts.netloc:  # never echoed: it is the secret
        raise UserError(f"{flag}: credentials in the URL would show in the process list: give nats://HOST:PORT")
    if parts is None or parts.scheme not in ("nats", "tls") or not parts.hostname or not port_ok:
        raise UserError(f"{flag}: not a NATS URL (nats://HOST:PORT): {printable(text, 80)!r}")
    return text
