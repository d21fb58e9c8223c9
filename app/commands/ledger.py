"""``fluxum bybit ledger``: the per-symbol P&L of an exported Bybit execution history.

Offline by design: it reads a file (a saved ``/v5/execution/list`` response, a JSON list of executions, an
``execution`` push, or JSON lines of those), replays it through the same :class:`~exchange.ledger.Ledger` the
dashboard uses, and prints one line per symbol, or writes every ledger entry as Fluxum's CSV. Memory stays
bounded whatever the file's length: JSON lines are read a line at a time, the fills are put in the exchange's
order by :class:`~exchange.fill_sort.FillSorter` and folded in batches, and CSV rows are written as they come.

Each symbol is counted in its own units (:class:`~exchange.ledger.ContractKind`): linear and spot in the quote
coin, inverse (coin-margined: ``BTCUSD``) in contracts and the base coin. A file holding inverse history names
each row's coin (a ``coin`` column; in the CSV, ``contract_type`` and ``settle_coin``), and nothing is ever
summed across symbols, so no figure mixes coins. A record the ledger cannot price (an option) refuses the file.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from decimal import Decimal

    from exchange.fill_sort import FillSorter
    from exchange.ledger import Ledger, LedgerEntry

DISPLAY_PLACES = 8
"""The table rounds to this many decimal places; the CSV keeps every digit."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--from-file",
        required=True,
        metavar="FILE",
        help="executions to replay: a /v5/execution/list response, a JSON list, an execution push, "
        "or JSON lines of those",
    )
    parser.add_argument(
        "--mark",
        action="append",
        default=[],
        metavar="SYMBOL=PRICE",
        help="mark SYMBOL's position at PRICE (repeatable); unmarked symbols stay at their last fill price",
    )
    parser.add_argument(
        "--csv",
        metavar="PATH",
        help="write every ledger entry (one row per fill, funding and mark) as CSV to PATH ('-' for stdout)",
    )


def _parse_marks(texts: list[str]) -> dict[str, Decimal]:
    """``SYMBOL=PRICE`` flags as exact prices; the last flag for a symbol wins."""
    from app.cli import UserError
    from exchange.numbers import NumberError, read_decimal
    from exchange.printable import printable

    marks: dict[str, Decimal] = {}
    for text in texts:
        symbol, equals, price_text = text.partition("=")
        symbol = symbol.strip().upper()
        try:
            price: Decimal | None = read_decimal(price_text.strip(), "price")
        except NumberError:
            price = None
        if not equals or not symbol or price is None or price <= 0:
            raise UserError(
                f"--mark {printable(text, 60)!r} is not SYMBOL=PRICE with a positive price (e.g. BTCUSDT=65000.5)"
            )
        marks[symbol] = price
    return marks


def _show(value: Decimal) -> str:
    """A Decimal for the table: at most :data:`DISPLAY_PLACES` places, no exponent, no trailing zeros."""
    from decimal import Decimal

    from exchange.ledger import MONEY_CONTEXT, format_decimal

    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -DISPLAY_PLACES:
        value = value.quantize(Decimal(1).scaleb(-DISPLAY_PLACES), context=MONEY_CONTEXT)
    return format_decimal(value)


_SOURCE_LABELS = {
    "mark_price": "markPrice",
    "best_bid": "best bid",
    "best_ask": "best ask",
    "mid": "mid",
    "last_fill": "last fill",
    "external": "--mark",
}

_COLUMNS = (
    "symbol",
    "coin",
    "position",
    "avg entry",
    "mark",
    "mark source",
    "realized",
    "unrealized",
    "fees",
    "funding",
    "total P&L",
    "fills",
)


INVERSE_NOTE = "inverse symbols: position in contracts of 1 USD, average entry harmonic, money in the coin"
"""Printed above a table holding an inverse symbol."""


def _table_row(entry: LedgerEntry, fills: int) -> list[str]:
    from exchange.printable import printable

    source = entry.mark_source
    return [
        printable(entry.symbol),  # the file's text: never a terminal control or a line break
        printable(entry.settle_coin) or "-",
        _show(entry.position),
        _show(entry.running_price) if entry.position else "-",
        _show(entry.spot) if source is not None else "-",
        _SOURCE_LABELS.get(source.value, source.value) if source is not None else "-",
        _show(entry.realized_pnl),
        _show(entry.unrealized_pnl),
        _show(entry.fees),
        _show(entry.funding),
        _show(entry.pnl),
        str(fills),
    ]


def _print_table(ledger: Ledger, out: TextIO) -> None:
    """One row per symbol; the ``coin`` column (and a note on the units) when a symbol is inverse, so a linear
    history prints as it always has."""
    from exchange.ledger import ContractKind

    entries = ledger.entries()
    named = any(entry.contract is ContractKind.INVERSE for entry in entries)
    keep = [column for column in range(len(_COLUMNS)) if named or _COLUMNS[column] != "coin"]
    rows = [list(_COLUMNS)] + [_table_row(entry, ledger.fill_count(entry.symbol)) for entry in entries]
    rows = [[row[column] for column in keep] for row in rows]
    left = {index for index, column in enumerate(keep) if _COLUMNS[column] in ("symbol", "coin", "mark source")}
    widths = [max(len(row[index]) for row in rows) for index in range(len(keep))]
    if named:
        out.write(INVERSE_NOTE + "\n")
    for row in rows:
        cells = [
            cell.ljust(width) if index in left else cell.rjust(width)
            for index, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        out.write("  ".join(cells).rstrip() + "\n")


def _write_csv(entries: Iterable[LedgerEntry], path: str, contract_columns: bool) -> int:
    """Every entry as CSV to ``path`` (an owner-only file, written whole or not at all) or stdout (``-``)."""
    from app.cli import UserError
    from exchange.ledger import write_csv
    from exchange.private_file import write_private

    if path == "-":
        return write_csv(entries, sys.stdout, contract_columns=contract_columns)
    try:
        return write_private(path, lambda file: write_csv(entries, file, contract_columns=contract_columns))
    except OSError as error:
        raise UserError(f"cannot write {path}: {error.strerror or error}") from None


def _sort(path: str, sorter: FillSorter) -> None:
    """Read the file into the sorter (bounded memory); a file that cannot be used is a one-line UserError."""
    from app.cli import UserError
    from exchange.bybit.executions import ExecutionFileError, read_fills

    try:
        sorter.add(read_fills(path))
    except ExecutionFileError as error:  # names the file itself
        raise UserError(str(error)) from None
    except ValueError as error:  # a time beyond what can be sorted, a symbol of two contract kinds
        raise UserError(f"{path}: {error}") from None


def _entries(ledger: Ledger, sorter: FillSorter, marks: dict[str, Decimal]) -> Iterator[LedgerEntry]:
    """Every version of the ledger, one per fill applied in the exchange's order, then one per mark."""
    from exchange.ledger import MarkSource

    for batch in sorter.batches():
        for fill in batch:
            entry = ledger.apply_fill(fill)
            if entry is not None:
                yield entry
    stamp = sorter.last_time_ms or 0  # the same file always gives the same CSV
    for symbol, price in marks.items():
        yield ledger.mark(symbol, price, MarkSource.EXTERNAL, stamp)


def run(args: argparse.Namespace) -> int:
    from app.cli import UserError
    from exchange.fill_sort import FillSorter
    from exchange.ledger import ContractKind, Ledger, MarkSource

    marks = _parse_marks(args.mark)
    ledger = Ledger()
    out = sys.stdout
    with FillSorter() as sorter:
        _sort(args.from_file, sorter)
        for symbol in marks:
            if symbol not in sorter.symbols:
                raise UserError(f"--mark {symbol}: {args.from_file} has no executions for {symbol}")
        if args.csv is not None:
            inverse = ContractKind.INVERSE in sorter.contracts.values()
            rows = _write_csv(_entries(ledger, sorter, marks), args.csv, inverse)
            if args.csv != "-":
                out.write(f"wrote {rows} ledger rows for {len(sorter.symbols)} symbols to {args.csv}\n")
            return 0
        for batch in sorter.batches():
            ledger.apply_fills(batch)
    for symbol, price in marks.items():
        ledger.mark(symbol, price, MarkSource.EXTERNAL, sorter.last_time_ms or 0)
    if not ledger.entries():
        out.write(f"no executions in {args.from_file}\n")
        return 0
    duplicates = f", {ledger.duplicates} duplicates ignored" if ledger.duplicates else ""
    rejected = f", {ledger.rejected} rejected" if ledger.rejected else ""
    out.write(f"{sorter.count} executions from {args.from_file}{duplicates}{rejected}\n\n")
    _print_table(ledger, out)
    return 0
