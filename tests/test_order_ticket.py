"""Order entry's rules before anything is sent: rounding to the instrument, the default quantity, the maximum
notional (refused locally, with the reason), a close that is reduce-only and never refused for its size, an
amend that sends only what changes; and the config keys that set them."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.order_entry import read_number
from exchange.config import load_settings
from exchange.order_ticket import (
    DEFAULT_MAX_NOTIONAL,
    DEFAULT_MAX_PRICE_DISTANCE,
    LimitsError,
    OrderLimits,
    TicketRefused,
    amend_ticket,
    close_ticket,
    limit_ticket,
    market_ticket,
    order_limits,
    round_price,
    round_qty,
)
from exchange.secrets import ConfigError

TICK, STEP = Decimal("0.1"), Decimal("0.001")
LIMITS = OrderLimits({"BTCUSDT": Decimal("0.002")}, Decimal(1000))
MID = Decimal("65010.05")
"""The book's mid the limit prices here are checked against."""


def test_a_limit_ticket_says_exactly_what_is_sent() -> None:
    ticket = limit_ticket("BTCUSDT", "Buy", Decimal("65010.57"), Decimal("0.0025"), **_grid())
    assert (ticket.side, ticket.order_type, ticket.time_in_force) == ("Buy", "Limit", "GTC")
    assert (ticket.price, ticket.qty) == (Decimal("65010.5"), Decimal("0.002"))  # a buy rounds down, qty down
    assert ticket.notional == Decimal("130.0210")
    assert ticket.describe() == "BUY 0.002 BTCUSDT @ 65,010.5 (limit) · notional 130.02 USDT"
    sell = limit_ticket("BTCUSDT", "Sell", Decimal("65010.51"), Decimal("0.002"), **_grid(), post_only=True)
    assert sell.price == Decimal("65010.6") and sell.time_in_force == "PostOnly"
    assert "(post-only limit)" in sell.describe()


def test_money_is_written_to_the_cent_and_prices_to_the_tick() -> None:
    """A trader reads ``65.00 USDT`` and ``65,000.0`` as the ladder writes them, never ``65 USDT`` or ``65,000``."""
    even = limit_ticket("BTCUSDT", "Sell", Decimal("65000"), Decimal("0.001"), **_grid())
    assert even.describe() == "SELL 0.001 BTCUSDT @ 65,000.0 (limit) · notional 65.00 USDT"
    market = market_ticket("BTCUSDT", "Buy", Decimal("0.001"), Decimal("65010.0"), step=STEP, limits=LIMITS)
    assert market.describe() == "BUY 0.001 BTCUSDT at market · notional ≈ 65.01 USDT"  # not "(market)" again


def test_a_limit_at_or_through_the_touch_says_it_takes_liquidity() -> None:
    """A buy at the best ask or above fills at once as a taker (a post-only one is cancelled): the confirmation
    says so, with the touch; a price that rests says nothing more."""
    buy = limit_ticket("BTCUSDT", "Buy", Decimal("65010.5"), Decimal("0.001"), **_grid())
    assert buy.crossing(Decimal("65010.5")) == "⚠ at or through the best ask 65,010.5: it fills at once, as a taker"
    assert buy.crossing(Decimal("65010.6")) == "" and buy.crossing(None) == ""
    sell = limit_ticket("BTCUSDT", "Sell", Decimal("65000.0"), Decimal("0.001"), **_grid(), post_only=True)
    assert sell.crossing(Decimal("65002.0")) == (
        "⚠ at or through the best bid 65,002.0: the exchange will cancel it (post-only)"
    )
    assert (
        market_ticket("BTCUSDT", "Buy", Decimal("0.001"), Decimal("65010.0"), step=STEP, limits=LIMITS).crossing(
            Decimal("65010.0")
        )
        == ""
    )


def test_above_max_notional_is_refused_with_the_reason() -> None:
    with pytest.raises(TicketRefused, match=r"notional 1,300.20 USDT is above max_notional 1,000 USDT"):
        limit_ticket("BTCUSDT", "Buy", Decimal("65010"), Decimal("0.02"), **_grid())
    with pytest.raises(TicketRefused, match="above max_notional"):
        market_ticket("BTCUSDT", "Buy", Decimal("0.02"), Decimal("65010"), step=STEP, limits=LIMITS)
    with pytest.raises(TicketRefused, match="no ask in the book"):
        market_ticket("BTCUSDT", "Buy", Decimal("0.002"), None, step=STEP, limits=LIMITS)
    with pytest.raises(TicketRefused, match="below one lot step"):
        limit_ticket("BTCUSDT", "Buy", Decimal("65010"), Decimal("0.0004"), **_grid())


def test_an_inverse_notional_is_its_contracts_in_usd() -> None:
    one = Decimal(1)
    ticket = market_ticket("BTCUSD", "Sell", Decimal(900), Decimal("65000"), step=one, limits=LIMITS, inverse=True)
    assert ticket.notional == Decimal(900) and ticket.quote == "USD"
    with pytest.raises(TicketRefused, match="1,001.00 USD is above max_notional 1,000 USD"):
        market_ticket("BTCUSD", "Sell", Decimal(1001), Decimal("65000"), step=Decimal(1), limits=LIMITS, inverse=True)


def test_closing_is_reduce_only_the_opposite_side_and_never_refused_for_its_size() -> None:
    ticket = close_ticket("BTCUSDT", Decimal("-5"), Decimal("65000"), step=STEP)
    assert (ticket.side, ticket.qty, ticket.reduce_only, ticket.order_type) == ("Buy", Decimal(5), True, "Market")
    assert ticket.notional > LIMITS.max_notional
    assert ticket.order_text() == "BUY 5 BTCUSDT at market (reduce-only)"  # said once: no "(reduce-only market)"
    with pytest.raises(TicketRefused, match="no position in BTCUSDT to close"):
        close_ticket("BTCUSDT", Decimal(0), Decimal("65000"), step=STEP)
    with pytest.raises(TicketRefused, match="not known yet"):
        close_ticket("BTCUSDT", None, Decimal("65000"), step=STEP)


def test_an_amend_sends_only_what_changes() -> None:
    was = (Decimal("65000.0"), Decimal("0.002"))
    ticket = amend_ticket("BTCUSDT", "o1", "Buy", was, (Decimal("65000"), Decimal("0.005")), **_grid())
    assert (ticket.price, ticket.qty) == (None, Decimal("0.005"))
    assert ticket.describe(*was) == "BTCUSDT: qty 0.002 → 0.005 · notional 325.00 USDT"
    moved = amend_ticket("BTCUSDT", "o1", "Buy", was, (Decimal("64990.07"), None), **_grid())
    assert (moved.price, moved.qty) == (Decimal("64990.0"), None)
    assert moved.describe(*was) == "BTCUSDT: price 65,000.0 → 64,990.0 · notional 129.98 USDT"
    with pytest.raises(TicketRefused, match="nothing to amend"):
        amend_ticket("BTCUSDT", "o1", "Buy", was, was, **_grid())
    with pytest.raises(TicketRefused, match="above max_notional"):
        amend_ticket("BTCUSDT", "o1", "Buy", was, (None, Decimal("1")), **_grid())


@pytest.mark.parametrize(
    ("price", "told"), [("6501", "90.0% below"), ("650101", "900.0% above"), ("71600", "10.1% above")]
)
def test_a_new_order_and_an_amend_refuse_a_price_far_from_the_book_alike(price: str, told: str) -> None:
    """A slipped finger (a tenth or ten times the market) is refused for an amend exactly as for a new order,
    with the same one line; a price within ``max_price_distance`` of the mid passes both."""
    was = (Decimal("65000.0"), Decimal("0.002"))
    refusals = []
    for make in (
        lambda: limit_ticket("BTCUSDT", "Sell", Decimal(price), Decimal("0.001"), **_grid()),
        lambda: amend_ticket("BTCUSDT", "o1", "Sell", was, (Decimal(price), None), **_grid()),
    ):
        with pytest.raises(TicketRefused) as refused:
            make()
        refusals.append(str(refused.value))
    assert refusals[0] == refusals[1]
    assert f"is {told} the book's mid 65,010.05 (more than max_price_distance 10%): not sent" in refusals[0]
    near = Decimal("71500")  # 9.98% above
    assert limit_ticket("BTCUSDT", "Sell", near, Decimal("0.001"), **_grid()).price == near
    assert amend_ticket("BTCUSDT", "o1", "Sell", was, (near, None), **_grid()).price == near


def test_an_amend_that_keeps_its_price_is_not_held_to_the_book_but_to_the_notional() -> None:
    """Only a price that moves is checked against the book (the resting one was when placed, and the market may
    have moved off it since); a quantity change is still held to max_notional, at the resting price."""
    was = (Decimal("40000.0"), Decimal("0.002"))
    smaller = amend_ticket("BTCUSDT", "o1", "Buy", was, (None, Decimal("0.001")), **{**_grid(), "reference": None})
    assert (smaller.price, smaller.qty, smaller.notional) == (None, Decimal("0.001"), Decimal("40.0000"))
    with pytest.raises(TicketRefused, match=r"notional 40,000.00 USDT is above max_notional"):
        amend_ticket("BTCUSDT", "o1", "Buy", was, (None, Decimal("1")), **_grid())
    with pytest.raises(TicketRefused, match="the book has no price to check the order's price against"):
        amend_ticket("BTCUSDT", "o1", "Buy", was, (Decimal("40100"), None), **{**_grid(), "reference": None})


def test_a_price_that_rounds_to_nothing_is_refused() -> None:
    """A buy rounds down: a typed price under one tick would be sent as a price of zero."""
    was = (Decimal("65000.0"), Decimal("0.002"))
    with pytest.raises(TicketRefused, match="below one tick"):
        amend_ticket("BTCUSDT", "o1", "Buy", was, (Decimal("0.05"), None), **_grid())
    with pytest.raises(TicketRefused, match="below one tick"):
        limit_ticket("BTCUSDT", "Buy", Decimal("0.05"), Decimal("0.002"), **_grid())


@pytest.mark.parametrize("typed", ["1e400", "1e999999", "1e-999999", "\uff11\uff12", "NaN", "12abc"])
def test_a_typed_number_out_of_the_desks_range_is_a_short_value_error(typed: str) -> None:
    """What the trader types is held to the range every number from outside is (exchange/numbers.py): a number
    that would overflow the arithmetic, or print as a million zeros, is refused where it is read."""
    with pytest.raises(ValueError) as refused:
        read_number(typed)
    assert len(str(refused.value)) < 80


def test_a_typed_number_is_read_with_its_commas() -> None:
    assert read_number(" 65,010.5 ") == Decimal("65010.5") and read_number("") is None


def _grid() -> dict[str, Any]:
    return {"tick": TICK, "step": STEP, "limits": LIMITS, "reference": MID}


@given(
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal(10**7), places=6),
    st.sampled_from([Decimal("0.1"), Decimal("0.5"), Decimal("0.0001"), Decimal(5)]),
    st.sampled_from(["Buy", "Sell"]),
)
def test_a_rounded_price_is_on_the_grid_within_a_tick_and_never_worse(price: Decimal, tick: Decimal, side: str) -> None:
    rounded = round_price(price, tick, side)
    assert rounded % tick == 0 and abs(rounded - price) < tick
    assert (rounded <= price) if side == "Buy" else (rounded >= price)
    qty = round_qty(price, tick)
    assert qty % tick == 0 and price - tick < qty <= price


def test_the_config_sets_the_default_qty_per_symbol_and_the_max_notional(tmp_path: Path) -> None:
    config = tmp_path / "fluxum.toml"
    config.write_text(
        'max_notional = 2500\nmax_price_distance = 2.5\ndefault_qty = { btcusdt = "0.003", ETHUSDT = 0.05 }\n'
    )
    limits = load_settings(config_file=config, environ={}).order_limits
    assert limits.max_notional == Decimal(2500) and limits.max_price_distance == Decimal("2.5")
    assert load_settings(environ={}).order_limits.max_price_distance == DEFAULT_MAX_PRICE_DISTANCE
    assert limits.qty_for("BTCUSDT", STEP) == Decimal("0.003") and limits.qty_for("ETHUSDT", STEP) == Decimal("0.05")
    assert limits.qty_for("SOLUSDT", Decimal("0.1")) == Decimal("0.1")  # not named: one lot step
    assert load_settings(environ={}).order_limits.max_notional == DEFAULT_MAX_NOTIONAL


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("max_notional = -5", "max_notional must be a positive number"),
        ("max_price_distance = 0", "max_price_distance must be a positive number"),
        ('max_notional = "lots"', "max_notional must be a positive number"),
        ("max_notional = true", "max_notional must be a positive number"),
        ('default_qty = "0.001"', "default_qty must be a table of symbol = quantity"),
        ("default_qty = { BTCUSDT = 0 }", "default_qty.BTCUSDT must be a positive number"),
        ("max_notional = 1e30", "up to 10^12"),
        ('default_qty = { BTCUSDT = "1e-999999" }', "default_qty.BTCUSDT must be a positive number"),
        ('default_qty = { BTCUSDT = "\uff11" }', "default_qty.BTCUSDT must be a positive number"),
    ],
)
def test_bad_order_limits_are_one_clear_sentence(text: str, message: str, tmp_path: Path) -> None:
    config = tmp_path / "fluxum.toml"
    config.write_text(text + "\n")
    with pytest.raises(ConfigError, match=message.replace("^", r"\^")):
        load_settings(config_file=config, environ={})
    with pytest.raises(LimitsError):
        import tomllib

        order_limits(tomllib.loads(text))
