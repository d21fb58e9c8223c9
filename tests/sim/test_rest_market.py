"""Market REST endpoints of the local exchange against the documented shapes; errors, rate-limit headers."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from app.cli import main
from exchange.bybit.sim.rest_common import IP_LIMIT, RateLimiter
from exchange.bybit.sim.server import SimServer
from tests.support.recorded import fixture
from tests.support.sim import UUID_RE, assert_same_shape, step_and_publish

ROOT = Path(__file__).resolve().parents[2]
LIMIT_HEADERS = ("X-Bapi-Limit", "X-Bapi-Limit-Status", "X-Bapi-Limit-Reset-Timestamp")


async def get(session: aiohttp.ClientSession, sim: SimServer, path: str) -> tuple[int, dict[str, Any], Any]:
    async with session.get(f"{sim.base_url}{path}") as response:
        body = await response.json(content_type=None) if response.status != 403 else await response.text()
        return response.status, dict(response.headers), body


def result_of(body: dict[str, Any]) -> Any:
    assert body["retCode"] == 0 and body["retMsg"] == "OK", body
    return body["result"]


async def test_time(sim: SimServer, session: aiohttp.ClientSession) -> None:
    doc = fixture("rest/docs_market_time.json")
    status, headers, body = await get(session, sim, "/v5/market/time")
    assert status == 200 and list(body) == list(doc)
    assert_same_shape(body, doc)
    result = body["result"]
    assert result["timeNano"].startswith(result["timeSecond"]) and len(result["timeNano"]) == 19
    assert abs(int(result["timeNano"]) // 1_000_000 - body["time"]) < 1000
    assert all(h in headers for h in LIMIT_HEADERS)


@pytest.mark.parametrize(
    ("category", "doc"),
    [
        ("linear", "rest/docs_market_instruments_linear_perp.json"),
        ("spot", "rest/docs_market_instruments_spot.json"),
    ],
)
async def test_instruments_info_shapes(sim: SimServer, session: aiohttp.ClientSession, category: str, doc: str) -> None:
    real = fixture(doc)
    _, _, body = await get(session, sim, f"/v5/market/instruments-info?category={category}")
    result = result_of(body)
    assert list(result) == list(real["result"])
    assert [i["symbol"] for i in result["list"]] == sim.market.symbols(category)
    for item in result["list"]:
        assert list(item) == list(real["result"]["list"][0])
        assert_same_shape(item, real["result"]["list"][0])
    _, _, one = await get(session, sim, f"/v5/market/instruments-info?category={category}&symbol=BTCUSDT")
    assert [i["symbol"] for i in result_of(one)["list"]] == ["BTCUSDT"]


async def test_linear_instrument_filters_are_bybits(sim: SimServer, session: aiohttp.ClientSession) -> None:
    _, _, body = await get(session, sim, "/v5/market/instruments-info?category=linear&symbol=BTCUSDT")
    item = result_of(body)["list"][0]
    real = fixture("rest/docs_market_instruments_linear_perp.json")["result"]["list"][0]
    assert item["priceFilter"] == real["priceFilter"]
    assert item["lotSizeFilter"] == real["lotSizeFilter"]
    assert item["priceScale"] == real["priceScale"]


async def test_instruments_paging_and_filters(sim: SimServer, session: aiohttp.ClientSession) -> None:
    _, _, first = await get(session, sim, "/v5/market/instruments-info?category=linear&limit=2")
    page = result_of(first)
    assert len(page["list"]) == 2 and page["nextPageCursor"]
    _, _, second = await get(
        session, sim, f"/v5/market/instruments-info?category=linear&limit=2&cursor={page['nextPageCursor']}"
    )
    assert [i["symbol"] for i in result_of(second)["list"]] == sim.market.symbols("linear")[2:4]
    _, _, eth = await get(session, sim, "/v5/market/instruments-info?category=linear&baseCoin=ETH")
    assert [i["symbol"] for i in result_of(eth)["list"]] == ["ETHUSDT"]
    _, _, inverse = await get(session, sim, "/v5/market/instruments-info?category=inverse")
    assert result_of(inverse)["list"] == []


async def test_orderbook(sim: SimServer, session: aiohttp.ClientSession) -> None:
    doc = fixture("rest/docs_market_orderbook.json")
    step_and_publish(sim, 3)
    _, _, body = await get(session, sim, "/v5/market/orderbook?category=linear&symbol=BTCUSDT")
    result = result_of(body)
    assert list(result) == list(doc["result"])
    assert_same_shape(result, doc["result"])
    assert len(result["b"]) == 25 and len(result["a"]) == 25  # linear default
    want = sim.market.levels("linear", "BTCUSDT", "bid", 25)
    assert [(Decimal(p), Decimal(q)) for p, q in result["b"]] == want
    asks = [Decimal(p) for p, _ in result["a"]]
    assert asks == sorted(asks) and Decimal(result["b"][0][0]) < asks[0]
    _, _, spot = await get(session, sim, "/v5/market/orderbook?category=spot&symbol=ETHUSDT")
    assert len(result_of(spot)["b"]) == 1  # spot default
    _, _, deep = await get(session, sim, "/v5/market/orderbook?category=linear&symbol=ETHUSDT&limit=1000")
    assert len(result_of(deep)["a"]) == 1000


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("/v5/market/orderbook?symbol=BTCUSDT", "Illegal category"),
        ("/v5/market/orderbook?category=option&symbol=BTCUSDT", "Illegal category"),
        ("/v5/market/orderbook?category=linear", "params error: symbol invalid"),
        ("/v5/market/orderbook?category=linear&symbol=btcusdt", "params error: symbol invalid"),
        ("/v5/market/orderbook?category=linear&symbol=BTCUSDT&limit=1001", "params error: limit invalid"),
        ("/v5/market/orderbook?category=linear&symbol=BTCUSDT&limit=abc", "params error: limit invalid"),
        ("/v5/market/recent-trade?category=spot&symbol=BTCUSDT&limit=61", "params error: limit invalid"),
        ("/v5/market/instruments-info", "Illegal category"),
        ("/v5/market/instruments-info?category=linear&cursor=zz", "params error: cursor invalid"),
        ("/v5/market/tickers?category=linear&symbol=NOPE", "params error: symbol invalid"),
        ("/v5/market/tickers?category=futures", "Illegal category"),
    ],
)
async def test_bad_parameters_are_10001(
    sim: SimServer, session: aiohttp.ClientSession, query: str, message: str
) -> None:
    status, headers, body = await get(session, sim, query)
    assert status == 200
    assert body == {"retCode": 10001, "retMsg": message, "result": {}, "retExtInfo": {}, "time": body["time"]}
    assert all(h in headers for h in LIMIT_HEADERS)
    assert sim.counters["rest.10001"] == 1


async def test_recent_trades(sim: SimServer, session: aiohttp.ClientSession) -> None:
    doc = fixture("rest/docs_market_recent_trade_spot.json")
    sim.market.take("spot", "BTCUSDT", "Buy", Decimal("1"), None)
    sim.market.take("linear", "BTCUSDT", "Sell", Decimal("1"), None)
    _, _, spot = await get(session, sim, "/v5/market/recent-trade?category=spot&symbol=BTCUSDT&limit=5")
    result = result_of(spot)
    assert list(result) == list(doc["result"]) and len(result["list"]) >= 1
    for item in result["list"]:
        assert list(item) == list(doc["result"]["list"][0])
        assert_same_shape(item, doc["result"]["list"][0])
        assert item["execId"].isdigit()
    times = [int(t["time"]) for t in result["list"]]
    assert times == sorted(times, reverse=True)
    _, _, linear = await get(session, sim, "/v5/market/recent-trade?category=linear&symbol=BTCUSDT")
    trades = result_of(linear)["list"]
    assert trades and all(UUID_RE.match(t["execId"]) and t["side"] == "Sell" for t in trades[:1])


async def test_tickers(sim: SimServer, session: aiohttp.ClientSession) -> None:
    inverse_doc = fixture("rest/docs_market_tickers_inverse.json")["result"]["list"][0]
    spot_doc = fixture("rest/docs_market_tickers_spot.json")["result"]["list"][0]
    step_and_publish(sim, 2)
    _, _, linear = await get(session, sim, "/v5/market/tickers?category=linear")
    items = result_of(linear)["list"]
    assert [i["symbol"] for i in items] == sim.market.symbols("linear")
    for item in items:
        assert list(item) == list(inverse_doc)  # the linear and inverse REST tickers share one shape
        assert_same_shape(item, inverse_doc)
    _, _, spot = await get(session, sim, "/v5/market/tickers?category=spot&symbol=SOLUSDT")
    (item,) = result_of(spot)["list"]
    assert list(item) == list(spot_doc)
    assert_same_shape(item, spot_doc)
    bid, ask = sim.market.best_bid_ask("spot", "SOLUSDT")
    assert Decimal(item["bid1Price"]) == bid and Decimal(item["ask1Price"]) == ask


async def test_limit_headers_everywhere_and_404(sim: SimServer, session: aiohttp.ClientSession) -> None:
    statuses = []
    remaining = []
    for path in (
        "/v5/market/time",
        "/v5/market/tickers?category=spot",
        "/v5/market/nothing",
        "/v5/market/time",
    ):
        status, headers, body = await get(session, sim, path)
        statuses.append(status)
        assert all(h in headers for h in LIMIT_HEADERS), path
        assert headers["X-Bapi-Limit"] == str(IP_LIMIT)
        remaining.append(int(headers["X-Bapi-Limit-Status"]))
        if status == 404:
            assert body["retCode"] == 10017 and body["result"] == {}
    assert statuses == [200, 200, 404, 200]
    assert remaining == sorted(remaining, reverse=True) and remaining[0] > remaining[-1]
    async with session.post(f"{sim.base_url}/v5/market/time") as response:
        assert response.status == 405 and "X-Bapi-Limit" in response.headers


async def test_a_handler_crash_is_an_error_envelope(
    sim: SimServer, session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("bug in a handler")

    monkeypatch.setattr(sim.market, "book", broken)
    status, headers, body = await get(session, sim, "/v5/market/orderbook?category=linear&symbol=BTCUSDT")
    assert status == 200 and body["retCode"] == 10016 and body["result"] == {}
    assert "X-Bapi-Limit" in headers and sim.counters["rest.internal_error"] == 1
    monkeypatch.undo()
    status, _, body = await get(session, sim, "/v5/market/orderbook?category=linear&symbol=BTCUSDT")
    assert body["retCode"] == 0


def test_rate_limiter_buckets() -> None:
    now = [100.0]
    limiter = RateLimiter(monotonic=lambda: now[0])
    results = [limiter.hit("/v5/order/create", "KEY", "1.2.3.4", 1_000_000) for _ in range(11)]
    assert [allowed for allowed, _, _ in results] == [True] * 10 + [False]
    assert results[0][2] == {
        "X-Bapi-Limit": "10",
        "X-Bapi-Limit-Status": "9",
        "X-Bapi-Limit-Reset-Timestamp": "1001000",
    }
    assert results[-1][1] is False and results[-1][2]["X-Bapi-Limit-Status"] == "0"
    assert limiter.hit("/v5/order/create", "OTHER", "1.2.3.4", 1_000_000)[0]  # per key
    assert limiter.hit("/v5/order/realtime", "KEY", "1.2.3.4", 1_000_000)[2]["X-Bapi-Limit"] == "50"  # per path
    now[0] += 1.01
    assert limiter.hit("/v5/order/create", "KEY", "1.2.3.4", 1_001_010)[0]  # the window rolled
    for _ in range(IP_LIMIT - 1):
        limiter.hit("/v5/market/time", None, "9.9.9.9", 1_000_000)
    allowed, ip_bucket, headers = limiter.hit("/v5/market/tickers", None, "9.9.9.9", 1_000_000)
    assert allowed and ip_bucket and headers["X-Bapi-Limit-Status"] == "0"
    assert limiter.hit("/v5/market/time", None, "9.9.9.9", 1_000_000)[0] is False


# ------------------------------------------------------------------------------------------ fluxum sim


async def test_fluxum_sim_prints_its_url_serves_and_stops_cleanly(session: aiohttp.ClientSession) -> None:
    command = [
        sys.executable,
        "-m",
        "app",
        "sim",
        "--port",
        "0",
        "--seed",
        "3",
        "--no-demo-trader",
        "--faults",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        loop = asyncio.get_running_loop()
        line = await asyncio.wait_for(loop.run_in_executor(None, process.stdout.readline), 30)  # type: ignore[union-attr]
        match = re.fullmatch(
            r"fluxum sim: Bybit v5 at (http://127\.0\.0\.1:\d+) \(ws://127\.0\.0\.1:\d+/v5/public/linear, "
            r"demo key FLUXUMDEMOKEY00001, faults at /_sim/, control token [A-Za-z0-9_-]{43}\)\n",
            line,
        )
        assert match, line
        async with session.get(f"{match.group(1)}/v5/market/tickers?category=linear&symbol=BTCUSDT") as response:
            assert (await response.json())["result"]["list"][0]["symbol"] == "BTCUSDT"
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(loop.run_in_executor(None, process.wait), 30)
        assert code == 0
        assert "Traceback" not in process.stderr.read()  # type: ignore[union-attr]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--symbols", "BTCUSDT,FOOUSDT"], "unknown symbol 'FOOUSDT'"),
        (["--port", "70000"], "--port must be between 0 and 65535"),
        (["--seed", "x"], "--seed must be an integer"),
        (["--funding-speed", "-1"], "--funding-speed must be a positive number"),
        (["--categories", "option"], "--categories must be chosen from"),
    ],
)
def test_fluxum_sim_bad_flags_are_one_line_and_exit_2(
    flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sim", *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"fluxum: {message}") and err.count("\n") == 1
