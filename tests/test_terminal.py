"""The desk's terminal driver on a real pseudo-terminal: keys reach the app, and once the terminal hangs up the input
thread ends instead of reading the ended input again and again at full speed (a core at 100 % for as long as the
process lived). The hang-up quitting the desk is tested end to end in tests/reliability/test_stop_signals.py."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pty
import signal
import tty
from collections.abc import AsyncIterator, Iterator
from typing import Any

from textual import events

from app.terminal import HangupSafeDriver
from tests.support.waiting import DEADLINE_S, until


class KeysTaken:
    """The app as the driver sees it: what it posts is kept."""

    def __init__(self) -> None:
        self.keys: list[str] = []

    async def _post_message(self, message: Any) -> bool:
        if isinstance(message, events.Key):
            self.keys.append(message.key)
        return True


@contextlib.contextmanager
def driver_on(app: KeysTaken, fd: int) -> Iterator[HangupSafeDriver]:
    """The driver reading ``fd``; the job-control handlers it installs are put back afterwards."""
    kept = {signum: signal.getsignal(signum) for signum in (signal.SIGTSTP, signal.SIGCONT)}
    try:
        driver = HangupSafeDriver(app)
        driver.fileno = fd
        yield driver
    finally:
        for signum, handler in kept.items():
            signal.signal(signum, handler)


class Terminal:
    """A pseudo-terminal in raw mode (each key as it is typed, as the driver sets its terminal); closing
    ``master`` is the terminal hanging up."""

    def __init__(self) -> None:
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)

    def hang_up(self) -> None:
        os.close(self.master)
        self.master = -1

    def close(self) -> None:
        os.close(self.slave)
        if self.master >= 0:
            os.close(self.master)


@contextlib.asynccontextmanager
async def input_thread() -> AsyncIterator[tuple[Terminal, KeysTaken, asyncio.Task[None]]]:
    """The driver's input thread reading a fresh terminal, and what it posts to the app; ended on the way out."""
    terminal, app = Terminal(), KeysTaken()
    try:
        with driver_on(app, terminal.slave) as driver:
            reading = asyncio.create_task(asyncio.to_thread(driver.run_input_thread))
            try:
                yield terminal, app, reading
            finally:
                driver.exit_event.set()  # a thread still reading ends at its next look
                await reading
    finally:
        terminal.close()


async def test_keys_reach_the_app_and_the_input_ends_when_the_terminal_hangs_up() -> None:
    async with input_thread() as (terminal, app, reading):
        os.write(terminal.master, b"q")
        await until(lambda: app.keys == ["q"], what="the key q reached the app")
        terminal.hang_up()  # the slave reads EOF from now on
        ended, _ = await asyncio.wait({reading}, timeout=DEADLINE_S)
        assert ended, "the input thread still reads a terminal that hung up"


async def test_a_byte_that_is_not_utf8_does_not_end_the_input() -> None:
    """A stray byte (a paste from a Latin-1 terminal) is replaced: the keys after it still reach the app, where a
    strict decoder would raise in the input thread and Textual would end the desk with a crash report."""
    async with input_thread() as (terminal, app, reading):
        os.write(terminal.master, b"\xffq")
        await until(lambda: "q" in app.keys or reading.done(), what="the key q after the stray byte")
        assert not reading.done(), "the input thread ended on a byte that is not UTF-8"
        assert app.keys[-1] == "q"
