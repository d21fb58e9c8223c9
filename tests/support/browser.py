"""A real browser for the served desk: Debian's headless Chromium driven by selenium, kept to loopback.

The page draws the terminal with xterm.js on a canvas, so its text is not in the DOM. A script that runs before
the page's own keeps the page's ``Terminal`` in ``window.fluxumTerminal``: the test reads the rows xterm.js holds
(what the person sees) and types into the terminal as a person does.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1600,1000",
    # Loopback only: the page also asks a font server for Roboto Mono; that request fails here, as offline.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
)

KEEP_TERMINAL = """
Object.defineProperty(Object.prototype, "terminal", {
  configurable: true,
  set(value) {
    Object.defineProperty(this, "terminal", {value, writable: true, configurable: true, enumerable: true});
    window.fluxumTerminal = value;
  },
});
"""
"""textual-serve's page does ``this.terminal = new Terminal(...)`` on its one terminal object: a setter on the
prototype chain sees that assignment, keeps the value, and leaves an ordinary property behind."""

SCREEN = """
const terminal = window.fluxumTerminal;
if (!terminal) return null;
const rows = [];
for (let y = 0; y < terminal.rows; y++) {
  const line = terminal.buffer.active.getLine(y);
  rows.push(line ? line.translateToString(true) : "");
}
return rows.join("\\n");
"""


def browser_binaries() -> tuple[str, str]:
    """Chromium and chromedriver, or the test skips where they cannot be installed and fails where they could."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if chromium and driver:
        return chromium, driver
    missing = " and ".join(name for name, found in (("chromium", chromium), ("chromedriver", driver)) if not found)
    if os.geteuid() == 0 and shutil.which("apt-get"):
        pytest.fail(f"{missing} missing where they can be installed: `make test` installs chromium chromium-driver")
    pytest.skip(f"no real browser: {missing} not installed, and installing them needs root and apt-get")


class Browser:
    """One headless Chromium with one tab."""

    def __init__(self, driver: webdriver.Chrome) -> None:
        self.driver = driver

    def open(self, url: str) -> None:
        self.driver.get(url)

    def screen(self) -> str | None:
        """The terminal's rows as text; None before the page has made its terminal."""
        text = self.driver.execute_script(SCREEN)
        return None if text is None else str(text)

    def type(self, keys: str) -> None:
        """Keys typed into the terminal, as key events from the keyboard."""
        self.driver.execute_script("window.fluxumTerminal.focus()")
        ActionChains(self.driver).send_keys(keys).perform()


@contextmanager
def chromium(downloads: Path, profile: Path) -> Iterator[Browser]:
    """Headless Chromium with a fresh profile, its downloads saved into ``downloads`` without asking."""
    binary, driver_path = browser_binaries()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.add_experimental_option(
        "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False}
    )
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        # The download opens in a tab of its own: the browser-wide setting covers it, a page's would not.
        driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": KEEP_TERMINAL})
        yield Browser(driver)
    finally:
        driver.quit()
