"""The fills journal: committed before use, de-duplicated by execId, survives a killed process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

import exchange.journal as journal_module
from exchange.journal import Journal, JournalError, JournalUnwritable, journal_path


def execution(i: int, t: int | None = None) -> dict:
    return {
        "execId": f"e-{i:05d}",
        "symbol": "BTCUSDT",
        "execTime": str(t if t is not None else 1000 + i),
        "execType": "Trade",
        "side": "Buy",
        "execQty": "0.001",
        "execPrice": "60000.0",
        "execFee": "0.033",
    }


def test_record_returns_only_new_executions_and_replays_oldest_first(tmp_path):
    journal = Journal(tmp_path / "j.sqlite3")
    assert journal.record([execution(2), execution(1)], received_ms=5) == [execution(2), execution(1)]
    assert journal.record([execution(1), execution(3), execution(3)], received_ms=6) == [execution(3)]
    assert [r["execId"] for r in journal.replay()] == ["e-00001", "e-00002", "e-00003"]
    assert len(journal) == 3 and journal.last_exec_time_ms() == 1003
    assert journal.exec_ids() == {"e-00001", "e-00002", "e-00003"}


def test_a_bad_record_writes_nothing(tmp_path):
    journal = Journal(tmp_path / "j.sqlite3")
    with pytest.raises((KeyError, ValueError)):
        journal.record([execution(1), {"symbol": "X"}], received_ms=0)
    assert len(journal) == 0


def test_reopen_keeps_everything_and_the_file_is_owner_only(tmp_path):
    path = tmp_path / "j.sqlite3"
    Journal(path).record([execution(i) for i in range(10)], received_ms=0)
    again = Journal(path)
    assert len(again) == 10
    assert os.stat(path).st_mode & 0o077 == 0


def test_journal_path_is_per_environment_account_and_category_and_hides_the_key(tmp_path):
    a = journal_path("testnet", "KEY-ONE", "linear", tmp_path)
    b = journal_path("testnet", "KEY-TWO", "linear", tmp_path)
    c = journal_path("production", "KEY-ONE", "linear", tmp_path)
    d = journal_path("testnet", "KEY-ONE", "spot", tmp_path)  # a spot desk keeps its own fills and watermark
    assert len({a, b, c, d}) == 4
    assert "KEY" not in a.name and a.parent == tmp_path


@pytest.mark.integration
def test_committed_executions_survive_sigkill(tmp_path):
    """A writer killed with SIGKILL mid-burst loses nothing it committed."""
    path = tmp_path / "j.sqlite3"
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {os.getcwd()!r})
        from exchange.journal import Journal
        j = Journal({str(path)!r})
        for i in range(100000):
            j.record([{{"execId": f"e-{{i:06d}}", "symbol": "BTCUSDT", "execTime": str(i), "execType": "Trade"}}], 0)
            print(i, flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    acknowledged = -1
    assert proc.stdout is not None
    for line in proc.stdout:
        acknowledged = int(line)
        if acknowledged >= 300:
            break
    proc.kill()
    proc.wait()
    journal = Journal(path)
    ids = journal.exec_ids()
    assert all(f"e-{i:06d}" in ids for i in range(acknowledged + 1)), "an acknowledged fill was lost"
    assert len(ids) == len(journal)


def test_completeness_watermark_only_moves_forward_and_survives_reopen(tmp_path):
    path = tmp_path / "j.sqlite3"
    journal = Journal(path)
    assert journal.complete_until_ms() is None
    journal.mark_complete_until(5_000)
    journal.mark_complete_until(3_000)
    assert journal.complete_until_ms() == 5_000
    journal.close()
    assert Journal(path).complete_until_ms() == 5_000


def test_side_files_are_owner_only_too(tmp_path):
    path = tmp_path / "j.sqlite3"
    journal = Journal(path)
    journal.record([execution(1)], received_ms=0)
    for suffix in ("", "-wal", "-shm"):
        side = tmp_path / f"j.sqlite3{suffix}"
        if side.exists():
            assert os.stat(side).st_mode & 0o077 == 0, side.name


# ------------------------------------------------------------------ records that cannot be used, files that cannot


def _raw_insert(path, exec_id: str, blob: bytes, exec_time: int = 1500) -> None:
    """Journal a blob as it is, bypassing the parser (what an older Fluxum, or a bad disk, may have left)."""
    import sqlite3

    db = sqlite3.connect(path)
    with db:
        db.execute(
            "INSERT INTO executions VALUES (?, 'BTCUSDT', ?, 'Trade', ?, 0)",
            (exec_id, exec_time, blob),
        )
    db.close()


def _account(journal):
    from collections import Counter

    from exchange.account_state import AccountState
    from exchange.book import OrderBook
    from exchange.desk import Desk
    from exchange.hub import EventHub

    desk = Desk(environment="SIM", category="linear", symbols=["BTCUSDT"], books={"BTCUSDT": OrderBook()})
    hub = EventHub()
    notices = hub.subscribe(name="test")
    account = AccountState(desk, hub, Counter(), journal, "mark", reread=lambda: None)
    return account, notices


def _notices(subscription) -> list[str]:
    from exchange.events import Notice

    events = []
    while (event := subscription.get_nowait()) is not None:
        events.append(event)
    return [event.text for event in events if isinstance(event, Notice)]


def test_journaled_records_that_cannot_be_read_or_applied_are_quarantined_and_the_start_goes_on(tmp_path):
    path = tmp_path / "j.sqlite3"
    journal = Journal(path)
    journal.record([execution(i) for i in range(6)], received_ms=0)
    journal.close()
    overflow = {**execution(100, 1003), "execPrice": "1E+999999999"}  # decimal.Overflow in the ledger's products
    _raw_insert(path, overflow["execId"], orjson.dumps(overflow), 1003)
    _raw_insert(path, "e-not-json", b"\x00{not json", 1004)
    _raw_insert(path, "e-a-list", b"[1, 2]", 1005)

    for start in range(2):  # and again: the quarantined records are out of the way for good
        journal = Journal(path)
        account, subscription = _account(journal)
        account.replay_journal()
        entry = account.ledger.entry("BTCUSDT")
        assert entry is not None and entry.position == Decimal("0.006")  # the six good fills, nothing else
        assert account.counters["journal_replayed"] == 6
        texts = _notices(subscription)
        if start == 0:
            assert account.counters["journal_quarantined"] == 3
            assert len(texts) == 1 and "quarantine" in texts[0] and str(path) in texts[0], texts
            assert "\n" not in texts[0]
        else:
            assert account.counters["journal_quarantined"] == 0 and texts == []
        assert len(journal) == 6
        kept = {exec_id: (blob, reason) for _, exec_id, blob, reason in journal.quarantined()}
        assert set(kept) == {overflow["execId"], "e-not-json", "e-a-list"}
        assert kept["e-not-json"][0] == b"\x00{not json"  # kept as it was, for a person to inspect
        assert orjson.loads(kept[overflow["execId"]][0]) == overflow
        assert all(reason for _, reason in kept.values())
        journal.close()


def test_a_full_disk_is_a_passing_write_failure_and_rolls_back_cleanly(tmp_path):
    from exchange.journal import JournalUnwritable

    journal = Journal(tmp_path / "j.sqlite3")
    journal.record([execution(0)], received_ms=0)
    journal._db.execute("PRAGMA max_page_count = 1")  # as full as it is now: the next page cannot be had
    big = [{**execution(i), "pad": "x" * 3000} for i in range(1, 40)]
    with pytest.raises(JournalUnwritable) as failure:
        journal.record(big, received_ms=0)
    assert failure.value.reason == "disk full" and not journal._db.in_transaction
    assert len(journal) == 1  # nothing of the batch
    journal._db.execute("PRAGMA max_page_count = 1000000")
    assert len(journal.record(big, received_ms=0)) == len(big)


@pytest.mark.parametrize("damage", ["random bytes", "truncated"])
def test_a_corrupt_or_truncated_journal_is_one_line_naming_the_file_and_the_fix(tmp_path, damage):
    from exchange.journal import JournalError

    path = tmp_path / "j.sqlite3"
    if damage == "random bytes":
        path.write_bytes(os.urandom(65536))
    else:
        whole = Journal(tmp_path / "whole.sqlite3")
        for start in range(0, 4000, 500):
            whole.record([{**execution(i), "pad": "y" * 200} for i in range(start, start + 500)], received_ms=0)
        whole.close()
        data = (tmp_path / "whole.sqlite3").read_bytes()
        path.write_bytes(data[: len(data) // 2])
    with pytest.raises(JournalError) as failure:
        Journal(path)
    message = str(failure.value)
    assert "\n" not in message and str(path) in message
    assert "not a database" in message and "move it aside" in message


def test_a_desk_reads_history_from_its_own_mark_not_from_one_another_desk_moved(tmp_path):
    """Both desks lose the link; fills happen; A comes back first, journals them by its backfill and marks the
    journal complete past them. B, back second, must still read them: from where *its* ledger is complete."""
    path = tmp_path / "j.sqlite3"
    a, _ = _account(Journal(path))
    b, _ = _account(Journal(path))
    for desk in (a, b):
        desk.replay_journal()
        desk.start_recovery()
        desk.take_history([execution(1, 900)], asked_at_ms=1_000)
        desk.finish_recovery()
    while_away = [execution(2, 1_500), execution(3, 1_600)]
    a.start_recovery()
    a.take_history(while_away, asked_at_ms=2_000)  # A's backfill: the journal is complete until 2000
    b.start_recovery()
    assert b.backfill_from_ms == 1_000  # not 2000: B's ledger has never seen the fills of 1500 and 1600
    listed = [r for r in [execution(1, 900), *while_away] if int(r["execTime"]) >= b.backfill_from_ms]  # REST
    b.take_history(listed, asked_at_ms=2_100)
    assert b.ledger.entry("BTCUSDT").position == a.ledger.entry("BTCUSDT").position == Decimal("0.003")


def test_a_desk_applies_the_fills_another_desk_journaled_that_its_own_stream_missed(tmp_path):
    path = tmp_path / "j.sqlite3"
    a, _ = _account(Journal(path))
    b, _ = _account(Journal(path))
    for desk in (a, b):
        desk.replay_journal()
    a.take_executions([execution(1), execution(2)], backfilled=False)  # B's stream never delivered these
    b.tail_journal()
    entry = b.ledger.entry("BTCUSDT")
    assert entry is not None and entry.position == Decimal("0.002") and b.counters["journal_tailed"] == 2
    b.tail_journal()  # seen: nothing twice
    assert b.ledger.entry("BTCUSDT").position == Decimal("0.002") and b.counters["journal_tailed"] == 2


@pytest.mark.integration
def test_a_bad_execution_read_over_rest_is_quarantined_and_the_backfill_goes_on(tmp_path):
    journal = Journal(tmp_path / "j.sqlite3")
    account, subscription = _account(journal)
    account.replay_journal()
    account.take_executions([execution(1)], backfilled=False)  # journaled from the stream, good
    bad_copy = {**execution(1), "execQty": "1E+999999999"}  # the same execId, garbled in a REST read
    overflow = {**execution(2), "execPrice": "1E+999999999"}
    account.start_recovery()
    for _ in range(2):  # a re-read meets the same records: kept once, said once
        account.take_history([bad_copy, overflow, execution(3)], asked_at_ms=5_000)
    account.finish_recovery()
    assert journal.exec_ids() == {"e-00001", "e-00003"}  # the good copy of e-00001 stays journaled
    assert {exec_id for _, exec_id, _, _ in journal.quarantined()} == {"e-00001", "e-00002"}
    assert journal.complete_until_ms() == 5_000 and account.history_complete
    assert account.ledger.entry("BTCUSDT").position == Decimal("0.002")
    texts = _notices(subscription)
    assert len(texts) == 1 and "quarantine" in texts[0], texts


_HOLD_LOCK = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA journal_mode=DELETE")
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("COMMIT")
"""


def _held_by_another_process(path: Path, seconds: float) -> subprocess.Popen[str]:
    """Another program holding an exclusive lock on the journal (a backup, a VACUUM, an older SQLite tool)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
    return holder


def test_a_journal_locked_for_a_few_seconds_by_another_process_is_opened_once_free(tmp_path: Path) -> None:
    """A start meeting a lock waits it out instead of failing with "cannot be used: move it aside"."""
    path = tmp_path / "journal.sqlite3"
    journal = Journal(path)
    journal.record([{"execId": "e1", "symbol": "BTCUSDT", "execTime": "1", "execType": "Trade"}], 1)
    journal.close()
    holder = _held_by_another_process(path, 2.0)
    try:
        journal = Journal(path)
        assert [record["execId"] for record in journal.replay()] == ["e1"]
        journal.close()
    finally:
        holder.wait(timeout=30)


def test_a_journal_locked_longer_than_the_start_waits_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Still locked after the wait: the one line names the lock and the file, and does not say to move a good
    journal aside."""
    monkeypatch.setattr(journal_module, "OPEN_WAIT_S", 0.3)
    path = tmp_path / "journal.sqlite3"
    holder = _held_by_another_process(path, 3.0)
    try:
        with pytest.raises(JournalError) as caught:
            Journal(path)
    finally:
        holder.wait(timeout=30)
    message = str(caught.value)
    assert "locked by another" in message and str(path) in message and "move it aside" not in message
    assert not isinstance(caught.value, JournalUnwritable)


def test_a_hostile_exec_id_in_the_journal_is_named_short_and_printable(tmp_path: Path) -> None:
    """The quarantine's notice quotes the record's execId: one with terminal controls and 10 kB is shown cut
    and disarmed (it reaches the toasts, the monitor's lines and the log), and kept whole in the quarantine."""
    path = tmp_path / "j.sqlite3"
    Journal(path).close()
    hostile = "\x1b]52;c;cm0gLXJmIH4=\x07\x9b2J\u202e[bold]" + "A" * 10_000
    overflow = {**execution(1), "execId": hostile, "execPrice": "1E+999999999"}
    _raw_insert(path, hostile, orjson.dumps(overflow), 1001)
    journal = Journal(path)
    account, subscription = _account(journal)
    account.replay_journal()
    (text,) = _notices(subscription)
    assert text.isprintable() and len(text) < 600, text[:300]
    assert [exec_id for _, exec_id, _, _ in journal.quarantined()] == [hostile]
    journal.close()
