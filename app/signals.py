"""The signals that ask a front end to stop: SIGTERM (a service manager, ``kill``), SIGHUP (the terminal went
away) and SIGINT (Ctrl-C where it is a signal). Each front end answers them as its own quit does: the desk as
``q`` (the session stopped, the journal closed, the terminal restored), ``fluxum monitor`` and ``fluxum sim`` as
Ctrl-C, and each exits 0, as a requested stop. A repeated signal while stopping changes nothing.

A desk ``fluxum serve`` started for a browser tab has no terminal to hang up: it is told its server's pid
(:data:`SERVER_PID`) and is the server's own child, so a server that is gone shows as a new parent.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Iterator, Mapping

__all__ = ["SERVER_PID", "STOP_SIGNALS", "on_stop_signals", "server_gone"]

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)

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
    """Call ``stop(signum)`` on the running loop for each of :data:`STOP_SIGNALS` while the block runs.

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
    try:
        yield
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
