"""``fluxum sim --replay PATH``: a session recorded live against the local exchange, served back as a Bybit v5 host.

Any Bybit client consumes it: Fluxum's own session ends with the books the recorded session ended with, pybit's
WebSocket gets the recorded book and the recorded execution, the recorded disconnect happens to a client, REST
reads are answered from the recording and anything else gets Bybit's error. The recordings are made here, as
tests/test_replay.py makes them.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pybit import unified_trading

from app import cli
from app.runtime import Runtime, open_runtime
from exchange.bybit.sim.demo_credentials import DEMO_API_KEY, DEMO_API_SECRET
from exchange.bybit.sim.replay_host import ReplayHost
from exchange.bybit.sim.replay_topics import TopicMemory
from exchange.config import load_settings
from exchange.events import LinkState
from exchange.recording.served import RecordedSocket, scan
from exchange.recording.writer import RecordingPlan, SessionRecorder
from exchange.summary import book_record
from tests.support.fills import place_market
from tests.support.pybit_thread import Inbox, tolerate_fast_acks
from tests.support.replay_recording import live_run, sim_of, socket_drop
from tests.support.sim import WsClient
from tests.support.threaded import served_in_thread
from tests.support.waiting import until

REPO = Path(__file__).resolve().parents[2]
FILL_LINK_ID = "served-1"
ROOMY = 0.5
"""The speed the clients that must be subscribed before the recorded fill play at: a second of recorded market
before it is two of theirs to connect, authenticate and subscribe on a loaded machine."""
BOOK_FIELDS = ("state", "u", "seq", "ts", "cts", "bids", "asks")
"""What a client's book must end with, as the recorded session's did (its counters are its own: a client that
subscribes late counts one snapshot the recorded session did not get)."""


async def a_fill_after_a_while(rt: Runtime) -> None:
    """A second of market, a fill (so a client that connected meanwhile gets it pushed), another second."""
    await asyncio.sleep(1.0)
    place_market(sim_of(rt), "BTCUSDT", "Buy", "0.01", FILL_LINK_ID)
    await asyncio.sleep(1.0)


@dataclass
class Recorded:
    path: Path
    summary: dict[str, Any]


def record(folder: Path, scenario: Any) -> Recorded:
    """A live session against the local exchange running ``scenario``, recorded under ``folder``; the user's
    directories point into ``folder`` (a module-wide recording cannot use the per-test ``_own_user_dirs``)."""
    path = folder / "served.jsonl.zst"
    with pytest.MonkeyPatch.context() as patch:
        for variable in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
            patch.setenv(variable, str(folder / variable.lower()))
        summary, _ = asyncio.run(live_run(path, scenario))
    return Recorded(path, summary)


@pytest.fixture(scope="module")
def with_a_fill(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    return record(tmp_path_factory.mktemp("with-a-fill"), a_fill_after_a_while)


@pytest.fixture(scope="module")
def with_a_drop(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    return record(tmp_path_factory.mktemp("with-a-drop"), socket_drop)


def ended_books(summary_books: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {symbol: {k: book[k] for k in BOOK_FIELDS} for symbol, book in summary_books.items()}


# ------------------------------------------------------------------------------------------ Fluxum's session


async def test_fluxum_on_the_host_ends_with_the_recorded_books(with_a_fill: Recorded) -> None:
    recorded = ended_books(with_a_fill.summary["books"])
    async with ReplayHost(scan(with_a_fill.path), speed=ROOMY) as host:
        settings = load_settings(cfg="sim", base_url=host.base_url, environ={})
        async with open_runtime(settings) as rt:
            task = asyncio.create_task(rt.session.run())
            books = rt.session.books

            def caught_up() -> bool:
                return host.finished.is_set() and all(books[s].u == recorded[s]["u"] for s in recorded)

            await until(lambda: caught_up() or task.done(), what="the client's books at the recording's end")
            reached_ready = rt.session.state.kind is LinkState.READY
            await rt.session.stop()  # as the recorded session stopped: its books no longer live
            await task
            ended = ended_books({symbol: book_record(books[symbol]) for symbol in recorded})
            fills = rt.session.desk.ledger.fill_count("BTCUSDT")
    assert ended == recorded
    # the recorded pushes, live on the client's own private stream (a market order may take several levels)
    assert reached_ready and fills == with_a_fill.summary["fills"]["BTCUSDT"] >= 1


# ------------------------------------------------------------------------------------------------- pybit


@pytest.fixture
def host_thread(with_a_fill: Recorded, monkeypatch: pytest.MonkeyPatch) -> Iterator[ReplayHost]:
    """The host in its own thread (pybit is synchronous), pybit's WebSocket URLs pointed at it."""

    async def start() -> ReplayHost:
        host = ReplayHost(scan(with_a_fill.path), speed=ROOMY)
        await host.start()
        return host

    with served_in_thread(start, lambda host: host.stop(), "replay-host") as (host, _):
        monkeypatch.setattr(unified_trading, "PUBLIC_WSS", f"{host.ws_url}/v5/public/{{CHANNEL_TYPE}}")
        monkeypatch.setattr(unified_trading, "PRIVATE_WSS", f"{host.ws_url}/v5/private")
        yield host


def test_pybit_gets_the_recorded_book_and_the_recorded_execution(
    host_thread: ReplayHost, with_a_fill: Recorded
) -> None:
    book = with_a_fill.summary["books"]["BTCUSDT"]
    books, executions = Inbox(), Inbox()
    public = unified_trading.WebSocket(testnet=False, channel_type="linear")
    private = unified_trading.WebSocket(
        testnet=False, channel_type="private", api_key=DEMO_API_KEY, api_secret=DEMO_API_SECRET
    )
    for ws in (public, private):
        tolerate_fast_acks(ws)
    try:
        public.orderbook_stream(depth=50, symbol="BTCUSDT", callback=books)
        private.execution_stream(callback=executions)
        got = executions.wait(lambda items: any(r["orderLinkId"] == FILL_LINK_ID for m in items for r in m["data"]))
        last = books.wait(lambda items: bool(items) and items[-1]["data"]["u"] == book["u"])[-1]["data"]
    finally:
        public.exit()
        private.exit()
    assert private.auth is True
    assert levels(last["b"]) == levels(book["bids"]) and levels(last["a"]) == levels(book["asks"])
    fill = next(r for m in got for r in m["data"] if r["orderLinkId"] == FILL_LINK_ID)
    assert fill["symbol"] == "BTCUSDT" and fill["side"] == "Buy" and fill["execQty"] == "0.010"


def levels(side: list[list[str]]) -> list[tuple[Decimal, Decimal]]:
    return sorted((Decimal(price), Decimal(size)) for price, size in side)


def test_pybit_http_reads_the_recorded_wallet(host_thread: ReplayHost, with_a_fill: Recorded) -> None:
    http = unified_trading.HTTP(api_key=DEMO_API_KEY, api_secret=DEMO_API_SECRET, max_retries=1, timeout=10)
    http.endpoint = host_thread.base_url
    wallet = http.get_wallet_balance(accountType="UNIFIED")
    assert wallet["retCode"] == 0 and wallet["result"]["list"][0]["accountType"] == "UNIFIED"


# ------------------------------------------------------------------------------------------ disconnects


async def test_the_recorded_disconnect_happens_to_the_client(with_a_drop: Recorded) -> None:
    served = scan(with_a_drop.path)
    endings = [(s.link, ending.code) for s in served.sockets.values() if (ending := s.ending()) is not None]
    assert endings == [("public", 4000)]  # the private one the recorded session closed itself: nobody's
    async with ReplayHost(served, speed=0.5) as host, aiohttp.ClientSession() as http:
        ws = WsClient(await http.ws_connect(f"{host.ws_url}/v5/public/linear"))
        ack = await ws.subscribe("orderbook.50.BTCUSDT", req_id="mine")
        assert ack["success"] is True and ack["req_id"] == "mine" and ack["op"] == "subscribe"
        await ws.send({"op": "ping", "req_id": "beat"})
        pong = await ws.until(lambda m: m.get("op") == "ping")
        assert pong["ret_msg"] == "pong" and pong["req_id"] == "beat"
        book = await ws.until(lambda m: m.get("topic") == "orderbook.50.BTCUSDT")
        assert book["type"] == "snapshot"
        while (message := await ws.raw()).type is aiohttp.WSMsgType.TEXT:
            pass
        assert message.type is aiohttp.WSMsgType.CLOSE and message.data == 4000
        assert host.counters["replay.disconnects"] == 1


@pytest.mark.parametrize(
    ("close", "expected"),
    [
        ({"by": "exchange", "code": 4000, "reason": ""}, (4000, False)),
        ({"by": "exchange", "code": 1006, "reason": ""}, (None, False)),  # no close frame may carry 1006
        ({"by": "transport", "code": None, "reason": "Connection reset"}, (None, False)),
        ({"by": "fluxum", "code": None, "reason": "public: no pong (silent for 5.2 s)"}, (None, True)),
        ({"by": "fluxum", "code": None, "reason": "private: closed by server (code 4000)"}, None),  # the other link
        ({"by": "fluxum", "code": None, "reason": "stopped"}, None),
        ({"by": "fluxum", "code": None, "reason": "account down: key rejected"}, None),
    ],
)
def test_which_recorded_closes_the_host_makes_happen(close: dict[str, Any], expected: Any) -> None:
    socket = RecordedSocket(
        "public", 1, "/v5/public/linear", 1000, last_frame_ms=4000, close={**close, "wall_ms": 9000}
    )
    ending = socket.ending()
    assert (None if ending is None else (ending.code, ending.silent)) == expected
    assert socket.silent_at(5000) is (expected is not None and expected[1])  # a half-open link answers nothing
    assert not socket.silent_at(9000)


# ------------------------------------------------------------------------------------ written by hand


START_MS = 1_800_000_000_000
TOPIC = "orderbook.50.BTCUSDT"


def written(path: Path, *steps: tuple[str, int, Any]) -> Path:
    """A recording of one public connection, its lines told to the recorder at ``START_MS + ms``: ``("frame",
    ms, text)`` or ``("close", ms, (code, reason, by))``."""
    now = [START_MS / 1000]
    recorder = SessionRecorder(RecordingPlan(path), clock=lambda: now[0])
    recorder.open()
    recorder.begin({"environment": "SIM", "category": "linear", "symbols": ["BTCUSDT"], "depth": 50})
    recorder.link_opened("public", 1, "ws://127.0.0.1:1/v5/public/linear")
    for kind, ms, what in steps:
        now[0] = (START_MS + ms) / 1000
        if kind == "frame":
            recorder.frame_received("public", 1, what, START_MS + ms)
        else:
            recorder.link_closed("public", 1, *what)
    recorder.close()
    return path


async def test_a_late_client_gets_the_book_of_the_moment_then_the_deltas(tmp_path: Path) -> None:
    path = written(
        tmp_path / "late.jsonl.zst",
        ("frame", 0, frame(TOPIC, "snapshot", [["100.0", "1"], ["99.5", "2"]], [["100.5", "3"]], u=7)),
        ("frame", 10, frame(TOPIC, "delta", [["100.0", "0"]], [["100.4", "1"]], u=8)),
        ("frame", 600, frame(TOPIC, "delta", [["99.9", "4"]], [], u=9)),
    )
    async with ReplayHost(scan(path)) as host, aiohttp.ClientSession() as http:
        async with http.get(f"{host.base_url}/v5/market/time") as reply:  # the first client starts the timeline
            assert reply.status == 404 and (await reply.json())["retCode"] == 10017  # the recording holds no REST
        await until(lambda: host.playback.now_ms() > START_MS + 100, what="the first delta played")
        ws = WsClient(await http.ws_connect(f"{host.ws_url}/v5/public/linear"))
        assert (await ws.subscribe(TOPIC))["success"] is True
        first = await ws.until(lambda m: m.get("topic") == TOPIC)
        assert first["type"] == "snapshot" and first["data"]["u"] == 8
        assert first["data"]["b"] == [["99.5", "2"]] and first["data"]["a"] == [["100.4", "1"], ["100.5", "3"]]
        following = await ws.until(lambda m: m.get("topic") == TOPIC)
        assert following["type"] == "delta" and following["data"]["u"] == 9
        refused = await ws.subscribe("orderbook.1.BTCUSDT", req_id="nope")
        assert refused["success"] is False and refused["ret_msg"] == "error:handler not found,topic:orderbook.1.BTCUSDT"


async def test_a_link_that_died_of_silence_answers_no_ping_then_drops(tmp_path: Path) -> None:
    path = written(
        tmp_path / "stall.jsonl.zst",
        ("frame", 0, frame(TOPIC, "snapshot", [["100.0", "1"]], [["100.5", "3"]], u=7)),
        ("close", 800, (None, "public: no pong (silent for 5.2 s)", "fluxum")),
    )
    async with ReplayHost(scan(path)) as host, aiohttp.ClientSession() as http:
        ws = WsClient(await http.ws_connect(f"{host.ws_url}/v5/public/linear"))
        await ws.subscribe(TOPIC)
        await ws.until(lambda m: m.get("topic") == TOPIC)
        await ws.send({"op": "ping", "req_id": "anyone"})
        ended = await ws.raw()  # no pong: the next thing is the end of the connection
        assert ended.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.ERROR)
        assert ended.type is not aiohttp.WSMsgType.CLOSE or ended.data not in range(1000, 5000)  # no close frame
        assert host.counters["replay.disconnects"] == 1


# ---------------------------------------------------------------------------------------------- late joiners


def test_a_late_subscriber_gets_the_book_as_it_is_now() -> None:
    """The recorded snapshot itself while no delta followed it; then one made from the state, which the next
    recorded delta applies to."""
    memory = TopicMemory()
    topic = "orderbook.50.BTCUSDT"
    snapshot = frame(topic, "snapshot", [["100.0", "1"], ["99.5", "2"]], [["100.5", "3"], ["101.0", "4"]], u=7)
    memory.take(topic, snapshot)
    assert memory.snapshot(topic) == snapshot
    memory.take(topic, frame(topic, "delta", [["100.0", "0"], ["99.8", "5"]], [["100.5", "6"]], u=8))
    memory.take(topic, frame(topic, "delta", [], [["100.2", "not-a-size"]], u=9))  # unreadable: left out
    made = json.loads(memory.snapshot(topic) or "")
    assert list(made) == ["topic", "type", "ts", "data", "cts"] and made["type"] == "snapshot"
    bids, asks = [["99.8", "5"], ["99.5", "2"]], [["100.5", "6"], ["101.0", "4"]]
    assert made["data"] == {"s": "BTCUSDT", "b": bids, "a": asks, "u": 8, "seq": 80}
    assert memory.rejected == 1 and memory.snapshot("publicTrade.BTCUSDT") is None


def test_a_late_subscriber_gets_the_ticker_merged() -> None:
    memory = TopicMemory()
    topic = "tickers.BTCUSDT"
    first = {"symbol": "BTCUSDT", "lastPrice": "1", "markPrice": "2"}
    memory.take(topic, json.dumps({"topic": topic, "type": "snapshot", "data": first, "cs": 1, "ts": 10}))
    change = {"symbol": "BTCUSDT", "markPrice": "3"}
    memory.take(topic, json.dumps({"topic": topic, "type": "delta", "data": change, "cs": 2, "ts": 20}))
    made = json.loads(memory.snapshot(topic) or "")
    merged = {"symbol": "BTCUSDT", "lastPrice": "1", "markPrice": "3"}
    assert made == {"topic": topic, "type": "snapshot", "data": merged, "cs": 2, "ts": 20}


def frame(topic: str, kind: str, bids: list[list[str]], asks: list[list[str]], u: int) -> str:
    data = {"s": "BTCUSDT", "b": bids, "a": asks, "u": u, "seq": u * 10}
    return json.dumps({"topic": topic, "type": kind, "ts": u * 100, "data": data, "cts": u * 100 - 1})


# ------------------------------------------------------------------------------------------------ REST


async def test_rest_reads_are_answered_from_the_recording(with_a_fill: Recorded) -> None:
    served = scan(with_a_fill.path)
    async with ReplayHost(served) as host, aiohttp.ClientSession() as http:
        url = f"{host.base_url}/v5/position/list"
        async with http.get(f"{url}?settleCoin=USDT&limit=200&category=linear") as reply:  # parameters reordered
            text, status, headers = await reply.text(), reply.status, reply.headers
        query = "category=linear&limit=200&settleCoin=USDT"
        recorded = served.replies.answer("GET", "/v5/position/list", query, None, host.playback.now_ms())
        assert recorded is not None and status == 200 and text == recorded["reply"]
        assert headers["X-Bapi-Limit"] == recorded["headers"]["X-Bapi-Limit"]
        async with http.get(f"{url}?category=spot") as reply:
            unrecorded = await reply.json()
            assert reply.status == 200 and unrecorded["retCode"] == 10001
        assert "not in the recording" in unrecorded["retMsg"] and unrecorded["result"] == {}
        async with http.get(f"{host.base_url}/v5/market/kline?category=linear&symbol=BTCUSDT") as reply:
            unknown = await reply.json()
            assert reply.status == 404 and unknown["retCode"] == 10017
        async with http.get(f"{host.ws_url.replace('ws', 'http', 1)}/v5/public/spot") as reply:
            assert reply.status == 404  # a stream the recording does not hold
        assert host.counters["replay.rest_unrecorded"] == 2


# ------------------------------------------------------------------------------------------------ the CLI


def test_a_bad_file_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bogus = tmp_path / "bogus.jsonl.zst"
    bogus.write_bytes(b"\x1b[31mnot zstd at all")
    for path in (bogus, tmp_path / "absent.jsonl.zst", tmp_path):
        assert cli.main(["sim", "--replay", str(path)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("fluxum: cannot serve ") and "\x1b" not in err, err
    assert cli.main(["sim", "--speed", "2"]) == 2 and "--speed needs --replay" in capsys.readouterr().err
    assert cli.main(["sim", "--replay", str(bogus), "--speed", "max"]) == 2
    assert "--speed max does not apply" in capsys.readouterr().err


def test_the_cli_prints_where_to_point_a_client_and_what_the_recording_holds(with_a_drop: Recorded) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "sim", "--replay", str(with_a_drop.path), "--speed", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=REPO,
    )
    try:
        assert process.stdout is not None
        where, holds = process.stdout.readline(), process.stdout.readline()
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    assert where.startswith("fluxum sim: Bybit v5 at http://127.0.0.1:") and "/v5/public/linear" in where
    assert "/v5/private" in where and "at 2x" in where
    assert "SIM linear BTCUSDT,ETHUSDT,SOLUSDT" in holds and "UTC" in holds
    assert "4 connections (2 public, 2 private; 1 closed by the exchange, 0 dropped)" in holds
