"""The command line lists everything honestly and every listed command is really there."""

from __future__ import annotations

import importlib

import pytest

from app import cli


def test_help_lists_every_command_group(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for name in ("dashboard", "sim", "monitor", "bybit"):
        assert name in out


@pytest.mark.parametrize("command", cli.TOP_LEVEL + cli.BYBIT, ids=lambda c: c.name)
def test_every_built_command_module_has_its_entry_points(command):
    assert command.built, f"{command.name} is listed but not built"
    module = importlib.import_module(command.module)
    assert callable(module.add_arguments) and callable(module.run)


def test_bybit_without_a_command_shows_its_help_and_exits_2(capsys):
    assert cli.main(["bybit"]) == 2
    assert "ledger" in capsys.readouterr().out


def test_an_unknown_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["nonsense"])
    assert exited.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv", [[], ["-cfg", "testnet"], ["--base-url", "http://127.0.0.1:9"], ["--symbols", "ETHUSDT", "--trade"]]
)
def test_options_alone_open_the_dashboard_with_them(argv, monkeypatch):
    """`fluxum -cfg testnet` is `fluxum dashboard -cfg testnet`: the options are the dashboard's."""
    from app.commands import dashboard

    seen = []
    monkeypatch.setattr(dashboard, "run", lambda args: seen.append(args) or 0)
    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    dashboard_parser = parser._subparsers._group_actions[0].choices["dashboard"]
    dashboard_parser.set_defaults(_run=dashboard.run)
    assert cli.main(argv) == 0
    assert len(seen) == 1 and seen[0] == dashboard_parser.parse_args(argv)
