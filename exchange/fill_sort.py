"""Fills put in the exchange's order with bounded memory, however many: an execution file of any length.

A saved history comes in any order (Bybit lists executions newest first, page after page), and average entry and
realized P&L depend on the order fills are applied in (:func:`~exchange.ledger.execution_order`). Holding every
fill to sort them costs gigabytes for a few million; SQLite's sorter, in a private temporary database (deleted
when closed; past its cache it spills to a temporary file SQLite creates owner-only and unlinks at once), sorts
them with bounded memory. The fills
come back in batches, as a journal replay does (:func:`~exchange.bybit.executions.fills_in_execution_order`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from decimal import Decimal
from types import TracebackType

import orjson

from exchange.ledger import ContractKind, Fill

__all__ = ["FillSorter", "SORT_BATCH", "SORT_CACHE_KIB"]

SORT_BATCH = 20_000
"""Fills per batch, in and out."""
SORT_CACHE_KIB = 32 * 1024
"""SQLite's page cache (and with it the sorter's memory) before it spills to its temporary file."""
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


class FillSorter:
    """Collect fills (:meth:`add`), then read them back in execution order (:meth:`batches`).

    Duplicates are kept (the ledger counts them); ``count``, ``symbols``, ``contracts`` (each symbol's
    :class:`~exchange.ledger.ContractKind`) and ``last_time_ms`` describe what was added. A symbol whose fills
    disagree on their kind is refused: its money cannot be counted both ways.
    """

    def __init__(self) -> None:
        self._db = sqlite3.connect("", isolation_level=None)  # "": private, on disk past the cache, deleted on close
        self._db.execute(f"PRAGMA cache_size = -{SORT_CACHE_KIB}")
        self._db.execute("PRAGMA journal_mode = OFF")
        self._db.execute("PRAGMA synchronous = OFF")
        self._db.execute("CREATE TABLE fills (time_ms INTEGER, seq INTEGER, exec_id TEXT, fill TEXT)")
        self.count = 0
        self.symbols: set[str] = set()
        self.contracts: dict[str, ContractKind] = {}
        self.last_time_ms: int | None = None

    def add(self, fills: Iterable[Fill]) -> None:
        """Store every fill (consumed in batches of :data:`SORT_BATCH`, never all in memory)."""
        batch: list[tuple[int, int, str, str]] = []
        self._db.execute("BEGIN")
        try:
            for fill in fills:
                batch.append(self._row(fill))
                if len(batch) >= SORT_BATCH:
                    self._db.executemany("INSERT INTO fills VALUES (?, ?, ?, ?)", batch)
                    batch.clear()
            self._db.executemany("INSERT INTO fills VALUES (?, ?, ?, ?)", batch)
        finally:
            self._db.execute("COMMIT")

    def _row(self, fill: Fill) -> tuple[int, int, str, str]:
        """Raises ValueError for a time or sequence beyond SQLite's 64-bit integers (no exchange sends one), or a
        fill whose contract kind differs from its symbol's earlier fills."""
        seq = -1 if fill.seq is None else fill.seq
        if not (_INT64_MIN <= fill.time_ms <= _INT64_MAX and _INT64_MIN <= seq <= _INT64_MAX):
            raise ValueError(f"execution {fill.exec_id}: execTime {fill.time_ms} or seq {fill.seq} is out of range")
        known = self.contracts.setdefault(fill.symbol, fill.contract)
        if known is not fill.contract:
            raise ValueError(
                f"execution {fill.exec_id}: {fill.symbol} is {fill.contract.value} there and {known.value} in an "
                "earlier record: its money cannot be counted both ways"
            )
        self.count += 1
        self.symbols.add(fill.symbol)
        if self.last_time_ms is None or fill.time_ms > self.last_time_ms:
            self.last_time_ms = fill.time_ms
        packed = orjson.dumps(  # as text: orjson's bytes keep a 4 KB buffer each, a str is its own length
            [
                fill.symbol,
                fill.side,
                str(fill.qty),
                str(fill.price),
                str(fill.fee),
                fill.exec_type,
                fill.order_id,
                fill.order_link_id,
                fill.is_maker,
                fill.seq,
                fill.contract.value,
                fill.settle_coin,
            ]
        ).decode()
        return (fill.time_ms, seq, fill.exec_id, packed)

    def batches(self, size: int = SORT_BATCH) -> Iterator[list[Fill]]:
        """Every fill added, in :func:`~exchange.ledger.execution_order`, ``size`` at a time."""
        cursor = self._db.execute("SELECT time_ms, exec_id, fill FROM fills ORDER BY time_ms, seq, exec_id")
        while rows := cursor.fetchmany(size):
            yield [_fill(time_ms, exec_id, packed) for time_ms, exec_id, packed in rows]

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> FillSorter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


def _fill(time_ms: int, exec_id: str, packed: str) -> Fill:
    symbol, side, qty, price, fee, exec_type, order_id, order_link_id, is_maker, seq, contract, coin = orjson.loads(
        packed
    )
    return Fill(
        exec_id=exec_id,
        symbol=symbol,
        side=side,
        qty=Decimal(qty),
        price=Decimal(price),
        fee=Decimal(fee),
        time_ms=time_ms,
        exec_type=exec_type,
        order_id=order_id,
        order_link_id=order_link_id,
        is_maker=is_maker,
        seq=seq,
        contract=ContractKind(contract),
        settle_coin=coin,
    )
