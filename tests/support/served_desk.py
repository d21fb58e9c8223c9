"""``fluxum serve`` as a child process on a free loopback port: its URL, its output, and a clean stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.monitor_process import REPO, clean_environment

DEADLINE_S = 30.0  # a failure bound for a loaded machine, never a measurement
ANNOUNCED = "fluxum serve: the desk on "


@dataclass
class ServedDesk:
    process: subprocess.Popen[bytes]
    output: Path
    """Where its stdout and stderr go (a file: nothing to drain while a test drives a browser)."""
    url: str = ""
    """The page's address, as ``fluxum serve`` announced it."""

    def text(self) -> str:
        return self.output.read_text("utf-8", "replace")

    def children(self) -> list[int]:
        """The desks it runs, one per open tab (its child processes)."""
        task = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in task.read_text().split()] if task.exists() else []

    def stop(self) -> int:
        """SIGTERM, as a service manager stops it; its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(DEADLINE_S)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            raise AssertionError(f"fluxum serve did not stop within {DEADLINE_S:g} s of SIGTERM") from None

    def wait_for_url(self) -> str:
        """The URL from its first line (a child that never announces fails the test)."""
        deadline = time.monotonic() + DEADLINE_S
        while ANNOUNCED not in (text := self.text()):
            if self.process.poll() is not None:
                raise AssertionError(f"fluxum serve ended before announcing: {text!r}")
            if time.monotonic() > deadline:
                raise AssertionError(f"fluxum serve announced nothing within {DEADLINE_S:g} s: {text!r}")
            time.sleep(0.05)
        self.url = text.split(ANNOUNCED, 1)[1].split()[0]
        return self.url


@contextmanager
def served_desk(*args: str, cwd: Path) -> Iterator[ServedDesk]:
    """``fluxum serve --port 0 ARGS`` (the embedded exchange unless ARGS say otherwise), stopped on the way out.

    ``cwd`` is its working directory and holds its output; the user's directories already point into the test's
    own (conftest)."""
    output = cwd / "serve.out"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", "0", *args],
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=clean_environment(PYTHONPATH=str(REPO)),
            start_new_session=True,
        )
    desk = ServedDesk(process, output)
    try:
        desk.wait_for_url()
        yield desk
    finally:
        if process.poll() is None:
            desk.stop()
