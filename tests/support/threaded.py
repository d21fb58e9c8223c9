"""A server on its own event loop in a daemon thread, as a separate process would run it, for tests whose code
under test runs its own loop (``app.cli.main``)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import pytest

T = TypeVar("T")


@contextmanager
def served_in_thread(
    start: Callable[[], Awaitable[T]], stop: Callable[[T], Awaitable[object]], name: str
) -> Iterator[tuple[T, asyncio.AbstractEventLoop]]:
    """The server ``start`` returns, with its loop (for ``call_soon_threadsafe``); ``stop`` runs on leaving.

    Args:
        start: builds and starts the server, on its loop.
        stop: shuts it down, on its loop, after the loop stops.
        name: the thread's name, and what a failed start is called.
    """
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: list[T] = []

    def serve() -> None:
        asyncio.set_event_loop(loop)
        try:
            holder.append(loop.run_until_complete(start()))
        finally:
            ready.set()
        loop.run_forever()
        loop.run_until_complete(stop(holder[0]))
        loop.close()

    thread = threading.Thread(target=serve, name=name, daemon=True)
    thread.start()
    assert ready.wait(30) and holder, f"{name} did not start"
    try:
        yield holder[0], loop
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)


def clear_exchange_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing from the developer's shell may leak into a run: every ``BYBIT_*_API_KEY``/``SECRET`` unset."""
    for name in ("PRODUCTION", "TESTNET", "DEMO", "SIM"):
        monkeypatch.delenv(f"BYBIT_{name}_API_KEY", raising=False)
        monkeypatch.delenv(f"BYBIT_{name}_API_SECRET", raising=False)
