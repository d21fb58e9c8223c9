"""The fills journal: every execution is committed to SQLite before the ledger or any subscriber sees it.

One file per environment and account in the user's data directory. ``execId`` is the primary key and inserts
are insert-or-ignore, so a duplicate push, a REST backfill overlapping the live stream, or a replay after a crash
can never count a fill twice. WAL mode with ``synchronous=NORMAL`` survives a killed process (only a power loss
could drop the last commits), and a reader never blocks the writer.

The journal stores Bybit's raw execution records (as JSON) so the ledger can always be rebuilt from exactly what
the exchange said. A record that cannot be read or applied is moved to the ``quarantine`` table: kept for a person
to inspect, never replayed, never in the way of a start.

Several Fluxum processes on one account share the file (the dashboard beside ``fluxum monitor``): each journals
what it receives, and the first insert wins; each ledger applies every fill it has not seen itself, and looks
for the rows the others journaled (:meth:`Journal.arrived_since`).

A file SQLite cannot use raises :class:`JournalError`, whose message is one line naming the file and the fix; a
write that fails for a reason that may pass (a full disk, a lock held too long) raises :class:`JournalUnwritable`
and leaves the journal as it was.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from exchange.private_file import owner_only_creation, restrict_sqlite_files
from exchange.retry import describe

__all__ = ["Journal", "JournalError", "JournalUnwritable", "journal_path"]

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
CREATE INDEX IF NOT EXISTS executions_by_arrival ON executions (received_ms);
CREATE TABLE IF NOT EXISTS marks (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS quarantine (
    key      TEXT PRIMARY KEY,
    exec_id  TEXT,
    record   BLOB NOT NULL,
    reason   TEXT NOT NULL,
    moved_ms INTEGER NOT NULL
) WITHOUT ROWID;
"""

_PASSING = {  # SQLite's primary result codes for a write that may work later
    13: "disk full",  # SQLITE_FULL
    5: "locked by another process",  # SQLITE_BUSY
    6: "locked by another process",  # SQLITE_LOCKED
    10: "disk I/O error",  # SQLITE_IOERR
    8: "read-only",  # SQLITE_READONLY
}
_LOCKED = (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED
_CORRUPT = (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB
_CANNOT_OPEN = (8, 14, 3)  # SQLITE_READONLY, SQLITE_CANTOPEN, SQLITE_PERM


OPEN_WAIT_S = 10.0
"""How long opening waits for another program's lock (a backup, a VACUUM): a start waits out a short one."""
BUSY_WAIT_S = 0.5
"""How long a statement waits for a lock once open: this runs on the event loop, and another Fluxum on the same
account must not freeze it."""


class JournalError(Exception):
    """The journal file cannot be used; the message is one line naming the file and the fix."""


class JournalUnwritable(JournalError):
    """A write failed for a reason that may pass (``reason``: "disk full", "read-only", ...); nothing was written."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"journal: {reason}: {path}")
        self.reason = reason


def _code(error: BaseException) -> int | None:
    code = getattr(error, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def _unusable(path: str, error: BaseException) -> JournalError:
    """The one-line reason a journal cannot be opened or read, with what to do about it."""
    code = _code(error)
    text = describe(error, 120)
    # The fix before the path: a narrow screen cuts the end of the line, and the path ends it whole.
    if code in _LOCKED:
        return JournalError(
            f"journal is locked by another program (still after {OPEN_WAIT_S:g} s): close it or wait for it, then "
            f"start again: {path}"
        )
    if code in _CORRUPT or "not a database" in text or "malformed" in text:
        return JournalError(
            f"journal is not a database (corrupt?): move it aside, Fluxum re-reads the history from Bybit: {path}"
        )
    if code in _CANNOT_OPEN or isinstance(error, PermissionError) or "readonly" in text:
        return JournalError(
            "journal is read-only (or its folder is): make both writable (chmod u+w), or pass --journal-dir "
            f"naming a writable folder: {path}"
        )
    if code == 13:
        return JournalError(f"journal cannot be written, the disk is full: free some space, then start again: {path}")
    return JournalError(f"journal cannot be used ({text}): move it aside, or pass --journal-dir: {path}")


def _loaded(blob: bytes) -> dict[str, Any] | None:
    """A journaled record, or None when its blob is not a JSON object."""
    try:
        record = orjson.loads(blob)
    except orjson.JSONDecodeError:
        return None
    return record if isinstance(record, dict) else None


def _quarantine_key(exec_id: str | None, blob: bytes) -> str:
    return exec_id if exec_id else "sha256:" + hashlib.sha256(blob).hexdigest()


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
        """Open (or create) the journal; :class:`JournalError` when the file cannot be used as one."""
        self.path = str(path)
        try:
            self._db = self._open()
        except (sqlite3.Error, OSError) as error:
            raise _unusable(self.path, error) from None

    def _open(self) -> sqlite3.Connection:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # Owner-only from the start, the -wal and -shm side files too (they hold the same records).
        with owner_only_creation():
            db = sqlite3.connect(self.path, isolation_level=None, timeout=OPEN_WAIT_S)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.executescript(_SCHEMA)
                # Every page, once: a truncated or damaged file is named here, not half-way through a replay.
                (verdict,) = db.execute("PRAGMA quick_check(1)").fetchone()
                if verdict != "ok":
                    raise sqlite3.DatabaseError(f"database disk image is malformed: {verdict}")
                db.execute(f"PRAGMA busy_timeout = {int(BUSY_WAIT_S * 1000)}")
            except BaseException:
                db.close()
                raise
        restrict_sqlite_files(self.path)
        return db

    def _failed(self, error: sqlite3.Error) -> JournalError:
        """What a failed statement means: a write that may work later, or a file that cannot be used."""
        reason = _PASSING.get(_code(error) or 0)
        if reason is not None:
            return JournalUnwritable(self.path, reason)
        return _unusable(self.path, error)

    def _write(self, statements: Iterable[tuple[str, tuple[Any, ...]]]) -> list[int]:
        """Run ``statements`` in one transaction; the row count of each. All or nothing."""
        db = self._db
        counts = []
        try:
            db.execute("BEGIN IMMEDIATE")
            for sql, parameters in statements:
                counts.append(db.execute(sql, parameters).rowcount)
            db.execute("COMMIT")
        except sqlite3.Error as error:
            self._roll_back()
            raise self._failed(error) from None
        except BaseException:
            self._roll_back()
            raise
        return counts

    def _roll_back(self) -> None:
        """End a failed transaction, if SQLite has not already (it does on a full disk): the cause is reported."""
        if self._db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")

    def record(self, records: Iterable[dict[str, Any]], received_ms: int) -> list[dict[str, Any]]:
        """Commit the executions not seen before and return them, in the order given.

        Raises ``KeyError``/``ValueError`` for a record without ``execId``/``symbol``/``execTime`` before anything
        is written (the caller counts it as a rejected record), :class:`JournalUnwritable` when the write failed
        (nothing of the batch is written).
        """
        rows = []
        for record in records:
            exec_id = record["execId"]
            if not isinstance(exec_id, str) or not exec_id:
                raise ValueError("execId must be a non-empty string")
            row = (exec_id, str(record["symbol"]), int(record["execTime"]), str(record.get("execType") or "Trade"))
            rows.append((row, orjson.dumps(record), record))
        insert = "INSERT OR IGNORE INTO executions VALUES (?, ?, ?, ?, ?, ?)"
        counts = self._write((insert, (*row, blob, received_ms)) for row, blob, _ in rows)
        return [record for (_, _, record), count in zip(rows, counts, strict=True) if count == 1]

    def replay(self) -> Iterator[dict[str, Any]]:
        """Every journaled execution, by ``execTime`` (ties in the order Bybit's ids sort), read as it is consumed:
        a long journal is never all in memory at once. Consume it before writing again. A blob that is not a JSON
        object is skipped (see :meth:`rows` to learn which)."""
        for _, record in self.rows():
            if record is not None:
                yield record

    def rows(self) -> Iterator[tuple[str, dict[str, Any] | None]]:
        """``(execId, record)`` for every journaled execution in :meth:`replay`'s order; the record is None when
        its blob is not a JSON object (quarantine it)."""
        try:
            for exec_id, blob in self._db.execute("SELECT exec_id, record FROM executions ORDER BY exec_time, exec_id"):
                yield exec_id, _loaded(blob)
        except sqlite3.Error as error:
            raise self._failed(error) from None

    def arrived_since(self, received_ms: int) -> Iterator[tuple[str, dict[str, Any] | None]]:
        """``(execId, record)`` of the executions journaled (by any process) at or after ``received_ms`` (local
        clock), in :meth:`replay`'s order; the record None when its blob is not a JSON object."""
        query = "SELECT exec_id, record FROM executions WHERE received_ms >= ? ORDER BY exec_time, exec_id"
        try:
            for exec_id, blob in self._db.execute(query, (int(received_ms),)).fetchall():
                yield exec_id, _loaded(blob)
        except sqlite3.Error as error:
            raise self._failed(error) from None

    def quarantine(self, bad: Iterable[tuple[str | None, dict[str, Any] | None, str]], moved_ms: int) -> int:
        """Move records that cannot be read or applied out of the executions into ``quarantine`` (kept for a person
        to inspect, never replayed): ``(execId, record, reason)``, the record None to keep the journaled blob.
        A record never journaled (a REST record) is kept the same way. Returns how many were newly kept."""
        statements: list[tuple[str, tuple[Any, ...]]] = []
        for exec_id, record, reason in bad:
            journaled = exec_id is not None and record is None
            if journaled:
                found = self._db.execute("SELECT record FROM executions WHERE exec_id = ?", (exec_id,)).fetchone()
                if found is None:
                    continue
                blob = bytes(found[0])
            else:
                blob = orjson.dumps(record, default=repr)
            key = _quarantine_key(exec_id if journaled else None, blob)
            statements.append(
                (
                    "INSERT OR IGNORE INTO quarantine VALUES (?, ?, ?, ?, ?)",
                    (key, exec_id, blob, reason[:500], moved_ms),
                )
            )
            if journaled:  # a bad copy read elsewhere must not take a good journaled one with it
                statements.append(("DELETE FROM executions WHERE exec_id = ?", (exec_id,)))
        counts = self._write(statements)
        return sum(count for (sql, _), count in zip(statements, counts, strict=True) if sql.startswith("INSERT"))

    def quarantined(self) -> list[tuple[str, str | None, bytes, str]]:
        """``(key, execId, record blob, reason)`` of every quarantined record."""
        return [
            (key, exec_id, bytes(blob), reason)
            for key, exec_id, blob, reason in self._db.execute("SELECT key, exec_id, record, reason FROM quarantine")
        ]

    def exec_ids(self) -> set[str]:
        return {exec_id for (exec_id,) in self._db.execute("SELECT exec_id FROM executions")}

    def last_exec_time_ms(self) -> int | None:
        """Time of the newest journaled execution: the REST backfill starts there."""
        (value,) = self._db.execute("SELECT MAX(exec_time) FROM executions").fetchone()
        return None if value is None else int(value)

    def complete_until_ms(self) -> int | None:
        """Every execution with an ``execTime`` up to this (exchange ms) is journaled; None if never known.

        Kept across processes, so a session killed mid-backfill restarts its backfill from what was
        really complete, not from the newest live push it happened to journal.
        """
        try:
            row = self._db.execute("SELECT value FROM marks WHERE name = 'complete_until_ms'").fetchone()
        except sqlite3.Error as error:
            raise self._failed(error) from None
        return None if row is None else int(row[0])

    def mark_complete_until(self, ms: int) -> None:
        """Record that history is complete up to ``ms``; the mark only ever moves forward."""
        self._write(
            [
                (
                    "INSERT INTO marks VALUES ('complete_until_ms', ?) "
                    "ON CONFLICT(name) DO UPDATE SET value = MAX(value, excluded.value)",
                    (int(ms),),
                )
            ]
        )

    def __len__(self) -> int:
        (count,) = self._db.execute("SELECT COUNT(*) FROM executions").fetchone()
        return int(count)

    def close(self) -> None:
        self._db.close()
