"""A session on the embedded local exchange, as the reliability tests drive it, and its books compared with the
exchange's.

The session runs against the in-process local exchange (``app.runtime.open_runtime``) with faults enabled and,
unless a test asks for it, no demo trader, so what happens on the account is what the test does.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.runtime import Runtime, open_runtime
from exchange.book import BookState
from exchange.bybit.sim.server import SimServer
from exchange.bybit.sim.wire import ticker_fields
from exchange.config import Settings, load_settings
from exchange.events import LinkState
from exchange.journal import Journal
from exchange.session import Backoff, Timeouts
from tests.support.sim import ticker_stream
from tests.support.waiting import DEADLINE_S, until

CATEGORY = "linear"

FAST_BACKOFF = Backoff(initial_s=0.05, factor=2.0, cap_s=0.3, burst=1000)
"""Reconnect delays short enough for a hundred cycles in CI time (the real default starts at 0.5 s), and no
connection budget: those cycles are the test's, not a flapping server's."""


@dataclass
class EmbeddedRuntime(Runtime):
    """A runtime on the local exchange with its journal (both always there), and the task running the session."""

    sim: SimServer
    journal: Journal
    task: asyncio.Task[None] = dataclasses.field(kw_only=True)

    @classmethod
    def of(cls, rt: Runtime, task: asyncio.Task[None], exchange: SimServer | None = None) -> EmbeddedRuntime:
        """``rt``'s parts (the same objects), checked to be there; ``exchange`` when it runs outside ``rt``."""
        fields = {field.name: getattr(rt, field.name) for field in dataclasses.fields(rt)}
        fields["sim"] = rt.sim if rt.sim is not None else exchange
        assert isinstance(fields["sim"], SimServer), "no local exchange: not embedded, and none given"
        assert rt.journal is not None, "the settings give the session no keys, so no journal"
        return cls(**fields, task=task)


def is_ready(rt: Runtime) -> bool:
    return rt.session.state.kind is LinkState.READY


def sim_settings(**kwargs: Any) -> Settings:
    """The embedded exchange's settings (BTCUSDT, ETHUSDT, SOLUSDT, linear, depth 50), no host keys."""
    return load_settings(environ={}, **kwargs)


@contextlib.asynccontextmanager
async def running_session(
    settings: Settings | None = None,
    *,
    demo_trader: bool = False,
    backoff: Backoff = FAST_BACKOFF,
    timeouts: Timeouts | None = None,
    journal_dir: Path | None = None,
    seed: int = 1,
    sim_overrides: dict[str, Any] | None = None,
    wait_ready: bool = True,
    exchange: SimServer | None = None,
    feed: str | None = None,
) -> AsyncIterator[EmbeddedRuntime]:
    """The embedded exchange plus a running session; stops both and checks that ``run()`` ended cleanly.

    ``exchange`` is the local exchange the settings point at when it runs outside the runtime (behind a
    :class:`tests.support.gate.Gate`): the runtime's ``sim`` then. ``feed``: public data from a relay at this
    NATS URL.
    """
    async with open_runtime(
        settings or sim_settings(),
        seed=seed,
        demo_trader=demo_trader,
        faults=True,
        journal_dir=journal_dir,
        backoff=backoff,
        timeouts=timeouts or Timeouts(),
        sim_overrides=sim_overrides,
        feed=feed,
    ) as opened:
        task = asyncio.create_task(opened.session.run(), name="test-session")
        rt = EmbeddedRuntime.of(opened, task, exchange)
        try:
            if wait_ready:
                await until(lambda: is_ready(rt) or task.done(), what="the session to become Ready")
                assert not task.done(), f"session ended early: {rt.session.state}"
            yield rt
        finally:
            await rt.session.stop()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 15.0)
        if task.done() and not task.cancelled():
            assert task.exception() is None, f"session.run() raised {task.exception()!r}"


def book_mismatch(rt: EmbeddedRuntime, symbol: str) -> str | None:
    """Why the session's book of ``symbol`` differs from the exchange's (None when SYNCED and equal)."""
    book = rt.session.books[symbol]
    if book.state is not BookState.SYNCED:
        return f"{symbol} is {book.state.value} ({book.resync_reason})"
    depth = rt.session.settings.depth
    for side, ours in (("bid", book.bids()), ("ask", book.asks())):
        theirs = [(float(p), float(q)) for p, q in rt.sim.market.levels(CATEGORY, symbol, side, depth)]
        if ours != theirs:
            diff = next((i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b), None)
            where = f"{diff}: {ours[diff]} vs {theirs[diff]}" if diff is not None else "the end of the shorter"
            return f"{symbol} {side}s differ: {len(ours)} vs {len(theirs)} levels, first difference at {where}"
    return None


def books_mismatch(rt: EmbeddedRuntime) -> list[str]:
    return [m for symbol in rt.session.symbols if (m := book_mismatch(rt, symbol)) is not None]


def tickers_settled(rt: EmbeddedRuntime) -> bool:
    """Nothing is left to publish on the ticker streams and the session holds what they published."""
    for symbol in rt.session.symbols:
        stream = ticker_stream(rt.sim, f"tickers.{symbol}", CATEGORY)
        if stream is None or stream.fields != ticker_fields(stream.book, "ws"):
            return False
        if rt.session.tickers.get(symbol) != stream.fields:
            return False
    return True


async def quiesce(rt: EmbeddedRuntime, timeout: float = DEADLINE_S) -> None:
    """Pause the market and wait until every session book is SYNCED and equal to the exchange's (and the
    tickers have caught up), so that nothing in the desk moves any more unless a test makes it move."""
    rt.sim.faults.pause_market()
    try:
        await until(lambda: not books_mismatch(rt), timeout, "every book SYNCED and equal to the exchange's")
    except AssertionError:
        raise AssertionError(f"books never matched the exchange: {books_mismatch(rt)}") from None
    await until(lambda: tickers_settled(rt), timeout, "the tickers to settle")


def resume(rt: EmbeddedRuntime) -> None:
    rt.sim.faults.resume_market()


@contextlib.contextmanager
def one_expired_looking_auth(sim: SimServer, rt: Runtime) -> Iterator[None]:
    """The exchange refuses private auths ("Params Error") until the session measures its clock again, then
    takes them: one auth refused, asked again on the same link, and accepted (no race with the re-ask)."""
    real_sync = rt.rest.sync_clock

    async def sync_clock() -> float:
        sim.faults.auth_reject = False
        return await real_sync()

    sim.faults.auth_reject = True
    rt.rest.sync_clock = sync_clock  # type: ignore[method-assign]
    try:
        yield
    finally:
        rt.rest.sync_clock = real_sync  # type: ignore[method-assign]
        sim.faults.auth_reject = False
