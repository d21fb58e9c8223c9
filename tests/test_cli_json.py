"""``--json`` on the account commands: one JSON document, Bybit's field names and exact decimal strings, every
terminal control escaped, against an external local exchange on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

import app.cli as cli
from exchange.bybit.sim.server import SimConfig, SimServer
from tests.support.threaded import clear_exchange_keys, served_in_thread

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def no_keys_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_exchange_keys(monkeypatch)


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    async def start() -> SimServer:
        server = SimServer(SimConfig(demo_trader=False, run_market=False, publish=False))
        await server.start()
        return server

    with served_in_thread(start, SimServer.stop, "json-sim") as (server, _):
        yield server


def fluxum(capsys: pytest.CaptureFixture[str], sim: SimServer, *argv: str) -> Any:
    code = cli.main(["bybit", argv[0], "--base-url", sim.base_url, *argv[1:]])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)  # the whole of stdout is one document


def test_trades_positions_and_balances_as_json(sim: SimServer, capsys: pytest.CaptureFixture[str]) -> None:
    order = ["place-order", "--symbol", "BTCUSDT", "--side", "buy", "--type", "market", "--qty", "0.010"]
    assert cli.main(["bybit", order[0], "--base-url", sim.base_url, *order[1:], "--link-id", "json-1"]) == 0
    capsys.readouterr()

    trades = fluxum(capsys, sim, "trades", "--symbol", "BTCUSDT", "--json")
    fill = next(record for record in trades if record.get("orderLinkId") == "json-1")
    assert (fill["symbol"], fill["side"], fill["execQty"]) == ("BTCUSDT", "Buy", "0.010")
    assert isinstance(fill["execPrice"], str) and isinstance(fill["execFee"], str)
    assert len(fluxum(capsys, sim, "trades", "--json", "--limit", "1")) == 1

    positions = fluxum(capsys, sim, "positions", "--json")
    btc = next(record for record in positions if record["symbol"] == "BTCUSDT")
    assert (btc["side"], btc["size"]) == ("Buy", "0.010")
    assert Decimal(btc["avgPrice"]) == Decimal(fill["execPrice"]) and isinstance(btc["avgPrice"], str)

    balances = fluxum(capsys, sim, "balances", "--json")
    assert balances["accountType"] == "UNIFIED"
    usdt = next(coin for coin in balances["coin"] if coin["coin"] == "USDT")
    assert isinstance(usdt["walletBalance"], str) and isinstance(balances["totalEquity"], str)


def test_no_positions_is_an_empty_array(sim: SimServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert fluxum(capsys, sim, "positions", "--symbol", "SOLUSDT", "--json") == []


def test_json_keeps_the_exact_data_and_escapes_terminal_controls(capsys: pytest.CaptureFixture[str]) -> None:
    from app.commands.common import print_json

    hostile = "BTC\x1b]0;pwned\x07\x9b2J\u202eUSDT"
    print_json([{"symbol": hostile, "qty": "0.00000001"}])
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.isascii() and out.strip().isprintable()
    assert json.loads(out) == [{"symbol": hostile, "qty": "0.00000001"}]


def test_a_position_record_writes_every_decimal_as_it_was_read() -> None:
    from app.commands.positions import position_record
    from exchange.bybit.protocol import parse_position

    record = {"symbol": "ETHUSDT", "side": "Sell", "size": "1.50", "avgPrice": "0.00000010", "markPrice": "1E-8"}
    position = parse_position({**record, "leverage": "10", "liqPrice": "", "updatedTime": "1700000000000"})
    written = position_record(position)
    assert (written["side"], written["size"], written["avgPrice"]) == ("Sell", "1.50", "0.00000010")
    assert Decimal(str(written["markPrice"])) == Decimal("1E-8") and written["liqPrice"] is None
    assert written["updatedTime"] == "1700000000000"
