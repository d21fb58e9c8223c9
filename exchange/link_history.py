"""The link history: every state transition, book resync, stale stream, alert and notice, kept in SQLite.

One file beside the fills journal (per environment, account and category), owner-only, WAL, pruned of rows older
than the retention when opened and once a day while it runs. Each process that writes is a *run* (its start time
in ms); the run's last sign of life is kept in ``runs`` (refreshed every minute and at a clean stop), so the
figures in :mod:`exchange.link_figures` can tell a gap with no Fluxum running (unknown) from an outage (down).

Writes are cheap and never fail the caller: rows are buffered and committed in one transaction per flush, and a
write that fails (disk full, read-only file) is counted and logged once. Rows read back are untrusted: a row with
the wrong types is counted and skipped; strings are for :func:`exchange.printable.printable` before display.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from exchange.private_file import owner_only_creation, restrict_sqlite_files

__all__ = [
    "DEFAULT_RETENTION_MS",
    "HistoryRow",
    "LinkHistory",
    "RunSpan",
    "history_path",
]

log = logging.getLogger(__name__)

DEFAULT_RETENTION_MS = 90 * 24 * 3600 * 1000
PRUNE_EVERY_MS = 86_400_000  # a running desk deletes what fell past the retention once a day, not only at start
TEXT_KEPT = 300  # a reason or notice is cut to this many characters: the raw detail, bounded

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id          INTEGER PRIMARY KEY,
    run_ms      INTEGER NOT NULL,
    time_ms     INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    subject     TEXT NOT NULL,
    state       TEXT NOT NULL,
    reason      TEXT NOT NULL,
    attempt     INTEGER NOT NULL,
    duration_ms INTEGER
);
CREATE INDEX IF NOT EXISTS events_by_time ON events (time_ms);
CREATE TABLE IF NOT EXISTS runs (
    run_ms   INTEGER PRIMARY KEY,
    alive_ms INTEGER NOT NULL
) WITHOUT ROWID;
"""

KINDS = ("link", "book", "stale", "alert", "notice", "coalesced")
"""``link``: a session state (``state`` is the LinkState's value); ``book``: a book's state (``subject`` the
symbol); ``stale``: a stream's stale period, written when it ends (``subject`` the topic); ``alert``: an alert
started (``state`` "on") or cleared ("off", with how long it lasted); ``notice``: a notice (``state`` its level);
``coalesced``: how many rows a flapping link had skipped (``attempt`` holds the count)."""


@dataclass(frozen=True)
class HistoryRow:
    """One recorded event. ``duration_ms``: how long the previous state (or the stale period, or the alert)
    lasted, when known."""

    time_ms: int
    kind: str
    subject: str = ""
    state: str = ""
    reason: str = ""
    attempt: int = 0
    duration_ms: int | None = None
    run_ms: int = 0


@dataclass(frozen=True)
class RunSpan:
    """One process's watch: from its start to its last sign of life."""

    run_ms: int
    alive_ms: int


def history_path(environment: str, account: str, category: str, base: Path | None = None) -> Path:
    """Where the link history of one environment, account and category lives: beside its fills journal
    (``account`` hashed as the journal does; a public-only desk uses ``"public"``)."""
    if base is None:
        from platformdirs import user_data_path

        base = user_data_path("fluxum", appauthor=False)
    digest = hashlib.sha256(account.encode()).hexdigest()[:12]
    return Path(base) / f"history-{environment}-{category}-{digest}.sqlite3"


def _clean(text: object) -> str:
    return str(text)[:TEXT_KEPT]


class LinkHistory:
    """The store: append rows (buffered), read them back, prune old ones."""

    def __init__(
        self,
        path: Path | str,
        *,
        now_ms: int,
        retention_ms: int = DEFAULT_RETENTION_MS,
        readonly: bool = False,
    ) -> None:
        self.path = str(path)
        self.run_ms = now_ms
        self.retention_ms = retention_ms
        self.write_failures = 0
        self.rejected_rows = 0  # rows read back with the wrong types
        self.written = 0
        self._pending: list[tuple[object, ...]] = []
        self._said_failure = False
        self._pruned_ms = now_ms
        self._db = self._open(readonly)
        if not readonly:
            self._guard(self._start_run, now_ms)

    def _open(self, readonly: bool) -> sqlite3.Connection:
        if readonly:
            uri = Path(self.path).resolve().as_uri() + "?mode=ro"
            return sqlite3.connect(uri, uri=True, isolation_level=None, timeout=0.5)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        with owner_only_creation():
            db = sqlite3.connect(self.path, isolation_level=None, timeout=0.5)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
        restrict_sqlite_files(self.path)
        return db

    def _start_run(self, now_ms: int) -> None:
        self._prune(self._db.cursor(), now_ms)
        self._db.execute("INSERT OR REPLACE INTO runs VALUES (?, ?)", (self.run_ms, now_ms))

    def _prune(self, cursor: sqlite3.Cursor, now_ms: int) -> None:
        """Delete what is older than the retention as of ``now_ms``."""
        cutoff = now_ms - self.retention_ms
        cursor.execute("DELETE FROM events WHERE time_ms < ?", (cutoff,))
        cursor.execute("DELETE FROM runs WHERE alive_ms < ?", (cutoff,))
        self._pruned_ms = now_ms

    # ------------------------------------------------------------------ writing

    def add(self, row: HistoryRow) -> None:
        """Buffer one row; :meth:`flush` commits it."""
        self._pending.append(
            (
                self.run_ms,
                int(row.time_ms),
                _clean(row.kind),
                _clean(row.subject),
                _clean(row.state),
                _clean(row.reason),
                int(row.attempt),
                None if row.duration_ms is None else int(row.duration_ms),
            )
        )

    def record_alert(self, time_ms: int, rule: str, active: bool, text: str, lasted_ms: int | None = None) -> None:
        """An alert started (``active``) or cleared (with how long it lasted)."""
        self.add(HistoryRow(time_ms, "alert", rule, "on" if active else "off", text, 0, lasted_ms))

    def record_notice(self, time_ms: int, level: str, text: str) -> None:
        """A notice told to the user."""
        self.add(HistoryRow(time_ms, "notice", "", level, text))

    def flush(self, alive_ms: int | None = None) -> None:
        """Commit what is buffered (and the run's sign of life); a failure is counted, never raised."""
        rows, self._pending = self._pending, []
        if not rows and alive_ms is None:
            return
        self._guard(self._commit, rows, alive_ms)

    def _commit(self, rows: list[tuple[object, ...]], alive_ms: int | None) -> None:
        cursor = self._db.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        try:
            cursor.executemany(
                "INSERT INTO events (run_ms, time_ms, kind, subject, state, reason, attempt, duration_ms) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            if alive_ms is not None:
                cursor.execute("UPDATE runs SET alive_ms = MAX(alive_ms, ?) WHERE run_ms = ?", (alive_ms, self.run_ms))
                if alive_ms - self._pruned_ms >= PRUNE_EVERY_MS:  # a desk left running for months stays bounded
                    self._prune(cursor, alive_ms)
            cursor.execute("COMMIT")
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
        self.written += len(rows)

    def _guard(self, action: object, *args: object) -> None:
        try:
            action(*args)  # type: ignore[operator]
        except sqlite3.Error as error:
            self.write_failures += 1
            if not self._said_failure:
                self._said_failure = True
                log.warning("link history not written (%s): %s", self.path, error)

    @property
    def failure_said(self) -> bool:
        """True once a write failed (the recorder tells the user once)."""
        return self._said_failure

    # ------------------------------------------------------------------ reading

    def rows(self, since_ms: int = 0) -> list[HistoryRow]:
        """Committed rows from ``since_ms`` on, oldest first; a row with the wrong types is counted and skipped."""
        out: list[HistoryRow] = []
        query = (
            "SELECT time_ms, kind, subject, state, reason, attempt, duration_ms, run_ms FROM events "
            "WHERE time_ms >= ? ORDER BY time_ms, id"
        )
        for raw in self._db.execute(query, (since_ms,)):
            row = _row(raw)
            if row is None:
                self.rejected_rows += 1
            else:
                out.append(row)
        return out

    def runs(self, since_ms: int = 0) -> list[RunSpan]:
        """Every run whose watch reaches ``since_ms`` or later, oldest first."""
        out = []
        for run_ms, alive_ms in self._db.execute(
            "SELECT run_ms, alive_ms FROM runs WHERE alive_ms >= ? ORDER BY run_ms", (since_ms,)
        ):
            if isinstance(run_ms, int) and isinstance(alive_ms, int):
                out.append(RunSpan(run_ms, max(run_ms, alive_ms)))
            else:
                self.rejected_rows += 1
        return out

    def close(self, alive_ms: int | None = None) -> None:
        self.flush(alive_ms)
        self._db.close()


def _row(raw: tuple[object, ...]) -> HistoryRow | None:
    time_ms, kind, subject, state, reason, attempt, duration_ms, run_ms = raw
    if not (isinstance(time_ms, int) and isinstance(run_ms, int) and isinstance(attempt, int)):
        return None
    if not all(isinstance(text, str) for text in (kind, subject, state, reason)):
        return None
    if duration_ms is not None and not isinstance(duration_ms, int):
        return None
    return HistoryRow(
        time_ms,
        str(kind)[:TEXT_KEPT],
        str(subject)[:TEXT_KEPT],
        str(state)[:TEXT_KEPT],
        str(reason)[:TEXT_KEPT],
        attempt,
        duration_ms,
        run_ms,
    )
