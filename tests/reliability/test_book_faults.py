"""Book faults on a live link: gaps, unreadable deltas, ``u == 1`` restarts, crossed results and deletes of absent
levels.

Gaps, unreadable in-sequence deltas and restarts come from the exchange's own faults. It has none for crossed
books or absent deletes, so those are crafted frames handed to the session's public-frame handler between two
real frames (the same entry point the link's reader uses), carrying the next ``u`` so they are in sequence.

Every one must end in a fresh snapshot without dropping the connection (``reconnects`` unchanged), no
crash, and a book equal to the exchange's afterwards. The faults come back to back, each recovered before the
next: the resync rate limit (``tests/test_market_data.py``) must never make such a run wait long.
"""

from __future__ import annotations

import time

import pytest

from exchange.book import BookState
from tests.support.runtime import books_mismatch, is_ready, quiesce, resume, running_session
from tests.support.waiting import until

ROUNDS = 4


def _delta(book, bids: list[list[str]], asks: list[list[str]]) -> dict:
    return {
        "topic": book.topic,
        "type": "delta",
        "ts": int(time.time() * 1000),
        "data": {"s": book.symbol, "b": bids, "a": asks, "u": book.u + 1, "seq": (book.seq or 0) + 1},
        "cts": int(time.time() * 1000),
    }


def _snapshot(book, bids: list[list[str]], asks: list[list[str]]) -> dict:
    return {
        "topic": book.topic,
        "type": "snapshot",
        "ts": int(time.time() * 1000),
        "data": {"s": book.symbol, "b": bids, "a": asks, "u": book.u + 1, "seq": (book.seq or 0) + 1},
        "cts": int(time.time() * 1000),
    }


@pytest.mark.slow
async def test_gaps_restarts_crossed_and_absent_deletes_end_in_fresh_snapshots() -> None:
    async with running_session() as rt:
        session = rt.session
        injected = {
            "skip_u": 0,
            "unreadable": 0,
            "restart": 0,
            "crossed_delta": 0,
            "crossed_snapshot": 0,
            "absent_delete": 0,
        }
        for round_ in range(ROUNDS):
            for book in session.books.values():
                await _skip_u(rt, book, injected)  # the exchange's fault: the next delta jumps by 2
                await _unreadable(rt, book, injected)  # the exchange's fault: the next delta has a bad size
                await _restart(rt, book, injected)  # the exchange's fault: a u == 1 snapshot
                await _inject_and_recover(rt, book, "crossed_delta", injected)  # a bid above the best ask
                await _inject_and_recover(rt, book, "crossed_snapshot", injected)
                await _inject_and_recover(rt, book, "absent_delete", injected)  # a level the book lacks

            if round_ % 2 == 1:
                await quiesce(rt)
                resume(rt)
        await quiesce(rt)
        assert books_mismatch(rt) == []
        assert session.reconnects == 0, session.last_reconnect_reason
        assert is_ready(rt)
        assert not rt.task.done()
        total = sum(injected.values())
        assert session.counters["resubscribes"] >= total - injected["restart"]
        print(
            f"\nbook faults: {injected}; resubscribes {session.counters['resubscribes']}, "
            f"reconnects {session.reconnects}"
        )


async def _skip_u(rt, book, injected: dict[str, int]) -> None:
    session = rt.session
    resubscribes, gaps, snapshots = (
        session.counters["resubscribes"],
        book.counters.gaps,
        book.counters.snapshots,
    )
    rt.sim.faults.skip_u(book.topic, "linear")
    await until(lambda: book.counters.gaps > gaps, what=f"the gap on {book.topic}")
    await until(
        lambda: book.synced and book.counters.snapshots > snapshots and session.counters["resubscribes"] > resubscribes,
        what=f"a fresh snapshot of {book.topic}",
    )
    injected["skip_u"] += 1


async def _unreadable(rt, book, injected: dict[str, int]) -> None:
    """An in-sequence delta that cannot be read is a lost update: counted, and the topic resubscribed at once."""
    session = rt.session
    resubscribes, rejected, frames, snapshots, gaps = (
        session.counters["resubscribes"],
        book.counters.rejected,
        session.counters["rejected_frames"],
        book.counters.snapshots,
        book.counters.gaps,
    )
    rt.sim.faults.unreadable_delta(book.topic, "linear")
    await until(lambda: book.counters.rejected > rejected, what=f"the unreadable delta on {book.topic}")
    assert session.counters["rejected_frames"] == frames + 1
    await until(
        lambda: book.synced and book.counters.snapshots > snapshots and session.counters["resubscribes"] > resubscribes,
        what=f"a fresh snapshot of {book.topic} after the unreadable delta",
    )
    assert book.counters.gaps == gaps, "the lost update was found at once, not by the next delta's gap"
    injected["unreadable"] += 1


async def _restart(rt, book, injected: dict[str, int]) -> None:
    """A u == 1 snapshot replaces the book: it is the fresh snapshot, nothing else is needed."""
    restarts, snapshots = book.counters.restarts, book.counters.snapshots
    rt.sim.faults.restart_snapshot(book.topic, "linear")
    await until(lambda: book.counters.restarts > restarts, what=f"the restart of {book.topic}")
    assert book.counters.snapshots > snapshots and book.synced and book.u is not None and book.u < 1000
    injected["restart"] += 1


async def _inject_and_recover(rt, book, kind: str, injected: dict[str, int]) -> None:
    session = rt.session
    await until(lambda: book.synced, what=f"{book.topic} SYNCED before {kind}")
    resubscribes, snapshots = session.counters["resubscribes"], book.counters.snapshots
    best_bid, best_ask = book.best_bid(), book.best_ask()
    assert best_bid is not None and best_ask is not None
    above_ask = repr(best_ask[0] * 1.001)
    if kind == "crossed_delta":
        frame = _delta(book, [[above_ask, "1"]], [])
    elif kind == "crossed_snapshot":
        frame = _snapshot(book, [[above_ask, "1"]], [[repr(best_ask[0]), "1"]])
    else:
        absent = repr(best_ask[0] * 1.5)  # far outside the window: certainly not a level of the book
        assert absent not in {repr(p) for p, _ in book.asks()}
        frame = _delta(book, [], [[absent, "0"]])
    session._on_public_frame(frame, int(time.time() * 1000))
    assert book.state is not BookState.SYNCED, f"{kind} left {book.topic} SYNCED"
    await until(
        lambda: book.synced and book.counters.snapshots > snapshots and session.counters["resubscribes"] > resubscribes,
        what=f"a fresh snapshot after {kind}",
    )
    injected[kind] += 1
