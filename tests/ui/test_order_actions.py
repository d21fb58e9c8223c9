"""Order entry's refusals and confirmations on a scripted desk: every key says why it does nothing (watch-only
without --trade, no session, the account down, the link not Ready, no cursor), production asks the symbol typed,
and what is sent carries an orderLinkId and is never sent again on a lost answer."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from app.screens import ConfirmScreen, TypedConfirmScreen
from exchange.bybit.errors import OrderOutcomeUnknown, ServerUnavailable
from exchange.bybit.rest import OrderAck
from exchange.config import load_settings
from exchange.events import LinkState, SessionState
from tests.ui import scripted
from tests.ui.support import SNAPSHOT_SIZE, RecordingApp, screen_text, stand_in, until
from widgets.ladder import Ladder

pytestmark = pytest.mark.timeout(60)

TESTNET = {"BYBIT_TESTNET_API_KEY": "k" * 12, "BYBIT_TESTNET_API_SECRET": "s" * 12}
PRODUCTION = {"BYBIT_PRODUCTION_API_KEY": "k" * 12, "BYBIT_PRODUCTION_API_SECRET": "s" * 12}


class Rest:
    """The REST client's order calls, recorded; ``lost`` makes the order's answer ambiguous."""

    def __init__(self, lost: bool = False) -> None:
        self.placed: list[dict[str, Any]] = []
        self.cancelled: list[str] = []
        self.lost = lost

    async def place_order(
        self, category: str, symbol: str, side: str, order_type: str, qty: Decimal, price: Any = None, **kwargs: Any
    ) -> OrderAck:
        self.placed.append({"symbol": symbol, "side": side, "type": order_type, "qty": qty, "price": price, **kwargs})
        if self.lost:
            raise OrderOutcomeUnknown(kwargs["order_link_id"], "timeout; no order with this orderLinkId was found")
        return OrderAck("o-new", kwargs["order_link_id"])

    async def cancel_all_orders(self, category: str, symbol: str) -> list[str]:
        self.cancelled.append(symbol)
        if self.lost:
            raise ServerUnavailable(None, "no reply within 10 s", path="/v5/order/cancel-all")
        return ["o1", "o2"]


def _app() -> RecordingApp:
    app = RecordingApp(desk=scripted.long_in_profit(), clock=scripted.clock, symbol="BTCUSDT")
    app.animation_level = "none"
    return app


@pytest.mark.parametrize(
    ("keys", "setup", "says"),
    [
        ("m", "watch-only", "Watch-only: start Fluxum with --trade to send orders to TESTNET."),
        ("x", "account down", "The account is down"),
        ("C", "not ready", "The link is not Ready"),
        ("a", "no keys", "No account: without API keys"),
        ("b", "no cursor", "no price chosen: k / j put the cursor on the ladder's prices first"),
        ("m", "spot", "a spot market buy counts its qty in the quote coin"),
    ],
)
async def test_every_action_says_why_it_does_nothing(keys: str, setup: str, says: str) -> None:
    app = _app()
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        settings = load_settings(cfg="testnet", environ=TESTNET, trading_enabled=setup != "watch-only")
        if setup == "spot":
            settings = load_settings(environ={}, category="spot")
        app.runtime = stand_in(settings, Rest())
        if setup == "account down":
            app.desk.account_down = "API key rejected by Bybit (10003)"
        elif setup == "not ready":
            app.desk.state = SessionState(LinkState.RECONNECTING, scripted.NOW_MS, "pong timeout")
        elif setup == "no keys":
            app.desk.private = False
        await pilot.press(*keys)
        await until(pilot, lambda: app.noticed(says), f"the notice {says!r}")
        assert not isinstance(app.screen, ConfirmScreen | TypedConfirmScreen)


async def test_no_order_is_priced_from_a_book_that_is_not_live() -> None:
    app = RecordingApp(desk=scripted.resyncing(), clock=scripted.clock, symbol="BTCUSDT")
    app.animation_level = "none"
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        app.runtime = stand_in(load_settings(environ={}), Rest())
        await until(pilot, lambda: app.query_one(Ladder).trust[0] == "RESYNCING", "the book shown not live")
        await pilot.press("j", "b")
        await until(pilot, lambda: app.noticed("the BTCUSDT book is not live (RESYNCING)"), "the refusal")
        await pilot.press("m")
        await until(pilot, lambda: len([t for _, t in app.notices if "not live" in t]) == 2, "market refused too")
        assert not isinstance(app.screen, ConfirmScreen)


async def test_a_desk_with_no_session_offers_no_order_action() -> None:
    app = _app()
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        screen = app.desk_screen
        for action in ("place", "close_position", "cancel_all", "amend_order"):
            assert screen.check_action(action, ()) is False
        assert screen.check_action("ladder_cursor", (1,)) is True
        await pilot.press("b", "x")
        await pilot.pause(0.2)
        assert not app.notices and not isinstance(app.screen, ConfirmScreen)
        app.runtime = stand_in(load_settings(environ={}), Rest())
        assert screen.check_action("place", ("Buy", "limit")) is True


async def test_a_buy_at_the_best_ask_is_confirmed_as_taking_liquidity() -> None:
    """k puts the cursor on the best ask: a buy there fills at once, and the question says so before y."""
    app = _app()
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        app.runtime = stand_in(load_settings(environ={}), Rest())
        await pilot.press("k", "b")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
        question = app.screen.question if isinstance(app.screen, ConfirmScreen) else ""
        assert "⚠ at or through the best ask" in question and "fills at once" in question, question
        await pilot.press("n")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen), "the confirmation refused")
        await pilot.press("j", "j", "b")  # the best bid: the buy rests
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the second confirmation")
        question = app.screen.question if isinstance(app.screen, ConfirmScreen) else ""
        assert question.startswith("Send BUY") and "⚠" not in question, question


async def test_on_production_an_order_needs_the_symbol_typed_and_carries_an_order_link_id() -> None:
    app = _app()
    rest = Rest()
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        app.runtime = stand_in(load_settings(cfg="production", environ=PRODUCTION, trading_enabled=True), rest)
        await pilot.press("j")
        ladder = app.query_one(Ladder)
        await until(pilot, lambda: ladder.cursor is not None, "the cursor on the best bid")
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, TypedConfirmScreen), "the typed confirmation")
        await until(pilot, lambda: "Type BTCUSDT" in screen_text(app), "the prompt")
        assert "SELL 0.001 BTCUSDT @" in screen_text(app) and "(limit)" in screen_text(app)
        await pilot.press(*"BTC", "enter")
        await until(pilot, lambda: "nothing sent" in screen_text(app), "the wrong word told")
        assert not rest.placed
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, TypedConfirmScreen), "escape sends nothing")
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, TypedConfirmScreen), "the typed confirmation again")
        await pilot.press(*"BTCUSDT", "enter")
        await until(pilot, lambda: bool(rest.placed), "the order sent")
        sent = rest.placed[0]
        assert (sent["side"], sent["type"], sent["qty"], sent["time_in_force"]) == (
            "Sell",
            "Limit",
            Decimal("0.001"),
            "GTC",
        )
        assert sent["price"] == Decimal(f"{ladder.cursor:.1f}") and sent["order_link_id"].startswith("fx-")
        await until(pilot, lambda: app.noticed("Order sent: SELL 0.001 BTCUSDT"), "the order sent told")


async def test_a_lost_answer_is_told_and_the_order_not_sent_again() -> None:
    app = _app()
    rest = Rest(lost=True)
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        app.runtime = stand_in(load_settings(environ={}), rest)  # the local exchange: a y / n question
        await pilot.press("m")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
        await pilot.press("y")
        await until(pilot, lambda: app.noticed("Order outcome unknown"), "the unknown outcome told")
        await pilot.pause(0.2)
        assert len(rest.placed) == 1 and app.noticed("it was not sent again")


async def test_a_cancel_all_whose_answer_is_lost_is_told_as_unknown_not_as_rejected() -> None:
    """A reply lost after the request may have reached Bybit: the orders may be gone already, so the desk says
    it does not know (and sends nothing again) rather than that Bybit refused."""
    app = _app()
    rest = Rest(lost=True)
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        app.runtime = stand_in(load_settings(environ={}), rest)
        await pilot.press("C")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
        await pilot.press("y")
        await until(pilot, lambda: app.noticed("Cancel all outcome unknown"), "the unknown outcome told")
        assert rest.cancelled == ["BTCUSDT"] and not app.noticed("rejected")


async def test_a_confirmation_the_outage_overtook_sends_nothing() -> None:
    app = _app()
    rest = Rest()
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        app.runtime = stand_in(load_settings(environ={}), rest)
        await pilot.press("j", "b")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
        app.desk.state = SessionState(LinkState.RECONNECTING, scripted.NOW_MS, "pong timeout")
        await pilot.press("y")
        await until(pilot, lambda: app.noticed("Not sent: The link is not Ready"), "the order held back")
        assert not rest.placed


def test_an_order_is_described_with_its_price_to_the_tick() -> None:
    """The cancel and amend dialogs write an order's price as the ladder and the amend line do: 65,000.0."""
    from app.order_entry import describe_order
    from exchange.events import OpenOrder

    desk = scripted.long_in_profit()
    one = Decimal("0.001")
    order = OpenOrder("o9", "link-o9", "BTCUSDT", "Buy", "Limit", Decimal("65000"), one, Decimal(0), one, "New")
    assert describe_order(order, desk) == "BUY 0.001 BTCUSDT @ 65,000.0 (Limit)"
    assert describe_order(order) == "BUY 0.001 BTCUSDT @ 65,000 (Limit)"  # no desk: as the exchange wrote it
