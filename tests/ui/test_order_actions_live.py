"""Order entry against the local Bybit exchange: each action confirmed and sent, shown by the exchange's own
``order`` stream on the ladder and in the orders table, and each refusal told (loopback only, fixed seed)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from app.order_entry import AmendScreen
from app.screens import ConfirmScreen
from exchange.config import load_settings
from exchange.events import LinkState, OpenOrder
from exchange.order_ticket import OrderLimits
from tests.ui.support import (
    LIVE_SIZE,
    RecordingApp,
    palette,
    press,
    runtime_options,
    screen_text,
    sim_settings,
    until,
)
from widgets.ladder import Ladder
from widgets.orders import OrdersTable

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

QTY = Decimal("0.002")


def _app(tmp_path: Path, max_notional: Decimal = Decimal(100_000)) -> RecordingApp:
    settings = replace(sim_settings("BTCUSDT"), order_limits=OrderLimits({"BTCUSDT": QTY}, max_notional))
    return RecordingApp(settings, runtime_options=runtime_options(tmp_path))


async def _ready(app: RecordingApp, pilot: Pilot[Any], symbol: str = "BTCUSDT") -> None:
    await until(
        pilot,
        lambda: (
            app.runtime is not None
            and app.desk.state.kind is LinkState.READY
            and app.desk.instrument(symbol) is not None
            and app.query_one(Ladder).trust == ("SYNCED", None)
        ),
        f"Ready with a live {symbol} book",
    )


def _hold_the_market(app: RecordingApp) -> None:
    """The book stays where the cursor is (a resting order stays resting) for the few seconds before it would go
    STALE; :func:`_release` lets it move again."""
    assert app.runtime is not None and app.runtime.sim is not None
    app.runtime.sim.faults.pause_market()


def _release(app: RecordingApp) -> None:
    assert app.runtime is not None and app.runtime.sim is not None
    app.runtime.sim.faults.resume_market()


def _size(app: RecordingApp, symbol: str) -> Decimal:
    position = app.desk.positions.get(symbol)
    return position.size if position is not None else Decimal(0)


def _mine(app: RecordingApp) -> list[OpenOrder]:
    return [o for o in app.desk.open_orders("BTCUSDT") if o.order_link_id.startswith("fx-")]


async def _confirm(app: RecordingApp, pilot: Pilot[Any], *says: str) -> None:
    await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
    asked = lambda: app.screen.question if isinstance(app.screen, ConfirmScreen) else ""  # noqa: E731
    await until(pilot, lambda: all(s in asked() for s in says), f"the confirmation to ask {says!r}")
    await press(pilot, "y")
    await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen), "the confirmation answered")


async def test_buy_at_the_cursor_shows_on_the_ladder_and_in_the_orders_table(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await _ready(app, pilot)
        ladder = app.query_one(Ladder)
        _hold_the_market(app)
        await press(pilot, *"j" * 12)  # the best bid, then rows under it: the order rests
        await until(pilot, lambda: ladder.cursor is not None and "▶" in screen_text(app), "the cursor on the ladder")
        price = Decimal(f"{ladder.cursor:.1f}")
        await press(pilot, "b")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
        await press(pilot, "n")  # refused: nothing sent
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen), "the dialog gone")
        await press(pilot, "b")
        await _confirm(app, pilot, f"Send BUY 0.002 BTCUSDT @ {price:,f} (limit)")
        _release(app)
        await until(pilot, lambda: len(_mine(app)) == 1, "the order acknowledged by the order stream")
        order = _mine(app)[0]
        assert (order.side, order.price, order.qty, order.time_in_force) == ("Buy", price, QTY, "GTC")
        table = app.query_one(OrdersTable)
        await until(pilot, lambda: table.selected_order() is not None, "the order in the orders table")
        await until(pilot, lambda: "◆0.002" in screen_text(app), "the order marked on the ladder")
        assert app.noticed("Order sent: BUY 0.002 BTCUSDT")
        await app.stop_session()


async def test_a_post_only_order_that_would_cross_is_cancelled_with_bybits_reason(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await _ready(app, pilot)
        _hold_the_market(app)
        await press(pilot, *"k" * 6)  # above the best ask: a post-only buy there would take liquidity
        await until(pilot, lambda: app.query_one(Ladder).cursor is not None, "the cursor on the best ask")
        await press(pilot, "B")
        await _confirm(app, pilot, "(post-only limit)")
        _release(app)
        await until(pilot, lambda: app.noticed("EC_PostOnlyWillTakeLiquidity"), "the exchange's reason told")
        assert app.noticed("it would have taken liquidity") and not _mine(app)
        await app.stop_session()


async def test_an_order_above_max_notional_is_refused_before_anything_is_asked(tmp_path: Path) -> None:
    app = _app(tmp_path, max_notional=Decimal(50))
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await _ready(app, pilot)
        await press(pilot, "j", "b")
        await until(pilot, lambda: app.noticed("above max_notional 50 USDT"), "the local refusal")
        await press(pilot, "m")
        await until(pilot, lambda: len([t for _, t in app.notices if "max_notional" in t]) == 2, "market refused")
        assert not isinstance(app.screen, ConfirmScreen) and not _mine(app)
        await app.stop_session()


async def test_market_buy_then_close_the_position_reduce_only(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await _ready(app, pilot)
        await press(pilot, "x")
        await until(pilot, lambda: app.noticed("no position in BTCUSDT to close"), "nothing to close")
        await press(pilot, "m")
        await _confirm(app, pilot, "Send BUY 0.002 BTCUSDT at market?")
        await until(pilot, lambda: _size(app, "BTCUSDT") == QTY, "the long position")
        await press(pilot, "x")
        await _confirm(app, pilot, "SELL 0.002 BTCUSDT at market (reduce-only)")
        await until(pilot, lambda: _size(app, "BTCUSDT") == 0, "the position closed")
        await app.stop_session()


async def test_an_order_waiting_out_a_rate_limit_is_shown_pending_then_its_result(tmp_path: Path) -> None:
    """Bybit answers 10006: the order waits for the reset and is sent again by itself; the trader sees it
    pending with the wait as the wait starts, then the result."""
    app = _app(tmp_path)
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await _ready(app, pilot)
        await press(pilot, "m")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
        assert app.runtime is not None and app.runtime.sim is not None
        app.runtime.sim.faults.rate_limit_for(1.5)
        await press(pilot, "y")
        pending = "Pending: BUY 0.002 BTCUSDT at market: rate limited, retry in "
        await until(pilot, lambda: app.noticed(pending), "the order shown pending with its wait")
        assert not app.noticed("Order sent"), "pending is told while it waits, before the result"
        await until(pilot, lambda: app.noticed("Order sent: BUY 0.002 BTCUSDT at market"), "then its result")
        told = [text for _, text in app.notices if text.startswith(pending)]
        assert 0 < float(told[0].removeprefix(pending).removesuffix(" s")) <= 1.6
        await app.stop_session()


async def test_the_palette_cancels_all_and_closes_the_position_through_the_same_confirmations(tmp_path: Path) -> None:
    """ "Orders: cancel all of the symbol" and "Position: close at market" ask what C and x ask; a no sends
    nothing, a yes does what the key does."""
    app = _app(tmp_path)
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await _ready(app, pilot)
        await palette(pilot, app, "close at market", "Position: close at market")
        await until(pilot, lambda: app.noticed("no position in BTCUSDT to close"), "the key's refusal")
        order = await _resting(app, pilot)
        await palette(pilot, app, "cancel all", "Orders: cancel all of the symbol")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
        assert "Cancel all 1 open orders of BTCUSDT?" in app.screen.question  # type: ignore[attr-defined]
        await press(pilot, "n")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen), "the dialog gone")
        assert app.desk.orders[order.order_id].is_open, "a no sends nothing"
        await palette(pilot, app, "cancel all", "Orders: cancel all of the symbol")
        await _confirm(app, pilot, "Cancel all 1 open orders of BTCUSDT?")
        await until(pilot, lambda: not app.desk.open_orders("BTCUSDT"), "the order cancelled")
        await press(pilot, "m")
        await _confirm(app, pilot, "Send BUY 0.002 BTCUSDT at market?")
        await until(pilot, lambda: _size(app, "BTCUSDT") == QTY, "the long position")
        await palette(pilot, app, "close at market", "Position: close at market")
        await _confirm(app, pilot, "Close the BTCUSDT position: SELL 0.002 BTCUSDT at market (reduce-only)?")
        await until(pilot, lambda: _size(app, "BTCUSDT") == 0, "the position closed")
        await app.stop_session()


async def test_cancel_all_of_the_symbol(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await _ready(app, pilot)
        await press(pilot, "C")
        await until(pilot, lambda: app.noticed("No open orders of BTCUSDT to cancel"), "nothing to cancel")
        assert app.runtime is not None
        bid = app.desk.books["BTCUSDT"].best_bid()
        assert bid is not None
        for step in (Decimal("0.9"), Decimal("0.8")):
            price = (Decimal(repr(bid[0])) * step).quantize(Decimal("0.1"))
            await app.runtime.rest.place_order("linear", "BTCUSDT", "Buy", "Limit", QTY, price=price)
        await until(pilot, lambda: len(app.desk.open_orders("BTCUSDT")) == 2, "two resting orders")
        await press(pilot, "C")
        await _confirm(app, pilot, "Cancel all 2 open orders of BTCUSDT?")
        await until(pilot, lambda: not app.desk.open_orders("BTCUSDT"), "every order cancelled")
        assert app.noticed("Cancel all sent: 2 orders of BTCUSDT")
        await app.stop_session()


async def _resting(app: RecordingApp, pilot: Pilot[Any]) -> OpenOrder:
    assert app.runtime is not None
    bid = app.desk.books["BTCUSDT"].best_bid()
    assert bid is not None
    price = (Decimal(repr(bid[0])) * Decimal("0.9")).quantize(Decimal("0.1"))
    await app.runtime.rest.place_order("linear", "BTCUSDT", "Buy", "Limit", QTY, price=price)
    table = app.query_one(OrdersTable)
    await until(pilot, lambda: table.selected_order() is not None, "the order in the orders table")
    order = table.selected_order()
    assert order is not None
    return order


async def _amend_qty(app: RecordingApp, pilot: Pilot[Any], qty: str, price: str | None = None) -> None:
    """Type the amend form's quantity (and price, when given) and submit it."""
    await press(pilot, "a")
    await until(pilot, lambda: isinstance(app.screen, AmendScreen) and bool(app.screen.query("#amend-qty")), "the form")
    if price is not None:
        app.screen.query_one("#amend-price").value = price  # type: ignore[attr-defined]
    field = app.screen.query_one("#amend-qty")
    field.value = qty  # type: ignore[attr-defined]
    field.focus()
    await press(pilot, "enter")


async def test_amend_the_selected_orders_quantity_and_an_order_that_is_gone(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await _ready(app, pilot)
        await press(pilot, "a")
        await until(pilot, lambda: app.noticed("No open order is selected"), "nothing to amend")
        order = await _resting(app, pilot)
        await _amend_qty(app, pilot, "0.005")
        await _confirm(app, pilot, "qty 0.002 → 0.005")
        await until(pilot, lambda: app.desk.orders[order.order_id].qty == Decimal("0.005"), "the amended qty")
        await until(pilot, lambda: "0.005" in screen_text(app), "the orders table shows it")

        await _amend_qty(app, pilot, "0.004")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
        assert app.runtime is not None
        await app.runtime.rest.cancel_order("linear", "BTCUSDT", order_id=order.order_id)  # another terminal
        await press(pilot, "y")
        await until(pilot, lambda: app.noticed("Amend rejected (the order is gone"), "110001 told")
        assert app.noticed("110001")
        await app.stop_session()


async def test_an_amend_is_checked_as_a_new_order_is(tmp_path: Path) -> None:
    """A price far from the book (a slipped finger: a tenth of it, ten times it) and a quantity above the max
    notional are refused as a new order's are, one line each, and nothing is sent; a price near the book is
    asked as usual."""
    app = _app(tmp_path, max_notional=Decimal(1_000))
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await _ready(app, pilot)
        order = await _resting(app, pilot)
        bid = Decimal(repr(app.desk.books["BTCUSDT"].best_bid()[0]))  # type: ignore[index]
        for far, where in ((bid / 10, "below"), (bid * 10, "above")):
            await _amend_qty(app, pilot, "0.002", f"{far:.1f}")
            await until(pilot, partial(app.noticed, f"% {where} the book's mid"), f"the price {where} the book refused")
            assert app.noticed("(more than max_price_distance 10%): not sent")
            assert not isinstance(app.screen, ConfirmScreen)
        await _amend_qty(app, pilot, "1")
        await until(pilot, lambda: app.noticed("Amend refused: notional"), "the huge quantity refused")
        assert app.noticed("above max_notional 1,000 USDT")
        await until(pilot, lambda: not isinstance(app.screen, AmendScreen), "the form closed")
        assert app.desk.orders[order.order_id].qty == QTY and app.desk.orders[order.order_id].price == order.price
        near = (bid - 5).quantize(Decimal("0.1"))
        await _amend_qty(app, pilot, "0.002", f"{near:f}")
        await _confirm(app, pilot, f"→ {near:,f}")
        await until(pilot, lambda: app.desk.orders[order.order_id].price == near, "the amended price")
        await app.stop_session()


async def test_an_inverse_desk_buys_contracts_at_market_and_closes_them(tmp_path: Path) -> None:
    """Contracts of one USD: the notional is the contracts, in USD, whatever the price; the close is reduce-only."""
    settings = load_settings(cfg="sim", category="inverse", symbols="BTCUSD", environ={})
    settings = replace(settings, order_limits=OrderLimits({"BTCUSD": Decimal(100)}, Decimal(1000)))
    app = RecordingApp(settings, runtime_options=runtime_options(tmp_path))
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await _ready(app, pilot, "BTCUSD")
        await press(pilot, "m")
        await _confirm(app, pilot, "Send BUY 100 BTCUSD at market", "notional ≈ 100.00 USD")
        await until(pilot, lambda: _size(app, "BTCUSD") == 100, "the long of 100 contracts")
        await press(pilot, "x")
        await _confirm(app, pilot, "SELL 100 BTCUSD at market (reduce-only)")
        await until(pilot, lambda: _size(app, "BTCUSD") == 0, "the position closed")
        await app.stop_session()
