"""Alert rules from the config file: the documented example accepted, every bad rule refused with its name."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from exchange.alert_rules import Condition, format_duration, parse_alert_rules, parse_duration_ms
from exchange.config import ConfigError, Settings, load_settings

EXAMPLE = """
[[alerts]]
when = "link_down"          # not Ready
after = "10s"
command = ["notify-send", "Fluxum"]
[[alerts]]
when = "stream_stale"
after = "5s"
[[alerts]]
when = "price_above"
symbol = "BTCUSDT"
price = "70000"
"""
SYMBOLS = ("BTCUSDT", "ETHUSDT")


def _load(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "fluxum.toml"
    path.write_text(text)
    return load_settings(config_file=path, environ={})


def test_the_documented_example_is_accepted(tmp_path: Path) -> None:
    settings = _load(tmp_path, 'notify = "osc777"\n' + EXAMPLE)
    assert settings.notify == "osc777"
    rules = settings.alerts
    assert [r.condition for r in rules] == [Condition.LINK_DOWN, Condition.STREAM_STALE, Condition.PRICE_ABOVE]
    assert rules[0].after_ms == 10_000 and rules[0].clear_after_ms == 10_000
    assert rules[0].command == ("notify-send", "Fluxum")
    assert rules[2].symbol == "BTCUSDT" and rules[2].threshold == Decimal("70000") and rules[2].after_ms == 0
    assert [r.name for r in rules] == ["link_down after 10s", "stream_stale after 5s", "price_above BTCUSDT 70000"]


def test_notify_is_chosen_in_the_config(tmp_path: Path) -> None:
    assert _load(tmp_path, 'notify = "osc9"\n').notify == "osc9"
    assert _load(tmp_path, "").notify == "none"
    with pytest.raises(ConfigError, match="notify must be one of none, osc9, osc777"):
        _load(tmp_path, 'notify = "growl"\n')


def test_every_condition_parses() -> None:
    tables = [
        {"when": "link_down", "after": "10s"},
        {"when": "failed"},
        {"when": "stream_stale", "symbol": "ethusdt", "after": 5},
        {"when": "price_above", "symbol": "BTCUSDT", "price": "70000", "source": "last"},
        {"when": "price_below", "symbol": "BTCUSDT", "price": 60000},
        {"when": "pnl_below", "pnl": "-250.5"},
        {"when": "liq_distance_below", "percent": "5", "symbol": "BTCUSDT"},
        {"when": "position_changed"},
        {"when": "fill", "symbol": "ETHUSDT", "after": "500ms", "clear_after": "1s"},
    ]
    rules = parse_alert_rules(tables, SYMBOLS)
    assert {r.condition for r in rules} == set(Condition)
    assert rules[2].symbol == "ETHUSDT" and rules[2].after_ms == 5000
    assert rules[3].source == "last"
    assert rules[5].threshold == Decimal("-250.5")
    assert rules[6].name == "liq_distance_below BTCUSDT 5%"
    assert rules[8].after_ms == 500 and rules[8].clear_after_ms == 1000
    assert [r.instant for r in rules].count(True) == 2


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"when": "link_dwn"}, r"alert 2 \(link_dwn\): unknown condition 'link_dwn'"),
        ({"after": "1s"}, r"alert 2 \(\?\): 'when' is missing"),
        ({"when": "link_down", "afer": "1s"}, r"alert 2 \(link_down\): unknown key 'afer'"),
        ({"when": "link_down", "symbol": "BTCUSDT"}, r"alert 2 \(link_down\): unknown key 'symbol'"),
        ({"when": "price_above", "price": "1"}, r"alert 2 \(price_above\): symbol is missing"),
        ({"when": "price_below", "symbol": "BTCUSDT"}, r"alert 2 \(price_below\): price is missing"),
        ({"when": "price_above", "symbol": "BTCUSDT", "price": "abc"}, r"price 'abc' is not a number"),
        ({"when": "price_above", "symbol": "BTCUSDT", "price": "-5"}, r"price must be above zero"),
        ({"when": "price_above", "symbol": "BTCUSDT", "price": "NaN"}, r"price must be a finite number"),
        ({"when": "price_above", "symbol": "BTCUSDT", "price": True}, r"price must be a number"),
        ({"when": "price_above", "symbol": "XRPUSDT", "price": "1"}, r"XRPUSDT is not one of the desk's symbols"),
        ({"when": "price_above", "symbol": "BTCUSDT", "price": "1", "source": "book"}, r"source must be one of"),
        ({"when": "pnl_below"}, r"alert 2 \(pnl_below\): pnl is missing"),
        ({"when": "liq_distance_below", "percent": "150"}, r"percent must be between 0 and 100"),
        ({"when": "link_down", "after": "10 sec"}, r"alert 2 \(link_down\): '10 sec' is not a duration"),
        ({"when": "link_down", "after": "-1s"}, r"is not a duration"),
        ({"when": "link_down", "after": "48h"}, r"longer than a day"),
        ({"when": "link_down", "after": [1]}, r"a duration is like"),
        ({"when": "fill", "command": "notify-send Fluxum"}, r"alert 2 \(fill\): command must be a non-empty list"),
        ({"when": "fill", "command": []}, r"command must be a non-empty list"),
        ({"when": "fill", "command": ["notify-send", 3]}, r"command must be a list of strings"),
        ({"when": "fill", "command": ["", "x"]}, r"command's program \(its first string\) is empty"),
        ({"when": "fill", "command": ["a\0b"]}, r"command must be a list of strings"),
    ],
)
def test_a_bad_rule_is_refused_with_its_name(table: dict[str, object], message: str) -> None:
    good = {"when": "failed"}
    with pytest.raises(ConfigError, match=message):
        parse_alert_rules([good, table], SYMBOLS)


def test_a_bad_rule_in_the_file_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"alert 3 \(price_above\): symbol is missing"):
        _load(tmp_path, EXAMPLE.replace('symbol = "BTCUSDT"\n', ""))
    with pytest.raises(ConfigError, match="alerts must be written as"):
        _load(tmp_path, 'alerts = "link_down"\n')
    with pytest.raises(ConfigError, match=r"alert 1: must be an \[\[alerts\]\] table"):
        _load(tmp_path, "alerts = [1]\n")


def test_a_hostile_when_is_shown_printable() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_alert_rules([{"when": "\x1b]52;c;AAAA\x07"}], SYMBOLS)
    assert "\x1b" not in str(caught.value) and "\x07" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "ms"), [("10s", 10_000), ("500ms", 500), ("2m", 120_000), ("1h", 3_600_000), (1.5, 1500), (0, 0)]
)
def test_durations(text: object, ms: int) -> None:
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize(
    ("ms", "text"), [(0, "0ms"), (250, "250ms"), (10_000, "10s"), (90_000, "1m30s"), (1500, "1.5s")]
)
def test_durations_are_spelled_short(ms: int, text: str) -> None:
    assert format_duration(ms) == text


def test_no_alerts_is_no_rules(tmp_path: Path) -> None:
    assert _load(tmp_path, 'symbols = ["BTCUSDT"]\n').alerts == ()


@pytest.mark.parametrize("command", [["monitor"], []])
def test_the_cli_refuses_a_bad_rule_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    from app import cli

    path = tmp_path / "fluxum.toml"
    path.write_text('[[alerts]]\nwhen = "link_down"\n[[alerts]]\nwhen = "pnl_below"\npnl = "-5"\nafter = "soon"\n')
    assert cli.main([*command, "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fluxum: alert 2 (pnl_below): 'soon' is not a duration") and err.count("\n") == 1
