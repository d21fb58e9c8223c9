"""The session's recovery logic against a scripted REST view: what the exchange says after a (re)connect wins,
and the order in which fills arrive never changes the P&L."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from decimal import Decimal
from typing import Any, cast

import aiohttp

from exchange.bybit.errors import AuthenticationError
from exchange.bybit.protocol import parse_position
from exchange.bybit.ws import WsLink
from exchange.config import load_settings
from exchange.events import Notice, OpenOrder, PositionSnapshot, WalletSnapshot
from exchange.hub import EventHub
from exchange.journal import Journal
from exchange.market_data import MAX_INSTRUMENTS
from exchange.retry import fatal_reason
from exchange.session import Session
from exchange.sources import LinkDead, RateLimitStatus, RejectedRecord
from tests.support.expect import held
from tests.support.records import execution, order, position


class ScriptedRest:
    """What the exchange answers over REST, set by each test: a :class:`~exchange.sources.RestApi`."""

    clock_offset_ms = 0.0
    clock_error_ms = 0.0
    clock_synced = True
    last_rate_limit: RateLimitStatus | None = None

    def __init__(self) -> None:
        self.positions_list: list[PositionSnapshot] = []
        self.orders_list: list[OpenOrder] = []
        self.executions_list: list[dict] = []
        self.position_reads = 0
        self.rejected_records: deque[RejectedRecord] = deque()

    async def sync_clock(self) -> float:
        return self.clock_offset_ms

    async def server_time_ms(self) -> int:
        return 0

    def lift_cooldown(self) -> None:
        return None

    async def instruments(self, category: str, symbol: str | None = None) -> list[dict]:
        return []

    async def wallet_balance(self, account_type: str = "UNIFIED") -> WalletSnapshot:
        return WalletSnapshot(Decimal(1000), Decimal(1000), Decimal(1000))

    async def positions(self, category: str) -> list[PositionSnapshot]:
        self.position_reads += 1
        return list(self.positions_list)

    async def open_orders(self, category: str) -> list[OpenOrder]:
        return list(self.orders_list)

    async def executions(self, category: str, *, start_time_ms: int | None = None) -> list[dict]:
        return [e for e in self.executions_list if start_time_ms is None or int(e["execTime"]) >= start_time_ms]


def private_link(s: Session) -> WsLink:
    """The session's private link, never opened: the test hands it frames."""
    never_used = cast(aiohttp.ClientSession, None)
    url = "ws://127.0.0.1:9"
    return WsLink(url, never_used, s._on_private_frame, name="private", on_rejected=s._private_frame_lost)


async def account_reads(s: Session) -> None:
    """The backfill's account reads alone, as a recovery runs them."""
    assert s.backfill is not None
    await s.backfill.account_reads()


def session(rest: ScriptedRest, **settings) -> Session:
    environ = {"BYBIT_TESTNET_API_KEY": "k" * 12, "BYBIT_TESTNET_API_SECRET": "s" * 12}
    s = Session(
        load_settings(cfg="testnet", base_url="http://127.0.0.1:9", environ=environ, **settings),
        hub=EventHub(),
        journal=Journal(":memory:"),
        rest=rest,
    )
    return s


async def test_a_position_closed_while_away_leaves_the_desk_and_the_ledger_goes_flat():
    rest = ScriptedRest()
    s = session(rest)
    rest.positions_list = [position("BTCUSDT", "1", "100", updated_ms=1_000)]
    rest.executions_list = [execution("e1", "Buy", "1", "100", 1_000)]
    await account_reads(s)
    assert s.desk.positions["BTCUSDT"].size == 1 and held(s.ledger, "BTCUSDT").position == 1
    # Gone flat while the link was down; the close fell outside what the exchange still lists.
    rest.positions_list = []
    await account_reads(s)
    assert "BTCUSDT" not in s.desk.positions, "no liquidation price or margin from the old position stays"
    assert held(s.ledger, "BTCUSDT").position == 0


async def test_spot_reads_no_positions():
    rest = ScriptedRest()
    s = session(rest, symbols="BTCUSDT", category="spot")
    await account_reads(s)
    assert rest.position_reads == 0


async def test_an_order_closed_by_a_push_is_not_reopened_by_an_older_rest_row():
    s = session(ScriptedRest())
    s.account.take_order(order("o1", "New", 10))
    s.account.take_order(order("o1", "Filled", 20))
    s.account.take_order(order("o1", "New", 15))  # a REST read taken before the fill arrived
    assert "o1" not in s.orders and s.desk.open_orders() == []


async def test_fills_applied_out_of_order_are_replayed_in_exchange_order():
    """A live fill overtakes a backfilled older one: the ledger must equal the one built in execTime order."""
    rest = ScriptedRest()
    s = session(rest)
    older = [execution("e1", "Buy", "1", "100", 1_000), execution("e2", "Sell", "1", "110", 2_000)]
    newer = execution("e3", "Buy", "2", "105", 3_000)
    s.account.take_executions([newer], backfilled=False)  # the live push came first
    s.account.take_executions(older, backfilled=True)
    in_order = session(ScriptedRest())
    in_order.account.take_executions(older + [newer], backfilled=True)
    got, want = held(s.ledger, "BTCUSDT"), held(in_order.ledger, "BTCUSDT")
    assert (got.position, got.realized_pnl, got.running_price) == (
        want.position,
        want.realized_pnl,
        want.running_price,
    )
    assert got.realized_pnl == Decimal(10) and s.counters["ledger_reorders"] >= 1


def test_a_key_rejected_with_http_401_fails_the_session():
    error = AuthenticationError(None, "invalid api key", 401)
    reason = fatal_reason(error)
    assert reason is not None and "HTTP 401" in reason


async def test_a_private_push_of_another_category_is_validated_but_not_taken():
    s = session(ScriptedRest())
    frame = {
        "topic": "execution",
        "id": "x",
        "creationTime": 1,
        "data": [dict(execution("s1", "Buy", "1", "100", 5), category="spot")],
    }
    s._on_private_frame(frame, 1)
    assert s.ledger.entry("BTCUSDT") is None and s.counters["rejected_frames"] == 0
    broken = {
        "topic": "execution",
        "id": "y",
        "creationTime": 1,
        "data": [dict(execution("s2", "Buy", "1", "100", 5), category="spot", execQty="lots")],
    }
    s._on_private_frame(broken, 1)
    assert s.counters["rejected_frames"] == 1


async def test_a_position_opened_during_the_backfill_is_not_reconciled_away():
    """The REST read says flat, then a live fill opens a position before the backfill ends: no phantom leg."""
    import time

    rest = ScriptedRest()
    s = session(rest)
    later = int(time.time() * 1000) + 10_000  # after the position read

    async def positions_then_a_live_fill(category: str) -> list[PositionSnapshot]:
        s.account.take_executions([execution("live-1", "Buy", "0.5", "100", later)], backfilled=False)
        s.account.take_position(position("BTCUSDT", "0.5", "100", updated_ms=later))
        return []

    rest.positions = positions_then_a_live_fill  # type: ignore[method-assign]  # this test's answer
    await account_reads(s)
    entry = held(s.ledger, "BTCUSDT")
    assert entry.position == Decimal("0.5") and entry.update_source.value != "External_trade"
    assert s.desk.positions["BTCUSDT"].size == Decimal("0.5"), "the pushed position must stay on the desk"


async def reconcile_after_live_fills(read: PositionSnapshot, fills: list[dict]) -> Session:
    """A backfill whose position read is ``read`` while ``fills`` were pushed live (and so applied) before it."""
    rest = ScriptedRest()
    s = session(rest)

    async def positions_after_live_fills(category: str) -> list[PositionSnapshot]:
        s.account.take_executions(fills, backfilled=False)
        return [read]

    rest.positions = positions_after_live_fills  # type: ignore[method-assign]
    await account_reads(s)
    return s


async def test_the_cross_sequence_says_which_fills_a_position_read_holds():
    """A position stamped before a fill it holds (updatedTime 1000, the fill at 1004) is not 'reconciled' with a
    phantom leg: Bybit's seq says the read holds every fill up to its own. The time rule alone would count the
    fill twice and invent an External_trade sell."""
    fills = [execution("a", "Sell", "0.011", "100", 900, seq=10), execution("b", "Sell", "0.008", "100", 1004, seq=12)]
    s = await reconcile_after_live_fills(position("BTCUSDT", "-0.019", "100", updated_ms=1000, seq=13), fills)
    entry = held(s.ledger, "BTCUSDT")
    assert entry.position == Decimal("-0.019") and entry.update_source.value != "External_trade"
    assert held(s.ledger, "BTCUSDT").buy_notional == 0, "no phantom leg"


async def test_a_fill_in_the_millisecond_of_the_read_but_after_it_is_told_apart_by_seq():
    """The read (seq 12, updatedTime 1000) lacks a fill made in the same millisecond after it (seq 13)."""
    fills = [execution("a", "Buy", "1", "100", 1000, seq=12), execution("b", "Buy", "2", "100", 1000, seq=13)]
    s = await reconcile_after_live_fills(position("BTCUSDT", "1", "100", updated_ms=1000, seq=12), fills)
    entry = held(s.ledger, "BTCUSDT")
    assert entry.position == Decimal(3) and entry.update_source.value != "External_trade"


async def test_without_a_seq_a_fill_after_the_read_s_updated_time_is_expected_on_top():
    fills = [execution("a", "Buy", "1", "100", 900), execution("b", "Buy", "2", "100", 1100)]
    s = await reconcile_after_live_fills(position("BTCUSDT", "1", "100", updated_ms=1000), fills)
    entry = held(s.ledger, "BTCUSDT")
    assert entry.position == Decimal(3) and entry.update_source.value != "External_trade"


async def test_a_position_read_truly_short_of_the_ledger_is_still_reconciled():
    """The seq rule does not hide a real difference: the read holds both fills (seq 14) yet says 2, not 3."""
    fills = [execution("a", "Buy", "1", "100", 900, seq=10), execution("b", "Buy", "2", "100", 1100, seq=11)]
    s = await reconcile_after_live_fills(position("BTCUSDT", "2", "100", updated_ms=1200, seq=14), fills)
    entry = held(s.ledger, "BTCUSDT")
    assert entry.position == Decimal(2) and entry.update_source.value == "External_trade"


async def test_an_older_position_view_is_told_by_seq_and_a_setting_change_by_time():
    s = session(ScriptedRest())
    s.account.take_position(position("BTCUSDT", "2", "100", updated_ms=1000, seq=20))
    s.account.take_position(position("BTCUSDT", "1", "100", updated_ms=1005, seq=19))  # stamped later, older fill
    assert s.desk.positions["BTCUSDT"].size == Decimal(2)
    s.account.take_position(position("BTCUSDT", "2", "100", updated_ms=1010, seq=20))  # leverage: same seq, later
    assert s.desk.positions["BTCUSDT"].updated_ms == 1010


async def test_an_execution_lost_while_history_is_read_is_read_again_before_history_counts_as_whole():
    """A rejected execution push that arrives after the backfill's REST read but before Ready is not in that read:
    the session must read again rather than mark history complete and let the watermark pass it."""
    rest = ScriptedRest()
    s = session(rest)
    s.account.start_recovery()
    await account_reads(s)  # the exchange lists nothing yet
    lost = execution("e9", "Buy", "1", "100", int(time.time() * 1000) + 500)
    rest.executions_list = [lost]  # the exchange has it; its push arrives broken
    s.account.take("execution", {"topic": "execution", "data": [dict(lost, execQty="x")]}, 0)
    assert s.counters["rejected_frames"] == 1 and s.ledger.entry("BTCUSDT") is None
    s.account.finish_recovery()
    assert not s.account.history_complete
    (reread,) = [task for task in s._tasks if task.get_name() == "session-reread-executions"]
    await reread
    assert s.account.history_complete
    assert held(s.ledger, "BTCUSDT").position == 1 and "e9" in {r["execId"] for r in s.journal.replay()}


async def test_an_order_closed_while_away_is_stamped_on_the_exchange_s_clock():
    """This machine's clock runs a minute behind the exchange: a REST row from before the close (30 s ago on the
    exchange's clock) must not reopen the order, as it would against a local-clock stamp."""
    rest = ScriptedRest()
    rest.clock_offset_ms = 60_000
    s = session(rest)
    exchange_now = int(time.time() * 1000) + 60_000
    s.account.take_order(order("o1", "New", exchange_now - 120_000))
    await account_reads(s)  # the exchange no longer lists it: closed while away
    assert "o1" not in s.orders
    s.account.take_order(order("o1", "New", exchange_now - 30_000))  # a read taken before the close
    assert "o1" not in s.orders and s.desk.open_orders() == []


async def test_a_private_frame_that_cannot_be_read_at_all_triggers_a_re_read_of_executions():
    """Not JSON, or no topic: it may have been an execution, so history is read again over REST."""
    rest = ScriptedRest()
    s = session(rest)
    missed = execution("e7", "Sell", "2", "101", int(time.time() * 1000))
    rest.executions_list = [missed]
    link = private_link(s)
    link._handle_text('{"topic":"execution","data":[{"execId":"e7"')  # cut short: not JSON
    assert link.rejected == 1 and s.counters["private_frames_lost"] == 1 and not s.account.history_complete
    (reread,) = [task for task in s._tasks if task.get_name() == "session-reread-executions"]
    await reread
    assert s.account.history_complete and held(s.ledger, "BTCUSDT").position == -2
    link._handle_text('{"data":[]}')  # an object without a topic: the same
    assert s.counters["private_frames_lost"] == 2 and not s.account.history_complete
    for task in list(s._tasks):
        task.cancel()


async def test_fills_of_one_millisecond_are_applied_in_the_exchange_s_seq_order():
    """One taker sell sweeps two levels against a long 1 @ 100: Bybit closes at 101 first (seq 2), then opens a
    short at 99 (seq 3). Ordered by execId (random UUIDs on Bybit) the ledger would close at 99 instead."""
    s = session(ScriptedRest())
    s.account.take_executions([execution("0000-open", "Buy", "1", "100", 999_000, seq=1)], backfilled=False)
    sweep = [execution("ffff-first", "Sell", "1", "101", 1_000_000, seq=2)]
    sweep.append(execution("1111-second", "Sell", "1", "99", 1_000_000, seq=3))
    s.account.take_executions(sweep, backfilled=False)
    entry = held(s.ledger, "BTCUSDT")
    assert (entry.position, entry.realized_pnl, entry.running_price) == (-1, 1, 99)


async def test_the_journal_replays_fills_of_one_millisecond_in_seq_order():
    """The journal orders by execTime alone; the start replay puts one millisecond's fills in seq order."""
    s = session(ScriptedRest())
    records = [execution("0000-open", "Buy", "1", "100", 999_000, seq=1)]
    records += [execution("1111-second", "Sell", "1", "99", 1_000_000, seq=3)]
    records += [execution("ffff-first", "Sell", "1", "101", 1_000_000, seq=2)]
    assert s.journal is not None
    s.journal.record(records, 0)
    s.account.replay_journal()
    entry = held(s.ledger, "BTCUSDT")
    assert (entry.position, entry.realized_pnl, entry.running_price) == (-1, 1, 99)
    assert s.counters["journal_replayed"] == 3 and s.ledger.reordered == 0


def exchange_now_ms() -> int:
    return int(time.time() * 1000)


async def test_a_position_closed_while_the_position_read_is_in_flight_gets_no_phantom_leg():
    """The position is closed by a fill made after the read was asked but before it was served: the read lists no
    row (Bybit lists open positions only) and holds the close. Counting the close on top of it would invent an
    External_trade leg (and its reversal at the next reconnect)."""
    import asyncio

    rest = ScriptedRest()
    s = session(rest)
    opened = exchange_now_ms() - 60_000
    s.account.take_executions([execution("open", "Buy", "1", "100", opened, seq=10)], backfilled=False)

    async def closed_while_the_read_is_in_flight(category: str) -> list[PositionSnapshot]:
        await asyncio.sleep(0.02)
        close = execution("close", "Sell", "1", "101", exchange_now_ms(), seq=11)
        s.account.take_executions([close], backfilled=False)  # its push lands during the backfill
        await asyncio.sleep(0.02)
        return []  # served after the close: flat, so not listed

    rest.positions = closed_while_the_read_is_in_flight  # type: ignore[method-assign]  # this test's answer
    await account_reads(s)
    entry = held(s.ledger, "BTCUSDT")
    assert entry.position == 0 and entry.update_source.value != "External_trade"


async def test_a_position_gone_while_away_without_its_fills_is_still_reconciled():
    """The window rule explains only fills inside the read's window: a position the ledger holds from before,
    closed while away with no fill the history shows, is made flat with an External_trade leg."""
    rest = ScriptedRest()
    s = session(rest)
    s.account.take_executions([execution("open", "Buy", "1", "100", exchange_now_ms() - 60_000)], backfilled=False)
    await account_reads(s)
    entry = held(s.ledger, "BTCUSDT")
    assert entry.position == 0 and entry.update_source.value == "External_trade"


async def test_an_order_placed_while_the_open_orders_read_is_in_flight_stays_on_the_desk():
    """Its live 'New' push overtook the REST answer, which was served before the order existed."""
    rest = ScriptedRest()
    s = session(rest)

    async def open_orders_served_before_the_order(category: str) -> list[OpenOrder]:
        import asyncio

        await asyncio.sleep(0.02)
        s.account.take_order(order("o-new", "New", exchange_now_ms()))  # placed after the read was asked
        await asyncio.sleep(0.02)
        return []

    rest.open_orders = open_orders_served_before_the_order  # type: ignore[method-assign]  # this test's answer
    await account_reads(s)
    assert "o-new" in s.orders, "an order open on the exchange was dropped from the desk"


async def test_a_position_closed_by_a_push_is_not_reopened_by_an_older_rest_row():
    """The flat push removed the desk's copy while the read was in flight; the read's row (an older seq) must not
    put the old size, liquidation price and margin back on the desk."""
    rest = ScriptedRest()
    s = session(rest)
    opened = exchange_now_ms() - 5_000
    s.account.take_executions([execution("open", "Buy", "1", "100", opened, seq=10)], backfilled=False)
    s.account.take_position(position("BTCUSDT", "1", "100", updated_ms=opened, seq=10))
    rest.executions_list = [execution("open", "Buy", "1", "100", opened, seq=10)]

    async def read_served_before_the_close(category: str) -> list[PositionSnapshot]:
        close = execution("close", "Sell", "1", "101", exchange_now_ms(), seq=11)
        rest.executions_list.append(close)
        s.account.take_executions([close], backfilled=False)
        s.account.take_position(position("BTCUSDT", "0", "0", updated_ms=exchange_now_ms(), seq=11))
        return [position("BTCUSDT", "1", "100", updated_ms=opened, seq=10)]  # the row served before the close

    rest.positions = read_served_before_the_close  # type: ignore[method-assign]  # this test's answer
    await account_reads(s)
    assert held(s.ledger, "BTCUSDT").position == 0
    assert "BTCUSDT" not in s.desk.positions, f"a closed position came back: {s.desk.positions.get('BTCUSDT')}"


class LaggingExecutionList(ScriptedRest):
    """Bybit's execution list shows an execution a while after its position view holds it."""

    def __init__(self, shown_from_read: int) -> None:
        super().__init__()
        self.reads = 0
        self.shown_from_read = shown_from_read

    async def executions(self, category: str, *, start_time_ms: int | None = None) -> list[dict]:
        self.reads += 1
        return (
            await super().executions(category, start_time_ms=start_time_ms)
            if self.reads >= self.shown_from_read
            else []
        )


async def test_a_fill_the_execution_list_does_not_show_yet_is_read_again_not_invented(monkeypatch):
    """The position read holds fill seq 20; the execution list shows it only at the second read. Booking the
    difference as External_trade would count the fill twice once it is listed or pushed."""
    from exchange import backfill as backfill_module

    monkeypatch.setattr(backfill_module, "REST_CATCH_UP_S", 0.01)
    rest = LaggingExecutionList(shown_from_read=2)
    s = session(rest)
    made = exchange_now_ms() - 200
    rest.positions_list = [position("BTCUSDT", "1", "100", updated_ms=made, seq=20)]
    rest.executions_list = [execution("f20", "Buy", "1", "100", made, seq=20)]
    s.account.start_recovery()
    await account_reads(s)
    s.account.finish_recovery()
    assert rest.reads == 2
    s.account.take_executions([execution("f20", "Buy", "1", "100", made, seq=20)], backfilled=False)  # the push
    entry = held(s.ledger, "BTCUSDT")
    assert entry.position == 1 and entry.update_source.value != "External_trade"


async def test_a_position_older_than_the_history_is_booked_once_and_read_again_only_once(monkeypatch):
    """A position opened before any execution the desk can read: one more read, then an External_trade leg;
    the next recovery matches the ledger and reads executions once."""
    from exchange import backfill as backfill_module

    monkeypatch.setattr(backfill_module, "REST_CATCH_UP_S", 0.01)
    rest = LaggingExecutionList(shown_from_read=1)
    s = session(rest)
    rest.positions_list = [position("BTCUSDT", "2", "100", updated_ms=exchange_now_ms() - 86_400_000, seq=7)]
    await account_reads(s)
    assert rest.reads == 2 and held(s.ledger, "BTCUSDT").update_source.value == "External_trade"
    await account_reads(s)
    assert rest.reads == 3 and held(s.ledger, "BTCUSDT").position == 2


async def test_a_position_in_a_symbol_off_the_watch_list_is_reconciled_too():
    """The account's executions of every symbol are journaled, so the ledger has lines for symbols the desk does
    not watch; one the exchange no longer holds, with no fill to explain it, is made flat like a watched one."""
    rest = ScriptedRest()
    s = session(rest)
    assert "XRPUSDT" not in s.desk.symbols
    s.account.take_executions(
        [execution("x", "Buy", "10", "0.5", exchange_now_ms() - 60_000, "XRPUSDT")], backfilled=False
    )
    s.account.take_position(position("XRPUSDT", "10", "0.5", updated_ms=exchange_now_ms() - 60_000))
    await account_reads(s)
    entry = held(s.ledger, "XRPUSDT")
    assert entry.position == 0 and entry.update_source.value == "External_trade"
    assert "XRPUSDT" not in s.desk.positions, "a position gone while away leaves the desk, watched or not"


def test_a_silent_ticker_stream_s_mark_price_marks_nothing_the_live_book_marks_instead():
    """mark_source "mark": a markPrice from a ticker stream gone quiet is history; the live book marks."""
    from collections import Counter

    from exchange.account_state import AccountState
    from exchange.ledger import MarkSource
    from tests.ui import scripted

    desk = scripted.long_in_profit()
    account = AccountState(desk, EventHub(), Counter(), None, "mark", reread=lambda: None, clock=scripted.clock)
    account.mark_all(lambda topic, now_ms: False)
    assert held(desk.ledger, "BTCUSDT").mark_source is MarkSource.MARK_PRICE
    account.mark_all(lambda topic, now_ms: topic.startswith("tickers."))
    entry = held(desk.ledger, "BTCUSDT")
    best_bid = desk.books["BTCUSDT"].best_bid()
    assert best_bid is not None and entry.mark_source is MarkSource.BEST_BID
    assert entry.spot == Decimal(repr(best_bid[0]))


def test_a_book_topic_that_sends_only_garbage_goes_stale():
    """Unreadable frames prove nothing about the book: a stream of them must not keep its topic looking fresh."""
    s = session(ScriptedRest())
    market, topic = s.market, "orderbook.50.BTCUSDT"
    snapshot = {"s": "BTCUSDT", "b": [["100.0", "1"]], "a": [["100.5", "1"]], "u": 1, "seq": 1}
    market.take(topic, {"topic": topic, "type": "snapshot", "ts": 1, "data": snapshot}, received_ms=1_000)
    assert not market.is_stale(topic, 2_000)
    for n in range(1, 60):  # a minute of frames that cannot be read
        market.take(topic, {"topic": topic, "type": "delta", "ts": 1, "data": {"b": "x"}}, received_ms=1_000 + n * 1000)
    assert market.is_stale(topic, 61_000) and s.counters["rejected_frames"] == 59


async def test_every_start_places_the_leg_for_a_position_older_than_the_journal_before_all_of_it():
    """A position opened before the journal began is booked as an external leg at each start. The start replay
    holds the ledger's whole history until that reconcile, so the leg goes before every fill however long the
    journal (a folded history would put it after the fold, and each start would show another average entry)."""
    from exchange.ledger import Ledger

    def start(kept: int, fills: int) -> Session:
        rest = ScriptedRest()
        s = session(rest)
        s.desk.ledger = Ledger(history_kept=kept)
        records = [
            execution(f"e{n:04d}", "Buy" if n % 3 else "Sell", "1", str(100 + n % 7), 1_000 + n, seq=n)
            for n in range(fills)
        ]
        assert s.journal is not None
        s.journal.record(records, 0)
        s.account.replay_journal()
        assert s.ledger._held and all(len(st.history) == fills for st in s.ledger._symbols.values())
        size = sum(1 if r["side"] == "Buy" else -1 for r in records) - 5  # 5 sold before the journal began
        rest.positions_list = [position("BTCUSDT", str(size), "100", updated_ms=10_000, seq=10**6)]
        return s

    results = []
    for fills in (60, 90):  # a first start, and a later one with a longer journal
        bounded, unbounded = start(10, fills), start(10**9, fills)
        for s in (bounded, unbounded):
            await account_reads(s)
        assert not bounded.ledger._held and len(bounded.ledger._symbols["BTCUSDT"].history) < 20  # folded now
        got, want = held(bounded.ledger, "BTCUSDT"), held(unbounded.ledger, "BTCUSDT")
        assert (got.position, got.realized_pnl, got.running_price, got.cost_basis) == (
            want.position,
            want.realized_pnl,
            want.running_price,
            want.cost_basis,
        )
        assert bounded.counters["ledger_legs_after_base"] == 0
        results.append(got)
    assert results[0].position != results[1].position  # the two starts really differ


async def test_a_push_with_an_absurd_execution_takes_the_others_and_tells_the_one():
    """execPrice 1E+999999999 would overflow the ledger after being journaled (a reconnect, then every start
    failing on it): it is rejected alone before the journal, counted, told; its frame-mates count."""
    s = session(ScriptedRest())
    notices = s.hub.subscribe([Notice], name="test")
    now = int(time.time() * 1000)
    absurd = dict(execution("bad", "Buy", "1", "100", now), execPrice="1E+999999999")
    frame: dict[str, Any] = {"topic": "execution", "data": [execution("g1", "Buy", "1", "100", now), absurd]}
    frame["data"].append(execution("g2", "Buy", "2", "100", now + 1))
    try:
        s._on_private_frame(frame, 1)
        assert held(s.ledger, "BTCUSDT").position == 3 and s.ledger.rejected == 0
        assert s.counters["rejected_executions"] == 1 and s.counters["rejected_frames"] == 1
        assert s.journal is not None and {r["execId"] for r in s.journal.replay()} == {"g1", "g2"}
        told = [e.text for e in notices.drain() if isinstance(e, Notice) and e.text.startswith("Execution")]
        assert len(told) == 1 and told[0].startswith(
            "Execution 'bad' rejected, not in the ledger: execPrice '1E+999999999' is too large (1e18 or more); "
            "kept in the quarantine table of "
        )
        s.account.take_history([absurd, execution("g3", "Sell", "1", "100", now + 2)], now + 3)  # the re-read
        assert held(s.ledger, "BTCUSDT").position == 2 and s.counters["rejected_executions"] == 1
    finally:
        for task in s._tasks:
            task.cancel()


async def test_an_instrument_with_an_absurd_tick_is_refused_and_told():
    s = session(ScriptedRest())
    notices = s.hub.subscribe([Notice], name="test")
    good = {"symbol": "ETHUSDT", "priceFilter": {"tickSize": "0.01"}, "lotSizeFilter": {"qtyStep": "0.01"}}
    bad = [
        {"symbol": "BTCUSDT", "priceFilter": {"tickSize": tick}, "lotSizeFilter": {"qtyStep": "0.001"}}
        for tick in ("0", "1E-20000", "1E+999999999", "NaN")
    ]
    s.market.take_instruments([*bad, good, {"symbol": "BTCUSDT"}, "junk"])
    assert "BTCUSDT" not in s.desk.instruments and s.desk.instruments["ETHUSDT"].tick_size == Decimal("0.01")
    assert s.counters["instruments_rejected"] == 5
    told = [e.text for e in notices.drain() if isinstance(e, Notice)]
    assert len(told) == 5 and all(text.startswith("Instrument BTCUSDT refused: ") for text in told)
    assert "tickSize '0' is not between" in told[0] and "tickSize '1E-20000' is too small" in told[1]


async def test_instruments_of_symbols_off_the_desk_are_kept_bounded_and_refused_quietly():
    """A fill of a symbol not on the desk (another trader's, a demo's) is shown to its own tick and step."""
    s = session(ScriptedRest())
    notices = s.hub.subscribe([Notice], name="test")
    doge = {"symbol": "DOGEUSDT", "priceFilter": {"tickSize": "0.00001"}, "lotSizeFilter": {"qtyStep": "1"}}
    s.market.take_instruments([doge, {"symbol": "XRPUSDT", "priceFilter": {"tickSize": "0"}}, {"symbol": "x" * 99}])
    doge_instrument = s.desk.instrument("DOGEUSDT")
    assert doge_instrument is not None and (doge_instrument.price_decimals, doge_instrument.qty_decimals) == (5, 0)
    assert "XRPUSDT" not in s.desk.instruments and s.counters["instruments_rejected"] == 1
    assert not notices.drain(), "a symbol off the desk is no news"
    many = [
        {"symbol": f"S{n}USDT", "priceFilter": {"tickSize": "0.1"}, "lotSizeFilter": {"qtyStep": "1"}}
        for n in range(MAX_INSTRUMENTS + 10)
    ]
    s.market.take_instruments(many)
    assert len(s.desk.instruments) == MAX_INSTRUMENTS


async def test_a_start_over_a_journal_holding_an_absurd_execution_is_not_failed():
    """A journal written before the readers kept numbers in range may hold execPrice 1E+999999999: the replay
    rejects it as a record (ExecutionRecordError inside fill_from_execution), never an Overflow out of run()."""
    s = session(ScriptedRest())
    now = int(time.time() * 1000)
    good, absurd = execution("g1", "Buy", "1", "100", now), execution("bad", "Buy", "1", "100", now + 1)
    assert s.journal is not None
    s.journal.record([good, dict(absurd, execPrice="1E+999999999")], now)
    s.account.replay_journal()
    assert held(s.ledger, "BTCUSDT").position == 1 and s.counters["journal_rejected"] == 1


async def test_an_absurd_position_record_is_left_out_told_and_its_symbol_kept():
    """/v5/position/list holding a size of 1E+999999999 must not fail the backfill (and so every reconnect): the
    REST client leaves the record out (RejectedRecord), the session tells it, and the account neither drops the
    symbol's position nor books a leg flattening its ledger."""
    from exchange.bybit.rest import RestClient

    client = RestClient("http://127.0.0.1:9", None)
    page = [
        {"symbol": "BTCUSDT", "side": "Buy", "size": "1E+999999999", "avgPrice": "100", "updatedTime": "5"},
        {"symbol": "ETHUSDT", "side": "Buy", "size": "2", "avgPrice": "10", "updatedTime": "5"},
    ]
    (eth,) = client._parse_page(parse_position, page, "/v5/position/list")
    assert eth.symbol == "ETHUSDT" and client.stats.rejected_records == 1
    (rejected,) = client.rejected_records
    assert rejected.symbol == "BTCUSDT" and "size '1E+999999999' is too large" in rejected.why

    rest = ScriptedRest()
    rest.rejected_records = deque([rejected])
    s = session(rest)
    notices = s.hub.subscribe([Notice], name="test")
    now = int(time.time() * 1000)
    s.account.take_executions([execution("b1", "Buy", "1", "100", now - 60_000)], backfilled=False)
    s.account.take_position(position("BTCUSDT", "1", "100", updated_ms=now - 60_000))
    await account_reads(s)  # the read lists no BTCUSDT position: its record was left out
    assert s.desk.positions["BTCUSDT"].size == 1, "kept, not taken for flat"
    entry = held(s.ledger, "BTCUSDT")
    assert entry.position == 1 and entry.update_source.value != "External_trade"
    assert s.counters["rejected_records"] == 1 and not rest.rejected_records
    told = [e.text for e in notices.drain() if isinstance(e, Notice)]
    assert any(text.startswith("/v5/position/list record of 'BTCUSDT' rejected: size") for text in told)


async def test_an_unreadable_wallet_is_told_and_the_backfill_goes_on():
    """A wallet-balance reply with totalEquity 1E+999999999 must not fail the backfill: it is told, the rest read."""
    from exchange.bybit.rest import UnreadableRecord

    rest = ScriptedRest()

    async def absurd_wallet(account_type: str = "UNIFIED") -> WalletSnapshot:
        raise UnreadableRecord(None, "totalEquity '1E+999999999' is too large", path="/v5/account/wallet-balance")

    rest.wallet_balance = absurd_wallet  # type: ignore[method-assign]  # this test's answer
    rest.executions_list = [execution("w1", "Buy", "1", "100", int(time.time() * 1000))]
    s = session(rest)
    notices = s.hub.subscribe([Notice], name="test")
    await account_reads(s)
    assert s.ledger.fill_count("BTCUSDT") == 1 and s.counters["rejected_records"] == 1  # the executions were read
    assert any(
        "Wallet not taken" in e.text and "1E+999999999" in e.text for e in notices.drain() if isinstance(e, Notice)
    )


def test_a_refusal_s_huge_message_is_cut_short_in_the_reason():
    """A state's reason is kept, shown and recorded: a host's megabyte ret_msg must not ride along whole."""
    import pytest

    from exchange.bybit.ws import LinkDead

    s = session(ScriptedRest())
    with pytest.raises(LinkDead) as refused:
        s.subscriptions.check_ack({"success": False, "ret_msg": "no " * 300_000}, ["tickers.BTCUSDT"])
    assert len(str(refused.value)) < 200


async def test_a_reply_nobody_asked_for_on_the_private_stream_is_no_lost_execution():
    """A subscribe or auth acknowledgement with a req_id never sent (a host may send thousands) cannot have been
    an execution: counted and dropped, history still complete, no re-read."""
    s = session(ScriptedRest())
    link = private_link(s)
    for i in range(100):
        link._handle_text(f'{{"op":"subscribe","success":true,"ret_msg":"","conn_id":"c","req_id":"never-{i}"}}')
        link._handle_text(f'{{"op":"auth","success":true,"ret_msg":"","conn_id":"c","req_id":"x{i}"}}')
        link._handle_text('{"success":true,"ret_msg":"","conn_id":"c","type":"COMMAND_RESP","args":["order.spot"]}')
    assert s.counters["private_frames_lost"] == 0 and s.account.history_complete
    assert s.counters["unsolicited_replies"] == 300
    assert [task for task in s._tasks if task.get_name() == "session-reread-executions"] == []


class SilentLink:
    """A link the watchdog found dead of silence, last heard from at ``last_frame``."""

    def __init__(self, name: str, last_frame: float) -> None:
        self.name = name
        self.last_frame = last_frame

    async def run(self) -> None:
        raise LinkDead(f"{self.name}: no pong (silent for 7.0 s)", silent_since=self.last_frame)


async def _loss_time(public_last_ms: int, private_last_s: float, now: float) -> float | None:
    """When the session dates a loss: the private link found dead at ``now``, the public one last heard then."""
    clock = {"now": now}
    environ = {"BYBIT_TESTNET_API_KEY": "k" * 12, "BYBIT_TESTNET_API_SECRET": "s" * 12}
    s = Session(
        load_settings(cfg="testnet", base_url="http://127.0.0.1:9", environ=environ),
        hub=EventHub(),
        journal=Journal(":memory:"),
        rest=ScriptedRest(),
        clock=lambda: clock["now"],
    )
    s._link_lost = asyncio.Event()
    s._on_public_frame({"topic": "tickers.BTCUSDT", "data": {}}, public_last_ms)
    await s._watch_link(SilentLink("private", private_last_s))  # type: ignore[arg-type]
    assert s._link_lost.is_set() and "no pong" in s._lost_reason
    return s._lost_since


async def test_a_quiet_link_found_dead_dates_the_loss_by_the_busy_link_that_went_silent_with_it() -> None:
    """A whole-path stall at 5.3 s: the private link (last frame at 2 s) is found dead at 9 s while the public
    one, busy until the stall, has been silent since 5.3 s: the path died at 5.3 s, not at 2 s."""
    assert await _loss_time(5_300, 2.0, 9.0) == 5.3


async def test_a_quiet_link_found_dead_while_the_other_flows_keeps_its_own_last_frame() -> None:
    assert await _loss_time(8_900, 2.0, 9.0) == 2.0
