"""``fluxum bybit ledger`` on inverse, linear and mixed histories: each symbol in its own coin, never linear
arithmetic on coin-margined contracts, a linear history printed and written exactly as before, and a history it
cannot price refused with one line."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from tests.support.ledger_cli import DATA, printed_table, run_ledger

D = Decimal
LINEAR = DATA / "executions.jsonl"  # BTCUSDT and ETHUSDT (test_ledger_cli.py reads the same file)
LINEAR_CSV = DATA / "executions_mark_btcusdt_125.csv"  # its CSV with --mark BTCUSDT=125, as the linear ledger wrote it
INVERSE = DATA / "inverse.jsonl"  # BTCUSD bought 1500 @ 30000, sold @ 40000; ETHUSD short 2000 @ 2000, funding
NOTE = "inverse symbols: position in contracts of 1 USD, average entry harmonic, money in the coin"


def _record(symbol: str, exec_id: str, side: str, qty: str, price: str, fee: str, time: int, **more: str) -> dict:
    return {
        "symbol": symbol,
        "execId": exec_id,
        "side": side,
        "execType": "Trade",
        "execQty": qty,
        "execPrice": price,
        "execFee": fee,
        "execTime": str(time),
        **more,
    }


def _write(tmp_path: Path, name: str, records: list[dict]) -> str:
    path = tmp_path / name
    path.write_bytes(b"\n".join(orjson.dumps(record) for record in records) + b"\n")
    return str(path)


def test_the_issue_example_prints_a_hundredth_of_a_bitcoin(capsys: pytest.CaptureFixture[str]) -> None:
    """BTCUSD bought 1500 @ 30000 and sold @ 40000: the linear ledger printed a realized 15000000; Bybit's formula
    gives 1500 x (1/30000 - 1/40000) = 0.0125 BTC, less 0.000048125 BTC of fees (0.00004812 shown at 8 places)."""
    code, out, err = run_ledger(capsys, "--from-file", str(INVERSE), "--mark", "ETHUSD=2500")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == f"4 executions from {INVERSE}"
    assert NOTE in lines
    rows = printed_table(out)
    assert rows["BTCUSD"] == {
        "symbol": "BTCUSD",
        "coin": "BTC",
        "position": "0",
        "avg entry": "-",
        "mark": "40000",
        "mark source": "last fill",
        "realized": "0.0125",
        "unrealized": "0",
        "fees": "0.00004812",
        "funding": "0",
        "total P&L": "0.01245188",
        "fills": "2",
    }
    # ETHUSD short 2000 contracts at 2000 (1 ETH of value), marked at 2500: 2000 x (1/2500 - 1/2000) = -0.2 ETH;
    # funding received 0.00008 ETH (0.8 ETH of value x 0.01%), fee 0.00055 ETH: -0.2 - 0.00055 + 0.00008.
    eth = rows["ETHUSD"]
    assert (eth["coin"], eth["position"], eth["avg entry"], eth["unrealized"]) == ("ETH", "-2000", "2000", "-0.2")
    assert (eth["fees"], eth["funding"], eth["total P&L"]) == ("0.00055", "-0.00008", "-0.20047")
    assert "15000000" not in out and "1000000" not in out


def test_a_mixed_file_prints_each_symbol_in_its_own_coin(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A JSON list with no category: BTCUSD is judged inverse by its symbol, BTCUSDT and ETHPERP linear."""
    path = _write(
        tmp_path,
        "mixed.jsonl",
        [
            _record("BTCUSDT", "l1", "Buy", "0.5", "30000", "8.25", 1000, feeCurrency="USDT"),
            _record("BTCUSD", "i1", "Buy", "1500", "30000", "0.0000275", 1000, feeCurrency="BTC"),
            _record("ETHPERP", "p1", "Sell", "1", "2000", "1.1", 1100),
            _record("BTCUSDT", "l2", "Sell", "0.5", "40000", "11", 2000, feeCurrency="USDT"),
            _record("BTCUSD", "i2", "Sell", "1000", "40000", "0", 2000, feeCurrency="BTC"),
        ],
    )
    code, out, err = run_ledger(capsys, "--from-file", path, "--mark", "BTCUSD=50000")
    assert (code, err) == (0, "")
    rows = printed_table(out)
    assert [(row["symbol"], row["coin"]) for row in rows.values()] == [
        ("BTCUSD", "BTC"),
        ("BTCUSDT", "USDT"),
        ("ETHPERP", "USDC"),
    ]
    # Linear: 0.5 x (40000 - 30000) = 5000 USDT, less 19.25 USDT of fees.
    assert (rows["BTCUSDT"]["realized"], rows["BTCUSDT"]["total P&L"]) == ("5000", "4980.75")
    # Inverse: 1000 of 1500 contracts closed: 1000 x (1/30000 - 1/40000) = 0.00833333... BTC; the 500 left,
    # marked at 50000: 500 x (1/30000 - 1/50000) = 0.00666666... BTC.
    btc = rows["BTCUSD"]
    assert (btc["position"], btc["avg entry"], btc["mark source"]) == ("500", "30000", "--mark")
    assert (btc["realized"], btc["unrealized"], btc["fees"]) == ("0.00833333", "0.00666667", "0.0000275")
    assert rows["ETHPERP"]["position"] == "-1"
    assert len(rows) == 3  # a row per symbol and no total: nothing is summed across coins


def test_a_linear_file_prints_and_writes_what_it_always_did(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run_ledger(capsys, "--from-file", str(LINEAR))
    assert code == 0 and NOTE not in out
    assert "coin" not in next(line for line in out.splitlines() if line.startswith("symbol"))
    code, out, _ = run_ledger(capsys, "--from-file", str(LINEAR), "--mark", "BTCUSDT=125", "--csv", "-")
    assert code == 0
    assert out == LINEAR_CSV.read_text()  # byte for byte, the linear ledger's CSV


def test_an_inverse_csv_names_the_kind_and_coin_of_every_row(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_ledger(capsys, "--from-file", str(INVERSE), "--csv", "-")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    header = out.splitlines()[0]
    assert header.startswith("symbol,pnl,position,") and header.endswith(
        ",funding,mark_source,contract_type,settle_coin"
    )
    assert [(row["symbol"], row["contract_type"], row["settle_coin"]) for row in rows] == [
        ("BTCUSD", "inverse", "BTC"),
        ("ETHUSD", "inverse", "ETH"),
        ("BTCUSD", "inverse", "BTC"),
        ("ETHUSD", "inverse", "ETH"),
    ]
    closed = rows[2]
    assert (D(closed["realized_pnl"]), D(closed["fees"]), D(closed["pnl"])) == (
        D("0.0125"),
        D("0.000048125"),
        D("0.012451875"),
    )
    # The fill's value in coin (Bybit's execValue) and the harmonic averages.
    assert (closed["package_price"], closed["buy_notional"], closed["sell_notional"]) == ("0.0375", "0.05", "0.0375")
    assert (closed["avg_buy_price"], closed["avg_sell_price"]) == ("30000", "40000")
    assert (rows[1]["cost_basis"], rows[1]["running_price"]) == ("-1", "2000")  # short 2000 @ 2000: 1 ETH


@pytest.mark.parametrize(
    ("records", "message"),
    [
        (
            [_record("BTC-28JUN24-60000-P", "o1", "Buy", "0.1", "1500", "0.3", 1000, category="option")],
            "line 1 (execId o1): category 'option': the ledger computes P&L for linear, spot and inverse",
        ),
        (
            [
                _record("BTCUSD", "i1", "Buy", "100", "30000", "0", 1000, category="inverse"),
                _record("BTC-28JUN24-60000-C", "o2", "Sell", "0.1", "1500", "0.3", 1100),
            ],
            "line 2 (execId o2): BTC-28JUN24-60000-C is an option",
        ),
        (
            [
                _record("BTCUSD", "i1", "Buy", "100", "30000", "0", 1000, category="inverse"),
                _record("BTCUSD", "i2", "Sell", "100", "40000", "0", 2000, category="linear"),
            ],
            "execution i2: BTCUSD is linear there and inverse in an earlier record",
        ),
        (
            [_record("BTCUSD", "i1", "Buy", "100", "30000", "0.1", 1000, category="inverse", feeCurrency="USDT")],
            "an inverse fee in USDT, not the settle coin BTC",
        ),
        (
            # Inverse history mislabelled linear: its execValue (1500 / 30000) gives it away.
            [_record("BTCUSD", "i1", "Buy", "1500", "30000", "0", 1000, category="linear", execValue="0.05")],
            "execValue 0.05 is qty / price, but the record reads as linear",
        ),
    ],
    ids=["option-category", "option-symbol", "two-kinds", "fee-coin", "wrong-category"],
)
def test_a_history_it_cannot_price_is_refused_with_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, records: list[dict], message: str
) -> None:
    path = _write(tmp_path, "refused.jsonl", records)
    for extra in ([], ["--csv", "-"]):
        code, out, err = run_ledger(capsys, "--from-file", path, *extra)
        assert (code, out) == (2, "")  # no number at all
        assert err.startswith(f"fluxum: {path}") and message in err
        assert err.count("\n") == 1 and "Traceback" not in err


def _inverse_pair() -> list[dict]:
    return [
        _record("BTCUSD", "i1", "Buy", "1500", "30000", "0.0000275", 1000, feeCurrency="BTC"),
        _record("BTCUSD", "i2", "Sell", "1500", "40000", "0.000020625", 2000, feeCurrency="BTC"),
    ]


@pytest.mark.parametrize(
    "document",
    [
        {"retCode": 0, "retMsg": "OK", "result": {"category": "inverse", "list": _inverse_pair()[::-1]}},
        {"topic": "execution.inverse", "data": [{**r, "category": "inverse"} for r in _inverse_pair()]},
        [{**r, "category": "inverse"} for r in _inverse_pair()],
    ],
    ids=["rest-response", "push", "list"],
)
def test_every_file_shape_of_inverse_history_is_counted_in_the_coin(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, document: object
) -> None:
    path = tmp_path / "history.json"
    path.write_bytes(orjson.dumps(document))
    code, out, err = run_ledger(capsys, "--from-file", str(path))
    assert (code, err) == (0, "")
    row = printed_table(out)["BTCUSD"]
    assert (row["coin"], row["realized"], row["total P&L"]) == ("BTC", "0.0125", "0.01245188")
