"""The fills journal: committed before use, de-duplicated by execId, survives a killed process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from exchange.journal import Journal, journal_path


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
