"""``fluxum bybit ledger`` through the real entry point: the table, --mark, --csv, and every exit-2 path."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pytest

from app import cli
from tests.support.ledger_cli import EXECUTIONS, printed_table, run_ledger, write_file

D = Decimal
REST_LIST = Path(__file__).parent / "fixtures" / "bybit" / "rest" / "docs_execution_list.json"


def test_table_of_an_execution_file(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_ledger(capsys, "--from-file", str(EXECUTIONS))
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == f"7 executions from {EXECUTIONS}, 1 duplicates ignored"
    rows = printed_table(out)
    assert list(rows) == ["BTCUSDT", "ETHUSDT"]
    # Sorted by execTime, the sell at 130 closes half a unit against the 110 average (E2), not against 100.
    assert rows["BTCUSDT"] == {
        "symbol": "BTCUSDT",
        "position": "1.5",
        "avg entry": "110",
        "mark": "130",
        "mark source": "last fill",
        "realized": "10",
        "unrealized": "30",
        "fees": "0.285",
        "funding": "0.05",
        "total P&L": "39.665",
        "fills": "4",
    }
    assert rows["ETHUSDT"] == {
        "symbol": "ETHUSDT",
        "position": "0",
        "avg entry": "-",
        "mark": "90",
        "mark source": "last fill",
        "realized": "10",
        "unrealized": "0",
        "fees": "0.19",
        "funding": "0",
        "total P&L": "9.81",
        "fills": "2",
    }
    widths = {len(line) for line in out.splitlines()[2:]}
    assert len(widths) <= 3  # aligned columns (only trailing blanks are trimmed)


def test_mark_flag_marks_the_position(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_ledger(capsys, "--from-file", str(EXECUTIONS), "--mark", "btcusdt=125")
    assert code == 0
    row = printed_table(out)["BTCUSDT"]
    assert (row["mark"], row["mark source"], row["unrealized"], row["total P&L"]) == (
        "125",
        "--mark",
        "22.5",
        "32.165",
    )
    assert printed_table(out)["ETHUSDT"]["mark source"] == "last fill"


def test_csv_writes_every_entry_and_says_where(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "pnl.csv"
    code, out, err = run_ledger(capsys, "--from-file", str(EXECUTIONS), "--mark", "BTCUSDT=125", "--csv", str(target))
    assert (code, err) == (0, "")
    assert out == f"wrote 7 ledger rows for 2 symbols to {target}\n"
    with target.open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 7  # six fills and funding rows (the duplicate is ignored), one mark
    assert [row["update_time"] for row in rows] == ["1000", "1500", "2000", "2500", "3000", "4000", "4000"]
    last = rows[-1]
    assert (last["symbol"], last["update_source"], last["mark_source"]) == (
        "BTCUSDT",
        "Market_data",
        "external",
    )
    assert (D(last["pnl"]), D(last["unrealized_pnl"]), D(last["realized_pnl"])) == (D("32.165"), 22.5, 10)
    assert rows[0]["side"] == "buy" and rows[1]["side"] == "sell"
    assert rows[5]["update_source"] == "Funding" and rows[5]["side"] == ""


def test_csv_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_ledger(capsys, "--from-file", str(REST_LIST), "--csv", "-")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("symbol,pnl,position,spot,pnl_spot,notional,")
    assert lines[1].startswith("ETHPERP,-0.071409,0.1,1190.15,119.015,-119.086409,")


def test_the_rest_fixture(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_ledger(capsys, "--from-file", str(REST_LIST), "--mark", "ETHPERP=1183.54")
    assert code == 0
    row = printed_table(out)["ETHPERP"]
    assert (row["position"], row["avg entry"], row["unrealized"], row["total P&L"]) == (
        "0.1",
        "1190.15",
        "-0.661",
        "-0.732409",
    )


def test_an_empty_history(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    empty = tmp_path / "none.json"
    empty.write_text("[]")
    code, out, _ = run_ledger(capsys, "--from-file", str(empty))
    assert (code, out) == (0, f"no executions in {empty}\n")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--from-file", "{tmp}/absent.json"], "cannot read {tmp}/absent.json"),
        (["--from-file", "{bad_json}"], "line 2 is not valid JSON"),
        (["--from-file", "{error}"], "retCode 10003"),
        (["--from-file", "{missing_field}"], "record 1 (execId a): missing field 'execPrice'"),
        (["--from-file", str(EXECUTIONS), "--mark", "BTCUSDT"], "--mark 'BTCUSDT' is not SYMBOL=PRICE"),
        (["--from-file", str(EXECUTIONS), "--mark", "BTCUSDT=abc"], "is not SYMBOL=PRICE"),
        (["--from-file", str(EXECUTIONS), "--mark", "BTCUSDT=-5"], "with a positive price"),
        (["--from-file", str(EXECUTIONS), "--mark", "=5"], "is not SYMBOL=PRICE"),
        (["--from-file", str(EXECUTIONS), "--mark", "BTCUSDT=1E+999999999"], "with a positive price"),
        (["--from-file", str(EXECUTIONS), "--mark", "BTCUSDT=" + "9" * 5000], "with a positive price"),
        (["--from-file", str(EXECUTIONS), "--mark", "SOLUSDT=150"], "--mark SOLUSDT: "),
        (["--from-file", str(EXECUTIONS), "--csv", "{tmp}/no/such/dir/out.csv"], "cannot write"),
    ],
)
def test_user_errors_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], message: str
) -> None:
    names = {
        "tmp": str(tmp_path),
        "bad_json": write_file(tmp_path, "bad.jsonl", EXECUTIONS.read_text().splitlines()[0] + '\n{"execId":\n'),
        "error": write_file(tmp_path, "error.json", '{"retCode":10003,"retMsg":"API key is invalid.","result":{}}'),
        "missing_field": write_file(
            tmp_path,
            "missing.json",
            '[{"execId":"a","symbol":"BTCUSDT","side":"Buy","execQty":"1","execFee":"0",'
            '"execType":"Trade","execTime":"1"}]',
        ),
    }
    code, out, err = run_ledger(capsys, *(arg.format(**names) for arg in argv))
    assert code == 2
    assert out == ""
    assert err.startswith("fluxum: ")
    assert message.format(**names) in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_from_file_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(["bybit", "ledger"])
    assert caught.value.code == 2
    assert "--from-file" in capsys.readouterr().err


HOSTILE = [
    ("execPrice", "1E+999999999", "execPrice '1E+999999999' is too large"),
    ("execTime", "1" * 5000, "execTime '1111111111111111111...' is not epoch milliseconds"),
    ("execQty", "NaN", "execQty 'NaN' is not a finite number"),
    ("execQty", "-Infinity", "execQty '-Infinity' is not a finite number"),
    ("execQty", "1e-999999", "execQty '1e-999999' is too small"),
    ("execFee", "1E-20000", "execFee '1E-20000' is too small"),
]


@pytest.mark.parametrize(("field", "value", "message"), HOSTILE, ids=[f"{f}={v[:12]}" for f, v, _ in HOSTILE])
@pytest.mark.parametrize("shape", ["jsonl", "list"])
def test_a_record_whose_numbers_do_not_fit_is_one_line_naming_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, field: str, value: str, message: str, shape: str
) -> None:
    """The CLI's policy for a bad record (exit 2, one line naming the file and the record) holds for numbers the
    ledger cannot compute with: no traceback, no Overflow, no ValueError from int()."""
    good = (
        '{"execId":"a","symbol":"BTCUSDT","side":"Buy","execQty":"1","execPrice":"100","execFee":"0",'
        '"execType":"Trade","execTime":"1700000000000","category":"linear"}'
    )
    bad = good.replace('"a"', '"bad-1"').replace(f'"{field}":"', f'"{field}":"{value}","was":"')
    text = f"{good}\n{bad}\n" if shape == "jsonl" else f"[{good},{bad}]"
    path = write_file(tmp_path, f"hostile.{shape}", text)
    code, out, err = run_ledger(capsys, "--from-file", path)
    where = "line 2" if shape == "jsonl" else "record 2"
    assert (code, out) == (2, "")
    assert err.startswith(f"fluxum: {path}, {where} (execId bad-1): {message}")
    assert err.count("\n") == 1 and "Traceback" not in err and len(err) < 300


@pytest.mark.integration
def test_python_m_app_cli_prints_the_same_one_line(tmp_path: Path) -> None:
    """``python -m app.cli`` runs the module as __main__: its user errors must still be one line, exit 2."""
    import os
    import subprocess
    import sys

    path = write_file(
        tmp_path,
        "bad.json",
        '[{"execId":"x","symbol":"BTCUSDT","side":"Buy","execQty":"1",'
        '"execPrice":"1E+999999999","execFee":"0","execType":"Trade","execTime":"1"}]',
    )
    root = str(Path(__file__).resolve().parent.parent)
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "bybit", "ledger", "--from-file", path],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=root,
        env={**os.environ, "PYTHONPATH": root},
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("fluxum: ") and done.stderr.count("\n") == 1 and "too large" in done.stderr
