"""``fluxum bybit ledger`` over files that are long, hostile or not files at all, and the files it writes: input
read with bounded memory (a line at a time, a capped document, nothing but a regular file), output owner-only."""

from __future__ import annotations

import os
import stat
import tracemalloc
from pathlib import Path

import orjson
import pytest

from bench.ledger_file import stream_records
from exchange.bybit import executions
from exchange.bybit.executions import MAX_LINE_BYTES
from exchange.fill_sort import FillSorter
from tests.support.ledger_cli import EXECUTIONS, run_ledger, write_file


def test_csv_file_is_owner_only_even_over_an_existing_readable_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The CSV holds the account's money, as the 0600 journal does: it is created owner-only whatever the umask,
    and a file that group or others could read is replaced by an owner-only one."""
    fresh, existing = tmp_path / "fresh.csv", tmp_path / "existing.csv"
    existing.write_text("old\n")
    existing.chmod(0o644)
    previous = os.umask(0o022)
    try:
        for target in (fresh, existing):
            code, _, err = run_ledger(capsys, "--from-file", str(EXECUTIONS), "--csv", str(target))
            assert (code, err) == (0, "")
            assert stat.S_IMODE(target.stat().st_mode) == 0o600, target
            assert target.read_text().startswith("symbol,pnl,")
    finally:
        os.umask(previous)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["existing.csv", "fresh.csv"]  # no temporary left


def test_csv_through_a_symbolic_link_replaces_the_file_it_points_to(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    real = tmp_path / "real.csv"
    real.write_text("old\n")
    link = tmp_path / "latest.csv"
    link.symlink_to(real)
    code, _, _ = run_ledger(capsys, "--from-file", str(EXECUTIONS), "--csv", str(link))
    assert code == 0
    assert link.is_symlink() and real.read_text().startswith("symbol,pnl,")
    assert stat.S_IMODE(real.stat().st_mode) == 0o600


@pytest.mark.parametrize("hops", [1, 2])
def test_csv_through_a_symbolic_link_of_another_user_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hops: int
) -> None:
    """A link another user planted (``/tmp/ledger.csv`` -> the victim's ``~/.bashrc``) is not followed: the kernel
    refuses such a link to ``>`` in a shared folder (protected_symlinks), and resolving it in Python would not."""
    real = tmp_path / "victim.rc"
    real.write_text("keep me\n")
    link = tmp_path / "ledger.csv"
    target = real
    for hop in range(hops - 1):
        middle = tmp_path / f"middle-{hop}"
        middle.symlink_to(target)
        target = middle
    link.symlink_to(target)
    someone_else = os.geteuid() + 1  # the links are ours; the command runs as another user
    monkeypatch.setattr(os, "geteuid", lambda: someone_else)
    code, _, err = run_ledger(capsys, "--from-file", str(EXECUTIONS), "--csv", str(link))
    assert code == 2 and "symbolic link" in err and "\n" not in err.rstrip("\n"), err
    assert real.read_text() == "keep me\n"


# ------------------------------------------------------------------ input that never ends, or is too long


@pytest.mark.timeout(30)
def test_what_is_not_a_regular_file_is_refused_at_once(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """/dev/zero never ends (it grew without limit), a FIFO nobody writes never starts: one line, exit 2."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path, kind in (("/dev/zero", "a device"), (str(fifo), "a FIFO"), (str(tmp_path), "a directory")):
        code, out, err = run_ledger(capsys, "--from-file", path)
        assert (code, out) == (2, "")
        assert err == f"fluxum: cannot read {path}: it is {kind}, not a regular file (save the executions first)\n"


def test_a_json_line_over_the_cap_is_refused_naming_it(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    first = EXECUTIONS.read_text().splitlines()[0]
    path = write_file(tmp_path, "long.jsonl", first + "\n" + '{"execId":"' + "x" * MAX_LINE_BYTES + '"}\n' + first)
    code, out, err = run_ledger(capsys, "--from-file", path)
    assert (code, out) == (2, "")
    assert err == f"fluxum: {path} line 2 is longer than 1 MB: not an execution record\n"


def test_a_json_document_over_the_cap_asks_for_json_lines(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(executions, "MAX_DOCUMENT_BYTES", 1000)
    records = [orjson.loads(line) for line in EXECUTIONS.read_text().splitlines()]
    path = write_file(tmp_path, "list.json", orjson.dumps(records, option=orjson.OPT_INDENT_2).decode())
    code, out, err = run_ledger(capsys, "--from-file", path)
    assert (code, out) == (2, "")
    assert err.startswith(f"fluxum: {path} is one JSON document over 0 MB: save it as JSON lines")
    assert err.count("\n") == 1


def test_newest_first_gives_the_same_ledger_as_oldest_first(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Bybit lists executions newest first: the fold still applies them in the exchange's order."""
    lines = EXECUTIONS.read_text().splitlines()
    reversed_path = write_file(tmp_path, "newest-first.jsonl", "\n".join(reversed(lines)) + "\n")
    _, oldest, _ = run_ledger(capsys, "--from-file", str(EXECUTIONS), "--csv", "-")
    _, newest, _ = run_ledger(capsys, "--from-file", reversed_path, "--csv", "-")
    assert newest == oldest and oldest.count("\n") == 7


@pytest.mark.slow
def test_a_long_history_is_read_and_sorted_with_bounded_memory(tmp_path: Path) -> None:
    """40,000 executions newest first: reading and sorting them peaks far below holding every fill (~60 MB here):
    lines are read one at a time and the sort spills to SQLite's temporary file. (The fold that follows keeps the
    ledger's bounded history; the CSV rows are written as they come.)"""
    path = tmp_path / "long.jsonl"
    records = list(stream_records(40_000, 3))
    with path.open("wb") as file:
        for record in reversed(records):
            file.write(orjson.dumps(record) + b"\n")
    del records
    tracemalloc.start()
    try:
        with FillSorter() as sorter:
            sorter.add(executions.read_fills(path))
            _, peak = tracemalloc.get_traced_memory()
            order = [fill.exec_id for batch in sorter.batches(size=1000) for fill in batch]
    finally:
        tracemalloc.stop()
    assert peak < 10 * 2**20, f"peak {peak / 2**20:.1f} MB"
    assert order == [record["execId"] for record in stream_records(40_000, 3)]  # oldest first again


def test_csv_to_a_device_is_written_in_place(capsys: pytest.CaptureFixture[str]) -> None:
    """A target that is not a regular file (/dev/null, /dev/stdout, a FIFO) is written to, never replaced."""
    code, out, err = run_ledger(capsys, "--from-file", str(EXECUTIONS), "--csv", "/dev/null")
    assert (code, err) == (0, "")
    assert out == "wrote 6 ledger rows for 2 symbols to /dev/null\n"
    assert Path("/dev/null").is_char_device()
