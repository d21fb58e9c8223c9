"""Many desks on one relay over a real NATS JetStream server (``nats-server -js`` on a free loopback port).

The relay holds the local exchange's public streams once (through a :class:`~tests.support.gate.Gate`, so the
exchange can be taken off the relay's network); each desk takes its public data from NATS with ``--feed`` and keeps
its private link and REST direct. Books are compared with the exchange's own once the market is paused: every
delta went through the relay, the bus and the desk's book.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from app.runtime import open_runtime
from exchange.bybit.sim.server import SimConfig, SimServer
from exchange.events import LinkState, StateChanged
from exchange.relay.publisher import LISTEN_FIRST_S, Relay, RelayConflict
from exchange.relay.subjects import MAX_LINK_MESSAGE_BYTES, RELAY_HEADER, SEQ_HEADER, FeedSubjects
from tests.support.monitor_process import Monitor, clean_environment
from tests.support.relay import floor, nats_server, running_relay
from tests.support.runtime import EmbeddedRuntime, books_mismatch, is_ready, quiesce, resume
from tests.support.waiting import until


async def all_equal(desks: list[EmbeddedRuntime]) -> None:
    """The market paused: every desk's books SYNCED and equal to the exchange's, then the market again."""
    for desk in desks:
        await quiesce(desk)
        assert not books_mismatch(desk)
    resume(desks[0])


class Said:
    """Every reason each desk's session gave for a state, as announced (a state lasting a moment is not missed)."""

    def __init__(self, desks: list[EmbeddedRuntime]) -> None:
        self.subscriptions = [desk.hub.subscribe([StateChanged], name="test-said") for desk in desks]
        self.reasons: list[list[str]] = [[] for _ in desks]

    def forget(self) -> None:
        """From now on: what was said before does not count."""
        self.all_said("")
        for reasons in self.reasons:
            reasons.clear()

    def all_said(self, words: str) -> bool:
        for reasons, subscription in zip(self.reasons, self.subscriptions, strict=True):
            reasons.extend(
                event.state.reason
                for event in subscription.drain()
                if isinstance(event, StateChanged) and event.state.kind is not LinkState.READY
            )
        return all(any(words in reason for reason in reasons) for reasons in self.reasons)


@pytest.mark.slow
async def test_ten_desks_on_one_relay_hold_the_exchange_s_books(tmp_path: Path) -> None:
    """Ten desks, one Bybit public connection: each desk Ready, each book equal to the exchange's, and the
    exchange sees the relay's one public link, not ten."""
    async with floor(tmp_path) as f, contextlib.AsyncExitStack() as stack:
        desks = [await stack.enter_async_context(f.desk()) for _ in range(10)]
        assert all(is_ready(desk) for desk in desks)
        assert all(desk.session.desk.feed == f"relay 127.0.0.1:{f.nats.port}" for desk in desks)
        await until(
            lambda: all(desk.session.link_stats().feed_rtt_ms is not None for desk in desks),
            what="every desk's round trip to NATS measured",
        )
        await all_equal(desks)
        assert all(desk.session.counters["resyncs"] == 0 for desk in desks)
        assert f.sim.counters["ws.connections.public"] == 1  # the relay's
        assert f.sim.counters["ws.connections.private"] == 10  # each desk's own account


@pytest.mark.slow
async def test_a_late_desk_is_ready_from_the_relay_s_snapshot(tmp_path: Path) -> None:
    """The market paused (no Bybit frame moves any more), a desk joins: Ready from the relay's snapshots alone,
    its books equal to the exchange's, and the relay asked Bybit for no new snapshot."""
    async with floor(tmp_path) as f:
        relay_session = f.relay.runtime.session
        f.sim.faults.pause_market()
        snapshots = {s: book.counters.snapshots for s, book in relay_session.books.items()}
        resubscribes = relay_session.counters["resubscribes"]
        async with f.desk() as late:
            assert not books_mismatch(late)
            assert {s: book.counters.snapshots for s, book in relay_session.books.items()} == snapshots
            assert relay_session.counters["resubscribes"] == resubscribes
            assert relay_session.reconnects == 0
        f.sim.faults.resume_market()


@pytest.mark.slow
async def test_relay_nats_and_exchange_down_in_turn_each_named_and_recovered(tmp_path: Path) -> None:
    """Kill the relay, then NATS, then take the exchange off the relay's network: each desk says which one is
    gone, and is Ready again with the exchange's books once it is back, by itself."""
    async with floor(tmp_path) as f, contextlib.AsyncExitStack() as stack:
        desks = [await stack.enter_async_context(f.desk()) for _ in range(3)]
        said = Said(desks)

        await f.relay.kill()
        await until(lambda: said.all_said("relay down"), what="every desk to say the relay is down")
        async with running_relay(f.relay_settings(), f.nats.url) as relay:
            await until(lambda: all(is_ready(d) for d in desks), what="every desk Ready on the new relay")
            await all_equal(desks)

            said.forget()
            f.nats.kill()
            await until(lambda: said.all_said("NATS at "), what="every desk to say NATS is down")
            # a server that refuses is told at once on every try (nats-py alone would try again for two minutes)
            await until(lambda: said.all_said("unreachable"), what="every desk to say NATS is unreachable")
            await f.nats.start()
            await until(lambda: all(is_ready(d) for d in desks), what="every desk Ready once NATS is back")
            await all_equal(desks)

            said.forget()
            await f.gate.down()
            await until(lambda: said.all_said("relay lost Bybit"), what="every desk to say the relay lost the exchange")
            assert relay.runtime.session.state.kind is not LinkState.READY
            await f.gate.up()
            await until(lambda: all(is_ready(d) for d in desks), what="every desk Ready once the exchange is back")
            await all_equal(desks)


@pytest.mark.slow
async def test_garbage_on_the_bus_is_counted_and_rejected_and_the_desk_stays_true(tmp_path: Path) -> None:
    """Anyone who can publish on the subjects sends junk: not JSON, too big, no sequence, a heartbeat of the wrong
    shape, a message of another relay run. Each is counted and dropped; the desk stays Ready and its books equal
    to the exchange's."""
    import nats

    async with floor(tmp_path) as f, f.desk() as desk:
        subjects = f.relay.relay.subjects
        before = desk.session.link_stats().rejected_frames
        client = await nats.connect(f.nats.url)
        try:
            book = subjects.data("orderbook.50.BTCUSDT")
            await client.publish(subjects.link, b"not json")
            await client.publish(subjects.link, b'{"relay": 7, "ready": "yes"}')
            await client.publish(subjects.link, b"x" * (MAX_LINK_MESSAGE_BYTES + 1))
            await client.publish(book, b'{"topic": "orderbook.50.BTCUSDT"}')  # no Fluxum-Seq
            await client.publish(book, b"{}", headers={SEQ_HEADER: "-1", RELAY_HEADER: f.relay.relay.relay_id})
            await client.publish(book, b"{}", headers={SEQ_HEADER: "999999999", RELAY_HEADER: "another-run"})
            await client.flush()
        finally:
            await client.close()
        await until(
            lambda: desk.session.link_stats().rejected_frames >= before + 5, what="the junk counted as rejected"
        )
        assert is_ready(desk)
        await all_equal([desk])
        assert is_ready(desk)


@pytest.mark.slow
async def test_the_commands_a_relay_and_a_monitor_on_its_feed(tmp_path: Path) -> None:
    """``fluxum relay --nats`` and ``fluxum monitor --feed`` as a user runs them: the monitor names the feed and
    reaches Ready on the relay's data; the relay says where it publishes."""
    async with SimServer(SimConfig(seed=1, demo_trader=True)) as sim, nats_server(tmp_path / "nats") as nats:
        common = ["--base-url", sim.base_url, "--symbols", "BTCUSDT", "--json"]
        env = clean_environment()
        relay = await Monitor.start(["--nats", nats.url, *common, "--duration", "60"], env, command="relay")
        desk: Monitor | None = None
        try:
            await until(lambda: any("publishing to NATS" in r.get("text", "") for r in relay.records), what="the relay")
            desk = await Monitor.start(["--feed", nats.url, *common, "--duration", "3"], env)
            assert await desk.wait() == 0, bytes(desk.stderr).decode()
            assert desk.of_type("start")[0]["feed"] == f"relay 127.0.0.1:{nats.port}"
            assert "Ready" in desk.states()
            relay.terminate()
            assert await relay.wait() == 0, bytes(relay.stderr).decode()
            assert relay.of_type("summary"), "the relay ends with the monitor's summary"
        finally:
            for child in (relay, desk):
                if child is not None:
                    await child.close()


@pytest.mark.slow
async def test_a_gap_in_the_relay_s_sequence_starts_the_book_again_from_its_snapshot(tmp_path: Path) -> None:
    """A message of this relay run that skips ``Fluxum-Seq`` numbers means messages were lost between the relay
    and the desk: the book starts again from the relay's latest snapshot, and is the exchange's again."""
    import nats

    async with floor(tmp_path) as f, f.desk() as desk:
        await quiesce(desk)
        book = desk.session.books["BTCUSDT"]
        snapshots = book.counters.snapshots
        client = await nats.connect(f.nats.url)
        try:
            headers = {SEQ_HEADER: "999999999", RELAY_HEADER: f.relay.relay.relay_id}
            await client.publish(f.relay.relay.subjects.data("orderbook.50.BTCUSDT"), b"{}", headers=headers)
            await client.flush()
        finally:
            await client.close()
        await until(lambda: book.counters.snapshots > snapshots, what="the book started again from a snapshot")
        await quiesce(desk)  # the demo trader still trades into the paused market: the book follows it again
        assert is_ready(desk) and desk.session.counters["resyncs"] == 0
        resume(desk)


@pytest.mark.slow
async def test_a_second_relay_on_the_same_subjects_gives_way_and_the_desks_never_start_over(tmp_path: Path) -> None:
    """One relay per environment and category: a second one started beside a live relay hears its heartbeat
    before publishing a word and refuses to run; the desks stay Ready on the first without starting over."""
    async with floor(tmp_path) as f, f.desk() as desk:
        second = Relay(f.nats.url, f.relay.relay.subjects)
        async with open_runtime(f.relay_settings(), private=False, wrap_frames=second.tap) as runtime:
            session = asyncio.create_task(runtime.session.run())
            try:
                with pytest.raises(RelayConflict, match=f"run {f.relay.relay.relay_id}"):
                    await asyncio.wait_for(second.run(runtime.session), 10 * LISTEN_FIRST_S)
            finally:
                await runtime.session.stop()
                await session
        assert second.counters["published"] == 0
        assert is_ready(desk) and desk.session.reconnects == 0


async def test_of_two_relays_heard_together_the_later_started_gives_way() -> None:
    """Two relays started together both publish a moment: each hears the other, and only the one started later
    (then the higher run name) gives way, so one run is left for the desks to follow."""
    first = Relay("nats://127.0.0.1:1", FeedSubjects("sim", "linear"), clock=lambda: 1000.0)
    later = Relay("nats://127.0.0.1:1", FeedSubjects("sim", "linear"), clock=lambda: 1000.5)
    first.relay_id, later.relay_id = "aaaa", "bbbb"
    twin = Relay("nats://127.0.0.1:1", FeedSubjects("sim", "linear"), clock=lambda: 1000.0)
    twin.relay_id = "cccc"

    def beat(relay: Relay) -> Any:
        return SimpleNamespace(data=orjson.dumps({"relay": relay.relay_id, "started_ms": relay.started_ms}))

    for hearer, heard in ((first, later), (later, first), (twin, first), (first, twin), (first, first)):
        await hearer._on_link_message(beat(heard))
    assert first.conflict is None
    assert later.conflict is not None and "run aaaa" in later.conflict
    assert twin.conflict is not None and "run aaaa" in twin.conflict
