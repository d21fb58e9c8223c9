"""The desk's log file: under the user's log directory, rotated, owner-only, printable, never a secret."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

from app.log_file import BACKUPS, default_log_path, open_log_file
from exchange.secrets import Credentials, Secret

CANARY = "canary-SECRET-in-a-log-3c2b1a"


def _logger(handler: logging.Handler) -> logging.Logger:
    logger = logging.getLogger("test.log_file")
    logger.propagate = False
    logger.handlers = [handler]
    logger.setLevel(logging.INFO)
    return logger


def test_the_default_path_is_under_the_users_log_directory(tmp_path: Path) -> None:
    assert default_log_path().name == "fluxum.log" and "fluxum" in default_log_path().parent.parts


def test_lines_are_printable_owner_only_and_never_a_secret(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "fluxum.log"
    handler = open_log_file(path)
    assert handler is not None
    logger = _logger(handler)
    credentials = Credentials("APIKEY0001", Secret(CANARY))
    logger.warning("signing with %s; reason from the host: %s", credentials, "ok\x1b]52;c;AAAA\x07\nFAKE line")
    handler.close()
    text = path.read_text()
    assert CANARY not in text and "********" in text
    assert "\x1b" not in text and "\x07" not in text and text.count("\n") == 1  # one line, no forged second
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_the_file_rotates_and_every_file_is_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "fluxum.log"
    handler = open_log_file(path)
    assert handler is not None
    handler.maxBytes = 2000
    logger = _logger(handler)
    for n in range(200):
        logger.info("line %d %s", n, "x" * 80)
    handler.close()
    files = sorted(tmp_path.glob("fluxum.log*"))
    assert len(files) == 1 + BACKUPS
    assert all(file.stat().st_size <= 2000 + 200 for file in files)
    assert all(stat.S_IMODE(file.stat().st_mode) == 0o600 for file in files)


def test_a_log_directory_that_cannot_be_made_is_no_failure(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert open_log_file(blocker / "logs" / "fluxum.log") is None


def test_a_failed_dashboard_names_the_log_file(tmp_path: Path, monkeypatch, capsys) -> None:
    """The screen is gone when a person reads why the desk stopped: the last lines say why and where the log is."""
    from app import cli
    from app.app import FluxumApp
    from exchange.events import LinkState, SessionState

    def run_and_fail(self: FluxumApp) -> None:
        self.desk.state = SessionState(LinkState.FAILED, 0, "auth rejected (10003)")
        self.log_path = tmp_path / "fluxum.log"

    monkeypatch.setattr(FluxumApp, "run", run_and_fail)
    assert cli.main(["dashboard"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == ["fluxum: the session failed: auth rejected (10003)", f"fluxum: the log is in {tmp_path}/fluxum.log"]
