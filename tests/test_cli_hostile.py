"""The command line against a hostile exchange and hostile files: stdout and stderr never hold a control.

A small Bybit-shaped host on loopback answers with coins, symbols, order link ids, statuses and ``retMsg``s
that carry OSC clipboard and title sequences, C1 and bidi controls, markup and newlines that would forge a
line; its error replies are HTML pages with ESC in them. Every command's output must be printable line by
line, with the hostile text still there, disarmed, on the line it belongs to.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

import app.cli as cli
from app.commands.monitor import _Printer
from exchange.bybit.sim.server import SimConfig, SimServer
from exchange.events import FillReceived
from exchange.ledger import Fill
from tests.support.threaded import clear_exchange_keys, served_in_thread

pytestmark = pytest.mark.integration

OSC_52 = "\x1b]52;c;cm0gLXJmIH4=\x07"
TITLE = "\x1b]0;pwned\x07"
C1 = "\x9b31m"
BIDI = "\u202egnp.exe"
FORGED = "\nFAKE  1000000  1000000"
"""A newline that would forge a table row."""

COIN = f"EVIL{OSC_52}{FORGED}"
SYMBOL = f"X{TITLE}[/]{C1}"
LINK_ID = f"id{BIDI}\r{TITLE}"
RET_MSG = f"Params error{TITLE}{C1}[link=https://evil.example/]x[/link]{FORGED}"
HTML = f"<html><title>{OSC_52}502 Bad Gateway</title>\n<body>{TITLE}</body></html>"


@pytest.fixture(autouse=True)
def no_keys_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_exchange_keys(monkeypatch)


def assert_printable(text: str) -> None:
    """No control character anywhere but the newlines that end lines; no bidi control, no C1."""
    for line in text.split("\n"):
        assert line.isprintable(), repr(line)


def _ok(result: Any) -> bytes:
    return orjson.dumps({"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": 1})


class HostileHost:
    """Bybit's envelope on every path it knows; ``replies`` overrides a path with (HTTP status, body, type)."""

    def __init__(self) -> None:
        self.replies: dict[str, tuple[int, bytes, str]] = {}
        self.base_url = ""

    async def handle(self, request: web.Request) -> web.Response:
        path = request.path
        if path in self.replies:
            status, body, content_type = self.replies[path]
            return web.Response(status=status, body=body, content_type=content_type)
        now = time.time()
        results: dict[str, Any] = {
            "/v5/market/time": {"timeSecond": str(int(now)), "timeNano": str(int(now * 1e9))},
            "/v5/account/wallet-balance": {"list": [_wallet()]},
            "/v5/position/list": {"list": [_position()], "nextPageCursor": ""},
            "/v5/execution/list": {"list": [_execution()], "nextPageCursor": ""},
            "/v5/order/realtime": {"list": [_order()], "nextPageCursor": ""},
            "/v5/order/cancel": {"orderId": f"X{TITLE}", "orderLinkId": LINK_ID},
        }
        if path not in results:
            return web.Response(status=404, text="not found")
        return web.Response(body=_ok(results[path]), content_type="application/json")


def _wallet() -> dict[str, Any]:
    coin = {"coin": COIN, "equity": "1", "walletBalance": "1", "unrealisedPnl": "0", "usdValue": "1"}
    return {
        "accountType": "UNIFIED",
        "totalEquity": "1",
        "totalWalletBalance": "1",
        "totalAvailableBalance": "1",
        "coin": [coin],
    }


def _position() -> dict[str, Any]:
    return {"symbol": SYMBOL, "side": "Buy", "size": "1", "avgPrice": "100", "markPrice": "101", "leverage": "10"}


def _execution() -> dict[str, Any]:
    return {
        "category": "linear",
        "symbol": SYMBOL,
        "execId": f"e{TITLE}",
        "orderId": "o1",
        "orderLinkId": LINK_ID,
        "side": "Buy",
        "execType": f"Trade{C1}",
        "execQty": "1",
        "execPrice": "100",
        "execFee": "0.1",
        "feeCurrency": "USDT",
        "execTime": str(int(time.time() * 1000)),
        "isMaker": False,
    }


def _order() -> dict[str, Any]:
    return {
        "orderId": "X1",
        "orderLinkId": LINK_ID,
        "symbol": SYMBOL,
        "side": "Buy",
        "orderType": f"Limit{TITLE}",
        "price": "100",
        "qty": "1",
        "cumExecQty": "0",
        "leavesQty": "1",
        "orderStatus": f"New{C1}[/]",
        "timeInForce": f"GTC{BIDI}",
        "updatedTime": "1767225600000",
    }


@pytest.fixture(scope="module")
def host() -> Iterator[HostileHost]:
    """The hostile host in its own thread and loop, like a separate server."""
    hostile = HostileHost()

    async def start() -> web.AppRunner:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", hostile.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        hostile.base_url = f"http://127.0.0.1:{port}"
        return runner

    with served_in_thread(start, web.AppRunner.cleanup, "hostile-host"):
        yield hostile


def fluxum(capsys: pytest.CaptureFixture[str], host: HostileHost, *argv: str) -> tuple[int, str, str]:
    command, *rest = argv
    code = cli.main(["bybit", command, "-cfg", "sim", "--base-url", host.base_url, *rest])
    captured = capsys.readouterr()
    assert_printable(captured.out)
    assert_printable(captured.err)
    return code, captured.out, captured.err


def test_balances_show_a_hostile_coin_on_its_own_line_disarmed(host: HostileHost, capsys: Any) -> None:
    code, out, err = fluxum(capsys, host, "balances")
    assert code == 0, err
    row = next(line for line in out.splitlines() if line.startswith("EVIL"))
    assert "\ufffd]52;c;cm0gLXJmIH4=\ufffd" in row and "FAKE  1000000" in row  # the forged row stays in the cell
    assert not any(line.startswith("FAKE") for line in out.splitlines())


def test_positions_and_trades_show_hostile_symbols_and_ids_disarmed(host: HostileHost, capsys: Any) -> None:
    code, out, err = fluxum(capsys, host, "positions")
    assert code == 0, err
    assert "X\ufffd]0;pwned\ufffd[/]\ufffd31m" in out
    code, out, err = fluxum(capsys, host, "trades")
    assert code == 0, err
    assert "X\ufffd]0;pwned\ufffd[/]" in out and "Trade\ufffd31m" in out and "id\ufffdgnp.exe \ufffd]0;pwned" in out


def test_order_status_and_cancel_show_hostile_fields_disarmed(host: HostileHost, capsys: Any) -> None:
    code, out, err = fluxum(capsys, host, "order-status", "--symbol", "BTCUSDT", "--order-id", "X1")
    assert code == 0, err
    assert "New\ufffd31m[/]" in out and "Limit\ufffd]0;pwned\ufffd" in out
    code, out, err = fluxum(capsys, host, "cancel-order", "--symbol", "BTCUSDT", "--order-id", "X1")
    assert code == 0, err
    assert "X\ufffd]0;pwned\ufffd" in out


@pytest.mark.parametrize(
    ("status", "body", "content_type", "exit_code", "shown"),
    [
        (200, orjson.dumps({"retCode": 10001, "retMsg": RET_MSG, "result": {}}), "application/json", 2, "Params error"),
        (403, HTML.encode(), "text/html", 1, "502 Bad Gateway"),
        (200, HTML.encode(), "text/html", 1, "not a Bybit envelope"),
    ],
    ids=["retMsg", "HTTP 403 page", "HTML instead of JSON"],  # the values would write ESC into pytest's report
)
def test_error_lines_quoting_the_exchange_are_one_printable_line(
    host: HostileHost, capsys: Any, status: int, body: bytes, content_type: str, exit_code: int, shown: str
) -> None:
    host.replies["/v5/account/wallet-balance"] = (status, body, content_type)
    try:
        code, out, err = fluxum(capsys, host, "balances")
    finally:
        del host.replies["/v5/account/wallet-balance"]
    assert code == exit_code
    assert out == ""
    assert err.startswith("fluxum: ") and err.count("\n") == 1, err  # one line: nothing forged after it
    assert shown in err


def test_the_ledger_of_a_hostile_file(tmp_path: Path, capsys: Any) -> None:
    record = {**_execution(), "execType": "Trade", "execId": "e1", "execTime": "1000"}
    path = tmp_path / "hostile.jsonl"
    path.write_text(json.dumps(record) + "\n")
    for extra in ([], ["--csv", "-"]):
        code = cli.main(["bybit", "ledger", "--from-file", str(path), *extra])
        captured = capsys.readouterr()
        assert code == 0, captured.err
        assert_printable(captured.out)
        assert "X\ufffd]0;pwned\ufffd[/]" in captured.out
    path.write_text(json.dumps({**record, "side": f"Sideways{TITLE}{FORGED}"}) + "\n")
    code = cli.main(["bybit", "ledger", "--from-file", str(path)])
    captured = capsys.readouterr()
    assert code == 2
    assert_printable(captured.err)
    assert captured.err.count("\n") == 1 and "Sideways" in captured.err


def test_monitor_fill_lines_are_one_printable_line(capsys: Any) -> None:
    fill = Fill("e1", SYMBOL + FORGED, "Buy", Decimal(1), Decimal(100), Decimal("0.1"), 1, f"Trade{C1}", "o1", LINK_ID)
    event = FillReceived(fill, None, backfilled=False)
    _Printer(json_lines=False).fill(event)
    out = capsys.readouterr().out
    assert_printable(out)
    assert out.count("\n") == 1 and "X\ufffd]0;pwned\ufffd[/]" in out
    _Printer(json_lines=True).fill(event)
    out = capsys.readouterr().out
    assert_printable(out)
    assert json.loads(out)["symbol"] == SYMBOL + FORGED  # the exact data, escaped


def test_monitor_on_a_hostile_exchange(capsys: Any) -> None:
    """The session headless on the local exchange: hostile fills pushed, then the key rejected with a title."""
    with served_in_thread(_started_sim, SimServer.stop, "hostile-sim") as (sim, loop):
        push = _every(
            loop, 0.3, lambda: sim.exchange.pushes.publish("execution", [{**_execution(), "execId": "evil-1"}])
        )

        def reject() -> None:
            sim.faults.auth_reject = True
            sim.faults.auth_reject_message = f"Invalid apikey{TITLE}[/]{FORGED}"
            asyncio.ensure_future(sim.faults.drop_connections())

        loop.call_soon_threadsafe(loop.call_later, 4.0, reject)
        code = cli.main(["monitor", "--base-url", sim.base_url, "--duration", "12", "--symbols", "BTCUSDT"])
        push.set()
    captured = capsys.readouterr()
    assert_printable(captured.out)
    assert_printable(captured.err)
    fills = [line for line in captured.out.splitlines() if " FILL " in line]
    assert fills and "X\ufffd]0;pwned\ufffd[/]" in fills[0]
    failed = [line for line in captured.out.splitlines() if "Failed" in line]
    assert code == 1 and failed and "Invalid apikey\ufffd]0;pwned\ufffd[/]" in failed[0]
    assert not any(line.startswith("FAKE") for line in captured.out.splitlines())


async def _started_sim() -> SimServer:
    sim = SimServer(SimConfig(demo_trader=False, faults_enabled=True))
    await sim.start()
    return sim


def _every(loop: asyncio.AbstractEventLoop, seconds: float, action: Any) -> threading.Event:
    """Run ``action`` on ``loop`` every ``seconds`` until the returned event is set."""
    stop = threading.Event()

    def tick() -> None:
        if stop.is_set():
            return
        action()
        loop.call_later(seconds, tick)

    loop.call_soon_threadsafe(tick)
    return stop
