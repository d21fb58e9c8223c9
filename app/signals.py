"""The signals that ask a front end to stop: SIGTERM (a service manager, ``kill``), SIGHUP (the terminal went
away) and SIGINT (Ctrl-C where it is a signal). Each front end answers them as its own quit does: the desk as
``q`` (the session stopped, the journal closed, the terminal restored), ``fluxum monitor`` and ``fluxum sim`` as
Ctrl-C, and each exits 0, as a requested stop. A repeated signal while stopping changes nothing.

The kernel sends SIGHUP to the terminal's session leader only. When that is a shell or ``make`` that waits for its
child (``make run`` in a tmux pane that closes), the front end gets no SIGHUP and would run on with no terminal, so
the terminal hanging up is answered as SIGHUP too.

A desk ``fluxum serve`` started for a browser tab has no terminal to hang up: it is told its server's pid
(:data:`SERVER_PID`) and is the server's own child, so a server that is gone shows as a new parent.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import signal
import threading
from collections.abc import Callable, Iterator, Mapping

__all__ = ["SERVER_PID", "STOP_SIGNALS", "on_stop_signals", "server_gone"]

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
_GONE = select.POLLHUP | select.POLLERR

SERVER_PID = "FLUXUM_SERVER_PID"
"""Set by ``fluxum serve`` in the environment of the desks it starts: its own pid."""


def server_gone(environ: Mapping[str, str] = os.environ) -> Callable[[], bool] | None:
    """For a desk ``fluxum serve`` started: whether that server is gone (this process has another parent now,
    even if it went before the desk looked); None for any other desk."""
    try:
        server = int(environ.get(SERVER_PID, ""))
    except ValueError:
        return None
    return lambda: os.getppid() != server


@contextlib.contextmanager
def on_stop_signals(stop: Callable[[int], None]) -> Iterator[None]:
    """Call ``stop(signum)`` on the running loop for each of :data:`STOP_SIGNALS` while the block runs, and
    ``stop(SIGHUP)`` when the controlling terminal hangs up.

    Nothing is installed off the main thread or where the loop cannot take signals; on the way out the default
    actions come back.
    """
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for signum in STOP_SIGNALS:
        try:
            loop.add_signal_handler(signum, stop, signum)
        except (NotImplementedError, RuntimeError, ValueError):  # not on this platform, not the main thread
            continue
        installed.append(signum)
    terminal = _terminal_fd() if signal.SIGHUP in installed else None
    watch = _HangupWatch(terminal, loop, lambda: stop(signal.SIGHUP)) if terminal is not None else None
    try:
        yield
    finally:
        if watch is not None:
            watch.close()
        for signum in installed:
            loop.remove_signal_handler(signum)


def _terminal_fd() -> int | None:
    """The first of stdin, stdout and stderr on this process's controlling terminal, the one whose hang-up sends
    SIGHUP; none for a process detached from it (``setsid``), which is meant to outlive it."""
    for fd in (0, 1, 2):
        try:
            os.tcgetpgrp(fd)
        except OSError:  # not a terminal, or not this process's controlling one
            continue
        return fd
    return None


class _HangupWatch:
    """A thread that waits for the terminal to hang up (asking for no input, so none is taken from the front end)
    and then calls ``hung_up`` on the loop, unless closed first."""

    def __init__(self, fd: int, loop: asyncio.AbstractEventLoop, hung_up: Callable[[], None]) -> None:
        self._loop = loop
        self._hung_up = hung_up
        self._watching = True
        self._wake, self._waker = os.pipe()
        self._thread = threading.Thread(target=self._watch, args=(fd,), name="fluxum-hangup-watch", daemon=True)
        self._thread.start()

    def _watch(self, fd: int) -> None:
        poller = select.poll()
        poller.register(fd, 0)  # no events asked for: POLLHUP, POLLERR and POLLNVAL come anyway
        poller.register(self._wake, select.POLLIN)
        ready = dict(poller.poll())
        if self._wake not in ready and ready.get(fd, 0) & _GONE:
            self._loop.call_soon_threadsafe(self._answer)

    def _answer(self) -> None:
        if self._watching:  # on the loop: the block may have ended since the thread saw the hang-up
            self._hung_up()

    def close(self) -> None:
        """Stop watching (on the loop's thread); no ``hung_up`` call comes after this."""
        self._watching = False
        os.write(self._waker, b"\0")
        self._thread.join()
        os.close(self._wake)
        os.close(self._waker)
