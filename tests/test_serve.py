"""``fluxum serve`` without a browser: what each tab runs, who may reach the desk, and whose pages it answers.

The browser itself is tests/ui/test_browser_desk.py."""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import pytest

from app import cli
from app.browser_desk import origin, page_origins
from app.commands.serve import dashboard_argv
from app.signals import SERVER_PID, server_gone
from tests.support.served_desk import served_desk
from tests.support.waiting import until


def serve_args(*argv: str) -> argparse.Namespace:
    return cli.build_parser().parse_args(["serve", *argv])


def test_each_tab_runs_this_pythons_dashboard_with_the_options_given_each_one_word(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    hostile = "BTCUSDT;touch pwned $(id) `id` 'x\""
    args = serve_args("-cfg", "testnet", "--symbols", hostile, "--config", "desk.toml", "--trade", "--seed", "7")
    argv = dashboard_argv(args)
    assert argv[:5] == [sys.executable, "-P", "-m", "app.cli", "dashboard"]  # -P: never an `app` in the cwd
    assert shlex.split(shlex.join(argv)) == argv  # what textual-serve's shell gets back, word for word
    again = cli.build_parser().parse_args(argv[4:])  # the dashboard reads the same options
    assert (again.cfg, again.symbols, again.config, again.trade, again.seed) == (
        "testnet",
        hostile,
        tmp_path / "desk.toml",
        True,
        7,
    )
    assert again.base_url is None and again.secrets_file is None and not again.no_demo_trader


def test_a_served_desk_on_a_relay_keeps_its_feed() -> None:
    argv = dashboard_argv(serve_args("-cfg", "testnet", "--feed", "nats://127.0.0.1:4222"))
    assert cli.build_parser().parse_args(argv[4:]).feed == "nats://127.0.0.1:4222"


def test_the_defaults_run_the_embedded_exchange() -> None:
    argv = dashboard_argv(serve_args())
    assert argv[4:] == ["dashboard", "--seed=1"]


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--host", "0.0.0.0"], "--host 0.0.0.0 listens everywhere: name the address browsers open with --public-url"),
        (["--host", "192.0.2.10"], "beyond this machine (192.0.2.10): the page has no login; pass --allow-remote"),
        (["--public-url", "https://desk.example"], "beyond this machine (desk.example)"),
        (["--public-url", "https://desk.example", "--allow-remote", "--trade"], "pass --allow-remote-trade"),
        (["--public-url", "ftp://desk.example"], "--public-url must be an http:// or https:// URL"),
        (["--port", "70000"], "--port must be between 0 and 65535, not 70000"),
    ],
)
def test_the_desk_stays_on_this_machine_unless_asked_in_so_many_words(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["serve", *argv]) == 2
    err = capsys.readouterr().err
    assert said in err and err.startswith("fluxum: ") and err.count("\n") == 1, err


def test_asked_to_be_reached_from_elsewhere_it_warns_and_a_bad_address_is_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["serve", "--host", "192.0.2.10", "--allow-remote"]) == 2  # not an address of this machine
    warning, error = capsys.readouterr().err.splitlines()
    assert warning == "fluxum serve: warning: anyone who can reach 192.0.2.10 has this desk, without a login"
    assert error.startswith("fluxum: cannot listen on 192.0.2.10:8000: "), error


def test_a_taken_port_and_a_bad_config_are_one_line_before_anything_is_served(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        assert cli.main(["serve", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"fluxum: cannot listen on 127.0.0.1:{port}: ") and err.count("\n") == 1, err
    config = tmp_path / "desk.toml"
    config.write_text("depht = 50\n")
    assert cli.main(["serve", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'depht'" in err and err.count("\n") == 1, err


def test_origins_as_browsers_send_them() -> None:
    assert origin("http://127.0.0.1:8000") == ("http", "127.0.0.1", 8000)
    assert origin("https://Desk.Example") == ("https", "desk.example", 443)
    assert origin("http://[::1]:8000") == ("http", "::1", 8000)
    assert [origin(bad) for bad in ("", "null", "http://", "http://x:99999", "gopher://x")] == [None] * 5
    on_loopback = page_origins("http://127.0.0.1:8000", "127.0.0.1", 8000)
    assert {("http", name, 8000) for name in ("127.0.0.1", "localhost", "::1")} == on_loopback
    behind_a_proxy = page_origins("https://desk.example", "127.0.0.1", 8000)
    assert ("https", "desk.example", 443) in behind_a_proxy and ("http", "desk.example", 8000) not in behind_a_proxy
    assert page_origins("https://desk.example", "192.0.2.10", 8000) == {("https", "desk.example", 443)}


@pytest.mark.integration
async def test_the_desk_answers_its_own_page_only(tmp_path: Path) -> None:
    """Any page the user has open may try a WebSocket to 127.0.0.1; only the desk's own page gets a desk."""
    with served_desk(cwd=tmp_path) as served:
        async with aiohttp.ClientSession() as http:
            async with http.get(served.url) as page:
                assert page.status == 200
                html = await page.text()
            assert f'data-session-websocket-url="{served.url.replace("http", "ws")}/ws"' in html
            for foreign in ({"Origin": "http://evil.example"}, {"Origin": "http://127.0.0.1:1"}, {}):
                with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                    await http.ws_connect(f"{served.url}/ws", headers=foreign)
                assert refused.value.status == 403
            assert served.children() == [], "no desk started for a foreign page"
            async with http.ws_connect(f"{served.url}/ws", headers={"Origin": served.url}) as tab:
                first = await tab.receive(timeout=30)
                assert first.type is aiohttp.WSMsgType.BINARY and first.data, first  # the desk draws itself
                assert len(served.children()) == 1
        await until(lambda: served.children() == [], 30, "the closed tab's desk to quit")
        assert served.stop() == 0
    assert served.text().count("refused a desk to a page from") == 3, served.text()
    assert "refused a desk to a page from http://evil.example: not this server's page" in served.text()


@pytest.mark.integration
async def test_a_tabs_desk_quits_by_itself_when_its_server_is_killed_outright(tmp_path: Path) -> None:
    """SIGKILL or a crash: the desk's pipes are dead, and a desk left running would keep its session alone."""
    with served_desk(cwd=tmp_path) as served:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(served.url + "/ws", headers={"Origin": served.url}) as tab,
        ):
            await tab.receive(timeout=30)
            (desk,) = served.children()
            os.kill(served.process.pid, signal.SIGKILL)
            served.process.wait(30)
            try:
                await until(lambda: not running(desk), 30, "the orphaned desk to quit")
            finally:
                if running(desk):
                    os.kill(desk, signal.SIGKILL)


def running(pid: int) -> bool:
    """Alive and not a zombie waiting to be reaped (the container's init may never reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def test_only_a_desk_fluxum_serve_started_watches_for_its_server() -> None:
    assert server_gone({}) is None and server_gone({SERVER_PID: "x"}) is None
    still_here = server_gone({SERVER_PID: str(os.getppid())})
    gone = server_gone({SERVER_PID: str(os.getpid())})  # this process is not its own parent
    assert still_here is not None and not still_here()
    assert gone is not None and gone()
