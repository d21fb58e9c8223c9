"""The signals that ask a front end to stop: SIGTERM (a service manager, ``kill``), SIGHUP (the terminal went
away) and SIGINT (Ctrl-C where it is a signal). Each front end answers them as its own quit does: the desk as
``q`` (the session stopped, the journal closed, the terminal restored), ``fluxum monitor`` and ``fluxum sim`` as
Ctrl-C, and each exits 0, as a requested stop. A repeated signal while stopping changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator

__all__ = ["STOP_SIGNALS", "on_stop_signals"]

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


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
