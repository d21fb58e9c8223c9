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
