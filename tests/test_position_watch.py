"""The ledger beside the exchange's positions: a difference that lasts after a reconcile is shown on the desk and
told once per episode, until the two agree again; the two crossing (an execution and its position push arriving
apart) is never news."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from exchange.account_state import AccountState
from exchange.book import OrderBook
from exchange.desk import Desk, Instrument
from exchange.events import Notice
from exchange.hub import EventHub
from exchange.journal import Journal
from exchange.position_watch import DISAGREEMENT_GRACE_MS, Episode, PositionDisagreement, PositionWatch, disagreement
from tests.support.expect import all_of
from tests.support.records import execution, position

START_MS = 1_700_000_000_000
TICK = Decimal("0.1")


class Desk1:
    """An account on one symbol with a clock the test moves, its notices and its re-reads."""

    def __init__(self, journal: Journal | None = None) -> None:
        self.now_ms = START_MS
        self.desk = Desk(environment="SIM", category="linear", symbols=["BTCUSDT"], books={"BTCUSDT": OrderBook()})
        self.desk.instruments["BTCUSDT"] = Instrument("BTCUSDT", TICK, Decimal("0.001"))
        hub = EventHub()
        self.notices = hub.subscribe([Notice], name="test")
        self.reads: list[int] = []
        self.account = AccountState(
            self.desk,
            hub,
            Counter(),
            journal,
            "mark",
            reread=lambda: self.reads.append(1),
            clock=lambda: self.now_ms / 1000,
        )

    def reconciled(self, size: str, avg: str, seq: int) -> None:
        """A finished backfill: the fills that made ``size``, the position read, the reconcile."""
        self.account.start_recovery()
        self.account.take_history([execution("e0", "Buy", size, avg, self.now_ms - 10, seq=seq)], self.now_ms)
        read = position("BTCUSDT", size, avg, updated_ms=self.now_ms, seq=seq)
        self.account.take_positions([read], self.now_ms)
        self.account.reconcile_positions([read], self.now_ms)
        self.account.finish_recovery()

    def later(self, ms: int) -> None:
        self.now_ms += ms
        self.account.advance_watermark(self.now_ms)

    def told(self) -> list[Notice]:
        said = []
        while (event := self.notices.get_nowait()) is not None:
            said.append(event)
        return all_of(Notice, said)

    @property
    def shown(self) -> PositionDisagreement | None:
        return self.desk.position_disagreements.get("BTCUSDT")


def _push_position(desk: Desk1, size: str, avg: str, seq: int) -> None:
    record: dict[str, Any] = {
        "category": "linear",
        "symbol": "BTCUSDT",
        "side": "Buy" if Decimal(size) > 0 else "",
        "size": size,
        "entryPrice": avg,
        "updatedTime": str(desk.now_ms),
        "seq": seq,
    }
    desk.account.take("position", {"data": [record]}, desk.now_ms)


def _push_execution(desk: Desk1, exec_id: str, qty: str, price: str, seq: int) -> None:
    record = execution(exec_id, "Buy", qty, price, desk.now_ms, seq=seq)
    desk.account.take("execution", {"data": [record]}, desk.now_ms)


# ---------------------------------------------------------------------- the comparison


@pytest.mark.parametrize(
    ("ledger", "avg", "unseen", "apart"),
    [
        ("0.25", "100", "0", True),  # sizes apart: fills missing
        ("0.35", "100", "0.05", False),  # the ledger holds a fill the view does not count yet
        ("0.3", "100.1", "0", False),  # within one tick
        ("0.3", "100.2", "0", True),  # the entry beyond one tick
        ("0.35", "101", "0.05", False),  # a fill the view lacks moved the entry: not comparable
    ],
)
def test_a_view_and_the_ledger_are_compared_at_the_views_instant(
    ledger: str, avg: str, unseen: str, apart: bool
) -> None:
    view = position("BTCUSDT", "0.3", "100")
    found = disagreement(view, Decimal(ledger), Decimal(avg), Decimal(unseen), TICK)
    assert (found is not None) is apart
    if found is not None:
        assert found.exchange_size == Decimal("0.3") and found.ledger_size == Decimal(ledger) - Decimal(unseen)


def test_an_entry_is_not_compared_without_a_tick_nor_a_flat_position() -> None:
    assert disagreement(position("BTCUSDT", "0.3", "100"), Decimal("0.3"), Decimal("90"), Decimal(0), None) is None
    assert disagreement(position("BTCUSDT", "0", "0"), Decimal(0), Decimal(0), Decimal(0), TICK) is None


def test_an_episode_is_shown_after_the_grace_moves_and_ends_once() -> None:
    shown: dict[str, PositionDisagreement] = {}
    watch = PositionWatch(shown, grace_ms=1000)
    apart = PositionDisagreement("X", Decimal("0.3"), Decimal(100), Decimal("0.25"), Decimal(100))
    assert watch.look("X", apart, 0, may_show=True) is None
    assert watch.look("X", apart, 999, may_show=True) is None and not shown
    assert watch.look("X", apart, 1000, may_show=False) is None and not shown  # the ledger is catching up
    assert watch.look("X", apart, 1001, may_show=True) is Episode.BEGAN
    assert shown["X"].since_ms == 0
    assert watch.look("X", apart, 5000, may_show=True) is None  # told once
    further = PositionDisagreement("X", Decimal("0.4"), Decimal(100), Decimal("0.25"), Decimal(100))
    assert watch.look("X", further, 6000, may_show=False) is Episode.MOVED and shown["X"].exchange_size == Decimal(
        "0.4"
    )
    assert watch.look("X", None, 7000, may_show=True) is Episode.ENDED and not shown
    assert watch.look("X", None, 8000, may_show=True) is None
    assert watch.look("X", apart, 9000, may_show=True) is None  # a new episode waits its own grace


# ---------------------------------------------------------------------- on the account


def test_a_position_push_the_ledger_lacks_is_shown_told_once_and_re_read_once(tmp_path: Path) -> None:
    journal = Journal(str(tmp_path / "journal.sqlite"))
    desk = Desk1(journal)
    desk.reconciled("0.25", "64210.5", seq=10)
    desk.later(60_000)
    assert journal.complete_until_ms() == desk.now_ms - 30_000  # history live and whole: the mark follows the clock
    desk.told()
    _push_position(desk, "0.3", "64210.5", seq=12)  # the exchange filled 0.05 more; its execution never came
    desk.later(DISAGREEMENT_GRACE_MS - 1)
    assert desk.shown is None, "shown before the grace: an execution and its push may simply cross"
    desk.later(2)
    shown = desk.shown
    assert shown is not None and shown.exchange_size == Decimal("0.3") and shown.ledger_size == Decimal("0.25")
    said = desk.told()
    assert [n.level for n in said] == ["warning"]
    assert "the exchange says long 0.3 @ 64,210.5, the ledger long 0.25; fills missing? Re-reading" in said[0].text
    assert desk.reads == [1]
    watermark = journal.complete_until_ms()
    desk.account.finish_recovery()  # the re-read found nothing
    for _ in range(3):
        desk.later(5_000)
    assert desk.shown is not None and desk.told() == [] and desk.reads == [1], "told or re-read more than once"
    assert journal.complete_until_ms() == watermark, "history marked complete while the exchange holds more"
    assert desk.account.counters["position_disagreements"] == 1

    _push_execution(desk, "e-late", "0.05", "64210.5", seq=12)  # the missing fill, at last
    assert desk.shown is None
    said = desk.told()
    assert [n.level for n in said] == ["information"] and "holds the exchange's position again" in said[0].text
    desk.later(5_000)
    assert journal.complete_until_ms() > watermark
    journal.close()


def test_an_execution_and_its_position_push_crossing_is_no_news() -> None:
    desk = Desk1()
    desk.reconciled("0.25", "100", seq=10)
    desk.told()
    _push_position(desk, "0.3", "100", seq=11)  # the position first ...
    desk.later(DISAGREEMENT_GRACE_MS // 2)
    _push_execution(desk, "e1", "0.05", "100", seq=11)  # ... its execution a moment later
    for _ in range(3):
        desk.later(DISAGREEMENT_GRACE_MS)
    _push_execution(desk, "e2", "0.1", "100", seq=12)  # the execution first: the view does not count it yet
    for _ in range(3):
        desk.later(DISAGREEMENT_GRACE_MS)
    assert desk.shown is None and desk.told() == [] and desk.reads == []


def test_nothing_is_shown_before_the_positions_are_reconciled() -> None:
    desk = Desk1()
    desk.account.start_recovery()  # a backfill under way: the ledger is catching up
    _push_position(desk, "0.3", "100", seq=11)
    for _ in range(3):
        desk.later(DISAGREEMENT_GRACE_MS)
    assert desk.shown is None and desk.reads == []


def test_an_entry_apart_from_the_exchanges_by_more_than_a_tick_is_shown_without_a_re_read() -> None:
    desk = Desk1()
    desk.reconciled("0.3", "100", seq=10)
    desk.told()
    _push_position(desk, "0.3", "100.5", seq=10)  # a setting change re-sends the view: same seq, another entry
    desk.later(DISAGREEMENT_GRACE_MS)
    desk.later(1)
    shown = desk.shown
    assert shown is not None and not shown.size_differs and shown.ledger_avg == Decimal("100")
    said = desk.told()
    assert len(said) == 1 and "the ledger's entry is 100.0" in said[0].text and "Re-reading" not in said[0].text
    assert desk.reads == []
    _push_position(desk, "0.3", "100.05", seq=10)  # within a tick of the ledger's entry
    assert desk.shown is None


def test_the_notice_prints_the_exchanges_raw_average_to_the_tick_like_the_panel() -> None:
    desk = Desk1()
    desk.reconciled("1.05", "3490.7", seq=10)
    desk.told()
    _push_position(desk, "0.63", "3490.75205255", seq=12)  # Bybit's avgPrice carries many more places
    desk.later(DISAGREEMENT_GRACE_MS + 1)
    (said,) = desk.told()
    assert "the exchange says long 0.63 @ 3,490.8, the ledger long 1.05" in said.text, said.text
    assert "3490.75205255" not in said.text
    apart = PositionDisagreement("BTCUSDT", Decimal("0.63"), Decimal("3490.75205255"), Decimal("0.63"), Decimal(1))
    assert apart.describe() == "BTCUSDT: the exchange says long 0.63 @ 3490.75205255, the ledger's entry is 1"


def test_a_reconcile_ends_an_episode_the_ledger_can_book() -> None:
    desk = Desk1()
    desk.reconciled("0.25", "100", seq=10)
    _push_position(desk, "0.3", "100", seq=12)
    desk.later(DISAGREEMENT_GRACE_MS + 1)
    assert desk.shown is not None
    desk.account.finish_recovery()
    desk.account.start_recovery()  # a reconnect: still shown until the two agree
    assert desk.shown is not None
    read = position("BTCUSDT", "0.3", "100", updated_ms=desk.now_ms, seq=12)
    desk.account.take_positions([read], desk.now_ms)
    desk.account.reconcile_positions([read], desk.now_ms)  # books the missing 0.05 as External_trade
    assert desk.shown is None
    entry = desk.account.ledger.entry("BTCUSDT")
    assert entry is not None and entry.position == Decimal("0.3")
