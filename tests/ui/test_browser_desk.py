"""``fluxum serve`` in a real browser: headless Chromium opens the page, the desk comes up Ready on the embedded
exchange, ``]`` switches the symbol, and ``e`` delivers the ledger CSV as a download the browser saves."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from selenium.webdriver.support.wait import WebDriverWait

from exchange.ledger import csv_header
from tests.support.browser import Browser, browser_binaries, chromium
from tests.support.served_desk import served_desk

pytestmark = [pytest.mark.slow, pytest.mark.integration]

DEADLINE_S = 60.0  # a failure bound for a loaded machine: a browser, a server and a desk with its exchange
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
SENT = re.compile(r"Ledger sent as (fluxum-ledger-[0-9-]+\.csv) \((\d+) rows?\)")


def ladder_symbol(screen: str) -> str | None:
    """The symbol the order book shows: the first word of the row under its title."""
    lines = screen.splitlines()
    for above, line in zip(lines, lines[1:], strict=False):
        if "Order book" in above:
            words = line.strip("│ ").split()
            return words[0] if words else None
    return None


def wait_for(browser: Browser, holds: Callable[[str], object], what: str) -> str:
    """The screen once ``holds(screen)`` is true, within the deadline."""

    def seen(_driver: object) -> str | None:
        screen = browser.screen()
        return screen if screen is not None and holds(screen) else None

    message = f"the browser's desk never showed {what}"
    shown = WebDriverWait(browser.driver, DEADLINE_S, poll_frequency=0.2).until(seen, message)
    assert shown is not None
    return shown


def downloaded(folder: Path, name: str) -> Path | None:
    """The file once the browser has finished saving it (Chromium writes ``NAME.crdownload`` until then)."""
    path = folder / name
    return path if path.is_file() and not (folder / f"{name}.crdownload").exists() else None


def test_the_desk_in_a_browser_is_ready_switches_symbol_and_downloads_the_ledger(tmp_path: Path) -> None:
    browser_binaries()  # skips (or fails) before anything is started
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    with served_desk(f"--symbols={','.join(SYMBOLS)}", cwd=tmp_path) as served:
        with chromium(downloads, tmp_path / "profile") as browser:
            browser.open(served.url)
            screen = wait_for(browser, lambda s: "● Ready" in s and ladder_symbol(s) == SYMBOLS[0], "Ready")
            assert all(symbol in screen for symbol in SYMBOLS), screen  # the symbol strip

            browser.type("]")
            wait_for(browser, lambda s: ladder_symbol(s) == SYMBOLS[1], f"{SYMBOLS[1]} after ]")

            browser.type("e")
            sent = SENT.search(wait_for(browser, SENT.search, "the export's toast"))
            assert sent is not None
            name, rows = sent.group(1), int(sent.group(2))
            WebDriverWait(browser.driver, DEADLINE_S, 0.2).until(
                lambda _driver: downloaded(downloads, name), f"{name} never arrived in the download folder"
            )
            assert len(served.children()) == 1, "one desk for the one tab"
        with (downloads / name).open(newline="") as file:
            table = list(csv.reader(file))
        assert tuple(table[0]) == csv_header() and len(table) == rows + 1, table
        assert all(len(row) == len(table[0]) and row[0] in SYMBOLS for row in table[1:]), table
        assert served.stop() == 0
    assert not list(tmp_path.glob("fluxum-ledger-*")), "the server's disk got no copy"
