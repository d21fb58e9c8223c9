"""What the desk keeps between runs and where it tells a person to look: the remembered theme, the log file's
path in the ? screen, and the ledger CSV delivered as a download in a browser."""

from __future__ import annotations

import csv
import io
import logging
import stat
from pathlib import Path
from typing import Any

import pytest

from app.preferences import default_preferences_path, load_theme, save_theme
from app.screens import ExportScreen, HelpScreen
from exchange.ledger import CSV_COLUMNS
from tests.ui import scripted
from tests.ui.support import SNAPSHOT_SIZE, RecordingApp, screen_text, until

pytestmark = pytest.mark.timeout(60)


def _app(app_class: type[RecordingApp] = RecordingApp) -> RecordingApp:
    app = app_class(desk=scripted.long_in_profit(), clock=scripted.clock)
    app.animation_level = "none"
    return app


async def test_the_theme_chosen_is_remembered_for_the_next_start() -> None:
    first = _app()
    async with first.run_test(size=SNAPSHOT_SIZE) as pilot:
        assert first.theme != "nord"
        first.theme = "nord"  # what the palette's theme picker does
        path = default_preferences_path()
        await until(pilot, lambda: load_theme() == "nord", "the theme saved")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    second = _app()
    async with second.run_test(size=SNAPSHOT_SIZE):
        assert second.theme == "nord"


@pytest.mark.parametrize(
    "content",
    [b"{not json", b'{"theme": "no-such-theme"}', b'{"theme": 7}', b"[]", b" " * 10_000, b'{"theme": "\x1b[2J"}'],
)
async def test_a_bad_preferences_file_is_ignored_with_a_log_line(content: bytes, caplog: Any) -> None:
    path = default_preferences_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    app = _app()
    with caplog.at_level(logging.WARNING):
        async with app.run_test(size=SNAPSHOT_SIZE):
            assert app.theme == "textual-dark"  # the default: the start is never stopped by the file
    assert any("preferences" in r.getMessage() or "theme" in r.getMessage() for r in caplog.records)
    assert all("\x1b" not in r.getMessage() for r in caplog.records)


def test_a_preferences_directory_that_cannot_be_written_is_logged_not_raised(tmp_path: Path, caplog: Any) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with caplog.at_level(logging.WARNING):
        save_theme("nord", blocker / "preferences.json")
    assert "theme not remembered" in caplog.text


async def test_the_help_screen_names_the_log_file() -> None:
    log_path = Path("/var/log/fx/fluxum.log")  # short enough for one line of the help at any test worker's path
    app = _app()
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        app.log_path = log_path
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), "the help screen")
        await until(
            pilot,
            lambda: "Log file" in screen_text(app) and str(log_path) in screen_text(app),
            "the log file named on the help screen",
        )


async def test_a_dashboard_on_its_own_logs_to_the_file_it_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no logging configured (the dashboard as a person runs it) the desk opens the log file."""
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", root.level)
    app = _app()
    async with app.run_test(size=SNAPSHOT_SIZE):
        assert app.log_path is not None
        logging.getLogger("exchange.session").warning("link closed: \x1b]0;title\x07")
    for handler in root.handlers:
        handler.close()
    text = app.log_path.read_text()
    assert "link closed" in text and "\x1b" not in text and "\x07" not in text
    assert stat.S_IMODE(app.log_path.stat().st_mode) == 0o600


class WebApp(RecordingApp):
    """The desk as ``fluxum serve`` runs it: a browser at the other end, the download recorded."""

    delivered: list[tuple[str, str, str | None]]

    @property
    def is_web(self) -> bool:
        return True

    def deliver_text(self, path_or_file: Any, **kwargs: Any) -> str | None:
        self.delivered.append((path_or_file.read(), kwargs["save_filename"], kwargs.get("mime_type")))
        return "key"


async def test_export_in_a_browser_is_a_download_not_a_file_on_the_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    app = _app(WebApp)
    assert isinstance(app, WebApp)
    app.delivered = []
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        await pilot.press("e")
        assert not isinstance(app.screen, ExportScreen)  # no path to ask for: the browser saves it
    assert len(app.delivered) == 1
    text, name, mime = app.delivered[0]
    assert name.startswith("fluxum-ledger-") and name.endswith(".csv") and mime == "text/csv"
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == list(CSV_COLUMNS) and len(rows) == 1 + len(list(scripted.long_in_profit().ledger.entries()))
    assert list(tmp_path.iterdir()) == []  # nothing written in the server's working directory


async def test_export_in_a_terminal_still_asks_for_a_path() -> None:
    app = _app()
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        await pilot.press("e")
        assert isinstance(app.screen, ExportScreen)
