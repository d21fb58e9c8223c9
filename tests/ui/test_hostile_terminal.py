"""What a hostile exchange can make the dashboard write to a real terminal: nothing but inert text.

The desk runs in a pseudo-terminal of a fixed size (``tests/ui/hostile_terminal.py``); every byte it writes
is read and searched for OSC window-title, hyperlink and clipboard sequences, C1 and bidi controls and BEL.
The hostile strings must still be on screen, disarmed (their printable remainder is in the bytes).
"""

from __future__ import annotations

import fcntl
import os
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from tests.ui.hostile import terminal_escapes

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]
SIZE = (140, 44)
DEADLINE_S = 90.0


def run_in_terminal(*args: str) -> tuple[int, bytes]:
    """Run ``python -m tests.ui.hostile_terminal ARGS`` on a pseudo-terminal; its exit status and output."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", SIZE[1], SIZE[0], 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "PYTHONPATH": str(ROOT), "COLUMNS": "", "LINES": ""}
    env.pop("NO_COLOR", None)
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.ui.hostile_terminal", *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    output = bytearray()
    deadline = time.monotonic() + DEADLINE_S
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the child closed its side
                    break
                if not chunk:
                    break
                output += chunk
            elif child.poll() is not None:
                break
    finally:
        if child.poll() is None:
            child.kill()
        status = child.wait(10)
        os.close(master)
    return status, bytes(output)


def test_a_scripted_hostile_desk_writes_no_terminal_control() -> None:
    status, output = run_in_terminal("scripted")
    assert status == 0, output[-3000:].decode("utf-8", "replace")
    assert not terminal_escapes(output), terminal_escapes(output)[:10]
    # The hostile text was drawn, disarmed: the clipboard payload, the title, the markup, all as plain text.
    for shown in (b"]52;c;cm0gLXJmIH4=", b"]0;pwned", b"X[/]", b"[link=https://evil.example/]"):
        assert shown in output, shown


def test_a_hostile_exchange_writes_no_terminal_control(tmp_path: Path) -> None:
    """The issue's probe: a wallet push whose coin writes the clipboard, an auth rejection that sets the title."""
    status, output = run_in_terminal("live", str(tmp_path))
    assert status == 0, output[-3000:].decode("utf-8", "replace")
    assert not terminal_escapes(output), terminal_escapes(output)[:10]
    for shown in (b"EVIL\xef\xbf\xbd]52;c;cm0gLXJmIH4=", b"account down: API key rejected", b"X[/]"):
        assert shown in output, shown
    print(f"\n{len(output):,} bytes written to the terminal, no control from the exchange among them")
