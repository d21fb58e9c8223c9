"""The desk's summary (:mod:`exchange.summary`): deterministic bytes, every book level, the ledger as exact
decimal text, the transitions in order and bounded; and ``fluxum monitor``'s readable summary lines."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from app.commands.monitor import _Printer
from exchange.book import OrderBook
from exchange.desk import Desk
from exchange.events import LinkState, OpenOrder, PositionSnapshot, SessionState
from exchange.ledger import Fill, MarkSource
from exchange.summary import STATES_KEPT_FIRST, STATES_KEPT_LAST, StateTrail, desk_summary, summary_json


def _book_message(symbol: str, u: int, bids: list[list[str]], asks: list[list[str]]) -> dict[str, Any]:
    return {
        "topic": f"orderbook.50.{symbol}",
        "type": "snapshot",
        "ts": 1_700_000_000_000 + u,
        "data": {"s": symbol, "b": bids, "a": asks, "u": u, "seq": 9_000 + u},
        "cts": 1_700_000_000_000 + u - 1,
    }


def _fill(exec_id: str, symbol: str, side: str, qty: str, price: str, fee: str, time_ms: int) -> Fill:
    return Fill(exec_id, symbol, side, Decimal(qty), Decimal(price), Decimal(fee), time_ms, "Trade", "o-" + exec_id)


STATES = [
    SessionState(LinkState.DISCONNECTED, 1_000, "not started"),
    SessionState(LinkState.CONNECTING, 1_001, "opening links"),
    SessionState(LinkState.READY, 1_050, "all topics live"),
    SessionState(LinkState.RECONNECTING, 2_000, "ping timeout", attempt=1, next_retry_ms=2_500),
]


def _desk(symbols: list[str]) -> Desk:
    """The same desk whatever order ``symbols`` come in: books, fills, a mark, an order, a position."""
    desk = Desk("SIM", "linear", list(symbols), {s: OrderBook(f"orderbook.50.{s}") for s in symbols})
    desk.books["BTCUSDT"].apply(
        _book_message("BTCUSDT", 41, [["30247.20", "1.500"], ["30247.1", "0.001"]], [["30247.3", "2"]])
    )
    desk.books["ETHUSDT"].apply(_book_message("ETHUSDT", 7, [["0.00001", "123456789.5"]], [["3500.10", "0.10"]]))
    desk.ledger.apply_fills(
        [
            _fill("e1", "BTCUSDT", "Buy", "0.1", "30000.1", "0.0165", 1),
            _fill("e2", "BTCUSDT", "Buy", "0.2", "30000.2", "0.033", 2),
            _fill("e3", "BTCUSDT", "Sell", "0.1", "30100", "-0.001", 3),
            _fill("e4", "ETHUSDT", "Sell", "1", "3500.5", "0.1925", 4),
        ]
    )
    desk.ledger.mark("BTCUSDT", Decimal("30247.20"), MarkSource.MARK_PRICE, 5)
    for order_id in ("b", "a"):
        desk.orders[order_id] = OpenOrder(
            order_id,
            "",
            "BTCUSDT",
            "Buy",
            "Limit",
            Decimal("30000.0"),
            Decimal("0.3"),
            Decimal(0),
            Decimal("0.3"),
            "New",
        )
    desk.positions["ETHUSDT"] = PositionSnapshot(
        "ETHUSDT", Decimal("-1"), Decimal("3500.5"), Decimal("3500.1"), None, Decimal("0.4"), None, Decimal(10), None
    )
    return desk


def _floats(value: Any) -> list[float]:
    if isinstance(value, float):
        return [value]
    if isinstance(value, dict):
        return [f for item in value.values() for f in _floats(item)]
    if isinstance(value, list):
        return [f for item in value for f in _floats(item)]
    return []


def test_two_summaries_of_the_same_desk_are_the_same_bytes() -> None:
    first = summary_json(desk_summary(_desk(["BTCUSDT", "ETHUSDT"]), STATES))
    again = summary_json(desk_summary(_desk(["ETHUSDT", "BTCUSDT"]), STATES))
    assert first == again
    record = json.loads(first)
    assert record["type"] == "summary" and list(record["books"]) == ["BTCUSDT", "ETHUSDT"]
    assert [o["order_id"] for o in record["orders"]] == ["a", "b"]  # not the desk's insertion order


def test_books_hold_every_level_as_decimal_text_with_u_seq_and_state() -> None:
    books = desk_summary(_desk(["BTCUSDT", "ETHUSDT"]), STATES)["books"]
    btc, eth = books["BTCUSDT"], books["ETHUSDT"]
    assert btc["bids"] == [["30247.2", "1.5"], ["30247.1", "0.001"]] and btc["asks"] == [["30247.3", "2"]]
    assert (btc["u"], btc["seq"], btc["state"], btc["ts"]) == (41, 9_041, "SYNCED", 1_700_000_000_041)
    assert eth["bids"] == [["0.00001", "123456789.5"]]  # no exponent, no float rounding shown
    assert eth["asks"] == [["3500.1", "0.1"]]
    assert btc["counters"]["snapshots"] == 1


def test_the_ledger_is_every_field_as_exact_decimal_text() -> None:
    desk = _desk(["BTCUSDT", "ETHUSDT"])
    summary = desk_summary(desk, STATES)
    assert not _floats(summary)
    btc = summary["ledger"]["BTCUSDT"]
    entry = desk.ledger.entry("BTCUSDT")
    assert entry is not None
    assert set(btc) == set(entry.__dataclass_fields__)
    assert btc["position"] == "0.2" and btc["fees"] == "0.0485"  # 0.0165 + 0.033 - 0.001, exactly
    assert btc["total_buy_qty"] == "0.3" and btc["buy_notional"] == "9000.05"
    assert btc["spot"] == "30247.2" and btc["mark_source"] == "mark_price" and btc["update_source"] == "Market_data"
    for field, text in btc.items():
        value = getattr(entry, field)
        if isinstance(value, Decimal):
            assert Decimal(text) == value, field
    assert summary["fills"] == {"BTCUSDT": 3, "ETHUSDT": 1}
    assert summary["ledger_counters"]["duplicates"] == 0
    assert summary["positions"]["ETHUSDT"]["size"] == "-1" and summary["positions"]["ETHUSDT"]["liq_price"] is None


def test_states_are_every_transition_in_order() -> None:
    states = desk_summary(_desk(["BTCUSDT", "ETHUSDT"]), StateTrail(STATES[0]))["states"]
    assert states == [
        {"state": "Disconnected", "reason": "not started", "attempt": 0, "time_ms": 1_000, "next_retry_ms": None}
    ]
    trail = StateTrail()
    for state in STATES:
        trail.add(state)
    summary = desk_summary(_desk(["BTCUSDT", "ETHUSDT"]), trail)
    assert [s["state"] for s in summary["states"]] == ["Disconnected", "Connecting", "Ready", "Reconnecting"]
    assert summary["states"][3] == {
        "state": "Reconnecting",
        "reason": "ping timeout",
        "attempt": 1,
        "time_ms": 2_000,
        "next_retry_ms": 2_500,
    }
    assert summary["states_dropped"] == 0


def test_a_flapping_session_keeps_its_first_and_latest_transitions() -> None:
    trail = StateTrail()
    total = STATES_KEPT_FIRST + STATES_KEPT_LAST + 500
    for n in range(total):
        trail.add(SessionState(LinkState.RECONNECTING, n, "flap", attempt=n))
    kept = trail.states()
    assert len(kept) == STATES_KEPT_FIRST + STATES_KEPT_LAST and trail.dropped == 500
    assert kept[0].attempt == 0 and kept[STATES_KEPT_FIRST - 1].attempt == STATES_KEPT_FIRST - 1
    assert kept[STATES_KEPT_FIRST].attempt == STATES_KEPT_FIRST + 500 and kept[-1].attempt == total - 1
    assert desk_summary(_desk(["BTCUSDT", "ETHUSDT"]), trail)["states_dropped"] == 500


def test_exchange_text_keeps_its_data_and_cannot_drive_a_terminal() -> None:
    trail = StateTrail(SessionState(LinkState.FAILED, 1, "Invalid apikey\x1b]0;pwned\x07\x9b31m\u202e"))
    line = summary_json(desk_summary(_desk(["BTCUSDT", "ETHUSDT"]), trail))
    assert line.isprintable()
    assert json.loads(line)["states"][0]["reason"] == "Invalid apikey\x1b]0;pwned\x07\x9b31m\u202e"


def test_the_readable_summary_gives_each_symbol_and_the_transitions(capsys: Any) -> None:
    trail = StateTrail()
    for state in STATES:
        trail.add(state)
    _Printer(json_lines=False).summary(_desk(["BTCUSDT", "ETHUSDT"]), trail)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all(" SUMMARY " in line for line in lines)
    assert "BTCUSDT" in lines[0] and "bid 30247.2 x 1.5 | ask 30247.3 x 2  u 41  SYNCED" in lines[0]
    assert "position 0.2" in lines[0] and "(3 fills)" in lines[0]
    assert "ETHUSDT" in lines[1] and "position -1" in lines[1] and "(1 fill)" in lines[1]
    assert lines[2].endswith("4 states, last Disconnected -> Connecting -> Ready -> Reconnecting")


def test_the_json_summary_line_is_the_shared_summary_alone(capsys: Any) -> None:
    desk = _desk(["BTCUSDT", "ETHUSDT"])
    _Printer(json_lines=True).summary(desk, StateTrail(STATES[0]))
    out = capsys.readouterr().out
    assert out == summary_json(desk_summary(desk, StateTrail(STATES[0]))) + "\n"
