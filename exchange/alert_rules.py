"""Alert rules: what the desk should call a person for, parsed from the config file's ``[[alerts]]`` tables.

A rule names a condition (``when``), what it needs (a symbol, a price, a P&L floor, a liquidation distance), an
``after`` debounce and an optional ``command`` (an argv list, never a shell line). Every mistake in a rule is
refused at start with the rule named ("alert 2 (price_above): ..."): a typo must never become an alert that
silently never fires.

Durations (``after``, ``clear_after``) are written ``"10s"``, ``"500ms"``, ``"2m"``, ``"1h"`` or as a number of
seconds. Prices and P&L are exact decimals (write them as strings: ``price = "70000"``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from exchange.printable import printable
from exchange.secrets import ConfigError

__all__ = [
    "INSTANT_CONDITIONS",
    "NOTIFY_KINDS",
    "AlertRule",
    "Condition",
    "format_duration",
    "parse_alert_rules",
    "parse_duration_ms",
    "parse_notify",
]

MAX_RULES = 100
MAX_DURATION_MS = 24 * 3600 * 1000
MAX_COMMAND_ARGS = 64
MAX_ARG_CHARS = 4096
NOTIFY_KINDS = ("none", "osc9", "osc777")
"""How an alert reaches the desktop besides the toast and the bell: not at all, or by the terminal's OSC 9
(iTerm2, WezTerm, Windows Terminal, kitty) or OSC 777 (rxvt-unicode, foot, GNOME's VTE) notification escape."""


class Condition(StrEnum):
    """What a rule watches."""

    LINK_DOWN = "link_down"  # the session runs and is not Ready (Connecting, Connected, Reconnecting, Failed)
    FAILED = "failed"  # the session is Failed: retrying cannot fix it
    STREAM_STALE = "stream_stale"  # a subscribed topic went quiet for longer than its cadence allows
    PRICE_ABOVE = "price_above"
    PRICE_BELOW = "price_below"
    PNL_BELOW = "pnl_below"  # total P&L (or a symbol's) under a floor
    LIQ_DISTANCE_BELOW = "liq_distance_below"  # the mark within ``percent`` of a position's liquidation price
    POSITION_CHANGED = "position_changed"  # an instant: the exchange's position size changed
    FILL = "fill"  # an instant: one of the account's executions


INSTANT_CONDITIONS = frozenset({Condition.POSITION_CHANGED, Condition.FILL})
"""Conditions that happen rather than hold: they fire once and never clear (``after`` is their quiet period)."""

_COMMON_KEYS = frozenset({"when", "after", "clear_after", "command"})
_KEYS: dict[Condition, frozenset[str]] = {
    Condition.LINK_DOWN: frozenset(),
    Condition.FAILED: frozenset(),
    Condition.STREAM_STALE: frozenset({"symbol"}),
    Condition.PRICE_ABOVE: frozenset({"symbol", "price", "source"}),
    Condition.PRICE_BELOW: frozenset({"symbol", "price", "source"}),
    Condition.PNL_BELOW: frozenset({"symbol", "pnl"}),
    Condition.LIQ_DISTANCE_BELOW: frozenset({"symbol", "percent"}),
    Condition.POSITION_CHANGED: frozenset({"symbol"}),
    Condition.FILL: frozenset({"symbol"}),
}
_REQUIRED: dict[Condition, tuple[str, ...]] = {
    Condition.PRICE_ABOVE: ("symbol", "price"),
    Condition.PRICE_BELOW: ("symbol", "price"),
    Condition.PNL_BELOW: ("pnl",),
    Condition.LIQ_DISTANCE_BELOW: ("percent",),
}
PRICE_SOURCES = ("mark", "last")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, None: 1000}


@dataclass(frozen=True)
class AlertRule:
    """One validated rule. ``threshold`` is the price, the P&L floor or the distance in percent."""

    index: int  # 1-based position in the config file, for messages
    condition: Condition
    after_ms: int = 0
    clear_after_ms: int = 0
    symbol: str | None = None
    threshold: Decimal | None = None
    source: str = "mark"  # price rules: Bybit's mark price (the last price where there is none) or the last
    command: tuple[str, ...] = ()

    @property
    def instant(self) -> bool:
        return self.condition in INSTANT_CONDITIONS

    @property
    def name(self) -> str:
        """A short name a person recognises: ``link_down after 10s``, ``price_above BTCUSDT 70000``."""
        parts = [self.condition.value]
        if self.symbol:
            parts.append(self.symbol)
        if self.threshold is not None:
            suffix = "%" if self.condition is Condition.LIQ_DISTANCE_BELOW else ""
            parts.append(f"{self.threshold}{suffix}")
        if self.after_ms:
            parts.append(f"after {format_duration(self.after_ms)}")
        return " ".join(parts)


def format_duration(ms: int) -> str:
    """``10s``, ``1m30s``, ``250ms``: the shortest exact spelling of a debounce or how long an alert lasted."""
    if ms < 1000:
        return f"{ms}ms"
    seconds, rest = divmod(ms, 1000)
    if rest:
        return f"{ms / 1000:g}s"
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "") + (f"{seconds}s" if seconds else "")
    return text or "0s"


def parse_duration_ms(value: object) -> int:
    """A debounce as milliseconds; raises ValueError with what is wrong."""
    if isinstance(value, bool):
        raise ValueError('a duration is like "10s", "500ms" or "2m"')
    if isinstance(value, int | float):
        text = repr(float(value)) if isinstance(value, float) else str(value)
    elif isinstance(value, str):
        text = value
    else:
        raise ValueError('a duration is like "10s", "500ms" or "2m"')
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f'{printable(text, 40)!r} is not a duration like "10s", "500ms" or "2m"')
    ms = int(Decimal(match.group(1)) * _UNIT_MS[match.group(2)])
    if ms > MAX_DURATION_MS:
        raise ValueError("a duration longer than a day is not an alert")
    return ms


def _decimal(value: object, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f'{what} must be a number written as a string, like "70000"')
    try:
        number = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{what} {printable(str(value), 40)!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{what} must be a finite number")
    return number


def _command(value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        raise ValueError('command must be a non-empty list of strings, like ["notify-send", "Fluxum"] (no shell)')
    if len(value) > MAX_COMMAND_ARGS:
        raise ValueError(f"command has more than {MAX_COMMAND_ARGS} arguments")
    for arg in value:
        if not isinstance(arg, str) or "\0" in arg or len(arg) > MAX_ARG_CHARS:
            raise ValueError("command must be a list of strings (no NUL, at most 4096 characters each)")
    if not value[0]:
        raise ValueError("command's program (its first string) is empty")
    return tuple(value)


def _symbol(value: object, symbols: Sequence[str]) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("symbol must be a symbol like BTCUSDT")
    symbol = value.strip().upper()
    if symbol not in symbols:
        raise ValueError(f"symbol {printable(symbol, 40)} is not one of the desk's symbols ({', '.join(symbols)})")
    return symbol


def _when(table: Mapping[str, object]) -> Condition:
    when = table.get("when")
    if when is None:
        raise ValueError("'when' is missing")
    try:
        return Condition(str(when).strip().lower())
    except ValueError:
        names = ", ".join(c.value for c in Condition)
        raise ValueError(f"unknown condition {printable(str(when), 40)!r}: choose one of {names}") from None


def _rule(index: int, table: Mapping[str, object], symbols: Sequence[str]) -> AlertRule:
    condition = _when(table)
    unknown = sorted(set(table) - _COMMON_KEYS - _KEYS[condition])
    if unknown:
        allowed = ", ".join(sorted(_COMMON_KEYS | _KEYS[condition]))
        raise ValueError(f"unknown key {printable(unknown[0], 40)!r} (this rule takes {allowed})")
    missing = [key for key in _REQUIRED.get(condition, ()) if key not in table]
    if missing:
        raise ValueError(f"{missing[0]} is missing")
    after_ms = parse_duration_ms(table.get("after", 0))
    clear_after_ms = parse_duration_ms(table["clear_after"]) if "clear_after" in table else after_ms
    threshold = None
    if "price" in table:
        threshold = _decimal(table["price"], "price")
        if threshold <= 0:
            raise ValueError("price must be above zero")
    elif "pnl" in table:
        threshold = _decimal(table["pnl"], "pnl")
    elif "percent" in table:
        threshold = _decimal(table["percent"], "percent")
        if not 0 < threshold < 100:
            raise ValueError("percent must be between 0 and 100")
    source = str(table.get("source", "mark")).lower()
    if source not in PRICE_SOURCES:
        raise ValueError(f"source must be one of {', '.join(PRICE_SOURCES)}")
    return AlertRule(
        index=index,
        condition=condition,
        after_ms=after_ms,
        clear_after_ms=clear_after_ms,
        symbol=_symbol(table["symbol"], symbols) if "symbol" in table else None,
        threshold=threshold,
        source=source,
        command=_command(table["command"]) if "command" in table else (),
    )


def parse_alert_rules(value: object, symbols: Sequence[str]) -> tuple[AlertRule, ...]:
    """The ``alerts`` array of tables, validated; raises :class:`ConfigError` naming the first bad rule."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ConfigError("alerts must be written as [[alerts]] tables")
    if len(value) > MAX_RULES:
        raise ConfigError(f"at most {MAX_RULES} alert rules, not {len(value)}")
    rules = []
    for index, table in enumerate(value, start=1):
        if not isinstance(table, Mapping):
            raise ConfigError(f"alert {index}: must be an [[alerts]] table")
        when = printable(str(table.get("when", "?")), 40)
        try:
            rules.append(_rule(index, table, symbols))
        except ValueError as error:
            raise ConfigError(f"alert {index} ({when}): {error}") from None
    return tuple(rules)


def parse_notify(value: object) -> str:
    """The desktop notification escape chosen in the config (``notify``)."""
    text = str(value).strip().lower()
    if text not in NOTIFY_KINDS:
        raise ConfigError(f"notify must be one of {', '.join(NOTIFY_KINDS)}, not {printable(str(value), 40)!r}")
    return text
