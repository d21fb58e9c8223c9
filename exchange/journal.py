"""The fills journal: every execution is committed to SQLite before the ledger or any subscriber sees it.

One file per environment and account in the user's data directory. ``execId`` is the primary key and inserts
are insert-or-ignore, so a duplicate push, a REST backfill overlapping the live stream, or a replay after a crash
can never count a fill twice. WAL mode with ``synchronous=NORMAL`` survives a killed process (only a power loss
could drop the last commits), and a reader never blocks the writer.

The journal stores Bybit's raw execution records (as JSON) so the ledger can always be rebuilt from exactly what
the exchange said.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

__all__ = ["Journal", "journal_path"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS executions (
    exec_id     TEXT PRIMARY KEY,
    symbol      TEXT NOT NULL,
    exec_time   INTEGER NOT NULL,
    exec_type   TEXT NOT NULL,
    record      BLOB NOT NULL,
    received_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS executions_by_time ON executions (exec_time);
CREATE TABLE IF NOT EXISTS marks (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
"""


def journal_path(environment: str, account: str, category: str, base: Path | None = None) -> Path:
    """Where the journal of one environment, account and category lives.

    One per category: a desk journals (and marks complete) only its category's executions, so a spot desk on
    the same account must neither replay a linear desk's fills nor start its backfill from the linear desk's
    watermark. ``account`` is hashed (an API key is not a secret, but it has no business in a file name either).
    """
    if base is None:
        from platformdirs import user_data_path

        base = user_data_path("fluxum", appauthor=False)
    digest = hashlib.sha256(account.encode()).hexdigest()[:12]
    return Path(base) / f"journal-{environment}-{category}-{digest}.sqlite3"


class Journal:
    """An append-only, de-duplicated record of the account's executions."""

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # Owner-only from the start, the -wal and -shm side files too (they hold the same records). A short busy
        # timeout: this runs on the event loop, and another Fluxum on the same account must not freeze it.
        previous = os.umask(0o077)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=0.5)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        finally:
            os.umask(previous)
        if self.path != ":memory:":
            for suffix in ("", "-wal", "-shm"):
                side = Path(self.path + suffix)
                if side.exists():
                    side.chmod(0o600)

    def record(self, records: Iterable[dict[str, Any]], received_ms: int) -> list[dict[str, Any]]:
        """Commit the executions not seen before and return them, in the order given.

        Raises ``KeyError``/``ValueError`` for a record without ``execId``/``symbol``/``execTime`` before anything
        is written (the caller counts it as a rejected record).
        """
        rows = []
        for record in records:
            exec_id = record["execId"]
            if not isinstance(exec_id, str) or not exec_id:
                raise ValueError("execId must be a non-empty string")
            rows.append(
                (
                    exec_id,
                    str(record["symbol"]),
                    int(record["execTime"]),
                    str(record.get("execType") or "Trade"),
                    orjson.dumps(record),
                    record,
                )
            )
        new = []
        cursor = self._db.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        try:
            for exec_id, symbol, exec_time, exec_type, blob, record in rows:
                cursor.execute(
                    "INSERT OR IGNORE INTO executions VALUES (?, ?, ?, ?, ?, ?)",
                    (exec_id, symbol, exec_time, exec_type, blob, received_ms),
                )
                if cursor.rowcount == 1:
                    new.append(record)
            cursor.execute("COMMIT")
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
        return new

    def replay(self) -> Iterator[dict[str, Any]]:
        """Every journaled execution, by ``execTime`` (ties in the order Bybit's ids sort), read as it is consumed:
        a long journal is never all in memory at once. Consume it before writing again."""
        for (blob,) in self._db.execute("SELECT record FROM executions ORDER BY exec_time, exec_id"):
            yield orjson.loads(blob)

    def exec_ids(self) -> set[str]:
        return {exec_id for (exec_id,) in self._db.execute("SELECT exec_id FROM executions")}

    def last_exec_time_ms(self) -> int | None:
        """Time of the newest journaled execution: the REST backfill starts there."""
        (value,) = self._db.execute("SELECT MAX(exec_time) FROM executions").fetchone()
        return value

    def complete_until_ms(self) -> int | None:
        """Every execution with an ``execTime`` up to this (exchange ms) is journaled; None if never known.

        Kept across processes, so a session killed mid-backfill restarts its backfill from what was
        really complete, not from the newest live push it happened to journal.
        """
        row = self._db.execute("SELECT value FROM marks WHERE name = 'complete_until_ms'").fetchone()
        return None if row is None else int(row[0])

    def mark_complete_until(self, ms: int) -> None:
        """Record that history is complete up to ``ms``; the mark only ever moves forward."""
        self._db.execute(
            "INSERT INTO marks VALUES ('complete_until_ms', ?) "
            "ON CONFLICT(name) DO UPDATE SET value = MAX(value, excluded.value)",
            (int(ms),),
        )

    def __len__(self) -> int:
        (count,) = self._db.execute("SELECT COUNT(*) FROM executions").fetchone()
        return int(count)

    def close(self) -> None:
        self._db.close()
