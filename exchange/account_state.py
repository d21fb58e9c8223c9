"""The account side of a desk: executions, orders, positions and the wallet, from the private stream and from the
REST backfill alike, and the ledger marked from books, tickers and positions.

It exists so that the bookkeeping rules live in one place that knows nothing of sockets or REST: executions are
journaled first, then applied to the ledger (which replays a symbol in execution order when a fill arrives late),
then announced; every fill journaled is applied, whoever journaled it (another Fluxum may share the file); a
record that cannot be read or applied is quarantined, never a failed start; a journal that cannot be written (a
full disk) is one clear state, with no fill applied and the watermark held until a re-read journals them all;
the journal's completeness watermark moves only while history is known whole; only
this desk's category is taken from Bybit's all-in-one private topics; a position read over REST is reconciled net
of the fills that arrived after it. The session fetches (and owns the links); this class applies what it is given.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from decimal import Decimal
from typing import Any

from exchange.book import OrderBook
from exchange.bybit.executions import (
    PRICED_CATEGORIES,
    ExecutionRecordError,
    batches_in_execution_order,
    fill_from_execution,
    settle_coin_of,
)
from exchange.bybit.protocol import (
    PRIVATE_TOPICS,
    ProtocolError,
    parse_order,
    parse_position,
    parse_wallet,
    ticker_topic,
)
from exchange.desk import Desk
from exchange.events import (
    FillReceived,
    LedgerChanged,
    Notice,
    OpenOrder,
    OrderChanged,
    PositionChanged,
    PositionSnapshot,
    TopicHealth,
    WalletChanged,
    WalletSnapshot,
)
from exchange.hub import EventHub
from exchange.journal import Journal, JournalError, JournalUnwritable
from exchange.ledger import Fill, Ledger, LedgerEntry, MarkSource, execution_order
from exchange.position_watch import Episode, PositionDisagreement, PositionWatch, disagreement
from exchange.printable import printable

__all__ = ["AccountState"]

log = logging.getLogger(__name__)

RECENT_MOVES_KEPT = 1000  # per symbol: far more fills than can arrive while one backfill runs
CLOSED_ORDERS_KEPT = 2000
OPEN_ORDERS_KEPT = 2_000  # Bybit allows 500 active orders per symbol, plus conditional ones: far more is not Bybit
POSITION_SYMBOLS_KEPT = 1_000  # more symbols than a category lists
WALLET_COINS_KEPT = 200  # more coins than Bybit's wallet holds
REJECTED_IDS_KEPT = 10_000  # rejected execIds remembered, so a re-read does not count and tell them again
LIVE_MARGIN_MS = 30_000  # executions pushed later than this after they happened would be re-read on restart
TAIL_SLACK_MS = 2_000  # a row stamped this long before it committed is still found by the next look at the journal
UNREADABLE = (ExecutionRecordError, ArithmeticError, ValueError, TypeError, KeyError, AttributeError)
"""What reading or applying one bad execution record can raise."""
FRAME_PROBLEMS = (
    ProtocolError,
    ExecutionRecordError,
    KeyError,
    TypeError,
    ValueError,
    AttributeError,
    ArithmeticError,  # a number too large to compute with: a bad record, not a broken link
)
"""What a malformed private frame can raise while it is read and taken: the frame is rejected, the link stays."""


class AccountState:
    """One account's fills, orders, positions and wallet on a desk, with the journal behind the ledger."""

    def __init__(
        self,
        desk: Desk,
        hub: EventHub,
        counters: Counter[str],
        journal: Journal | None,
        mark_source: str,
        *,
        reread: Callable[[], None],
        clock: Callable[[], float] = time.time,
        exchange_ms: Callable[[], int] | None = None,
    ) -> None:
        """``reread`` is called when executions may be missing: the session reads them again over REST, hands
        them to :meth:`take_history`, then calls :meth:`finish_recovery`. ``exchange_ms`` is the exchange's clock
        (the local one corrected by the measured offset): stamps compared with Bybit's ``updatedTime`` use it."""
        self.desk = desk
        self.hub = hub
        self.counters = counters
        self.journal = journal
        self.category = desk.category
        self.mark_source = mark_source
        self.backfill_from_ms: int | None = None  # this connection's backfill reads executions from here
        self.history_complete = True  # the last connection finished its backfill (or none was made yet)
        self._reread = reread
        self._clock = clock
        self._exchange_ms = exchange_ms or self._now_ms
        self._gap_while_recovering = False  # executions may have been lost while history was being read
        self._topic_last_ms: dict[str, int] = {}
        self._position_views: dict[str, PositionSnapshot] = {}  # symbol -> the newest view taken, flat ones too
        self._bounds_told: set[str] = set()  # the bounds a host pushed the account past, each told once
        self._order_words = 0  # order updates taken so far: a mark in the stream, free of any clock
        self._order_heard: dict[str, int] = {}  # open order id -> the mark of its last update taken
        self._closed_orders: dict[str, int] = {}  # order id -> updatedTime of the push that closed it (bounded)
        self._marked: dict[str, tuple[Decimal, MarkSource]] = {}
        self._newest_seq: dict[str, int] = {}  # symbol -> the highest seq of its executions taken, journal too
        self._moves: dict[str, deque[tuple[int, int | None, Decimal]]] = {}  # symbol -> (execTime, seq, signed qty)
        self._rejected_ids: dict[str, None] = {}  # execIds of rejected executions, oldest first (bounded)
        self.journal_problem: str | None = None  # why the journal cannot be written now ("disk full"), or None
        self._journal_failed_ms = 0  # exchange ms of the last failed journal write
        self._history_reading = False  # a backfill or a re-read is under way (it ends in finish_recovery)
        self._complete_ms: int | None = None  # this ledger holds every execution up to here (exchange ms)
        self._complete_known = False
        self._tail_from_ms = self._now_ms()  # the journal's rows stamped from here on are read by tail_journal
        self._position_watch = PositionWatch(desk.position_disagreements)
        self._positions_reconciled = False  # this connection's backfill reconciled the positions

    @property
    def ledger(self) -> Ledger:
        return self.desk.ledger

    @property
    def journal_path(self) -> str:
        return self.journal.path if self.journal is not None else "no journal"

    # ------------------------------------------------------------------ private frames

    def take(self, topic: str, frame: dict[str, Any], received_ms: int) -> None:
        """Apply one private frame of ``topic``; a malformed one is counted as rejected and changes nothing.

        The all-in-one topics carry every category and this desk watches one: every record is validated (whatever
        its category), then only ours are taken. An execution that cannot be a fill is rejected alone and told,
        its frame-mates are taken; other records reject the whole frame."""
        kind = topic.split(".", 1)[0]
        try:
            data = frame["data"]
            if not isinstance(data, list):
                raise ProtocolError("data must be a list")
            take_records = self._frame_takers().get(kind)
            if take_records is None:
                self.counters["unknown_topic_frames"] += 1
                return
            take_records(data)
            self._topic_last_ms[kind] = received_ms
        except FRAME_PROBLEMS as error:
            self.counters["rejected_frames"] += 1
            log.debug("rejected private %s frame: %s", topic[:40], error)
            if kind == "execution":
                self._history_gap("an execution push was rejected")
        except JournalError as error:
            self._journal_failed(error)

    def _frame_takers(self) -> dict[str, Callable[[list[Any]], None]]:
        """The private topics' kinds, each with what takes its frame's records."""
        return {
            "execution": self._take_execution_records,
            "order": self._take_order_records,
            "position": self._take_position_records,
            "wallet": self._take_wallet_records,
        }

    def _take_execution_records(self, data: list[Any]) -> None:
        valid = self._valid_executions(data)
        self._take_valid([(record, fill) for record, fill in valid if self._ours(record)], backfilled=False)
        if len(valid) < len(data):
            self.counters["rejected_frames"] += 1
            self._history_gap("an execution push held a record that was rejected")
        if self.journal_problem is not None:
            self._retry_journal()  # this write worked: the fills that waited may be journaled now

    def _take_order_records(self, data: list[Any]) -> None:
        orders = [(parse_order(record), record) for record in data]  # all read before any is taken
        for order, record in orders:
            if self._ours(record):
                self.take_order(order)

    def _take_position_records(self, data: list[Any]) -> None:
        positions = [(parse_position(record), record) for record in data]
        for position, record in positions:
            if self._ours(record):
                self.take_position(position)
        if positions:  # of any category: the positions overview reads the whole account again
            self.desk.touch("account_positions")

    def _take_wallet_records(self, data: list[Any]) -> None:
        wallets = [parse_wallet(record) for record in data if record.get("accountType", "UNIFIED") == "UNIFIED"]
        if wallets:
            self.take_wallet(wallets[-1])

    def _ours(self, record: Any) -> bool:
        """A private record of this desk's category (one without a category is kept); every symbol of it is
        journaled, as the REST backfill journals them, so the history stays whole if the watch list changes."""
        if not isinstance(record, dict):
            raise ProtocolError("a record must be an object")
        category = record.get("category")
        return category is None or category == self.category

    def topic_health(self) -> tuple[TopicHealth, ...]:
        """Private topics speak only when something happens: never stale."""
        return tuple(TopicHealth(topic, self._topic_last_ms.get(topic), False) for topic in PRIVATE_TOPICS)

    # ------------------------------------------------------------------ executions, journal, ledger

    def start_recovery(self) -> None:
        """A connection begins: its backfill reads executions from where the journal is known whole.

        Read before the private stream can journal anything new, and only after a connection that finished its
        backfill: a live push journaled before the backfill ends must not move the start past fills made while
        the link was down."""
        if self.journal is not None:
            self.backfill_from_ms = self.complete_until_ms()
        self.history_complete = False
        self._gap_while_recovering = False  # this backfill reads from where the journal is whole
        self._history_reading = True
        self._positions_reconciled = False

    def finish_recovery(self) -> None:
        """History has been read (a backfill or a re-read). If executions were lost while it was being read, the
        read may have been taken before them: read again rather than call history complete."""
        self._history_reading = False
        if self._gap_while_recovering:
            self._gap_while_recovering = False
            self._reread()
            return
        if self.journal_problem is None:
            self.history_complete = True

    def frame_lost(self, why: str) -> None:
        """A private frame was dropped before its topic could be read: it may have been an execution."""
        self.counters["private_frames_lost"] += 1
        self._history_gap(why)

    def _history_gap(self, why: str, *, tell: bool = True) -> None:
        """Executions may be missing: stop calling history complete and read it again over REST. Told once per
        read: a host losing thousands of frames a second makes one read (and one after it), not a notice each.
        ``tell`` False: the caller's own notice says so."""
        if not self.history_complete:
            self._gap_while_recovering = True  # a read is under way and may predate the loss: read again after
            return
        if tell:
            self.hub.publish(Notice("warning", f"Re-reading executions: {why}"))
        self.history_complete = False
        self._reread()

    def take_history(self, records: list[Any], asked_at_ms: int) -> None:
        """Executions read over REST at ``asked_at_ms`` (the exchange's clock): everything before is journaled.

        A record that cannot be a fill is rejected alone (see :meth:`_reject`) and the others are taken; a journal
        that cannot be written leaves history incomplete (the watermark stays) until a later read succeeds."""
        try:
            applied = self.take_executions(records, backfilled=True)
            if self.journal is not None:
                if self._journal_failed_ms >= asked_at_ms:
                    return  # a live push failed to journal after this read was asked: it may lack that fill
                # Everything before the request is now journaled (later fills come on the live stream, which was
                # subscribed before this read).
                self.journal.mark_complete_until(asked_at_ms)
                self._completed(asked_at_ms)
        except JournalError as error:
            self._journal_failed(error)
            return
        self._journal_recovered(applied)

    def advance_watermark(self, server_now_ms: int) -> None:
        """While the private stream has been live since a finished backfill, history is complete up to now
        (less a margin for executions Bybit pushes late), so a restart need not re-read it. The session calls
        this only while the private link is open, every few seconds: while the journal cannot be written, it
        re-reads the executions instead (which journals the missing fills once writes work again).

        It is also where the ledger is compared with the exchange's positions on a clock (see
        :meth:`check_positions`): while their sizes differ, executions may be missing and the mark stays."""
        if self.history_complete:
            self.check_positions()
        if self.journal is None:
            return
        if self.journal_problem is not None:
            self._retry_journal()
            return
        if not self.history_complete:
            return
        if any(shown.size_differs for shown in self.desk.position_disagreements.values()):
            return  # the exchange's positions hold executions this journal may lack: a restart must read them
        try:
            self.journal.mark_complete_until(server_now_ms - LIVE_MARGIN_MS)
        except JournalError as error:
            self._journal_failed(error)
            return
        self._completed(server_now_ms - LIVE_MARGIN_MS)

    def _retry_journal(self) -> None:
        """Re-read the executions from where this ledger is complete, unless a read is under way: if the journal
        takes them, the problem clears and every fill that waited is applied."""
        if not self._history_reading:
            self._history_reading = True
            self._reread()

    def complete_until_ms(self) -> int | None:
        """Where a read of executions starts: this ledger holds every execution up to here. Its own mark, not
        the journal's: another Fluxum sharing the journal moves that past fills this one never saw (journaled
        by the other while this one was away), and reading from there would skip them."""
        if not self._complete_known and self.journal is not None:
            self._completed(self.journal.complete_until_ms())
        return self._complete_ms

    def _completed(self, ms: int | None) -> None:
        self._complete_known = True
        if ms is not None and (self._complete_ms is None or ms > self._complete_ms):
            self._complete_ms = ms

    def tail_journal(self) -> None:
        """Apply the fills journaled since the last look that this ledger has not seen: another Fluxum on the
        same journal may have received them when this one's stream did not. They are journaled, so they may
        change the P&L; the ledger ignores the ones it has."""
        if self.journal is None:
            return
        since, self._tail_from_ms = self._tail_from_ms - TAIL_SLACK_MS, self._now_ms()
        fills = []
        try:
            for _, record in self.journal.arrived_since(since):
                try:
                    if record is not None:
                        fills.append(fill_from_execution(record, category=self.category))
                except UNREADABLE:
                    continue  # quarantined at the next start
        except JournalError as error:
            self._journal_failed(error)
            return
        applied = self.ledger.apply_fills(sorted(fills, key=execution_order))
        self.counters["journal_tailed"] += len(applied)
        for fill, entry in applied:
            self._announce_fill(fill, entry, backfilled=True)
        self.check_positions({fill.symbol for fill, _ in applied})

    def take_executions(self, records: list[Any], *, backfilled: bool) -> int:
        """Journal first, then ledger, then subscribers; returns how many fills were applied. A record that cannot
        be a fill (a missing field, a number out of range) is rejected alone before it is journaled. Every fill the
        journal holds afterwards is applied if this ledger has not seen it, whichever process journaled it (the
        ledger ignores the ones it has)."""
        return self._take_valid(self._valid_executions(records), backfilled)

    def _valid_executions(self, records: list[Any]) -> list[tuple[dict[str, Any], Fill]]:
        """The records that make fills, each with its fill; the others are rejected (see :meth:`_reject`)."""
        valid = []
        rejected: list[tuple[Any, ExecutionRecordError]] = []
        for record in records:
            try:
                valid.append((record, fill_from_execution(record, category=self.category)))
            except ExecutionRecordError as error:
                rejected.append((record, error))
        if rejected:
            self._reject(rejected)
        return valid

    def _reject(self, rejected: list[tuple[Any, ExecutionRecordError]]) -> None:
        """Count and tell rejected executions once per ``execId`` (a re-read lists the same record again), and keep
        them in the journal's quarantine for a person to inspect."""
        new: list[tuple[str | None, Any, str]] = []
        for record, error in rejected:
            exec_id = record.get("execId") if isinstance(record, dict) else None
            exec_id = exec_id if isinstance(exec_id, str) and exec_id else None
            if exec_id is not None:
                if exec_id in self._rejected_ids:
                    continue
                self._rejected_ids[exec_id] = None
                if len(self._rejected_ids) > REJECTED_IDS_KEPT:
                    self._rejected_ids.pop(next(iter(self._rejected_ids)))
            new.append((exec_id, record, str(error)))
        if not new:
            return
        self.counters["rejected_executions"] += len(new)
        exec_id, record, why = new[0]
        name = f" {exec_id[:40]!r}" if exec_id else ""
        log.warning("%d executions rejected; first%s: %s", len(new), name, why)
        kept = ""
        if self.journal is not None:
            try:
                self.journal.quarantine([(exec_id, record, why) for exec_id, record, why in new], self._now_ms())
                kept = f"; kept in the quarantine table of {self.journal.path}"
            except JournalError:
                pass  # the count and the notice stand; the journal's own problem is told where it is written
        more = f" (and {len(new) - 1} more)" if len(new) > 1 else ""
        self.hub.publish(Notice("warning", f"Execution{name} rejected, not in the ledger: {why}{more}{kept}"))

    def _take_valid(self, valid: list[tuple[dict[str, Any], Fill]], backfilled: bool) -> int:
        records = [record for record, _ in valid]
        fills = [fill for _, fill in valid]
        if self.journal is not None and records:
            self.journal.record(records, self._now_ms())
        ledger = self.ledger
        duplicates, reordered, beyond = ledger.duplicates, ledger.reordered, ledger.beyond_history
        applied = ledger.apply_fills(fills)  # fills older than ones applied replay their symbol, in order
        self.counters["duplicate_fills"] += ledger.duplicates - duplicates
        self.counters["ledger_reorders"] += ledger.reordered - reordered
        self.counters["ledger_beyond_history"] += ledger.beyond_history - beyond
        for fill, entry in applied:
            self._announce_fill(fill, entry, backfilled)
        self.check_positions({fill.symbol for fill, _ in applied})
        return len(applied)

    # ------------------------------------------------------------------ journal problems

    def _journal_failed(self, error: JournalError) -> None:
        """The journal could not record executions: their fills wait (journal before P&L). One notice when the
        problem starts; the session's periodic :meth:`advance_watermark` re-reads history until a write works."""
        self.counters["journal_errors"] += 1
        self._journal_failed_ms = self._exchange_ms()
        self.history_complete = False
        problem = f"journal: {error.reason}" if isinstance(error, JournalUnwritable) else "journal: cannot be used"
        if self.journal_problem == problem:
            return
        self.journal_problem = problem
        self.desk.journal_problem = problem
        self.desk.touch("state")
        log.error("%s", error)
        if isinstance(error, JournalUnwritable):
            text = f"{problem}: fills wait until it can be written, market data stays live: {self.journal_path}"
        else:
            text = f"{error}; fills wait, market data stays live"
        self.hub.publish(Notice("error", text))

    def _journal_recovered(self, applied: int) -> None:
        if self.journal_problem is None:
            return
        self.journal_problem = None
        self.desk.journal_problem = None
        self.desk.touch("state")
        self.counters["journal_recovered_fills"] += applied
        self.hub.publish(Notice("information", f"journal: writing again; {applied} fills recovered"))

    def _quarantine(self, bad: list[tuple[str | None, Any, str]], where: str) -> None:
        """Keep records that cannot be read or applied in the journal's quarantine: counted, one notice."""
        self.counters["journal_quarantined"] += len(bad)
        exec_id, _, why = bad[0]
        # the execId and the reason quote the record: a journal is as untrusted as the network that filled it
        shown, why = (printable(exec_id, 40) if exec_id else "no execId"), printable(why, 200)
        log.warning("%d execution records quarantined; first %s: %s", len(bad), shown, why)
        if self.journal is not None:
            kept = self.journal.quarantine(bad, self._now_ms())
            if not kept:
                return  # already kept: said before
            where_kept = f"kept in the quarantine table of {self.journal.path}"
        else:
            where_kept = "skipped"
        more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
        self.hub.publish(Notice("warning", f"{where} cannot be used ({shown}: {why}){more}: {where_kept}"))

    def _announce_fill(self, fill: Fill, entry: LedgerEntry | None, backfilled: bool) -> None:
        self.counters["fills"] += 1
        self._heard_seq(fill)
        self._marked.pop(fill.symbol, None)  # the spot is now the fill price: the next tick marks it again
        if fill.moves_position:
            moves = self._moves.setdefault(fill.symbol, deque(maxlen=RECENT_MOVES_KEPT))
            moves.append((fill.time_ms, fill.seq, fill.qty if fill.side == "Buy" else -fill.qty))
        self.desk.own_fills.append(fill)
        self.desk.touch("fills")
        self.desk.touch("ledger")
        self.hub.publish(FillReceived(fill, entry, backfilled=backfilled))

    def replay_journal(self) -> None:
        """At start: apply every journaled execution to the ledger in the exchange's order, streamed from the
        journal in large batches (the ledger keeps a bounded history, so memory does not grow with the journal).
        A journaled record that cannot be read or applied is moved to the quarantine; the start goes on."""
        if self.journal is None:
            return
        self.ledger.hold_history()  # until the first position reconcile: see Ledger.hold_history
        self._completed(self.journal.complete_until_ms())  # read first: every row it covers is replayed below
        self._tail_from_ms = self._now_ms()
        bad: list[tuple[str | None, Any, str]] = []
        for fills in self._journaled_fills(bad):
            for fill in self._apply_replayed(fills, bad):
                self._heard_seq(fill)
                self.counters["journal_replayed"] += 1
        if bad:
            self.counters["journal_rejected"] += len(bad)
            try:
                self._quarantine([(exec_id, None, why) for exec_id, _, why in bad], "a journaled execution")
            except JournalError as error:
                self._journal_failed(error)  # skipped this time, quarantined on a later start
        for entry in self.ledger.entries():
            self.hub.publish(LedgerChanged(entry))

    def _journaled_fills(self, bad: list[tuple[str | None, Any, str]]) -> Iterator[list[Fill]]:
        """The journal's fills in the exchange's order, in batches (:func:`batches_in_execution_order`); a record
        that cannot be a fit fill goes to ``bad``."""
        assert self.journal is not None
        journal = self.journal

        def readable() -> Iterator[Fill]:
            for exec_id, record in journal.rows():
                try:
                    if record is None:
                        raise ExecutionRecordError("the journaled blob is not a JSON object")
                    fill = fill_from_execution(record, category=self.category)
                except UNREADABLE as error:
                    bad.append((exec_id, None, _why(error)))
                    continue
                yield fill

        return batches_in_execution_order(readable())

    def _apply_replayed(self, fills: list[Fill], bad: list[tuple[str | None, Any, str]]) -> list[Fill]:
        """Apply a batch of journaled fills; should the ledger fail on one, each alone, the failing ones to ``bad``."""
        try:
            return [fill for fill, _ in self.ledger.apply_fills(fills)]
        except UNREADABLE:
            applied = []
            for fill in fills:
                try:
                    applied += [fill for fill, _ in self.ledger.apply_fills([fill])]
                except UNREADABLE as error:
                    bad.append((fill.exec_id, None, _why(error)))
            return applied

    def _moved_after(self, position: PositionSnapshot) -> Decimal:
        """Signed quantity of the fills of the position's symbol this session applied that the read lacks.

        Bybit's cross sequence says it exactly: the position holds every fill whose ``seq`` is not above its
        own. Without one on both sides, the fills with ``execTime`` after the position's ``updatedTime`` (any
        fill moves it), which misjudges a fill made in the millisecond of the read. A read with neither (no
        seq, ``updatedTime`` 0) is taken as current.
        """

        def after_read(time_ms: int, seq: int | None) -> bool:
            if seq is not None and position.seq is not None:
                return seq > position.seq
            return time_ms > position.updated_ms > 0

        moves = self._moves.get(position.symbol, ())
        return sum((qty for time_ms, seq, qty in moves if after_read(time_ms, seq)), Decimal(0))

    def _holding(self, symbol: str) -> Decimal:
        """The ledger's signed position in ``symbol`` (zero without a line)."""
        entry = self.ledger.entry(symbol)
        return entry.position if entry is not None else Decimal(0)

    def _heard_seq(self, fill: Fill) -> None:
        if fill.seq is not None and fill.seq > self._newest_seq.get(fill.symbol, -1):
            self._newest_seq[fill.symbol] = fill.seq

    def history_behind(self, positions: list[PositionSnapshot] | None) -> bool:
        """A position read holds an execution this desk has never seen (its ``seq`` is above every execution's of
        its symbol, journal included) and the ledger does not match it. Bybit's execution list may show an
        execution later than its position view: read it again before calling the difference External_trade,
        or the execution, when it is listed or pushed, would count a second time."""
        for position in positions or ():
            if position.seq is None or position.seq <= self._newest_seq.get(position.symbol, -1):
                continue
            if self._holding(position.symbol) != position.size + self._moved_after(position):
                return True
        return False

    def _moved_after_time(self, symbol: str, since_ms: int) -> Decimal:
        """Signed quantity of the fills of ``symbol`` this session applied with ``execTime`` after ``since_ms``."""
        return sum((qty for time_ms, _, qty in self._moves.get(symbol, ()) if time_ms > since_ms), Decimal(0))

    # ------------------------------------------------------------------ orders, positions, wallet

    def take_order(self, order: OpenOrder) -> None:
        known = self.desk.orders.get(order.order_id)
        if known is not None and known.updated_ms > order.updated_ms:
            return  # an older view (a REST read racing a push)
        closed_at = self._closed_orders.get(order.order_id)
        if closed_at is not None and order.is_open and closed_at >= order.updated_ms:
            return  # a REST row read before the push that closed it: not open any more
        if (
            order.is_open
            and known is None
            and self._over_bound("open orders", len(self.desk.orders) + 1 - OPEN_ORDERS_KEPT, OPEN_ORDERS_KEPT)
        ):
            return
        self._order_words += 1
        if order.is_open:
            self.desk.orders[order.order_id] = order
            self._order_heard[order.order_id] = self._order_words
        else:
            self.desk.orders.pop(order.order_id, None)
            self._order_heard.pop(order.order_id, None)
            self._closed_orders[order.order_id] = order.updated_ms
            if len(self._closed_orders) > CLOSED_ORDERS_KEPT:
                self._closed_orders.pop(next(iter(self._closed_orders)))
        self.desk.touch("orders")
        self.hub.publish(OrderChanged(order))
        if known is not None or order.is_open or self.ledger.entry(order.symbol) is not None:
            # (a closed order never held, of a symbol the ledger never saw, changes no summary: no entry for it)
            self.hub.publish(LedgerChanged(self._set_open_orders(order.symbol)))

    def _set_open_orders(self, symbol: str) -> LedgerEntry:
        """The ledger's open-order summary of ``symbol``, from the desk's open orders."""
        symbol_orders = [o for o in self.desk.orders.values() if o.symbol == symbol]
        return self.ledger.set_open_orders(
            symbol,
            sum((o.qty for o in symbol_orders), Decimal(0)),
            sum((o.cum_exec_qty for o in symbol_orders), Decimal(0)),
            sum((o.leaves_qty for o in symbol_orders), Decimal(0)),
        )

    def order_mark(self) -> int:
        """Where the order stream is now; take it just before asking for the open orders."""
        return self._order_words

    def take_open_orders(
        self, orders: list[OpenOrder], asked_at_mark: int | None = None, unreadable: frozenset[str] = frozenset()
    ) -> None:
        """The open orders read over REST: an order we hold open that the read lacks was closed while away, if its
        last update reached us before the read was asked (``asked_at_mark``, from :meth:`order_mark`); one heard
        of since may have been placed after the read was served, its push overtaking the answer. Arrival order,
        not the exchange's timestamps: a clock offset measured a few ms wrong must not close a live order. Orders
        of the ``unreadable`` symbols (a record of theirs was left out of the read) are not closed either."""
        asked_at = self._order_words if asked_at_mark is None else asked_at_mark
        open_ids = {order.order_id for order in orders}
        for order in orders:
            self.take_order(order)
        for order_id, order in list(self.desk.orders.items()):
            if order.symbol in unreadable:
                continue
            if order_id not in open_ids and order.is_open and self._order_heard.get(order_id, 0) <= asked_at:
                self.take_order(_closed_while_away(order, self._exchange_ms()))

    def take_position(self, position: PositionSnapshot) -> None:
        known = self._position_views.get(position.symbol)  # a flat one too: an older row must not reopen it
        if known is not None and _older_view(position, known):
            return  # a REST read racing a push
        if known is None and not self._room_for_position():
            return
        if position.size == 0:
            self._drop_position(position.symbol, position)
            return
        self._position_views[position.symbol] = position
        self.desk.positions[position.symbol] = position
        self.desk.touch("positions")
        self.hub.publish(PositionChanged(position))
        self.check_positions([position.symbol])

    def take_positions(
        self, positions: list[PositionSnapshot], read_at_ms: int, unreadable: frozenset[str] = frozenset()
    ) -> None:
        """The positions read over REST at ``read_at_ms`` (the exchange's clock); one of the ``unreadable``
        symbols (its record was left out of the read) is kept as it was, not taken for flat."""
        for position in positions:
            self.take_position(position)
        if not self.desk.positions_read:
            self.desk.positions_read = True
            self.desk.touch("positions")
        held = {position.symbol for position in positions} | unreadable
        for symbol, known in list(self.desk.positions.items()):  # watched or not: every symbol is ours to show
            if symbol not in held and known.updated_ms < read_at_ms:
                # Bybit lists only open positions: this one went flat before the read
                self._drop_position(symbol, _flat(symbol, read_at_ms))

    def _drop_position(self, symbol: str, flat: PositionSnapshot) -> None:
        """A flat position leaves the desk: no liquidation price, margin or ROE from the old one stays shown."""
        self._position_views[symbol] = flat
        self.desk.positions.pop(symbol, None)
        self.desk.touch("positions")
        self.hub.publish(PositionChanged(flat))
        self.check_positions([symbol])

    def reconcile_positions(
        self,
        positions: list[PositionSnapshot] | None,
        read_at_ms: int,
        served_ms: int | None = None,
        doubt_ms: int = 0,
        unreadable: frozenset[str] = frozenset(),
    ) -> None:
        """After the backfill's executions: make the ledger hold what the position read said, plus the fills that
        came after it. The read was asked at ``read_at_ms`` and answered by ``served_ms``, on our estimate of the
        exchange's clock, good to ``doubt_ms``. ``positions`` is None where the category has none (spot); the
        ``unreadable`` symbols (their record was left out of the read) are not reconciled."""
        try:
            self._reconcile_positions(positions, read_at_ms, served_ms, doubt_ms, unreadable)
        finally:
            self.ledger.release_history()  # any leg for what was held before the journal is placed by now
        self._positions_reconciled = True
        self.check_positions()

    def _reconcile_positions(
        self,
        positions: list[PositionSnapshot] | None,
        read_at_ms: int,
        served_ms: int | None,
        doubt_ms: int,
        unreadable: frozenset[str],
    ) -> None:
        if positions is None:
            return
        if self.journal_problem is not None:
            return  # fills wait for the journal: the ledger is short of them, not of an External_trade leg
        held = {position.symbol for position in positions} | unreadable
        for position in positions:
            # The positions were read before the executions, while the private stream was live: fills after
            # the read are in the ledger but cannot be in it.
            self._reconcile(position, [position.size + self._moved_after(position)])
        for symbol in sorted({*self.desk.symbols, *(entry.symbol for entry in self.ledger.entries())}):
            if symbol in held or self.ledger.entry(symbol) is None:
                continue
            # Bybit lists only open positions: this one was flat when the read was served, at some instant
            # between asking and the answer, with no seq to say which fills it holds. A fill inside that window
            # may be on either side of it; the ledger is right if any such instant explains it.
            served = max(read_at_ms, served_ms or read_at_ms) + doubt_ms
            window = sorted({t for t, _, _ in self._moves.get(symbol, ()) if read_at_ms - doubt_ms < t <= served})
            instants = [read_at_ms, read_at_ms - doubt_ms, *window]
            self._reconcile(_flat(symbol, read_at_ms), [self._moved_after_time(symbol, t) for t in instants])

    def _reconcile(self, position: PositionSnapshot, expected: list[Decimal]) -> None:
        """Book an ``External_trade`` leg when the ledger holds none of the ``expected`` quantities (the first is
        the one made good)."""
        if self._holding(position.symbol) in expected:
            return
        after_base = self.ledger.legs_after_base
        contract = PRICED_CATEGORIES.get(self.category)  # counts a symbol the ledger has no fill of yet
        reconciled = self.ledger.reconcile_position(
            position.symbol,
            expected[0],
            position.avg_price,
            self._now_ms(),
            contract=contract,
            settle_coin=settle_coin_of(position.symbol, contract) if contract is not None else "",
        )
        self.counters["ledger_legs_after_base"] += self.ledger.legs_after_base - after_base
        if reconciled is not None:
            self.hub.publish(LedgerChanged(reconciled))

    # ------------------------------------------------------------------ the ledger beside the exchange's positions

    def check_positions(self, symbols: Iterable[str] | None = None) -> None:
        """Compare the ledger with the exchange's latest view of each position (of ``symbols``, or all): a
        difference that lasts is shown on the desk and told once per episode (:mod:`exchange.position_watch`).
        One starts only once this connection reconciled the positions and while history is whole: during a
        backfill or a re-read the ledger is still catching up."""
        now_ms = self._now_ms()
        may_show = self._positions_reconciled and self.history_complete
        for symbol in list(self._position_views if symbols is None else symbols):
            view = self._position_views.get(symbol)
            found = self._disagreement(view) if view is not None else None
            episode = self._position_watch.look(symbol, found, now_ms, may_show)
            if episode is not None:
                self._episode_changed(symbol, episode)

    def _disagreement(self, view: PositionSnapshot) -> PositionDisagreement | None:
        entry = self.ledger.entry(view.symbol)
        size = entry.position if entry is not None else Decimal(0)
        avg = entry.running_price if entry is not None else Decimal(0)
        instrument = self.desk.instrument(view.symbol)
        tick = instrument.tick_size if instrument is not None else None
        return disagreement(view, size, avg, self._moved_after(view), tick)

    def _episode_changed(self, symbol: str, episode: Episode) -> None:
        """Show the change; tell a start and an end once each, and read the executions again when the sizes
        differ (the missing fills may be listed by now)."""
        self.desk.touch("positions")
        kind = f"position-disagrees:{symbol[:40]}"
        if episode is Episode.ENDED:
            log.info("%s: the ledger holds the exchange's position again", symbol)
            text = f"{printable(symbol, 40)}: the ledger holds the exchange's position again"
            self.hub.publish(Notice("information", text, kind=kind))
            return
        if episode is not Episode.BEGAN:
            return
        shown = self.desk.position_disagreements[symbol]
        instrument = self.desk.instrument(symbol)
        described = shown.describe(instrument.tick_size if instrument is not None else None)
        said = f"Position differs from the exchange: {printable(described, 200)}"
        self.counters["position_disagreements"] += 1
        log.warning("%s", said)
        if shown.size_differs:  # an episode starts only while history is whole: a read is not under way
            said += "; fills missing? Re-reading executions"
            self._history_gap("the exchange's position differs from the ledger", tell=False)
        self.hub.publish(Notice("warning", said, kind=kind))

    def _room_for_position(self) -> bool:
        """Room for one more symbol's position view: the oldest flat view makes way at the bound; with every view
        an open position, the new symbol is rejected (counted, told once)."""
        views = self._position_views
        if len(views) >= POSITION_SYMBOLS_KEPT:
            flat = next((symbol for symbol in views if symbol not in self.desk.positions), None)
            if flat is not None:
                del views[flat]
        return not self._over_bound("position symbols", len(views) + 1 - POSITION_SYMBOLS_KEPT, POSITION_SYMBOLS_KEPT)

    def _fit_wallet(self, wallet: WalletSnapshot) -> WalletSnapshot:
        """The wallet with at most :data:`WALLET_COINS_KEPT` coins (the first ones; the rest counted, told once)."""
        coins = wallet.coins
        if not self._over_bound("wallet coins", len(coins) - WALLET_COINS_KEPT, WALLET_COINS_KEPT):
            return wallet
        return replace(wallet, coins=coins[:WALLET_COINS_KEPT])

    def _over_bound(self, what: str, over: int, kept: int) -> bool:
        """True when ``over`` keys of ``what`` are past the ``kept`` the desk holds: they are rejected and counted,
        and the first time (until it is under the bound again) a person is told."""
        if over <= 0:
            self._bounds_told.discard(what)
            return False
        self.counters[f"{what.replace(' ', '_')}_over_bound"] += over
        if what not in self._bounds_told:
            self._bounds_told.add(what)
            log.warning("more than %d %s from the private stream: the rest ignored", kept, what)
            text = f"The private stream sent more than {kept:,} {what}, more than Bybit holds: the rest are ignored"
            self.hub.publish(Notice("warning", text, kind=f"bound:{what}"))
        return True

    def take_wallet(self, wallet: WalletSnapshot) -> None:
        wallet = self._fit_wallet(wallet)
        self.desk.wallet = wallet
        self.desk.touch("wallet")
        self.hub.publish(WalletChanged(wallet))

    # ------------------------------------------------------------------ marks

    def mark_all(self, is_stale: Callable[[str, int], bool], now_ms: int | None = None) -> None:
        """Mark every held or traded symbol from its mark price or its book (never a stale one), when it moved;
        ``now_ms``: the time of the tick that marks (the clock's now by default)."""
        now_ms = self._now_ms() if now_ms is None else now_ms
        use_mark_price = self.mark_source == "mark"
        for symbol in self.desk.symbols:
            book: OrderBook | None = self.desk.books[symbol]
            if book is not None and is_stale(book.topic or "", now_ms):
                book = None  # a silent book is no mark, whatever it last said
            mark_price = self.desk.mark_price(symbol) if use_mark_price else None
            if mark_price is not None and is_stale(ticker_topic(symbol), now_ms):
                mark_price = None  # a silent ticker stream's markPrice is history: the book marks, or nothing
            choice = self.ledger.choose_mark(symbol, mark_price=mark_price, book=book)
            if choice is None or self._marked.get(symbol) == choice:
                continue
            if self.ledger.entry(symbol) is None and symbol not in self.desk.positions:
                continue  # nothing held, nothing traded: no ledger line to move
            self._marked[symbol] = choice
            entry = self.ledger.mark(symbol, choice[0], choice[1], now_ms)
            self.desk.touch("ledger")
            self.hub.publish(LedgerChanged(entry))

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)


def _why(error: BaseException) -> str:
    """One line on why a record was set aside."""
    text = str(error).splitlines()[0][:200] if str(error) else ""
    if isinstance(error, ExecutionRecordError) and text:
        return text
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _older_view(position: PositionSnapshot, known: PositionSnapshot) -> bool:
    """The exchange's cross sequence orders two views of a position; a setting change (leverage) keeps the seq
    and moves ``updatedTime``, so equal seqs (or none) are ordered by time."""
    if position.seq is not None and known.seq is not None and position.seq != known.seq:
        return position.seq < known.seq
    return known.updated_ms > position.updated_ms > 0


def _flat(symbol: str, updated_ms: int) -> PositionSnapshot:
    return PositionSnapshot(symbol, Decimal(0), Decimal(0), None, None, None, None, None, None, updated_ms)


def _closed_while_away(order: OpenOrder, now_ms: int) -> OpenOrder:
    """An order that was open before a disconnect and is no longer open: its last word was missed."""
    return replace(order, status="Closed", leaves_qty=Decimal(0), updated_ms=now_ms)
