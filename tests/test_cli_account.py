"""The account commands end to end through ``app.cli.main`` against the local exchange.

Two ways of meeting the exchange, as a person would: the default ``-cfg sim`` starts a fresh embedded
exchange per command; ``--base-url`` points at an external one (here: a simulator on loopback in a background
thread), so an order placed by one command is seen by the next. Nothing leaves loopback, even for
``-cfg production``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import app.cli as cli
from exchange.bybit.sim.server import SimConfig, SimServer
from tests.support.threaded import clear_exchange_keys, served_in_thread

pytestmark = pytest.mark.integration

FAKE_PRODUCTION_KEY = "FAKEPRODKEY000001"
FAKE_PRODUCTION_SECRET = "prod-canary-secret-0f9e8d7c"


@pytest.fixture(autouse=True)
def no_keys_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing from the developer's shell may leak into these runs."""
    clear_exchange_keys(monkeypatch)


@pytest.fixture(scope="module")
def external_sim() -> Iterator[SimServer]:
    """A local exchange in its own thread and loop, like a separate ``fluxum sim`` process."""

    async def start() -> SimServer:
        sim = SimServer(SimConfig(demo_trader=False, run_market=False, publish=False))
        await sim.start()
        return sim

    with served_in_thread(start, SimServer.stop, "external-sim") as (sim, _):
        yield sim


def fluxum(capsys: pytest.CaptureFixture[str], line: str, *extra: str) -> tuple[int, str, str]:
    """Run ``fluxum`` with a command line (split on spaces) plus arguments that may contain spaces."""
    code = cli.main(line.split() + list(extra))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def on(sim: Any, line: str) -> str:
    """``bybit <command> --base-url <the external exchange> <rest>``."""
    command, _, rest = line.partition(" ")
    return f"bybit {command} --base-url {sim.base_url} {rest}"


# ================================================================================================ embedded


def test_balances_on_a_fresh_embedded_exchange(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = fluxum(capsys, "bybit balances")
    assert code == 0, err
    assert "fresh local exchange" in err
    lines = out.splitlines()
    assert lines[0].split() == ["account", "UNIFIED"]
    assert any(line.split()[:2] == ["total", "equity"] and line.split()[2] != "0" for line in lines)
    header = next(line for line in lines if line.startswith("COIN"))
    assert header.split() == ["COIN", "EQUITY", "WALLET", "BALANCE", "UNREALISED", "PNL", "USD", "VALUE"]
    usdt = next(line for line in lines if line.startswith("USDT"))
    assert len(usdt) == len(header)  # right-aligned numbers end under their headers


def test_an_inverse_order_on_a_fresh_embedded_exchange(capsys: pytest.CaptureFixture[str]) -> None:
    """``--category inverse``: the embedded exchange serves the inverse markets the command asks for."""
    line = "bybit place-order --category inverse --symbol BTCUSD --side Buy --type Market --qty 100 --yes"
    code, out, err = fluxum(capsys, line)
    assert code == 0, err
    placed = fields_of(out)
    assert (placed["symbol"], placed["qty"]) == ("BTCUSD", "100") and placed["status"].startswith("Filled")
    code, out, err = fluxum(capsys, "bybit positions --category inverse")
    assert (code, out.strip()) == (0, "no open inverse positions"), err  # a fresh exchange per command


def test_positions_on_a_fresh_embedded_exchange(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = fluxum(capsys, "bybit positions -cfg sim")
    assert code == 0, err
    assert out.strip() == "no open linear positions"


# ================================================================================================ order flow


def fields_of(out: str) -> dict[str, str]:
    """``name  value`` lines as a dict (names are lower-case words, values the rest of the line)."""
    found = {}
    for line in out.splitlines():
        parts = line.split("  ", 1)
        if len(parts) == 2 and parts[0] and parts[0] == parts[0].lower():
            found[parts[0].strip()] = parts[1].strip()
    return found


def test_market_order_then_trades_positions_and_status(external_sim: Any, capsys: pytest.CaptureFixture[str]) -> None:
    line = "place-order --symbol btcusdt --side buy --type market --qty 0.010 --link-id cli-market-1"
    code, out, err = fluxum(capsys, on(external_sim, line))
    assert code == 0, err
    assert "fresh local exchange" not in err
    assert out.startswith("order accepted by Bybit\n")
    placed = fields_of(out)
    assert (placed["symbol"], placed["side"], placed["type"], placed["qty"]) == (
        "BTCUSDT",
        "Buy",
        "Market",
        "0.010",
    )
    assert placed["order link id"] == "cli-market-1"
    assert placed["status"] == "Filled (filled 0.010 of 0.010)"

    code, out, err = fluxum(capsys, on(external_sim, "trades --symbol BTCUSDT --since 1h"))
    assert code == 0, err
    header, *rows = out.splitlines()
    assert header.split() == [
        "TIME",
        "(UTC)",
        "SYMBOL",
        "SIDE",
        "TYPE",
        "QTY",
        "PRICE",
        "FEE",
        "ROLE",
        "ORDER",
    ]
    fill = next(row.split() for row in rows if row.endswith("cli-market-1"))
    assert fill[2:6] == ["BTCUSDT", "Buy", "Trade", "0.010"] and fill[8] == "taker"

    code, out, err = fluxum(capsys, on(external_sim, "positions"))
    assert code == 0, err
    row = next(line for line in out.splitlines() if line.startswith("BTCUSDT"))
    assert row.split()[1:3] == ["Buy", "0.010"]

    code, out, err = fluxum(capsys, on(external_sim, "order-status --symbol BTCUSDT --link-id cli-market-1"))
    assert code == 0, err
    status = fields_of(out)
    assert (status["status"], status["filled"], status["remaining"]) == ("Filled", "0.010", "0")


def test_resting_limit_order_is_cancelled(external_sim: Any, capsys: pytest.CaptureFixture[str]) -> None:
    line = "place-order --symbol ETHUSDT --side Buy --type PostOnly --qty 0.1 --price 100 --link-id cli-rest-1"
    code, out, err = fluxum(capsys, on(external_sim, line))
    assert code == 0, err
    assert fields_of(out)["status"] == "New (filled 0 of 0.10)"

    cancel = on(external_sim, "cancel-order --symbol ETHUSDT --link-id cli-rest-1")
    code, out, err = fluxum(capsys, cancel)
    assert code == 0, err
    assert out.startswith("cancel accepted by Bybit") and fields_of(out)["order link id"] == "cli-rest-1"

    code, out, err = fluxum(capsys, on(external_sim, "order-status --symbol ETHUSDT --link-id cli-rest-1"))
    assert code == 0, err
    assert fields_of(out)["status"] == "Cancelled"

    code, out, err = fluxum(capsys, cancel)
    assert code == 2
    assert err.startswith("fluxum: cancel rejected by Bybit (110001)") and err.count("\n") == 1


# ================================================================================================ user errors


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ("--qty abc", "--qty must be a positive number like 0.01, not 'abc'"),
        ("--qty -1", "--qty must be a positive number"),
        ("--qty 0.0001", "--qty 0.0001 is below BTCUSDT's minimum order quantity 0.001"),
        ("--qty 0.0015", "--qty 0.0015 is not a multiple of BTCUSDT's quantity step 0.001"),
        ("--qty 0.01 --type Limit", "a Limit order needs --price"),
        ("--qty 0.01 --price 60000", "--price is only for Limit and PostOnly orders"),
        (
            "--qty 0.01 --type Limit --price 60000.05",
            "--price 60000.05 is not a multiple of BTCUSDT's tick size",
        ),
        ("--qty 0.01 --symbol NOPEUSDT", "unknown symbol NOPEUSDT on Bybit linear"),
        ("--qty 1000", "order rejected by Bybit (110007): ab not enough for new order"),
    ],
)
def test_place_order_mistakes_exit_2_in_one_line(
    external_sim: Any, capsys: pytest.CaptureFixture[str], flags: str, message: str
) -> None:
    defaults = {"--symbol": "BTCUSDT", "--side": "Buy", "--type": "Market"}
    given = flags.split()
    for flag in given[::2]:
        defaults.pop(flag, None)
    line = " ".join(["place-order", *(f"{k} {v}" for k, v in defaults.items()), flags])
    code, out, err = fluxum(capsys, on(external_sim, line))
    assert code == 2
    assert err.startswith("fluxum: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert out == ""


def test_order_status_of_an_unknown_order(external_sim: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = fluxum(capsys, on(external_sim, "order-status --symbol BTCUSDT --order-id nope"))
    assert code == 2
    assert err == "fluxum: no linear order with order id nope on BTCUSDT\n"


def test_production_order_needs_yes_and_sends_nothing(
    external_sim: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BYBIT_PRODUCTION_API_KEY", FAKE_PRODUCTION_KEY)
    monkeypatch.setenv("BYBIT_PRODUCTION_API_SECRET", FAKE_PRODUCTION_SECRET)
    before = external_sim.counters["rest.requests"]
    place = on(external_sim, "place-order -cfg production --symbol BTCUSDT --side Sell --type Market --qty 0.01")
    for line in (place, on(external_sim, "cancel-order -cfg production --symbol BTCUSDT --order-id x")):
        code, out, err = fluxum(capsys, line)
        assert code == 2
        assert "on production without --yes" in err and err.count("\n") == 1
    assert external_sim.counters["rest.requests"] == before

    # With --yes it is sent, and the local exchange refuses the fake key: one line, no secret anywhere.
    code, out, err = fluxum(capsys, place + " --yes")
    assert code == 2
    assert err.startswith("fluxum: Bybit rejected the API key (10003)") and err.count("\n") == 1
    assert FAKE_PRODUCTION_SECRET not in out + err and FAKE_PRODUCTION_KEY not in out + err


def test_production_order_typed_at_the_prompt() -> None:
    """A person at the terminal types the symbol; anything else (or end of input) sends nothing."""
    import argparse

    from app.cli import UserError
    from app.commands.common import require_confirmation
    from exchange.config import load_settings

    environ = {"BYBIT_PRODUCTION_API_KEY": FAKE_PRODUCTION_KEY, "BYBIT_PRODUCTION_API_SECRET": FAKE_PRODUCTION_SECRET}
    production = load_settings(cfg="production", environ=environ)
    args = argparse.Namespace(yes=False)
    asked: list[str] = []

    def typing(text: str):
        def ask(prompt: str) -> str:
            asked.append(prompt)
            if text == "EOF":
                raise EOFError
            return text

        return ask

    require_confirmation(production, args, "place an order", "BTCUSDT", interactive=True, ask=typing(" BTCUSDT\n"))
    assert asked == ["PRODUCTION, real money: type BTCUSDT to place an order: "]
    for wrong in ("y", "btcusdt", "ETHUSDT", "", "EOF"):
        with pytest.raises(UserError, match="not confirmed: nothing was sent"):
            require_confirmation(production, args, "place an order", "BTCUSDT", interactive=True, ask=typing(wrong))
    with pytest.raises(UserError, match="without --yes"):
        require_confirmation(production, args, "cancel an order", "BTCUSDT", interactive=False, ask=typing("BTCUSDT"))
    require_confirmation(production, argparse.Namespace(yes=True), "cancel an order", "BTCUSDT", interactive=False)
    # At a real terminal the prompt goes to stderr (stdout may be a file) and the answer comes from stdin.
    import io
    import sys

    stdin, stdout, stderr = io.StringIO("BTCUSDT\n"), io.StringIO(), io.StringIO()
    saved = sys.stdin, sys.stdout, sys.stderr
    sys.stdin, sys.stdout, sys.stderr = stdin, stdout, stderr
    try:
        require_confirmation(production, args, "cancel an order", "BTCUSDT", interactive=True)
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved
    assert stdout.getvalue() == "" and "type BTCUSDT to cancel an order" in stderr.getvalue()
    testnet = load_settings(
        cfg="testnet", environ={"BYBIT_TESTNET_API_KEY": "k" * 12, "BYBIT_TESTNET_API_SECRET": "s" * 12}
    )
    require_confirmation(testnet, args, "place an order", "BTCUSDT", interactive=True, ask=typing("no"))


def test_private_command_without_keys_says_how_to_set_them(capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    secrets = tmp_path / "secrets.toml"
    line = "bybit balances -cfg testnet --base-url http://127.0.0.1:9 --secrets-file"
    code, out, err = fluxum(capsys, line, str(secrets))
    assert code == 2
    assert err == (
        "fluxum: balances needs API keys: set BYBIT_TESTNET_API_KEY and BYBIT_TESTNET_API_SECRET "
        f"or put them in the secrets file {secrets}\n"
    )


def test_bad_config_and_bad_flags_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    code, _, err = fluxum(capsys, "bybit balances --config", str(tmp_path / "missing.toml"))
    assert code == 2 and "does not exist" in err and err.count("\n") == 1
    code, _, err = fluxum(capsys, "bybit trades --since", "last tuesday")
    assert code == 2 and "--since 'last tuesday' is not a date" in err
    code, _, err = fluxum(capsys, "bybit trades --limit 0")
    assert code == 2 and "--limit must be at least 1" in err
    with pytest.raises(SystemExit) as caught:  # argparse's own usage error, also status 2
        argv = ["bybit", "place-order", "--symbol", "BTCUSDT", "--side", "Up", "--type", "Market"]
        cli.main([*argv, "--qty", "1"])
    assert caught.value.code == 2
    assert "--side must be one of Buy, Sell" in capsys.readouterr().err


def test_unreachable_exchange_exits_1_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = fluxum(capsys, "bybit positions --base-url http://127.0.0.1:9")
    assert code == 1
    assert err.startswith("fluxum: Bybit is unavailable") and err.count("\n") == 1
