"""Bybit v5 protocol parsing against the real captured messages and the official examples."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from exchange.bybit.protocol import (
    FrameKind,
    ProtocolError,
    TickerCache,
    classify,
    cross_seq,
    parse_order,
    parse_position,
    parse_trades,
    parse_wallet,
    subscribe_batches,
)

FIXTURES = Path(__file__).parent / "fixtures" / "bybit"


def load(path: str):
    return orjson.loads((FIXTURES / path).read_bytes())


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("ws_control/docs_public_spot_pong.json", FrameKind.PONG),
        ("ws_control/docs_public_linear_pong.json", FrameKind.PONG),
        ("ws_control/docs_public_option_pong.json", FrameKind.PONG),
        ("ws_control/docs_private_pong.json", FrameKind.PONG),
        ("ws_control/private_pong.json", FrameKind.PONG),
        ("ws_control/private_pong_nautilus.json", FrameKind.PONG),
        ("ws_control/docs_public_spot_subscribe_ok.json", FrameKind.SUBSCRIBE),
        ("ws_control/public_spot_subscribe_ok.json", FrameKind.SUBSCRIBE),
        ("ws_control/docs_public_linear_subscribe_ok.json", FrameKind.SUBSCRIBE),
        ("ws_control/docs_private_subscribe_ok.json", FrameKind.SUBSCRIBE),
        ("ws_control/docs_public_option_subscribe_ok.json", FrameKind.SUBSCRIBE),
        ("ws_control/public_unsubscribe_ok.json", FrameKind.SUBSCRIBE),
        ("ws_control/docs_private_auth_ok.json", FrameKind.AUTH),
        ("ws_control/private_auth_fail_params_error.json", FrameKind.AUTH),
        ("ws_public/spot_orderbook50_BTCUSDT_delta_u2876701.json", FrameKind.DATA),
        ("ws_private/docs_wallet.json", FrameKind.DATA),
    ],
)
def test_classify_real_control_frames(path, kind):
    assert classify(load(path)) is kind


def test_spot_subscriptions_go_in_batches_of_ten():
    topics = [f"orderbook.50.S{i}USDT" for i in range(23)]
    assert [len(b) for b in subscribe_batches("spot", topics)] == [10, 10, 3]
    assert [len(b) for b in subscribe_batches("linear", topics)] == [23]


@pytest.mark.parametrize(
    "path",
    [
        "ws_public/docs_linear_publicTrade.json",
        "ws_public/linear_publicTrade_BTCUSDT_rpi_seq.json",
        "ws_public/spot_publicTrade_ATOM2SUSDT.json",
    ],
)
def test_public_trades_parse_exactly(path):
    frame = load(path)
    trades = parse_trades(frame)
    assert len(trades) == len(frame["data"])
    for trade, raw in zip(trades, frame["data"], strict=True):
        assert trade.price == Decimal(raw["p"]) and trade.qty == Decimal(raw["v"])
        assert trade.side == raw["S"] and trade.time_ms == raw["T"] and trade.trade_id == str(raw["i"])


@pytest.mark.parametrize(
    "mutate",
    [
        lambda t: t.pop("p"),
        lambda t: t.update(p=1.5),
        lambda t: t.update(v="x"),
        lambda t: t.update(S="Hold"),
        lambda t: t.update(T="soon"),
        lambda t: t.update(p="NaN"),
    ],
)
def test_malformed_trade_is_one_protocol_error(mutate):
    frame = load("ws_public/docs_linear_publicTrade.json")
    mutate(frame["data"][0])
    with pytest.raises(ProtocolError):
        parse_trades(frame)


def test_linear_ticker_deltas_merge_into_the_snapshot():
    lines = (FIXTURES / "ws_public/tickers_linear_usdcperp_inverse_snapshot_then_delta.jsonl").read_bytes()
    frames = [orjson.loads(line) for line in lines.splitlines() if line.strip()]
    cache = TickerCache()
    snapshot, delta = frames[0], frames[1]
    cache.apply(snapshot)
    symbol, merged = cache.apply(delta)
    assert symbol == "BTCUSDT"
    for key, value in delta["data"].items():
        assert merged[key] == value
    untouched = set(snapshot["data"]) - set(delta["data"])
    assert untouched and all(merged[key] == snapshot["data"][key] for key in untouched)
    cache.clear()
    assert cache.get("BTCUSDT") is None


def test_spot_ticker_is_a_snapshot():
    frame = load("ws_public/docs_spot_ticker.json")
    symbol, fields = TickerCache().apply(frame)
    assert symbol == frame["data"]["symbol"] and fields["lastPrice"] == frame["data"]["lastPrice"]


def test_orders_from_rest_and_from_a_real_spot_push():
    rest = load("rest/docs_order_realtime.json")["result"]["list"][0]
    order = parse_order(rest)
    assert order.order_id == rest["orderId"] and order.qty == Decimal(rest["qty"])
    assert order.status == rest["orderStatus"]
    push = load("ws_private/spot_order_FLOWUSDT_filled.json")
    filled = parse_order(push["data"][0])
    assert filled.status == "Filled" and not filled.is_open


def test_positions_read_entry_price_on_ws_and_avg_price_on_rest():
    ws = parse_position(load("ws_private/docs_position_linear.json")["data"][0])
    assert ws.size == 0 and ws.liq_price is None and ws.cum_realised_pnl == Decimal("-25.06579337")
    rest_raw = load("rest/docs_position_list_inverse.json")["result"]["list"][0]
    rest = parse_position(rest_raw)
    assert rest.size == -Decimal(rest_raw["size"]), "a Sell position is a negative size"
    assert rest.avg_price == Decimal(rest_raw["avgPrice"])
    assert (ws.seq, rest.seq) == (8327597863, 5723621632), "the cross sequence orders a read against fills"


@pytest.mark.parametrize(
    ("raw", "seq"),
    [(140612148849382, 140612148849382), ("4688002127", 4688002127), (0, 0), (-1, None), ("-1", None)]
    + [(None, None), ("", None), ("12a", None), (True, None), (1.5, None)],
)
def test_cross_seq_is_a_whole_number_or_unknown(raw, seq):
    """Bybit sends seq as a number (-1 for a position never traded); anything else means 'compare by time'."""
    assert cross_seq({"seq": raw}) == seq
    assert cross_seq({}) is None


def test_wallet_from_push_and_rest():
    pushed = parse_wallet(load("ws_private/docs_wallet.json")["data"][0])
    fetched = parse_wallet(load("rest/docs_account_wallet_balance.json")["result"]["list"][0])
    for wallet in (pushed, fetched):
        assert wallet.total_equity > 0 and wallet.coins
        assert all(isinstance(c.equity, Decimal) for c in wallet.coins)


@pytest.mark.parametrize(
    "parse, record",
    [
        (parse_order, {"orderId": "x" * 65, "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "1",
                       "orderStatus": "New"}),
        (parse_order, {"orderId": "o1", "orderLinkId": "l" * 65, "symbol": "BTCUSDT", "side": "Buy",
                       "orderType": "Limit", "qty": "1", "orderStatus": "New"}),
        (parse_order, {"orderId": "o1", "symbol": "S" * 20_000, "side": "Buy", "orderType": "Limit", "qty": "1",
                       "orderStatus": "New"}),
        (parse_position, {"symbol": "S" * 20_000, "size": "1", "side": "Buy"}),
    ],
)  # fmt: skip
def test_a_symbol_or_id_longer_than_any_of_bybit_s_is_rejected(parse, record):
    """Names a host invents become keys (orders, positions): one longer than 64 characters is malformed."""
    with pytest.raises(ProtocolError):
        parse(record)


def test_trade_and_ticker_names_longer_than_any_of_bybit_s_are_rejected():
    trade = {"T": 1, "s": "BTCUSDT", "S": "Buy", "v": "1", "p": "1", "i": "9" * 65}
    with pytest.raises(ProtocolError):
        parse_trades({"data": [trade]})
    with pytest.raises(ProtocolError):
        parse_trades({"data": [dict(trade, i="t1", s="S" * 65)]})
    with pytest.raises(ProtocolError):
        TickerCache().apply({"topic": "tickers." + "S" * 65, "data": {"symbol": "S" * 65, "markPrice": "1"}})
    assert parse_trades({"data": [dict(trade, i=2200000000067341890)]})[0].trade_id == "2200000000067341890"


@pytest.mark.parametrize(
    "name, category",
    [
        ("docs_linear_ticker_perpetual_snapshot.json", "linear"),
        ("docs_linear_ticker_futures_snapshot.json", "linear"),
        ("tickers_linear_usdcperp_inverse_snapshot_then_delta.jsonl", "inverse"),
        ("docs_spot_ticker.json", "spot"),
        ("spot_ticker_APTUSDC.json", "spot"),
        ("docs_option_ticker.json", "option"),
        ("option_ticker_BTC-28JUN24-60000-P.json", "option"),
    ],
)
def test_every_field_of_a_real_ticker_is_kept(name, category):
    """The field sets are Bybit's own: no field of a captured ticker is ignored."""
    text = (FIXTURES / "ws_public" / name).read_text()
    frames = (
        [orjson.loads(line) for line in text.splitlines() if line.strip()]
        if name.endswith("l")
        else [orjson.loads(text)]
    )
    cache = TickerCache(category)
    for frame in frames:
        symbol, fields = cache.apply(frame)
        assert set(frame["data"]) <= set(cache.get(symbol) or {})
    assert cache.ignored_fields == 0
