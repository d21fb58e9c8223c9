"""Bybit execution records into fills: the real fixtures, the spot fee rule, and the execution-file loader."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from exchange.bybit.executions import (
    ExecutionFileError,
    ExecutionRecordError,
    fill_from_execution,
    fills_from_push,
    fills_from_response,
    fills_in_execution_order,
    load_execution_file,
    load_fills,
)
from exchange.ledger import Fill, Ledger, MarkSource

D = Decimal
FIXTURES = Path(__file__).parent / "fixtures" / "bybit"
REST_LIST = FIXTURES / "rest" / "docs_execution_list.json"
WS_EXECUTION = FIXTURES / "ws_private" / "docs_execution_linear.json"
WS_FAST = FIXTURES / "ws_private" / "docs_execution_fast.json"


def _json(path: Path) -> Any:
    return orjson.loads(path.read_bytes())


def record(**changes: Any) -> dict[str, Any]:
    """A linear execution record shaped like Bybit's, with some fields changed (None deletes one)."""
    base: dict[str, Any] = {
        "category": "linear",
        "symbol": "BTCUSDT",
        "execId": "e-1",
        "side": "Buy",
        "execType": "Trade",
        "execQty": "0.01",
        "execPrice": "60000",
        "execFee": "0.33",
        "feeCurrency": "USDT",
        "execTime": "1700000000000",
        "orderId": "o-1",
        "orderLinkId": "",
        "isMaker": False,
    }
    base.update(changes)
    return {key: value for key, value in base.items() if value is not None}


# ---------------------------------------------------------------------- the fixtures


def test_rest_execution_list_fixture() -> None:
    fills = fills_from_response(_json(REST_LIST))
    assert fills == [
        Fill(
            exec_id="e0cbe81d-0f18-5866-9415-cf319b5dab3b",
            symbol="ETHPERP",
            side="Buy",
            qty=D("0.1"),
            price=D("1190.15"),
            fee=D("0.071409"),
            time_ms=1672282722429,
            exec_type="Trade",
            order_id="8c065341-7b52-4ca9-ac2c-37e31ac55c94",
            order_link_id="",
            is_maker=False,
            seq=4688002127,  # Bybit's cross sequence, kept to order the fill against position reads
        )
    ]
    ledger = Ledger()
    entry = ledger.apply_fill(fills[0])
    assert entry is not None
    assert (entry.position, entry.running_price, entry.cost_basis) == (D("0.1"), D("1190.15"), D("119.015"))
    assert entry.notional == D("-119.086409")
    assert entry.pnl == D("-0.071409")
    marked = ledger.mark("ETHPERP", D("1183.54"), MarkSource.MARK_PRICE, 1672283754510)  # the row's markPrice
    assert marked.unrealized_pnl == D("-0.661")
    assert marked.pnl == D("-0.732409")


def test_ws_execution_fixture() -> None:
    fills = fills_from_push(_json(WS_EXECUTION))
    assert len(fills) == 1
    sell = fills[0]
    assert (sell.symbol, sell.side, sell.qty, sell.price) == ("BTCUSDT", "Sell", D("0.5"), D("95900.1"))
    assert (sell.fee, sell.time_ms, sell.exec_type, sell.is_maker) == (
        D("26.3725275"),
        1746270400353,
        "Trade",
        False,
    )
    assert sell.exec_id == "0ab1bdf7-4219-438b-b30a-32ec863018f7"
    assert sell.order_id == "9aac161b-8ed6-450d-9cab-c5cc67c21784"
    ledger = Ledger()
    entry = ledger.apply_fill(sell)
    assert entry is not None
    assert (entry.position, entry.cost_basis, entry.notional) == (
        D("-0.5"),
        D("-47950.05"),
        D("47923.6774725"),
    )
    marked = ledger.mark("BTCUSDT", D("95901.48"), MarkSource.MARK_PRICE, 1746270400355)
    assert marked.unrealized_pnl == D("-0.69")
    assert marked.pnl == D("-27.0625275")
    assert marked.pnl == marked.realized_pnl - marked.fees - marked.funding + marked.unrealized_pnl


def test_both_fixtures_in_one_ledger_and_a_replayed_push() -> None:
    ledger = Ledger()
    for item in fills_from_response(_json(REST_LIST)) + fills_from_push(_json(WS_EXECUTION)):
        assert ledger.apply_fill(item) is not None
    assert [entry.symbol for entry in ledger.entries()] == ["BTCUSDT", "ETHPERP"]
    assert all(ledger.apply_fill(item) is None for item in fills_from_push(_json(WS_EXECUTION)))
    assert ledger.duplicates == 1


def test_execution_fast_is_refused_because_it_has_no_fee() -> None:
    with pytest.raises(ExecutionRecordError, match="no fees"):
        fills_from_push(_json(WS_FAST))
    with pytest.raises(ExecutionRecordError, match="execFee"):
        fill_from_execution(_json(WS_FAST)["data"][0])


def test_error_response_is_refused() -> None:
    envelope = _json(FIXTURES / "rest" / "error_110007_ab_not_enough.json")
    with pytest.raises(ExecutionRecordError, match="110007"):
        fills_from_response(envelope)


# ---------------------------------------------------------------------- fields and the fee rule


def test_signed_fees_and_funding_rows() -> None:
    rebate = fill_from_execution(record(execFee="-0.0012", isMaker=True))
    assert (rebate.fee, rebate.is_maker) == (D("-0.0012"), True)
    funding = fill_from_execution(
        record(execType="Funding", execFee="-0.0345", execPrice="", execQty="", orderType="UNKNOWN")
    )
    assert (funding.is_funding, funding.moves_position, funding.fee) == (True, False, D("-0.0345"))
    assert (funding.qty, funding.price) == (0, 0)
    blank_fee = fill_from_execution(record(execFee=""))
    assert blank_fee.fee == 0
    numeric = fill_from_execution(record(execQty=2, execPrice=100.25, execTime=1700000000001))
    assert (numeric.qty, numeric.price, numeric.time_ms) == (2, D("100.25"), 1700000000001)
    unknown_maker = fill_from_execution(record(isMaker=None))
    assert unknown_maker.is_maker is None


@pytest.mark.parametrize(
    ("changes", "fee"),
    [
        ({"side": "Buy", "feeCurrency": "BTC", "execFee": "0.00001"}, D("0.6")),  # base coin: fee x price
        ({"side": "Sell", "feeCurrency": "USDT", "execFee": "0.6"}, D("0.6")),  # quote coin: as is
        ({"feeCurrency": "", "execFee": "0.6"}, D("0.6")),
        ({"feeCurrency": "MNT", "execFee": "0.5"}, D("0")),  # a third coin cannot be valued here
        ({"category": None, "feeCurrency": "BTC", "execFee": "0.00001"}, D("0.6")),  # REST item, no category
    ],
)
def test_spot_fee_is_valued_in_the_quote_coin(changes: dict[str, Any], fee: Decimal) -> None:
    base = {"category": "spot", "execQty": "0.01", "execPrice": "60000"}
    assert fill_from_execution(record(**{**base, **changes})).fee == fee


def test_spot_fee_rule_uses_the_category_given_for_rest_items() -> None:
    item = record(category=None, symbol="ETHBTC", feeCurrency="ETH", execFee="0.001", execPrice="0.05")
    assert fill_from_execution(item, category="spot").fee == D("0.00005")


def test_derivative_fees_are_never_converted() -> None:
    inverse = record(category="inverse", symbol="BTCUSD", feeCurrency="BTC", execFee="0.00001")
    assert fill_from_execution(inverse).fee == D("0.00001")
    linear = record(feeCurrency="BTC", execFee="0.00001")  # category linear
    assert fill_from_execution(linear).fee == D("0.00001")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"execPrice": None}, "missing field 'execPrice'"),
        ({"execId": None}, "missing field 'execId'"),
        ({"execPrice": "abc"}, "execPrice 'abc' is not a number"),
        ({"execQty": "NaN"}, "not a finite number"),
        ({"execQty": ""}, "execQty '' is not a number"),
        ({"execQty": "0"}, "not positive"),
        ({"execPrice": "-1"}, "not positive"),
        ({"execFee": True}, "execFee must be a decimal string"),
        ({"side": ""}, "neither Buy nor Sell"),
        ({"execTime": "yesterday"}, "execTime 'yesterday'"),
        ({"execId": ""}, "execId is empty"),
        ({"symbol": 7}, "symbol must be a string"),
    ],
)
def test_bad_records_say_which_field(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ExecutionRecordError, match=message.replace("(", r"\(").replace(")", r"\)")):
        fill_from_execution(record(**changes))


def test_a_record_must_be_an_object() -> None:
    with pytest.raises(ExecutionRecordError, match="JSON object"):
        fill_from_execution(["not", "a", "record"])  # type: ignore[arg-type]


# ---------------------------------------------------------------------- the file loader


def _write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def test_load_rest_envelope_injects_the_category() -> None:
    records = load_execution_file(REST_LIST)
    assert len(records) == 1
    assert records[0]["category"] == "linear"
    assert records[0]["execId"] == "e0cbe81d-0f18-5866-9415-cf319b5dab3b"
    assert [fill.symbol for fill in load_fills(REST_LIST)] == ["ETHPERP"]


def test_load_push_file() -> None:
    assert [fill.side for fill in load_fills(WS_EXECUTION)] == ["Sell"]


def test_load_json_list(tmp_path: Path) -> None:
    path = _write(tmp_path, "list.json", orjson.dumps([record(execId="a"), record(execId="b", side="Sell")]).decode())
    assert [record["execId"] for record in load_execution_file(path)] == ["a", "b"]
    assert [fill.side for fill in load_fills(path)] == ["Buy", "Sell"]


def test_load_json_lines_of_records_and_envelopes(tmp_path: Path) -> None:
    envelope = {
        "retCode": 0,
        "retMsg": "OK",
        "result": {"category": "spot", "list": [record(execId="c", category=None)]},
    }
    lines = [orjson.dumps(record(execId="a")), b"", orjson.dumps(envelope), orjson.dumps(record(execId="b"))]
    path = _write(tmp_path, "pages.jsonl", b"\n".join(lines) + b"\n")
    records = load_execution_file(path)
    assert [record["execId"] for record in records] == ["a", "c", "b"]
    assert records[1]["category"] == "spot"


def test_load_a_single_record(tmp_path: Path) -> None:
    path = _write(tmp_path, "one.json", orjson.dumps(record(execId="solo")).decode())
    assert [fill.exec_id for fill in load_fills(path)] == ["solo"]


def test_load_empty_list(tmp_path: Path) -> None:
    assert load_fills(_write(tmp_path, "none.json", "[]")) == []


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.json", "  \n", "is empty"),
        ("bad.jsonl", orjson.dumps(record()).decode() + '\n{"execId": \n', "line 2 is not valid JSON"),
        (
            "bad.json",
            '{\n  "retCode": 0,\n  "result": {\n    "list": [,]\n  }\n}\n',
            "is not valid JSON: .* line 4",
        ),
        ("error.json", '{"retCode":10003,"retMsg":"API key is invalid.","result":{}}', "retCode 10003"),
        ("number.json", "42", "found int"),
        ("strings.json", '["a", "b"]', r"record 1: an execution must be a JSON object"),
        (
            "kline.json",
            '{"topic":"kline.5.BTCUSDT","data":[]}',
            "topic 'kline.5.BTCUSDT' holds no executions",
        ),
        ("noresult.json", '{"retCode":0,"retMsg":"OK","result":{}}', "no result.list"),
    ],
)
def test_bad_files_raise_one_clear_error(tmp_path: Path, name: str, content: str, message: str) -> None:
    path = _write(tmp_path, name, content)
    with pytest.raises(ExecutionFileError, match=message) as caught:
        load_fills(path)
    assert str(path) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_missing_field_names_the_record_and_field(tmp_path: Path) -> None:
    records = [record(execId="a"), record(execId="b", execPrice=None)]
    path = _write(tmp_path, "missing.json", orjson.dumps(records).decode())
    with pytest.raises(ExecutionFileError, match=r"record 2 \(execId b\): missing field 'execPrice'"):
        load_execution_file(path)


def test_non_numeric_value_names_the_line(tmp_path: Path) -> None:
    lines = [orjson.dumps(record(execId="a")), orjson.dumps(record(execId="b", execQty="1,5"))]
    path = _write(tmp_path, "comma.jsonl", b"\n".join(lines))
    with pytest.raises(ExecutionFileError, match=r"line 2 \(execId b\): execQty '1,5' is not a number"):
        load_fills(path)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ExecutionFileError, match="cannot read .*missing.json"):
        load_fills(tmp_path / "missing.json")
    with pytest.raises(ExecutionFileError, match="cannot read"):
        load_fills(tmp_path)  # a directory
    with pytest.raises(ExecutionFileError, match="not valid JSON"):
        load_fills(_write(tmp_path, "binary.bin", b"\xff\xfe\x00garbage"))


def test_fast_push_file_is_refused() -> None:
    with pytest.raises(ExecutionFileError, match="execution.fast"):
        load_fills(WS_FAST)


def test_a_journal_replay_comes_in_the_exchanges_order_in_batches_split_between_milliseconds() -> None:
    """The journal orders by execTime and id; one millisecond's fills are put in ``seq`` order, a batch never
    splits a millisecond, and a broken record is handed to ``rejected`` without stopping the replay."""
    records = [
        record(execId="z", execTime="1000", seq=5),
        record(execId="a", execTime="1000", seq=7),
        record(execId="m", execTime="1000", seq=6),
        record(execId="bad", execTime="1001", execQty="lots"),
        record(execId="b", execTime="1001", seq=8),
        record(execId="c", execTime="1002", seq=9),
        record(execId="d", execTime="1002", seq=10),
    ]
    problems: list[ExecutionRecordError] = []
    batches = list(fills_in_execution_order(records, category="linear", rejected=problems.append, batch_size=2))
    assert [[fill.exec_id for fill in batch] for batch in batches] == [["z", "m", "a"], ["b", "c", "d"]]
    assert len(problems) == 1 and "execQty" in str(problems[0])
    assert list(fills_in_execution_order([], category="linear", rejected=problems.append)) == []


@pytest.mark.parametrize("field", ["execId", "symbol", "orderId", "orderLinkId", "execType", "feeCurrency"])
def test_a_text_field_longer_than_any_bybit_writes_is_a_record_error(field: str) -> None:
    """A host may put megabytes in an execution's text (a frame holds 4 MB): the fill would carry them into the
    journal's keys, the ledger's entries (one per symbol) and every screen. Bybit's are under 40 characters."""
    value = "Trade" + "x" * 100_000 if field == "execType" else "x" * 100_000
    with pytest.raises(ExecutionRecordError, match=field):
        fill_from_execution(record(**{field: value}))
    fill_from_execution(record(**{field: ("Trade" if field == "execType" else "x") + "y" * 30}))  # short passes
