"""The alert evaluator on scripted timelines: each condition fires once at start after its debounce, once at its
clear with how long it held, and never flaps inside the debounce."""

from __future__ import annotations

from decimal import Decimal
from typing import cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.alert_evaluator import AlertEvaluator, reading
from exchange.alert_rules import AlertRule, parse_alert_rules
from exchange.alert_watch import AlertWatch
from exchange.desk import Desk
from exchange.events import (
    AlertChanged,
    FillReceived,
    LinkState,
    LinkStats,
    PositionSnapshot,
    SessionState,
    StateChanged,
    TopicHealth,
)
from exchange.hub import EventHub
from exchange.ledger import ContractKind, Fill, MarkSource

SYMBOLS = ("BTCUSDT", "ETHUSDT")


def rule(**table: object) -> AlertRule:
    return parse_alert_rules([table], SYMBOLS)[0]


def desk() -> Desk:
    d = Desk(environment="SIM", category="linear", symbols=list(SYMBOLS), books={})
    d.state = SessionState(LinkState.READY, 0)
    return d


def set_state(d: Desk, kind: LinkState, reason: str = "") -> None:
    d.state = SessionState(kind, 0, reason)


def set_mark(d: Desk, symbol: str, price: str | None, last: str | None = None) -> None:
    fields = {"symbol": symbol}
    if price is not None:
        fields["markPrice"] = price
    if last is not None:
        fields["lastPrice"] = last
    d.tickers.apply({"topic": f"tickers.{symbol}", "type": "snapshot", "data": fields})


def run(evaluator: AlertEvaluator, d: Desk, timeline: list[tuple[int, object]]) -> list[AlertChanged]:
    """Apply each scripted change at its time (ms), evaluating every 100 ms in between, as a 10 Hz tick would."""
    fired: list[AlertChanged] = []
    end = max(t for t, _ in timeline) + 1
    steps = dict(timeline)
    for now in range(0, end, 100):
        change = steps.get(now)
        if callable(change):
            change(d)
        fired.extend(alert for _, alert in evaluator.evaluate(d, now))
    return fired


def test_link_down_fires_after_the_debounce_and_clears_with_its_duration() -> None:
    ev = AlertEvaluator((rule(when="link_down", after="2s"),))
    d = desk()
    fired = run(
        ev,
        d,
        [
            (1000, lambda d: set_state(d, LinkState.RECONNECTING, "no pong")),
            (9000, lambda d: set_state(d, LinkState.READY)),
            (12000, None),
        ],
    )
    assert [(a.active, a.time_ms, a.lasted_ms) for a in fired] == [(True, 3000, None), (False, 11000, 8000)]
    assert fired[0].rule == "link_down after 2s" and fired[0].condition == "link_down"
    assert "Reconnecting" in fired[0].text and "no pong" in fired[0].text
    assert "cleared after 8s" in fired[1].text


def test_no_flapping_inside_the_debounce() -> None:
    ev = AlertEvaluator((rule(when="link_down", after="2s"),))
    d = desk()
    down = lambda d: set_state(d, LinkState.RECONNECTING, "x")  # noqa: E731
    up = lambda d: set_state(d, LinkState.READY)  # noqa: E731
    # down for 1.5 s twice: never long enough to fire
    assert run(ev, d, [(0, down), (1500, up), (2000, down), (3500, up), (8000, None)]) == []
    # down 5 s with a 1 s blip of Ready inside: one start, one clear, the blip does not clear it
    ev = AlertEvaluator((rule(when="link_down", after="2s"),))
    fired = run(ev, d, [(0, down), (3000, up), (4000, down), (6000, up), (10000, None)])
    assert [(a.active, a.time_ms, a.lasted_ms) for a in fired] == [(True, 2000, None), (False, 8000, 6000)]


def test_after_zero_fires_and_clears_at_once() -> None:
    ev = AlertEvaluator((rule(when="failed"),))
    d = desk()
    fired = run(ev, d, [(500, lambda d: set_state(d, LinkState.FAILED, "key rejected")), (700, None)])
    assert [(a.active, a.time_ms) for a in fired] == [(True, 500)]
    set_state(d, LinkState.CONNECTING)
    cleared = [a for _, a in ev.evaluate(d, 900)]
    assert [(a.active, a.lasted_ms) for a in cleared] == [(False, 400)]


def test_failed_is_not_link_down_and_link_down_is_any_state_but_ready() -> None:
    down, failed = rule(when="link_down"), rule(when="failed")
    ev = AlertEvaluator((down, failed))
    d = desk()
    for kind in (LinkState.CONNECTING, LinkState.CONNECTED, LinkState.RECONNECTING):
        set_state(d, kind)
        ev.evaluate(d, 0)
        assert ev.state(down).active and not ev.state(failed).active
    set_state(d, LinkState.FAILED)
    ev.evaluate(d, 0)
    assert ev.state(down).active and ev.state(failed).active


def test_a_session_not_running_is_no_outage() -> None:
    """Disconnected (before the start, after a stop on purpose) neither starts nor clears an alert."""
    down = rule(when="link_down")
    ev = AlertEvaluator((down,))
    d = desk()
    set_state(d, LinkState.DISCONNECTED, "not started")
    assert ev.evaluate(d, 0) == [] and not ev.state(down).active
    set_state(d, LinkState.RECONNECTING, "no pong")
    assert [a.active for _, a in ev.evaluate(d, 100)] == [True]
    set_state(d, LinkState.DISCONNECTED, "stopped")
    assert ev.evaluate(d, 200) == [] and ev.state(down).active  # quitting mid-outage: no "cleared" either


def test_clear_after_is_its_own_debounce() -> None:
    ev = AlertEvaluator((rule(when="link_down", after="1s", clear_after="3s"),))
    d = desk()
    fired = run(
        ev, d, [(0, lambda d: set_state(d, LinkState.RECONNECTING)), (2000, lambda d: set_state(d, LinkState.READY)),
                (6000, None)]
    )  # fmt: skip
    assert [(a.active, a.time_ms, a.lasted_ms) for a in fired] == [(True, 1000, None), (False, 5000, 2000)]


def test_stream_stale_by_topic_and_symbol() -> None:
    any_topic, eth = rule(when="stream_stale", after="1s"), rule(when="stream_stale", symbol="ETHUSDT")
    ev = AlertEvaluator((any_topic, eth))
    d = desk()
    assert ev.evaluate(d, 0) == []  # no link figures yet: unknown, nothing fires

    def stale(*topics: str) -> object:
        def apply(d: Desk) -> None:
            health = tuple(TopicHealth(t, 0, t in topics) for t in ("orderbook.50.BTCUSDT", "tickers.ETHUSDT"))
            d.stats = LinkStats(None, 0.0, 0, "", health)

        return apply

    fired = run(ev, d, [(0, stale()), (1000, stale("orderbook.50.BTCUSDT")), (3000, stale()), (4000, None)])
    assert [(a.rule, a.active, a.lasted_ms) for a in fired] == [
        ("stream_stale after 1s", True, None),
        ("stream_stale after 1s", False, 2000),
    ]
    assert "orderbook.50.BTCUSDT" in fired[0].text
    fired = run(ev, d, [(0, stale("tickers.ETHUSDT")), (500, stale()), (600, None)])
    assert [(a.rule, a.active, a.lasted_ms) for a in fired] == [
        ("stream_stale ETHUSDT", True, None),
        ("stream_stale ETHUSDT", False, 500),
    ]


def test_price_above_and_below_read_the_mark_then_the_last_price() -> None:
    above = rule(when="price_above", symbol="BTCUSDT", price="70000")
    below = rule(when="price_below", symbol="BTCUSDT", price="60000", source="last")
    ev = AlertEvaluator((above, below))
    d = desk()
    assert ev.evaluate(d, 0) == []  # no price yet
    set_mark(d, "BTCUSDT", "70000", last="59999.9")
    fired = [a for _, a in ev.evaluate(d, 100)]
    assert [(a.rule, a.active) for a in fired] == [("price_below BTCUSDT 60000", True)]  # 70000 is not above
    set_mark(d, "BTCUSDT", "70000.1", last="60000")
    fired = [a for _, a in ev.evaluate(d, 300)]
    assert [(a.rule, a.active, a.lasted_ms) for a in fired] == [
        ("price_above BTCUSDT 70000", True, None),
        ("price_below BTCUSDT 60000", False, 200),
    ]
    assert "mark 70000.1" in fired[0].text
    set_mark(d, "BTCUSDT", None)  # the ticker lost: unknown, the alert stays as it is
    assert ev.evaluate(d, 400) == [] and ev.state(above).active
    set_mark(d, "BTCUSDT", None, last="70001")  # no mark (spot): the last price stands in
    assert ev.evaluate(d, 500) == [] and ev.state(above).active
    set_mark(d, "BTCUSDT", None, last="69000")
    assert [(a.active, a.lasted_ms) for _, a in ev.evaluate(d, 600)] == [(False, 600 - 300)]


def _fill(symbol: str, side: str, qty: str, price: str, n: int = 1) -> Fill:
    return Fill(f"e{n}", symbol, side, Decimal(qty), Decimal(price), Decimal(0), n)


def test_pnl_below_total_and_per_symbol() -> None:
    total, eth = rule(when="pnl_below", pnl="-100"), rule(when="pnl_below", pnl="-10", symbol="ETHUSDT")
    ev = AlertEvaluator((total, eth))
    d = desk()
    assert ev.evaluate(d, 0) == []  # no ledger yet
    d.ledger.apply_fill(_fill("BTCUSDT", "Buy", "1", "1000", 1))
    d.ledger.apply_fill(_fill("ETHUSDT", "Buy", "1", "100", 2))
    d.ledger.mark("BTCUSDT", Decimal(950), MarkSource.MARK_PRICE, 3)  # -50
    d.ledger.mark("ETHUSDT", Decimal(80), MarkSource.MARK_PRICE, 3)  # -20
    assert [(a.rule, a.active) for _, a in ev.evaluate(d, 100)] == [("pnl_below ETHUSDT -10", True)]
    d.ledger.mark("BTCUSDT", Decimal(900), MarkSource.MARK_PRICE, 4)  # -100 - 20
    fired = [a for _, a in ev.evaluate(d, 200)]
    assert [(a.rule, a.active) for a in fired] == [("pnl_below -100", True)]
    assert "P&L -120.00" in fired[0].text
    d.ledger.mark("BTCUSDT", Decimal(1000), MarkSource.MARK_PRICE, 5)
    assert [(a.rule, a.active, a.lasted_ms) for _, a in ev.evaluate(d, 700)] == [("pnl_below -100", False, 500)]


def _coin_fill(symbol: str, qty: str, price: str, n: int) -> Fill:
    coin = symbol.removesuffix("USD")
    return Fill(
        f"i{n}", symbol, "Buy", Decimal(qty), Decimal(price), Decimal(0), n,
        contract=ContractKind.INVERSE, settle_coin=coin,
    )  # fmt: skip


def test_pnl_below_compares_an_inverse_symbols_pnl_in_its_coin_and_never_adds_two_coins() -> None:
    btc = parse_alert_rules([{"when": "pnl_below", "pnl": "-0.001", "symbol": "BTCUSD"}], ("BTCUSD", "ETHUSD"))[0]
    both = parse_alert_rules([{"when": "pnl_below", "pnl": "-0.001"}], ("BTCUSD", "ETHUSD"))[0]
    ev = AlertEvaluator((btc, both))
    d = Desk(environment="SIM", category="inverse", symbols=["BTCUSD", "ETHUSD"], books={})
    d.state = SessionState(LinkState.READY, 0)
    d.ledger.apply_fill(_coin_fill("BTCUSD", "1000", "50000", 1))  # 0.02 BTC
    d.ledger.apply_fill(_coin_fill("ETHUSD", "1000", "2500", 2))
    d.ledger.mark("BTCUSD", Decimal(40000), MarkSource.MARK_PRICE, 3)  # 1000 x (1/50000 - 1/40000) = -0.005 BTC
    fired = [a for _, a in ev.evaluate(d, 100)]
    assert [(a.rule, a.active) for a in fired] == [("pnl_below BTCUSD -0.001", True)]
    assert "P&L -0.00500000 BTC" in fired[0].text
    held, said = reading(both, d)  # BTC and ETH: no sum of the two
    assert held is None and "BTC and ETH" in said


def _position(symbol: str, size: str, liq: str | None, mark: str | None = None) -> PositionSnapshot:
    return PositionSnapshot(
        symbol, Decimal(size), Decimal(1), Decimal(mark) if mark else None, Decimal(liq) if liq else None,
        None, None, None, None,
    )  # fmt: skip


def test_liq_distance_below_in_percent_of_the_mark() -> None:
    r = rule(when="liq_distance_below", percent="5")
    ev = AlertEvaluator((r,))
    d = desk()
    d.positions["BTCUSDT"] = _position("BTCUSDT", "1", "95000")
    assert ev.evaluate(d, 0) == []  # positions not read yet: unknown
    d.positions_read = True
    set_mark(d, "BTCUSDT", "100000")  # exactly 5 %: not below
    assert ev.evaluate(d, 100) == [] and not ev.state(r).active
    set_mark(d, "BTCUSDT", "99000")  # 4.04 %
    fired = [a for _, a in ev.evaluate(d, 200)]
    assert [a.active for a in fired] == [True] and "4.04% from liquidation" in fired[0].text
    d.positions["BTCUSDT"] = _position("BTCUSDT", "0", "95000")  # closed: no risk left
    assert [(a.active, a.lasted_ms) for _, a in ev.evaluate(d, 1200)] == [(False, 1000)]
    d.positions["ETHUSDT"] = _position("ETHUSDT", "-2", "2050", mark="2000")  # a short, mark from the position
    assert [a.active for _, a in ev.evaluate(d, 1300)] == [True]


def test_position_changed_is_an_instant_after_the_first_reading() -> None:
    r = rule(when="position_changed", symbol="BTCUSDT")
    ev = AlertEvaluator((r,))
    d = desk()
    assert ev.evaluate(d, 0) == []
    d.positions_read = True
    d.positions["BTCUSDT"] = _position("BTCUSDT", "0.5", None)
    assert ev.evaluate(d, 100) == []  # the first reading is the baseline
    assert ev.evaluate(d, 200) == []
    d.positions["BTCUSDT"] = _position("BTCUSDT", "1.5", None)
    d.positions["ETHUSDT"] = _position("ETHUSDT", "3", None)  # another symbol: not this rule's
    fired = [a for _, a in ev.evaluate(d, 300)]
    assert [(a.active, a.instant, a.lasted_ms) for a in fired] == [(True, True, None)]
    assert "BTCUSDT position 0.5 -> 1.5" in fired[0].text
    assert ev.evaluate(d, 400) == []  # once: it never clears
    del d.positions["BTCUSDT"]  # gone from the account's positions: flat
    assert ["0" in a.text.split("->")[1] for _, a in ev.evaluate(d, 500)] == [True]


def test_fill_fires_once_per_fill_with_after_as_a_quiet_period() -> None:
    every, quiet = rule(when="fill"), rule(when="fill", symbol="ETHUSDT", after="1s")
    ev = AlertEvaluator((every, quiet))
    btc = FillReceived(_fill("BTCUSDT", "Buy", "0.1", "70000"), None)
    eth = FillReceived(_fill("ETHUSDT", "Sell", "2", "3500"), None, backfilled=True)
    assert [a.rule for _, a in ev.fill(btc, 0)] == ["fill"]
    fired = [a for _, a in ev.fill(eth, 100)]
    assert [(a.rule, a.active, a.instant) for a in fired] == [
        ("fill", True, True),
        ("fill ETHUSDT after 1s", True, True),
    ]
    assert "ETHUSDT Sell 2 @ 3500 (backfill)" in fired[1].text
    assert [a.rule for _, a in ev.fill(eth, 600)] == ["fill"]  # the quiet period holds the second one
    assert ev.state(quiet).suppressed == 1
    assert [a.rule for _, a in ev.fill(eth, 1100)] == ["fill", "fill ETHUSDT after 1s"]


def test_next_due_is_where_a_debounce_ends() -> None:
    r = rule(when="link_down", after="10s")
    ev = AlertEvaluator((r,))
    d = desk()
    assert ev.next_due_ms() is None
    set_state(d, LinkState.RECONNECTING)
    ev.evaluate(d, 1234)
    assert ev.next_due_ms() == 11_234
    ev.evaluate(d, 11_234)
    assert ev.next_due_ms() is None and ev.state(r).active
    set_state(d, LinkState.READY)
    ev.evaluate(d, 12_000)
    assert ev.next_due_ms() == 22_000


def test_a_hostile_reason_is_made_printable() -> None:
    ev = AlertEvaluator((rule(when="link_down"),))
    d = desk()
    set_state(d, LinkState.RECONNECTING, "\x1b]0;pwned\x07\u202e" + "x" * 1000)
    ((_, alert),) = ev.evaluate(d, 0)
    assert alert.text.isprintable() and len(alert.text) < 300


async def test_the_watch_publishes_on_the_hub_and_delivers() -> None:
    now = [100.0]
    hub = EventHub()
    d = desk()
    delivered: list[tuple[AlertRule, AlertChanged]] = []
    rules = (rule(when="link_down", after="1s"), rule(when="fill"))
    watch = AlertWatch(d, hub, rules, clock=lambda: now[0], deliver=lambda r, a: delivered.append((r, a)))
    listener = hub.subscribe([AlertChanged])
    watch.subscribe()
    previous = d.state
    set_state(d, LinkState.RECONNECTING, "no pong")
    hub.publish(StateChanged(d.state, previous))
    hub.publish(FillReceived(_fill("BTCUSDT", "Buy", "1", "1"), None))
    assert [a.rule for _, a in watch.step(watch.subscribe().drain())] == ["fill"]
    now[0] = 101.0
    assert [a.rule for _, a in watch.step([])] == ["link_down after 1s"]
    alerts = cast(list[AlertChanged], listener.drain())  # subscribed to AlertChanged only
    assert [a.rule for a in alerts] == ["fill", "link_down after 1s"]
    assert [r.condition.value for r, _ in delivered] == ["fill", "link_down"] and watch.fired == 2


@pytest.mark.parametrize("after", ["0s", "300ms"])
async def test_the_watch_wakes_when_a_debounce_ends(after: str) -> None:
    import asyncio
    import time

    hub = EventHub()
    d = desk()
    got: list[float] = []
    watch = AlertWatch(d, hub, (rule(when="link_down", after=after),), deliver=lambda r, a: got.append(time.time()))
    task = asyncio.create_task(watch.run())
    await asyncio.sleep(0.05)
    previous = d.state
    set_state(d, LinkState.RECONNECTING)
    start = time.time()
    hub.publish(StateChanged(d.state, previous))
    for _ in range(300):
        if got:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    assert got and got[0] - start >= float(after.rstrip("ms")) / (1000 if after.endswith("ms") else 1)


@settings(max_examples=300, deadline=None)
@given(
    after=st.sampled_from([0, 100, 300, 1000]),
    runs=st.lists(st.tuples(st.booleans(), st.integers(min_value=1, max_value=30)), min_size=1, max_size=30),
)
def test_any_timeline_alternates_and_respects_the_debounce(after: int, runs: list[tuple[bool, int]]) -> None:
    """Whatever the link does: starts and clears alternate, a start comes only after the condition held for
    ``after`` without a break, a clear only after it stopped for ``after``, and a clear's duration is exact."""
    ev = AlertEvaluator((rule(when="link_down", after=f"{after}ms"),))
    d = desk()
    timeline: list[bool] = [down for down, steps in runs for _ in range(steps)] + [False] * (after // 100 + 2)
    fired: list[AlertChanged] = []
    for step, down in enumerate(timeline):
        set_state(d, LinkState.RECONNECTING if down else LinkState.READY)
        fired.extend(alert for _, alert in ev.evaluate(d, step * 100))
    assert [a.active for a in fired] == [True, False] * (len(fired) // 2)  # alternate, and it ends cleared
    for alert in fired:
        step = alert.time_ms // 100
        held = after // 100
        window = timeline[step - held : step + 1] if held else timeline[step : step + 1]
        assert all(window) if alert.active else not any(window)
    for start, clear in zip(fired[::2], fired[1::2], strict=True):
        began = next(s for s in range(start.time_ms // 100, -1, -1) if s == 0 or not timeline[s - 1])
        ended = clear.time_ms // 100 - after // 100
        assert clear.lasted_ms == (ended - began) * 100
