"""Where Fluxum connects and what it watches.

Environments (``-cfg``): ``sim`` (the embedded local exchange, the default), ``testnet``, ``demo`` (Bybit's demo
trading: private data from the demo host, public data from mainnet), ``production``. ``--base-url`` points the
client at any Bybit-compatible host (an external simulator, a relay). An optional TOML config file sets symbols,
category, depth, mark source and alert rules (``[[alerts]]``, exchange/alert_rules.py); command-line flags win
over it.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from urllib.parse import urlsplit

from exchange.alert_rules import AlertRule, parse_alert_rules, parse_notify
from exchange.bybit.protocol import MAX_ARGS_CHARS, args_chars, desk_topics
from exchange.hosts import is_loopback_host
from exchange.known_keys import unknown_key
from exchange.order_ticket import LimitsError, OrderLimits, order_limits
from exchange.printable import printable
from exchange.regular_file import SETTINGS_FILE_LIMIT, FileRefused, read_bounded
from exchange.secrets import (
    BusCredentials,
    ConfigError,
    Credentials,
    bus_credentials,
    credentials_from_env,
    credentials_from_file,
)
from exchange.watchlist import MAX_WATCHED

__all__ = [
    "CONFIG_KEYS",
    "ConfigError",
    "DEFAULT_SYMBOLS",
    "Endpoints",
    "Environment",
    "Settings",
    "check_config_file",
    "config_symbols",
    "config_file_or_default",
    "default_config_path",
    "load_settings",
    "read_config_file",
]

DEFAULT_SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
INVERSE_SYMBOLS = ("BTCUSD", "ETHUSD")
"""An inverse desk's symbols when none are chosen: Bybit's coin-margined perpetuals."""
CATEGORIES = ("linear", "spot", "inverse")
DEPTHS = (1, 50, 200, 1000)
MARK_SOURCES = ("mark", "book")
MAX_LABEL_HOST = 40  # characters of a remote host the environment badge shows
RECORD_CAP_MB = 2048  # the recordings in the data directory, all together
RECORD_PART_MB = 64  # one file of a recording: the next part starts past this
MAX_RECORD_MB = 1024 * 1024


class Environment(Enum):
    SIM = "sim"
    TESTNET = "testnet"
    DEMO = "demo"
    PRODUCTION = "production"

    @classmethod
    def parse(cls, text: str) -> Environment:
        try:
            return cls(text.strip().lower())
        except ValueError:
            names = ", ".join(e.value for e in cls)
            raise ConfigError(f"unknown environment {text!r}: choose one of {names}") from None


@dataclass(frozen=True)
class Endpoints:
    """Base URLs of one Bybit-compatible host: REST, public WebSocket and private WebSocket."""

    rest: str
    public_ws: str
    private_ws: str

    def public_url(self, category: str) -> str:
        return f"{self.public_ws}/v5/public/{category}"

    def private_url(self) -> str:
        return f"{self.private_ws}/v5/private"

    @classmethod
    def for_base_url(cls, base_url: str) -> Endpoints:
        """Endpoints of a host that serves everything on one origin, like the local exchange or a relay."""
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"--base-url must look like http://host:port or https://host, not {base_url!r}")
        origin = f"{parts.scheme}://{parts.netloc}"
        ws = f"{'wss' if parts.scheme == 'https' else 'ws'}://{parts.netloc}"
        return cls(rest=origin, public_ws=ws, private_ws=ws)


BYBIT_ENDPOINTS = {
    Environment.PRODUCTION: Endpoints("https://api.bybit.com", "wss://stream.bybit.com", "wss://stream.bybit.com"),
    Environment.TESTNET: Endpoints(
        "https://api-testnet.bybit.com", "wss://stream-testnet.bybit.com", "wss://stream-testnet.bybit.com"
    ),
    # Demo trading: private data and orders on the demo host, public market data from mainnet.
    Environment.DEMO: Endpoints("https://api-demo.bybit.com", "wss://stream.bybit.com", "wss://stream-demo.bybit.com"),
}


@dataclass(frozen=True)
class Settings:
    """Everything the session needs to start, validated."""

    environment: Environment
    endpoints: Endpoints | None  # None for the embedded simulator until it has started
    credentials: Credentials | None
    symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    category: str = "linear"
    depth: int = 50
    mark_source: str = "mark"  # "mark": Bybit's markPrice when known; "book": always the book
    trading_enabled: bool = False
    extra: dict[str, object] = field(default_factory=dict)
    alerts: tuple[AlertRule, ...] = ()  # the config's [[alerts]] rules (exchange/alert_rules.py)
    notify: str = "none"  # the desktop notification escape for alerts: none, osc9 or osc777
    record: bool = False  # the config's ``record = true``: every session recorded in the user's data directory
    record_cap_mb: int = RECORD_CAP_MB
    record_part_mb: int = RECORD_PART_MB
    config_file: Path | None = None  # the file read, if any: the watchlist reloads its symbols from it
    order_limits: OrderLimits = field(default_factory=OrderLimits)  # default_qty and max_notional (order entry)
    bus_credentials: BusCredentials | None = None  # the NATS bus's, read only for a relay or a desk on one

    @property
    def embedded(self) -> bool:
        """True when Fluxum must start its own local exchange."""
        return self.environment is Environment.SIM and self.endpoints is None

    @property
    def local_exchange(self) -> bool:
        """True for the simulator on this machine: embedded, or an external ``fluxum sim`` at a loopback address.
        Only there do order actions go without a real exchange's safeguards; ``-cfg sim`` at any other host may
        be anything (a relay to Bybit, someone else's server), so it gets them all."""
        if self.environment is not Environment.SIM:
            return False
        if self.endpoints is None:
            return True
        urls = (self.endpoints.rest, self.endpoints.public_ws, self.endpoints.private_ws)
        return all(is_loopback_host(urlsplit(url).hostname or "") for url in urls)

    @property
    def environment_label(self) -> str:
        """The environment as the desk's badge names it: ``SIM`` for the local exchange, ``SIM @ host`` for a
        simulator elsewhere (so nobody takes it for this machine's), else ``TESTNET``, ``DEMO``, ``PRODUCTION``."""
        name = self.environment.value.upper()
        if self.environment is not Environment.SIM or self.local_exchange or self.endpoints is None:
            return name
        return f"{name} @ {printable(urlsplit(self.endpoints.rest).hostname or '?', MAX_LABEL_HOST)}"

    @property
    def needs_typed_confirmation(self) -> bool:
        """Order actions need the symbol typed (or ``--yes``): on production, and on a ``sim`` that is not local."""
        return self.environment is Environment.PRODUCTION or (
            self.environment is Environment.SIM and not self.local_exchange
        )

    @property
    def stakes(self) -> str:
        """What an order action here may risk, as a typed confirmation's prompt says it."""
        if self.environment is Environment.PRODUCTION:
            return "PRODUCTION, real money"
        host = "" if self.endpoints is None else urlsplit(self.endpoints.rest).hostname
        return f"{host or 'this host'} is not a local exchange, maybe real money"

    @property
    def private(self) -> bool:
        return self.credentials is not None

    def with_endpoints(self, endpoints: Endpoints, credentials: Credentials | None = None) -> Settings:
        return replace(self, endpoints=endpoints, credentials=credentials or self.credentials)


def _symbols(value: object, source: str) -> tuple[str, ...]:
    if isinstance(value, str):
        items = [part.strip() for part in value.split(",")]
    elif isinstance(value, Sequence):
        items = [str(part).strip() for part in value]
    else:
        raise ConfigError(f"{source}: symbols must be a comma-separated list like BTCUSDT,ETHUSDT")
    symbols = tuple(dict.fromkeys(item.upper() for item in items if item))
    if not symbols:
        raise ConfigError(f"{source}: at least one symbol is needed")
    for symbol in symbols:
        if not symbol.isalnum():
            raise ConfigError(f"{source}: {symbol!r} is not a Bybit symbol (letters and digits, like BTCUSDT)")
    return symbols


CONFIG_KEYS = (
    "environment",
    "symbols",
    "category",
    "depth",
    "mark_source",
    "notify",
    "alerts",
    "record",
    "record_cap_mb",
    "record_part_mb",
    "default_qty",
    "max_notional",
    "max_price_distance",
)
"""The keys a config file may set; any other is refused by name (a typo must not pass for a default)."""
SECRET_KEYS = ("api_key", "api_secret", "key", "secret")


def default_config_path() -> Path:
    """Where ``fluxum config init`` writes and every command looks when ``--config`` is not given."""
    from platformdirs import user_config_path

    return user_config_path("fluxum", appauthor=False) / "config.toml"


def config_file_or_default(config_file: Path | None) -> Path | None:
    """The file named by ``--config``, else the default config file when it exists, else none."""
    if config_file is not None:
        return config_file
    default = default_config_path()
    return default if default.exists() else None


def read_config_file(config_file: Path) -> dict[str, object]:
    """The TOML table of a config file, its keys checked; every failure is one :class:`ConfigError` sentence."""
    try:
        values = tomllib.loads(read_bounded(config_file, SETTINGS_FILE_LIMIT).decode())
    except FileNotFoundError:
        raise ConfigError(f"config file {config_file} does not exist") from None
    except FileRefused as refused:
        raise ConfigError(f"config file {config_file} cannot be used: {refused}") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"config file {config_file} is not valid TOML: {error}") from None
    check_config_keys(values, config_file)
    return values


def check_config_keys(values: Mapping[str, object], source: object) -> None:
    """Refuse the first unknown key, named, with the close match when there is one; API keys never belong here."""
    for key in values:
        if key not in CONFIG_KEYS and (key.lower() in SECRET_KEYS or "secret" in key.lower()):
            from exchange.secrets import default_secrets_path

            raise ConfigError(
                f"{source}: {printable(key, 40)!r} does not belong in the config file; API keys go in the "
                f"owner-only secrets file {default_secrets_path()} or the environment"
            )
    refused = unknown_key(values, CONFIG_KEYS)
    if refused is not None:
        raise ConfigError(f"{source}: {refused}")


@dataclass(frozen=True)
class _Watch:
    """What the config file and the flags choose to watch, validated."""

    environment: Environment
    symbols: tuple[str, ...]
    category: str
    depth: int
    mark_source: str
    alerts: tuple[AlertRule, ...]
    notify: str
    record: bool
    record_cap_mb: int
    record_part_mb: int
    order_limits: OrderLimits


def _megabytes(values: Mapping[str, object], key: str, default: int) -> int:
    value = values.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_RECORD_MB:
        raise ConfigError(
            f"{key} must be a whole number of megabytes from 1 to {MAX_RECORD_MB}, not {printable(str(value), 40)!r}"
        )
    return value


def _watch(values: Mapping[str, object], cfg: str | None, symbols: str | None, category: str | None = None) -> _Watch:
    environment = Environment.parse(cfg or str(values.get("environment", "sim")))
    category = (category if category is not None else str(values.get("category", "linear"))).lower()
    if category not in CATEGORIES:
        raise ConfigError(f"category must be one of {', '.join(CATEGORIES)}, not {printable(category, 40)!r}")
    chosen = _symbols(
        symbols
        if symbols is not None
        else values.get("symbols", INVERSE_SYMBOLS if category == "inverse" else DEFAULT_SYMBOLS),
        "--symbols" if symbols is not None else "symbols",
    )
    raw_depth = values.get("depth", 50)
    if isinstance(raw_depth, bool) or not isinstance(raw_depth, int | float) or raw_depth not in DEPTHS:
        raise ConfigError(f"depth must be one of {', '.join(map(str, DEPTHS))}, not {printable(str(raw_depth), 40)!r}")
    depth = int(raw_depth)
    topics = desk_topics(depth, chosen)
    if args_chars(topics) > MAX_ARGS_CHARS:
        raise ConfigError(
            f"{len(chosen)} symbols need {args_chars(topics):,} characters of subscriptions; Bybit allows "
            f"{MAX_ARGS_CHARS:,} on one public connection: choose fewer symbols"
        )
    if len(chosen) > MAX_WATCHED:
        raise ConfigError(f"{len(chosen)} symbols: the watchlist holds at most {MAX_WATCHED}")
    mark_source = str(values.get("mark_source", "mark")).lower()
    if mark_source not in MARK_SOURCES:
        raise ConfigError(f"mark_source must be one of {', '.join(MARK_SOURCES)}, not {printable(mark_source, 40)!r}")
    alerts = parse_alert_rules(values.get("alerts"), chosen)
    notify = parse_notify(values.get("notify", "none"))
    record = values.get("record", False)
    if not isinstance(record, bool):
        raise ConfigError(f"record must be true or false, not {printable(str(record), 40)!r}")
    cap_mb, part_mb = (
        _megabytes(values, "record_cap_mb", RECORD_CAP_MB),
        _megabytes(values, "record_part_mb", RECORD_PART_MB),
    )
    try:
        limits = order_limits(values)
    except LimitsError as error:
        raise ConfigError(str(error)) from None
    return _Watch(environment, chosen, category, depth, mark_source, alerts, notify, record, cap_mb, part_mb, limits)


def config_symbols(config_file: Path, category: str) -> tuple[str, ...]:
    """The symbols a config file names now (the category's defaults when it names none), validated as at start;
    :class:`ConfigError` in one sentence."""
    values = read_config_file(config_file)
    return _watch(values, None, None, category).symbols


def check_config_file(config_file: Path) -> None:
    """Validate a config file alone (keys and values, as a session would read them); no keys are looked for."""
    _watch(read_config_file(config_file), None, None)


def _credentials(environment: Environment, secrets_file: Path | None, environ: Mapping[str, str]) -> Credentials | None:
    """Keys from the environment first, then the secrets file; the local exchange needs none."""
    if environment is not Environment.SIM:
        from exchange.secrets import default_secrets_path

        found = credentials_from_env(environment.value, environ)
        return found or credentials_from_file(secrets_file or default_secrets_path(), environment.value)
    if secrets_file is not None or environ.get("BYBIT_SIM_API_KEY"):
        return credentials_from_env("sim", environ) or (
            credentials_from_file(secrets_file, "sim") if secrets_file else None
        )
    return None


def _endpoints(environment: Environment, base_url: str | None, credentials: Credentials | None) -> Endpoints | None:
    """Bybit's hosts for the environment, or ``--base-url``'s; None for the embedded local exchange."""
    if base_url is None:
        return None if environment is Environment.SIM else BYBIT_ENDPOINTS[environment]
    host = urlsplit(base_url).hostname or ""
    if credentials is not None and base_url.startswith("http://") and not is_loopback_host(host):
        raise ConfigError(f"refusing to send API keys in clear text to {host}: use an https:// --base-url")
    return Endpoints.for_base_url(base_url)


def load_settings(
    *,
    cfg: str | None = None,
    base_url: str | None = None,
    symbols: str | None = None,
    config_file: Path | None = None,
    secrets_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    trading_enabled: bool = False,
    category: str | None = None,
    nats: bool = False,
) -> Settings:
    """Settings from flags, an optional TOML config file, the environment and the secrets file; with ``nats``
    (a relay, or a desk fed by one) the NATS bus's credentials too."""
    values = read_config_file(config_file) if config_file is not None else {}
    watch = _watch(values, cfg, symbols, category)
    environ = os.environ if environ is None else environ
    credentials = _credentials(watch.environment, secrets_file, environ)
    return Settings(
        environment=watch.environment,
        endpoints=_endpoints(watch.environment, base_url, credentials),
        credentials=credentials,
        symbols=watch.symbols,
        category=watch.category,
        depth=watch.depth,
        mark_source=watch.mark_source,
        trading_enabled=trading_enabled,
        alerts=watch.alerts,
        notify=watch.notify,
        record=watch.record,
        record_cap_mb=watch.record_cap_mb,
        record_part_mb=watch.record_part_mb,
        config_file=config_file,
        order_limits=watch.order_limits,
        bus_credentials=bus_credentials(secrets_file, environ) if nats else None,
    )
