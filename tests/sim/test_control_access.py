"""Who may drive the exchange's faults over HTTP: the run's token, JSON only, its own Host and Origin.

A web page can POST to loopback as a simple request (text/plain, a form, multipart; no custom header) and a
rebound DNS name can reach it under a foreign ``Host``: each such request is refused with 403 and a reason,
counted, and changes nothing. The Python API (``sim.faults``) needs no token.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from exchange.bybit.sim.control_access import TOKEN_HEADER, check_token
from exchange.bybit.sim.server import SimConfig, SimServer
from exchange.bybit.sim.site_access import own_address
from tests.support.sim import make_config

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "a-test-token-of-the-run-0123456789"


@pytest.fixture
async def guarded() -> AsyncIterator[SimServer]:
    async with SimServer(make_config(control_token=TOKEN)) as server:
        yield server


async def post(
    session: aiohttp.ClientSession, sim: SimServer, name: str, headers: dict[str, str], *, data: bytes = b"{}"
) -> tuple[int, Any]:
    async with session.post(f"{sim.base_url}/_sim/{name}", data=data, headers=headers) as response:
        return response.status, await response.json(content_type=None)


def json_headers(token: str = TOKEN, **more: str) -> dict[str, str]:
    return {"Content-Type": "application/json", TOKEN_HEADER: token, **more}


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
async def test_a_cross_site_simple_request_is_refused_and_changes_nothing(
    guarded: SimServer, session: aiohttp.ClientSession, content_type: str
) -> None:
    sim = guarded
    for headers in (
        {"Content-Type": content_type, "Origin": "http://evil.example"},  # what a web page can send
        {"Content-Type": content_type},  # no Origin (an old browser, a form from file://)
        {"Content-Type": content_type, TOKEN_HEADER: TOKEN},  # even with the token: never a simple request
    ):
        status, answer = await post(session, sim, "pause", headers)
        assert status == 403 and answer["ok"] is False and answer["error"], (headers, answer)
    assert not sim.market.paused and sim.counters["faults.pause"] == 0
    assert sim.counters["control.refused"] == 3


async def test_a_foreign_or_null_origin_is_refused_even_with_the_token(
    guarded: SimServer, session: aiohttp.ClientSession
) -> None:
    sim = guarded
    for origin in ("http://evil.example", "null", f"http://evil.example:{sim.port}", f"https://127.0.0.1:{sim.port}"):
        status, answer = await post(session, sim, "pause", json_headers(Origin=origin))
        assert status == 403 and "origin" in answer["error"].lower(), (origin, answer)
    for fetch_site in ("cross-site", "same-site"):  # same-site: a page on another port of this machine
        status, _ = await post(session, sim, "pause", json_headers(**{"Sec-Fetch-Site": fetch_site}))
        assert status == 403
    assert not sim.market.paused and sim.counters["control.refused"] == 6
    status, answer = await post(session, sim, "pause", json_headers(Origin=f"http://127.0.0.1:{sim.port}"))
    assert (status, answer) == (200, {"ok": True}) and sim.market.paused


async def test_the_token_is_needed_on_every_control_request(guarded: SimServer, session: aiohttp.ClientSession) -> None:
    sim = guarded
    for headers in ({"Content-Type": "application/json"}, json_headers("wrong-token-of-the-same-kind-0123"),
                    json_headers(TOKEN + "x"), json_headers(TOKEN[:-1]), json_headers("")):  # fmt: skip
        status, answer = await post(session, sim, "pause", headers)
        assert status == 403 and TOKEN_HEADER in answer["error"], (headers, answer)
    async with session.get(f"{sim.base_url}/_sim/counters") as response:
        assert response.status == 403
    async with session.get(f"{sim.base_url}/_sim/counters", headers={TOKEN_HEADER: "nope"}) as response:
        assert response.status == 403
    assert not sim.market.paused and sim.counters["faults.pause"] == 0
    status, answer = await post(session, sim, "pause", json_headers())
    assert (status, answer) == (200, {"ok": True}) and sim.market.paused
    status, _ = await post(session, sim, "resume", json_headers(), data=b"")  # a body-less JSON POST is {}
    assert status == 200 and not sim.market.paused
    async with session.get(f"{sim.base_url}/_sim/counters", headers={TOKEN_HEADER: TOKEN}) as response:
        counters = (await response.json())["counters"]
    assert counters["faults.pause"] == 1 and counters["control.refused"] == 7
    assert counters["control.refused.token"] == 7


async def test_a_rebound_host_name_is_refused(guarded: SimServer, session: aiohttp.ClientSession) -> None:
    sim = guarded
    port = sim.port
    for host in (f"evil.example:{port}", f"127.0.0.1.evil.example:{port}", f"localhost.evil.example:{port}",
                 f"127.0.0.1:{port + 1}", "127.0.0.1", f"user@127.0.0.1:{port}", f"10.0.0.1:{port}"):  # fmt: skip
        status, answer = await post(session, sim, "pause", json_headers(Host=host))
        assert status == 403 and "Host" in answer["error"], (host, answer)
    assert not sim.market.paused and sim.counters["control.refused.host"] == 7
    for host in (f"localhost:{port}", f"LOCALHOST:{port}", f"[::1]:{port}", f"127.0.0.1:{port}"):
        status, _ = await post(session, sim, "clear", json_headers(Host=host))
        assert status == 200, host


async def test_the_python_api_and_bybit_routes_need_no_token(
    guarded: SimServer, session: aiohttp.ClientSession
) -> None:
    sim = guarded
    sim.faults.pause_market()
    assert sim.market.paused and sim.control_token == TOKEN
    async with session.get(f"{sim.base_url}/v5/market/time", headers={"Content-Type": "text/plain"}) as response:
        assert response.status == 200 and (await response.json())["retCode"] == 0
    headers = {"Origin": "http://evil.example", "Host": f"evil.example:{sim.port}", TOKEN_HEADER: TOKEN}
    async with session.get(f"{sim.base_url}/v5/market/time", headers=headers) as response:
        assert response.status == 403  # the same site check as /_sim/ (tests/sim/test_site_access.py)
    assert sim.counters["access.refused"] == 1 and sim.counters["control.refused"] == 0


async def test_each_run_makes_its_own_random_token() -> None:
    first, second = SimServer(make_config()), SimServer(make_config())
    assert first.control_token != second.control_token
    assert len(first.control_token) >= 32 and check_token(first.control_token) == first.control_token
    assert first.control_headers == {TOKEN_HEADER: first.control_token}


@pytest.mark.parametrize("token", ["short", "with space in it 0123456789", "tab\there-0123456789", "é" * 20, "x" * 300])
def test_a_weak_or_unsendable_token_is_refused(token: str) -> None:
    with pytest.raises(ValueError, match="control token"):
        SimServer(SimConfig(faults_enabled=True, control_token=token))


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "mybox.lan"])
def test_faults_on_a_network_address_need_an_explicit_opt_in(host: str) -> None:
    with pytest.raises(ValueError, match="faults_on_network"):
        SimServer(SimConfig(host=host, faults_enabled=True))
    SimServer(SimConfig(host=host, faults_enabled=True, faults_on_network=True))  # built, not started
    SimServer(SimConfig(host=host))  # no control endpoints: nothing to guard


def test_own_address_follows_the_bound_host() -> None:
    assert own_address("127.0.0.1:9000", "127.0.0.1", 9000)
    assert own_address("localhost:9000", "127.0.0.1", 9000)
    assert own_address("[::1]:9000", "::1", 9000)
    assert own_address("localhost", "127.0.0.1", 80)
    assert not own_address("localhost", "127.0.0.1", 9000)
    assert not own_address("evil.example:9000", "127.0.0.1", 9000)
    assert not own_address("192.168.1.10:9000", "127.0.0.1", 9000)
    assert not own_address("", "127.0.0.1", 9000)
    # bound to every interface (with faults_on_network): any address literal, never a name that may be rebound
    assert own_address("192.168.1.10:9000", "0.0.0.0", 9000)
    assert own_address("[fe80::1]:9000", "::", 9000)
    assert own_address("localhost:9000", "0.0.0.0", 9000)
    assert not own_address("evil.example:9000", "0.0.0.0", 9000)
    assert not own_address("192.168.1.10:9001", "0.0.0.0", 9000)
    # bound to one address: that address
    assert own_address("192.168.1.10:9000", "192.168.1.10", 9000)
    assert own_address("mybox.lan:9000", "mybox.lan", 9000)
    assert not own_address("192.168.1.11:9000", "192.168.1.10", 9000)
    assert not own_address("localhost:9000", "192.168.1.10", 9000)


# ------------------------------------------------------------------------------------------ fluxum sim


def _start(*flags: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    environ = {k: v for k, v in os.environ.items() if k != "FLUXUM_SIM_TOKEN"}
    environ["PYTHONPATH"] = str(ROOT)
    environ.update(env or {})
    command = [sys.executable, "-m", "app", "sim", "--port", "0", "--no-demo-trader", "--faults", *flags]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=environ)


async def _first_line(process: subprocess.Popen[str]) -> str:
    loop = asyncio.get_running_loop()
    return await asyncio.wait_for(loop.run_in_executor(None, process.stdout.readline), 30)  # type: ignore[union-attr]


async def _stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    loop = asyncio.get_running_loop()
    assert await asyncio.wait_for(loop.run_in_executor(None, process.wait), 30) == 0
    return process.stderr.read()  # type: ignore[union-attr]


async def _pause_status(session: aiohttp.ClientSession, base_url: str, token: str) -> int:
    headers = {"Content-Type": "application/json", TOKEN_HEADER: token}
    async with session.post(f"{base_url}/_sim/pause", data=b"{}", headers=headers) as response:
        return response.status


async def test_fluxum_sim_makes_a_token_and_prints_it(session: aiohttp.ClientSession) -> None:
    process = _start()
    try:
        line = await _first_line(process)
        match = re.search(
            r"at (http://127\.0\.0\.1:\d+) .*faults at /_sim/, control token ([A-Za-z0-9_-]{32,})\)$", line
        )
        assert match, line
        base_url, token = match.groups()
        assert await _pause_status(session, base_url, "not-the-token-0123456789") == 403
        assert await _pause_status(session, base_url, token) == 200
        assert "Traceback" not in await _stop(process)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize(
    ("flags", "env", "source"),
    [
        ((), {"FLUXUM_SIM_TOKEN": TOKEN}, "FLUXUM_SIM_TOKEN"),
        (("--faults-token", TOKEN), {"FLUXUM_SIM_TOKEN": "the-environment-loses-0123456789"}, "--faults-token"),
    ],
)
async def test_fluxum_sim_takes_the_token_it_is_given_and_does_not_print_it(
    session: aiohttp.ClientSession, flags: tuple[str, ...], env: dict[str, str], source: str
) -> None:
    process = _start(*flags, env=env)
    try:
        line = await _first_line(process)
        assert line.endswith(f"faults at /_sim/, control token from {source})\n") and TOKEN not in line, line
        match = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert match
        for other in env.values():
            if other != TOKEN:
                assert await _pause_status(session, match.group(0), other) == 403
        assert await _pause_status(session, match.group(0), TOKEN) == 200
        assert "Traceback" not in await _stop(process)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10"])
def test_fluxum_sim_refuses_faults_on_a_network_address(host: str, capsys: pytest.CaptureFixture[str]) -> None:
    from app.cli import main

    assert main(["sim", "--host", host, "--faults"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--faults-on-network" in err and host in err, err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["sim", "--faults", "--faults-token", "short"], "control token"),
        (["sim", "--faults-token", TOKEN], "--faults-token needs --faults"),
        (["sim", "--faults-on-network"], "--faults-on-network needs --faults"),
    ],
)
def test_fluxum_sim_token_mistakes_exit_2_in_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_a_network_address_is_announced_on_stderr() -> None:
    from app.commands.sim import network_warning

    assert network_warning(SimConfig()) is None
    assert network_warning(SimConfig(host="localhost")) is None
    warning = network_warning(SimConfig(host="0.0.0.0"))
    assert warning is not None and "0.0.0.0" in warning and "network" in warning and "\n" not in warning
    with_faults = network_warning(SimConfig(host="::", faults_enabled=True, faults_on_network=True))
    assert with_faults is not None and "fault" in with_faults


def test_faults_on_network_and_the_token_reach_the_config() -> None:
    from app.cli import build_parser
    from app.commands.sim import build_config

    def config(argv: list[str], environ: dict[str, str]) -> SimConfig:
        return build_config(build_parser().parse_args(["sim", *argv]), environ)

    chosen = config(["--host", "0.0.0.0", "--faults", "--faults-on-network"], {"FLUXUM_SIM_TOKEN": TOKEN})
    assert chosen.faults_on_network and chosen.faults_enabled and chosen.control_token == TOKEN
    assert config(["--faults"], {"FLUXUM_SIM_TOKEN": ""}).control_token is None  # empty: made at random
    assert config(["--faults", "--faults-token", TOKEN], {"FLUXUM_SIM_TOKEN": "x"}).control_token == TOKEN
    assert config([], {"FLUXUM_SIM_TOKEN": "short"}).control_token is None  # no faults: the variable is not read
