"""The command line lists everything honestly and every listed command is really there."""

from __future__ import annotations

import argparse
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


def test_bybit_without_a_command_shows_its_help_and_exits_0(capsys):
    assert cli.main(["bybit"]) == 0
    assert "ledger" in capsys.readouterr().out


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(flag, capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main([flag])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"fluxum {cli.version()}"
    assert cli.version()[0].isdigit()


def test_cfg_is_spelled_both_ways_in_the_help(capsys):
    with pytest.raises(SystemExit):
        cli.main(["dashboard", "--help"])
    out = capsys.readouterr().out
    assert "--cfg ENV, -cfg ENV" in out and "[--cfg ENV]" in out
    parser = cli.build_parser()
    assert (
        parser.parse_args(["monitor", "--cfg", "testnet"]).cfg == parser.parse_args(["monitor", "-cfg", "testnet"]).cfg
    )


@pytest.mark.parametrize("shell", ["bash", "zsh", "tcsh"])
def test_completion_knows_every_command_and_flag(shell, capsys):
    assert cli.main(["completion", shell]) == 0
    script = capsys.readouterr().out
    words: tuple[str, ...] = ("monitor", "balances", "place-order", "init", "check")
    if shell != "tcsh":  # shtab's tcsh script completes commands only
        words += ("--journal-dir", "--cfg", "--json")
    for word in words:
        assert word in script, word


def test_completion_of_an_unknown_shell_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["completion", "powershell"])
    assert exited.value.code == 2


@pytest.mark.integration
def test_the_entry_point_never_imports_an_app_package_from_the_working_directory(tmp_path):
    """A console script's sys.path[0] is its own bin directory, not the working directory: a project's ``app``
    package there is never imported in place of Fluxum's (``python -m app`` runs the working directory's by
    definition, as ``python -m`` always does)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(sys.executable).parent / "fluxum"
    if not script.exists():
        pytest.skip("fluxum is not installed in this interpreter's environment")
    bogus = tmp_path / "app"
    bogus.mkdir()
    (bogus / "__init__.py").write_text("raise SystemExit('the bogus app package was imported')\n")
    (bogus / "cli.py").write_text("raise SystemExit('the bogus app.cli was imported')\n")
    root = str(Path(cli.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": root}
    env.pop("PYTHONSAFEPATH", None)
    done = subprocess.run([str(script), "--version"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("fluxum ") and "bogus" not in done.stdout + done.stderr


def test_monitor_that_never_reaches_ready_exits_1(capsys, tmp_path):
    """``--duration`` ending before Ready is a failed run: a health check must not pass on a dead link."""
    code = cli.main(
        ["monitor", "--base-url", "http://127.0.0.1:9", "--duration", "1.5", "--journal-dir", str(tmp_path)]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "never reached Ready in 1.5 s" in err


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

    seen: list[argparse.Namespace] = []

    def run(args: argparse.Namespace) -> int:
        seen.append(args)
        return 0

    monkeypatch.setattr(dashboard, "run", run)
    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    commands = parser._subparsers  # argparse has no public way to reach a subcommand's parser
    assert commands is not None
    dashboard_parser = commands._group_actions[0].choices["dashboard"]  # type: ignore[index]
    dashboard_parser.set_defaults(_run=dashboard.run)
    assert cli.main(argv) == 0
    assert len(seen) == 1 and seen[0] == dashboard_parser.parse_args(argv)
