"""The range of numbers the desk takes from outside (Bybit, an execution file, the journal), checked where read.

Python reads ``"1E+999999999"``, ``"1E-20000"`` and a 5000-digit string as valid numbers, and the trouble comes
later, far from the record: the ledger's decimal context overflows, ``quantize`` raises ``InvalidOperation``,
``float()`` gives ``inf``, ``int()`` of more than 4300 digits raises, and ``1e-999999`` written plainly is a
million zeros. So every number is held to a range no Bybit value comes near, and one outside it is refused where
it is read: a bad record is rejected and counted there, never a crash wherever it would next be used.

The range: at most :data:`MAX_TEXT` characters and :data:`MAX_DIGITS` significant digits; a magnitude below
``1e18`` and, unless zero, at least ``1e-18`` (:data:`MIN_MAGNITUDE`); so any product of two such numbers and any
sum of millions of them stays far inside the ledger's context (60 digits, exponents to 999999). Times are epoch
milliseconds from 0 to :data:`MAX_EPOCH_MS`.
"""

from __future__ import annotations

import re
from decimal import Decimal

__all__ = [
    "MAX_DIGITS",
    "MAX_EPOCH_MS",
    "MAX_MAGNITUDE",
    "MAX_TEXT",
    "MIN_MAGNITUDE",
    "NumberError",
    "decimal_problem",
    "is_decimal_text",
    "read_decimal",
    "read_epoch_ms",
    "read_whole",
]

MAX_TEXT = 64
"""Characters of a number's text (Bybit's longest are about 20)."""
MAX_DIGITS = 30
"""Significant digits of a decimal (the product of two stays exact in the ledger's 60)."""
MAX_MAGNITUDE = Decimal("1e18")
"""Every decimal is smaller than this in magnitude."""
MIN_MAGNITUDE = Decimal("1e-18")
"""Every decimal but zero is at least this in magnitude (the ledger rounds quotients to 1e-18)."""
MAX_EPOCH_MS = 10**14
"""Epoch milliseconds are below this (the year 5138): ``datetime`` can still show them and SQLite store them."""

_MAX_ADJUSTED = 17
_MIN_ADJUSTED = -18
_MIN_EXPONENT = _MIN_ADJUSTED - MAX_DIGITS  # a zero written with more places than any number may have


_DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?").fullmatch
_SPECIAL_TEXT = re.compile(r"[+-]?(?:inf|infinity|s?nan[0-9]*)", re.IGNORECASE).fullmatch


def is_decimal_text(text: str) -> bool:
    """Whether ``text`` is a plain ASCII decimal (``-12.5``, ``.5``, ``5e3``): ``float()`` and ``Decimal()`` also
    take spaces around it, ``1_000``, digits of any script (``١٢٣``) and ``inf``/``nan``, which no exchange sends."""
    if text.isascii() and text.replace(".", "", 1).isdigit():  # the common shape ("42.556"), 3x cheaper
        return True
    return _DECIMAL_TEXT(text) is not None


class NumberError(ValueError):
    """A number that cannot be used; the message names the field and why, with the value cut short."""


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 24 else text[:20] + "..." + text[-1]


def decimal_problem(value: Decimal) -> str | None:
    """Why ``value`` is outside the desk's range, or None. Cheap: it looks at the exponent and digits only."""
    return _range_problem(value, count_digits=True)


def _range_problem(value: Decimal, *, count_digits: bool) -> str | None:
    """:func:`decimal_problem`; ``count_digits`` False when the text it came from is too short to hold too many
    (counting them means ``as_tuple()``, most of the cost)."""
    if not isinstance(value, Decimal):
        return f"is a {type(value).__name__}, not a decimal"
    if not value.is_finite():
        return "is not a finite number"
    adjusted = value.adjusted()
    if not value:  # a zero's adjusted exponent is its exponent
        return None if _MIN_EXPONENT <= adjusted <= _MAX_ADJUSTED else "is a zero with an absurd exponent"
    if adjusted > _MAX_ADJUSTED:
        return "is too large (1e18 or more)"
    if adjusted < _MIN_ADJUSTED:
        return "is too small (below 1e-18)"
    if count_digits and len(value.as_tuple().digits) > MAX_DIGITS:
        return f"has more than {MAX_DIGITS} significant digits"
    return None


def read_decimal(value: object, name: str) -> Decimal:
    """A decimal string (or an int, or a float as its shortest decimal) as a :class:`Decimal` in the desk's range.

    Raises :class:`NumberError` naming ``name`` for anything else.
    """
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise NumberError(f"{name} {_shown(value)} is longer than {MAX_TEXT} characters")
        if not is_decimal_text(value):  # Decimal() alone also takes " 7 ", "1_000", "١٢٣" and "NaN"
            why = "is not a finite number" if _SPECIAL_TEXT(value) else "is not a number"
            raise NumberError(f"{name} {_shown(value)} {why}")
        number = Decimal(value)
        problem = _range_problem(number, count_digits=len(value) > MAX_DIGITS)
        if problem is not None:
            raise NumberError(f"{name} {_shown(value)} {problem}")
        return number
    elif isinstance(value, int) and not isinstance(value, bool):
        if not -(10**MAX_TEXT) < value < 10**MAX_TEXT:
            raise NumberError(f"{name} is too large")
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))  # the shortest decimal that reads back as this float
    else:
        raise NumberError(f"{name} must be a decimal string, not {type(value).__name__}")
    problem = decimal_problem(number)
    if problem is not None:
        raise NumberError(f"{name} {_shown(value)} {problem}")
    return number


def read_whole(value: object, name: str, limit: int) -> int:
    """A whole number from ``0`` to ``limit - 1``, as an int or a string of ASCII digits.

    Raises :class:`NumberError` naming ``name`` for anything else (``int()`` would take ``"²"`` for a digit,
    ``" 7 "``, ``"1_000"``, and thousands of digits slowly or not at all).
    """
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and 0 < len(value) <= len(str(limit)) and value.isascii() and value.isdigit():
        number = int(value)
    else:
        raise NumberError(f"{name} {_shown(value)} is not a whole number")
    if not 0 <= number < limit:
        raise NumberError(f"{name} {_shown(value)} is out of range (0 to {limit - 1})")
    return number


def read_epoch_ms(value: object, name: str) -> int:
    """Epoch milliseconds, as an int or a string of digits; :class:`NumberError` for anything else."""
    try:
        return read_whole(value, name, MAX_EPOCH_MS)
    except NumberError:
        raise NumberError(f"{name} {_shown(value)} is not epoch milliseconds") from None
