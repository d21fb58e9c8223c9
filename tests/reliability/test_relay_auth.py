"""A relay and its desks on a NATS server that wants credentials (``nats-server --user U --pass P`` on a free
loopback port): given in the environment or the owner-only secrets file, never in argv; a wrong or missing
password is one clear line and a non-zero exit, and the password shows nowhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from exchange.bybit.sim.server import SimConfig, SimServer
from exchange.config import load_settings
from exchange.relay import bus
from exchange.secrets import BusCredentials, Secret
from tests.support.monitor_process import Monitor, clean_environment
from tests.support.relay import SYMBOLS, nats_server, running_relay
from tests.support.runtime import is_ready, running_session
from tests.support.waiting import until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

USER = "desk"
PASSWORD = "CANARY-nats-pass-7f3a"
AUTH = ("--user", USER, "--pass", PASSWORD)


async def test_a_relay_and_a_desk_with_the_password_from_the_environment_share_the_feed(tmp_path: Path) -> None:
    environ = {"FLUXUM_NATS_USER": USER, "FLUXUM_NATS_PASSWORD": PASSWORD}
    async with SimServer(SimConfig(seed=1, demo_trader=True)) as sim, nats_server(tmp_path / "nats", AUTH) as nats:
        relay_settings = load_settings(cfg="sim", base_url=sim.base_url, symbols=SYMBOLS, environ=environ, nats=True)
        assert relay_settings.bus_credentials is not None
        assert PASSWORD not in repr(relay_settings) and PASSWORD not in str(relay_settings.bus_credentials)
        relayed = running_relay(relay_settings, nats.url)
        async with relayed, running_session(relay_settings, exchange=sim, feed=nats.url) as desk:
            await until(lambda: is_ready(desk), 30.0, "the desk Ready on the relay's data")
            assert desk.session.desk.feed == f"relay 127.0.0.1:{nats.port}"


async def test_a_wrong_password_or_none_is_refused_at_connect_naming_what_to_check(tmp_path: Path) -> None:
    async with nats_server(tmp_path / "nats", AUTH) as nats:
        wrong = BusCredentials(user=USER, password=Secret("not-it"), source="FLUXUM_NATS_PASSWORD")
        with pytest.raises(bus.BusRefused) as refused:
            await bus.connect(nats.url, name="test", credentials=wrong)
        assert str(refused.value) == (
            f"NATS at 127.0.0.1:{nats.port} refused the credentials (nats: 'Authorization Violation'): "
            "check FLUXUM_NATS_PASSWORD"
        )
        with pytest.raises(bus.BusRefused, match="refused the connection .* it needs credentials: set FLUXUM_NATS"):
            await bus.connect(nats.url, name="test")
        token = BusCredentials(token=Secret("no-such-token"), source="FLUXUM_NATS_TOKEN")
        with pytest.raises(bus.BusRefused, match="check FLUXUM_NATS_TOKEN"):
            await bus.connect(nats.url, name="test", credentials=token)
        client = await bus.connect(
            nats.url, name="test", credentials=BusCredentials(user=USER, password=Secret(PASSWORD), source="test")
        )
        assert client.is_connected
        await bus.close(client)


@pytest.mark.slow
async def test_the_relay_command_with_a_wrong_password_is_one_line_and_a_non_zero_exit(tmp_path: Path) -> None:
    """The secrets file's [nats] table (owner-only) with the wrong password: the relay stops at its first
    connect with one line on stderr, exit 2 (a mistake the user can fix), and the password is in no output;
    with the right one it publishes."""
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'[nats]\nuser = "{USER}"\npassword = "wrong-{PASSWORD}"\n')
    secrets.chmod(0o600)
    async with SimServer(SimConfig(seed=1, demo_trader=True)) as sim, nats_server(tmp_path / "nats", AUTH) as nats:
        common = ["--nats", nats.url, "--base-url", sim.base_url, "--symbols", "BTCUSDT", "--json"]
        args = [*common, "--secrets-file", str(secrets), "--duration", "60"]
        relay = await Monitor.start(args, clean_environment(), command="relay")
        try:
            code = await relay.wait(45)
        finally:
            await relay.close()
        stderr = bytes(relay.stderr).decode()
        assert code == 2, stderr
        (line,) = [text for text in stderr.splitlines() if text.startswith("fluxum:")]
        assert line == (
            f"fluxum: NATS at 127.0.0.1:{nats.port} refused the credentials (nats: 'Authorization Violation'): "
            "check [nats] in the secrets file"
        )
        assert PASSWORD not in stderr and PASSWORD not in bytes(relay.stdout).decode()

        secrets.write_text(f'[nats]\nuser = "{USER}"\npassword = "{PASSWORD}"\n')
        relay = await Monitor.start(args, clean_environment(), command="relay")
        try:
            await until(lambda: any("publishing to NATS" in r.get("text", "") for r in relay.records), 45.0, "publish")
            relay.terminate()
            assert await relay.wait() == 0, bytes(relay.stderr).decode()
        finally:
            await relay.close()
        assert PASSWORD not in bytes(relay.stderr).decode() + bytes(relay.stdout).decode()
