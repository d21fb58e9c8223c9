"""API credentials that cannot leak by accident.

A :class:`Secret` prints as ``Secret('********')`` in reprs, f-strings, logs and tracebacks (Textual's crash screen
shows locals), refuses to be pickled, and gives its value only through :meth:`Secret.reveal`, which the signing
code alone calls. Keys come from the environment (``BYBIT_{PRODUCTION,TESTNET,DEMO}_API_{KEY,SECRET}``) or from an
owner-only secrets file, never from the command line.

The NATS bus of a relay and its desks (``fluxum relay --nats``, ``--feed``) is authenticated the same way
(:func:`bus_credentials`): a user and password or a token, from ``FLUXUM_NATS_USER`` / ``FLUXUM_NATS_PASSWORD`` or
``FLUXUM_NATS_TOKEN``, else the secrets file's ``[nats]`` table.
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NoReturn

from exchange.known_keys import unknown_key
from exchange.regular_file import SETTINGS_FILE_LIMIT, FileRefused, read_bounded

__all__ = [
    "BusCredentials",
    "ConfigError",
    "Credentials",
    "Secret",
    "bus_credentials",
    "credentials_from_env",
    "credentials_from_file",
    "default_secrets_path",
]


ENVIRONMENTS = ("sim", "testnet", "demo", "production")
"""The tables a secrets file may hold, one per environment."""
SECRET_FIELDS = ("api_key", "api_secret")
BUS_TABLE = "nats"
"""The secrets file's table of the NATS bus's credentials."""
BUS_FIELDS = ("user", "password", "token")
BUS_ENV = ("FLUXUM_NATS_USER", "FLUXUM_NATS_PASSWORD", "FLUXUM_NATS_TOKEN")


class ConfigError(ValueError):
    """A configuration mistake the user can fix; its message is one clear sentence."""


class Secret:
    """A string that never shows itself."""

    __slots__ = ("_value",)
    _value: str

    def __init__(self, value: str) -> None:
        if not isinstance(value, str) or not value:
            raise ConfigError("an API secret must be a non-empty string")
        object.__setattr__(self, "_value", value)

    def reveal(self) -> str:
        """The value, for signing only."""
        return self._value

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Secret is immutable")

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled")


@dataclass(frozen=True)
class Credentials:
    """An API key and its secret (the key alone is not secret, but it is shortened in reprs anyway)."""

    api_key: str
    api_secret: Secret

    def __repr__(self) -> str:
        return f"Credentials(api_key={self.key_hint!r}, api_secret={self.api_secret!r})"

    @property
    def key_hint(self) -> str:
        """The first and last characters of the key, enough to recognise it on a screen."""
        key = self.api_key
        return f"{key[:4]}…{key[-2:]}" if len(key) > 8 else "…"


def credentials_from_env(environment: str, environ: Mapping[str, str] | None = None) -> Credentials | None:
    """Keys from ``BYBIT_<ENV>_API_KEY`` / ``BYBIT_<ENV>_API_SECRET``; None when neither is set."""
    environ = os.environ if environ is None else environ
    prefix = f"BYBIT_{environment.upper()}_API_"
    key = environ.get(prefix + "KEY", "").strip()
    secret = environ.get(prefix + "SECRET", "").strip()
    if not key and not secret:
        return None
    if not key or not secret:
        missing = prefix + ("KEY" if not key else "SECRET")
        raise ConfigError(f"{missing} is not set, but its partner is: set both or neither")
    return Credentials(key, Secret(secret))


def default_secrets_path() -> Path:
    from platformdirs import user_config_path

    return user_config_path("fluxum", appauthor=False) / "secrets.toml"


def _secrets_document(path: Path) -> dict[str, object] | None:
    """The secrets file's tables, None when there is no file; refused (one sentence, never a secret quoted) when
    group or others can read it, as ssh refuses such a key, or when it is not the secrets file's shape."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"secrets file {path} is readable by group or others (mode {stat.S_IMODE(info.st_mode):o}); "
            f"run: chmod 600 {path}"
        )
    try:
        document = tomllib.loads(read_bounded(path, SETTINGS_FILE_LIMIT).decode())
    except FileRefused as refused:
        raise ConfigError(f"secrets file {path} cannot be used: {refused}") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        # The parser's message can quote the offending line, which may hold a secret: say only where.
        found = re.search(r"at line (\d+)", str(error))
        where = f" (line {found.group(1)})" if found else ""
        raise ConfigError(f"secrets file {path} is not valid TOML{where}") from None
    unknown = unknown_key(document, (*ENVIRONMENTS, BUS_TABLE), what="table")
    if unknown is not None:
        raise ConfigError(f"secrets file {path}: {unknown}")
    return document


def credentials_from_file(path: Path, environment: str) -> Credentials | None:
    """Keys of one environment from an owner-only TOML file::

        [testnet]
        api_key = "..."
        api_secret = "..."

    A file that group or others can read is refused, as ssh refuses such a key.
    """
    document = _secrets_document(path)
    section = None if document is None else document.get(environment)
    if section is None:
        return None
    if not isinstance(section, dict):
        raise ConfigError(f"secrets file {path}: [{environment}] must be a table with api_key and api_secret")
    unknown = unknown_key(section, SECRET_FIELDS)
    if unknown is not None:
        raise ConfigError(f"secrets file {path}: [{environment}] {unknown}")
    key, secret = section.get("api_key"), section.get("api_secret")
    if not isinstance(key, str) or not isinstance(secret, str) or not key or not secret:
        raise ConfigError(f"secrets file {path}: [{environment}] needs both api_key and api_secret as strings")
    return Credentials(key, Secret(secret))


@dataclass(frozen=True)
class BusCredentials:
    """How a relay or a desk authenticates to NATS: a user and its password, or a token; ``source`` says where
    they came from (for a refusal's hint), never what they are."""

    user: str | None = None
    password: Secret | None = None
    token: Secret | None = None
    source: str = ""

    def __repr__(self) -> str:
        kind = "token" if self.token is not None else "user and password"
        return f"BusCredentials({kind} from {self.source})"

    def connect_options(self) -> dict[str, str]:
        """The keyword arguments of ``nats.connect`` (the secrets revealed for the connection alone)."""
        if self.token is not None:
            return {"token": self.token.reveal()}
        assert self.user is not None and self.password is not None
        return {"user": self.user, "password": self.password.reveal()}


def _bus_pair(user: object, password: object, token: object, where: str) -> BusCredentials | None:
    """Credentials from one source's three values (empty: not given): a user with a password, or a token."""
    if not user and not password and not token:
        return None
    if token and (user or password):
        raise ConfigError(f"{where}: give a NATS user and password, or a token, not both")
    if token:
        if not isinstance(token, str):
            raise ConfigError(f"{where}: the NATS token must be a string")
        return BusCredentials(token=Secret(token), source=where)
    if not user or not password or not isinstance(user, str) or not isinstance(password, str):
        raise ConfigError(f"{where}: a NATS user needs its password (both strings), or give a token")
    return BusCredentials(user=user, password=Secret(password), source=where)


def bus_credentials(secrets_file: Path | None, environ: Mapping[str, str] | None = None) -> BusCredentials | None:
    """The NATS bus's credentials: ``FLUXUM_NATS_USER`` and ``FLUXUM_NATS_PASSWORD``, or ``FLUXUM_NATS_TOKEN``,
    else the secrets file's ``[nats]`` table (``user`` and ``password``, or ``token``); None: connect without."""
    environ = os.environ if environ is None else environ
    user, password, token = (environ.get(name, "").strip() for name in BUS_ENV)
    found = _bus_pair(user, password, token, "FLUXUM_NATS_USER / FLUXUM_NATS_PASSWORD / FLUXUM_NATS_TOKEN")
    if found is not None:
        return found
    path = secrets_file or default_secrets_path()
    document = _secrets_document(path)
    section = None if document is None else document.get(BUS_TABLE)
    if section is None:
        return None
    where = f"secrets file {path} [{BUS_TABLE}]"
    if not isinstance(section, dict):
        raise ConfigError(f"{where} must be a table with user and password, or token")
    unknown = unknown_key(section, BUS_FIELDS)
    if unknown is not None:
        raise ConfigError(f"{where}: {unknown}")
    pair = _bus_pair(section.get("user"), section.get("password"), section.get("token"), where)
    if pair is None:
        raise ConfigError(f"{where} must hold user and password, or token")
    return replace(pair, source=f"[{BUS_TABLE}] in the secrets file")  # its path is long, and the user's own
