"""SIGTERM, SIGHUP and SIGINT stop the desk as ``q`` does, read from the bytes the real dashboard wrote to a
pseudo-terminal: the alternate screen left, mouse tracking off, the cursor shown, bracketed paste off, the journal
closed (no ``-wal`` left, readable by another process), exit 0 within seconds. A terminal that really hangs up
(its master closed) ends it the same way, also when the kernel's SIGHUP goes to a shell or ``make`` in between and
only the terminal itself tells. ``fluxum monitor`` and ``fluxum sim`` stop cleanly on each too.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import select
import shlex
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.cli import EXIT_READER_GONE

ROOT = Path(__file__).resolve().parents[2]
SIZE = (120, 40)
START_DEADLINE_S = 60.0
STOP_DEADLINE_S = 20.0
"""A deadline, not a measurement: the desk stops in well under a second (the session's stop, then Textual's)."""

RESTORED = {
    # what Textual's driver turns on -> what must follow it, last, in the bytes written
    b"\x1b[?1049h": b"\x1b[?1049l",  # alternate screen
    b"\x1b[?25l": b"\x1b[?25h",  # cursor hidden
    b"\x1b[?1000h": b"\x1b[?1000l",  # mouse tracking
    b"\x1b[?1003h": b"\x1b[?1003l",
    b"\x1b[?1015h": b"\x1b[?1015l",
    b"\x1b[?1006h": b"\x1b[?1006l",
    b"\x1b[?2004h": b"\x1b[?2004l",  # bracketed paste
    b"\x1b[?1004h": b"\x1b[?1004l",  # focus events
}


UNTOLD_LEADER = """
import signal, subprocess, sys
front_end = subprocess.Popen(sys.argv[1:])
signal.signal(signal.SIGHUP, signal.SIG_IGN)
status = front_end.wait()
sys.exit(status if status >= 0 else 128 - status)
"""
"""The terminal's session leader when that is not the front end itself, as a shell or ``make`` in between: the
kernel's SIGHUP goes to it alone, and it waits for the front end (as ``make`` does). The front end learns of the
hang-up from its terminal only. Its status is the front end's."""


def fluxum(*argv: str) -> list[str]:
    return [sys.executable, "-m", "app.cli", *argv]


def led(command: list[str], *, told: bool) -> list[str]:
    """``command`` as the terminal's session leader (told: the kernel's SIGHUP reaches it), or behind
    :data:`UNTOLD_LEADER`."""
    return command if told else [sys.executable, "-c", UNTOLD_LEADER, *command]


class Desk:
    """A ``fluxum`` front end (the dashboard on the embedded exchange unless told) in a pseudo-terminal of a fixed
    size, its output kept; ``argv`` is the whole command, run as the terminal's session leader."""

    def __init__(self, journal_dir: Path, argv: list[str] | None = None) -> None:
        self.journal_dir = journal_dir
        self.output = bytearray()
        self.status: int | None = None
        argv = argv or fluxum("--journal-dir", str(journal_dir))
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child
            os.environ["TERM"] = "xterm-256color"
            os.environ["PYTHONPATH"] = str(ROOT)
            os.chdir(ROOT)
            os.execvp(argv[0], argv)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", SIZE[1], SIZE[0], 0, 0))

    def read(self, until: bytes, timeout: float) -> bool:
        """Keep reading until ``until`` was written (True) or the deadline passed or the child ended (False)."""
        deadline = time.monotonic() + timeout
        while until not in self.output and time.monotonic() < deadline:
            if not self._read_once(0.1):
                return until in self.output
        return until in self.output

    def _read_once(self, wait: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], wait)
        if not ready:
            return True
        try:
            chunk = os.read(self.fd, 65536)
        except OSError:  # EIO: the child closed its side
            return False
        self.output += chunk
        return bool(chunk)

    def wait(self, timeout: float, *, reading: bool = True) -> int | None:
        """The exit status once the child ended within ``timeout`` (reading what it writes meanwhile), else None."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if reading:
                self._read_once(0.05)
            else:
                time.sleep(0.05)
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                self.status = os.waitstatus_to_exitcode(status)
                if reading:
                    while self._read_once(0.05) and select.select([self.fd], [], [], 0)[0]:
                        pass
                return self.status
        return None

    def close(self) -> None:
        if self.status is None:  # the session leader's process group holds the front end behind it too
            os.killpg(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        with contextlib.suppress(OSError):
            os.close(self.fd)


def assert_terminal_restored(output: bytes) -> None:
    assert output.count(b"\x1b[?1049h") >= 1, "the desk never entered the alternate screen"
    for turned_on, turned_off in RESTORED.items():
        assert output.rfind(turned_off) > output.rfind(turned_on), f"{turned_on!r} is not undone at the end"
    tail = output[output.rfind(b"\x1b[?1049l") :]
    assert b"\x1b[?25l" not in tail and b"\x1b[?1049h" not in tail  # nothing painted after leaving


def assert_journal_closed(journal_dir: Path) -> None:
    journals = sorted(journal_dir.glob("journal-*.sqlite3"))
    assert len(journals) == 1, sorted(p.name for p in journal_dir.iterdir())
    leftovers = [p.name for p in journal_dir.iterdir() if p.name.endswith(("-wal", "-shm"))]
    assert leftovers == [], f"the journal was not closed: {leftovers}"
    with sqlite3.connect(f"file:{journals[0]}?mode=ro", uri=True) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        db.execute("SELECT COUNT(*) FROM executions").fetchone()


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("signum", "when"),
    [
        (signal.SIGTERM, "ready"),
        (signal.SIGHUP, "ready"),
        (signal.SIGINT, "ready"),
        (signal.SIGTERM, "starting"),
    ],
)
def test_a_stop_signal_quits_the_desk_like_q(tmp_path: Path, signum: signal.Signals, when: str) -> None:
    desk = Desk(tmp_path)
    try:
        # "starting": as soon as the alternate screen is up (the exchange and the session still starting);
        # "ready": once the session says Ready on screen.
        mark = b"\x1b[?1049h" if when == "starting" else b"Ready"
        assert desk.read(mark, START_DEADLINE_S), bytes(desk.output[-2000:])
        os.kill(desk.pid, signum)
        status = desk.wait(STOP_DEADLINE_S)
        assert status == 0, f"status {status} after {signum.name}; {bytes(desk.output[-1500:])!r}"
        assert_terminal_restored(bytes(desk.output))
        assert b"Traceback" not in desk.output
        assert_journal_closed(tmp_path)
    finally:
        desk.close()


def _hangs_up(desk: Desk, ready: bytes) -> int | None:
    """Once ``ready`` is on screen, close the terminal (its master side): the kernel hangs it up and sends SIGHUP
    to its session leader; every read then ends (EOF) and every write fails (EIO). The status once it ended."""
    assert desk.read(ready, START_DEADLINE_S), bytes(desk.output[-2000:])
    os.close(desk.fd)
    desk.fd = os.open(os.devnull, os.O_RDONLY)  # closed: give close() something to close
    return desk.wait(STOP_DEADLINE_S, reading=False)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("told", [True, False], ids=["sighup", "terminal-only"])
def test_a_terminal_that_hangs_up_ends_the_desk_and_closes_the_journal(tmp_path: Path, told: bool) -> None:
    """The window closed. Told: the desk leads the terminal's session and gets the kernel's SIGHUP. Terminal-only:
    a shell in between takes the SIGHUP and waits, and only the terminal's end tells the desk."""
    desk = Desk(tmp_path, led(fluxum("--journal-dir", str(tmp_path)), told=told))
    try:
        status = _hangs_up(desk, b"Ready")
        assert status == 0, f"the desk did not end after the hang-up (status {status})"
        assert_journal_closed(tmp_path)
    finally:
        desk.close()


@pytest.mark.timeout(120)
@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_a_terminal_that_hangs_up_ends_the_desk_started_by_make(tmp_path: Path) -> None:
    """``make run`` in a terminal that closes: make leads the session, takes the SIGHUP and waits for its recipe
    before it dies of it, so make ends only once the desk did. The desk's status is not make's (make's is SIGHUP)."""
    journal_dir = tmp_path / "journal"
    journal_dir.mkdir()
    recipe = shlex.join(fluxum("--journal-dir", str(journal_dir)))
    (tmp_path / "Makefile").write_text(f"run:\n\t{recipe}\n")
    desk = Desk(journal_dir, ["make", "--no-print-directory", "-f", str(tmp_path / "Makefile"), "run"])
    try:
        status = _hangs_up(desk, b"Ready")
        assert status is not None, "make and the desk did not end after the hang-up"
        assert_journal_closed(journal_dir)
    finally:
        desk.close()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("told", [True, False], ids=["sighup", "terminal-only"])
@pytest.mark.parametrize(
    ("argv", "ready", "expected"),
    [
        (["monitor", "--no-demo-trader"], b"Ready", EXIT_READER_GONE),  # as when its output's reader left
        (["sim", "--port", "0", "--no-demo-trader"], b"fluxum sim: Bybit v5 at ", 0),
    ],
    ids=["monitor", "sim"],
)
def test_a_terminal_that_hangs_up_ends_the_line_front_ends(
    tmp_path: Path, told: bool, argv: list[str], ready: bytes, expected: int
) -> None:
    command = fluxum(*argv, *(["--journal-dir", str(tmp_path)] if argv[0] == "monitor" else []))
    desk = Desk(tmp_path, led(command, told=told))
    try:
        status = _hangs_up(desk, ready)
        assert status == expected, f"{argv[0]} did not end as expected after the hang-up (status {status})"
        if argv[0] == "monitor":
            assert_journal_closed(tmp_path)
    finally:
        desk.close()


@contextlib.contextmanager
def _command(argv: list[str]) -> Iterator[subprocess.Popen[str]]:
    """``fluxum ARGV`` running, its output piped; killed on the way out if it is still running."""
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", *argv],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _until_printed(process: subprocess.Popen[str], text: str, what: str) -> None:
    """Read the command's output until a line holds ``text``; fail if it ends or the start deadline passes."""
    assert process.stdout is not None
    deadline = time.monotonic() + START_DEADLINE_S
    while text not in (line := process.stdout.readline()):
        assert line and time.monotonic() < deadline, what


def _stops_cleanly(process: subprocess.Popen[str], signum: signal.Signals) -> None:
    """On ``signum`` the command ends with status 0 within the deadline, no traceback."""
    process.send_signal(signum)
    assert process.wait(STOP_DEADLINE_S) == 0
    assert process.stderr is not None and "Traceback" not in process.stderr.read()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_the_monitor_stops_cleanly_on_a_stop_signal(tmp_path: Path, signum: signal.Signals) -> None:
    with _command(["monitor", "--journal-dir", str(tmp_path), "--no-demo-trader"]) as process:
        _until_printed(process, "Ready", "the monitor did not become Ready")
        _stops_cleanly(process, signum)
    assert_journal_closed(tmp_path)


@pytest.mark.timeout(60)
def test_the_local_exchange_stops_cleanly_on_sighup() -> None:
    with _command(["sim", "--port", "0", "--no-demo-trader"]) as process:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("fluxum sim: Bybit v5 at ")
        _stops_cleanly(process, signal.SIGHUP)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_the_plain_text_order_book_stops_cleanly_on_a_stop_signal(signum: signal.Signals) -> None:
    """``fluxum bybit order-book`` answers a stop signal as Ctrl-C: the session and the local exchange stop, the
    status is 0, no traceback (the default action killed it mid-write, status -15)."""
    with _command(["bybit", "order-book", "--symbol", "BTCUSDT", "--depth", "3"]) as process:
        _until_printed(process, "BTCUSDT", "the order book never drew")
        _stops_cleanly(process, signum)
