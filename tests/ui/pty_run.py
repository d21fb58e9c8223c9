"""Run a test module's desk on a pseudo-terminal of a fixed size and keep every byte it writes: what a real
terminal would be sent is what the terminal tests judge."""

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

ROOT = Path(__file__).resolve().parents[2]
SIZE = (140, 44)
DEADLINE_S = 90.0


def run_in_terminal(module: str, *args: str, size: tuple[int, int] = SIZE) -> tuple[int, bytes]:
    """Run ``python -m MODULE ARGS`` on a pseudo-terminal of ``size`` (columns, rows), in colour; its exit status
    and everything it wrote (killed after :data:`DEADLINE_S`)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "PYTHONPATH": str(ROOT), "COLUMNS": "", "LINES": ""}
    env.pop("NO_COLOR", None)
    child = subprocess.Popen(
        [sys.executable, "-m", module, *args],
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
