"""``-cfg sim`` is the simulator's relaxed safety only when the host is this machine.

The embedded exchange and an external ``fluxum sim`` on a loopback address may cancel without ``--trade`` and
without a typed confirmation; a ``-cfg sim`` whose ``--base-url`` is any other host may be a relay to Bybit or
somebody else's server, so order actions there need what production needs.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import pytest

from app import cli
from app.cli import UserError
from app.commands.common import require_confirmation
from exchange.config import load_settings

pytestmark = pytest.mark.integration

LOCAL = ["http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:8000", "http://127.0.0.2:9"]
REMOTE = ["http://192.0.2.10:8000", "https://api.bybit.com", "http://localhost.evil.example:8000", "http://sim.lan"]


@pytest.mark.parametrize("base_url", LOCAL)
def test_a_loopback_sim_is_the_local_exchange(base_url: str) -> None:
    settings = load_settings(cfg="sim", base_url=base_url, environ={})
    assert settings.local_exchange and not settings.needs_typed_confirmation


@pytest.mark.parametrize("base_url", REMOTE)
def test_a_sim_elsewhere_is_not_the_local_exchange(base_url: str) -> None:
    settings = load_settings(cfg="sim", base_url=base_url, environ={})
    assert not settings.local_exchange and settings.needs_typed_confirmation
    assert "not a local exchange" in settings.stakes


def test_which_settings_are_local() -> None:
    assert load_settings(environ={}).local_exchange  # embedded
    production = {"BYBIT_PRODUCTION_API_KEY": "k" * 12, "BYBIT_PRODUCTION_API_SECRET": "s" * 12}
    on_loopback = load_settings(cfg="production", base_url="http://127.0.0.1:8000", environ=production)
    assert not on_loopback.local_exchange and on_loopback.needs_typed_confirmation
    assert on_loopback.stakes == "PRODUCTION, real money"
    testnet = load_settings(
        cfg="testnet", environ={"BYBIT_TESTNET_API_KEY": "k" * 12, "BYBIT_TESTNET_API_SECRET": "s" * 12}
    )
    assert not testnet.local_exchange and not testnet.needs_typed_confirmation


@pytest.mark.parametrize("command", ["cancel-order --order-id x", "place-order --side Buy --type Market --qty 0.01"])
def test_cli_order_on_a_remote_sim_needs_yes(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    line = f"bybit {command} -cfg sim --base-url http://192.0.2.10:8000 --symbol BTCUSDT"
    assert cli.main(line.split()) == 2
    err = capsys.readouterr().err
    assert "without --yes" in err and "192.0.2.10 is not a local exchange" in err and err.count("\n") == 1, err


def test_cli_confirmation_on_a_remote_sim_is_typed() -> None:
    settings = load_settings(cfg="sim", base_url="http://192.0.2.10:8000", environ={})
    args = argparse.Namespace(yes=False)
    asked: list[str] = []

    def answer(text: str) -> Callable[[str], str]:
        def ask(prompt: str) -> str:
            asked.append(prompt)
            return text

        return ask

    require_confirmation(settings, args, "cancel an order", "BTCUSDT", interactive=True, ask=answer("BTCUSDT"))
    assert asked == ["192.0.2.10 is not a local exchange, maybe real money: type BTCUSDT to cancel an order: "]
    with pytest.raises(UserError, match="not confirmed"):
        require_confirmation(settings, args, "cancel an order", "BTCUSDT", interactive=True, ask=answer("y"))
    require_confirmation(settings, argparse.Namespace(yes=True), "cancel an order", "BTCUSDT", interactive=False)
    local = load_settings(cfg="sim", base_url="http://127.0.0.1:8000", environ={})
    require_confirmation(local, args, "cancel an order", "BTCUSDT", interactive=False)  # the local exchange: none


@pytest.mark.parametrize(
    ("base_url", "label"),
    [
        *((url, "SIM") for url in LOCAL),
        ("http://192.0.2.10:8000", "SIM @ 192.0.2.10"),
        ("https://api.bybit.com", "SIM @ api.bybit.com"),
        ("http://localhost.evil.example:8000", "SIM @ localhost.evil.example"),
        ("http://SIM.LAN", "SIM @ sim.lan"),
        ("http://[2001:db8::1]:8000", "SIM @ 2001:db8::1"),
        ("http://evil\x1b\x07\x7f.example:8000", "SIM @ evil\ufffd\ufffd\ufffd.example"),  # inert
        (f"http://{'a' * 60}.example", f"SIM @ {'a' * 39}…"),
    ],
)
def test_the_environment_label_names_a_sim_elsewhere_by_its_host(base_url: str, label: str) -> None:
    from app.app import placeholder_desk
    from exchange.session import Session

    settings = load_settings(cfg="sim", base_url=base_url, environ={})
    assert settings.environment_label == label
    assert placeholder_desk(settings, 0).environment == label
    assert Session(settings).desk.environment == label  # what the connection bar reads once the session runs


def test_other_environments_keep_their_names() -> None:
    assert load_settings(environ={}).environment_label == "SIM"  # embedded
    production = {"BYBIT_PRODUCTION_API_KEY": "k" * 12, "BYBIT_PRODUCTION_API_SECRET": "s" * 12}
    on_loopback = load_settings(cfg="production", base_url="http://127.0.0.1:8000", environ=production)
    assert on_loopback.environment_label == "PRODUCTION"
    testnet = {"BYBIT_TESTNET_API_KEY": "k" * 12, "BYBIT_TESTNET_API_SECRET": "s" * 12}
    assert load_settings(cfg="testnet", environ=testnet).environment_label == "TESTNET"
