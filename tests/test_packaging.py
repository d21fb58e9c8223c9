"""What a newcomer meets before running anything: the licence, the metadata, the changelog, the README's
install lines and picture, and a `make run` that installs the app alone."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_mit_licence_file_and_spdx_metadata() -> None:
    licence = (ROOT / "LICENSE").read_text()
    assert licence.startswith("MIT License") and "Copyright (c) 2026 The Fluxum authors" in licence
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["license"] == "MIT"  # PEP 639: the table form is deprecated
    assert pyproject["project"]["license-files"] == ["LICENSE"]
    backend = next(r for r in pyproject["build-system"]["requires"] if r.startswith("setuptools"))
    assert re.fullmatch(r"setuptools>=(\d+)", backend) and int(backend.split(">=")[1]) >= 77  # PEP 639 support


def test_every_runtime_dependency_is_pinned_in_the_house_style() -> None:
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert any(d.startswith("shtab") for d in dependencies)
    assert all("==" in d or (">=" in d and "<" in d) for d in dependencies), dependencies


def test_changelog_keeps_an_unreleased_section() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert "keepachangelog.com" in changelog and "## [Unreleased]" in changelog
    assert "### Added" in changelog and "--version" in changelog


def test_readme_gives_the_install_lines_and_the_desk_as_a_picture() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "pipx install ." in readme and "uv tool install ." in readme
    picture = re.search(r"!\[[^\]]+\]\(([^)]+\.svg)\)", readme)
    assert picture and (ROOT / picture.group(1)).is_file()
    assert "<svg" in (ROOT / picture.group(1)).read_text()[:500]


@pytest.mark.integration
@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize(("target", "extras"), [("run", "-e ."), ("sim", "-e ."), ("test", "-e '.[test]'")])
def test_make_run_installs_the_app_alone_and_make_test_the_test_extras(target: str, extras: str, tmp_path) -> None:
    plan = subprocess.run(
        ["make", "-n", target, f"VENV={tmp_path / 'venv'}"], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert plan.returncode == 0, plan.stderr
    installs = [line for line in plan.stdout.splitlines() if "pip install" in line and "--upgrade pip" not in line]
    assert len(installs) == 1 and installs[0].endswith(f"pip install --quiet {extras}"), plan.stdout


async def test_the_readme_picture_is_drawn_the_same_every_time(tmp_path: Path) -> None:
    """docs/screenshot.py draws the real desk on the embedded exchange; two runs give the same bytes."""
    from docs.screenshot import screenshot

    first = (await screenshot(tmp_path / "one.svg")).read_text()
    second = (await screenshot(tmp_path / "two.svg")).read_text()
    assert first == second
    assert "Order&#160;book" in first and "BTCUSDT" in first and "terminal-" not in first


def test_the_desk_has_one_stylesheet_the_one_it_loads_and_ships() -> None:
    """The top-level ``styles.tcss`` (where the design puts it) is the file the app loads: a link to the one
    inside the ``app`` package, which the wheel ships as package data, so an installed desk loads the same
    rules; no second copy can drift from it."""
    from app.app import STYLESHEET, FluxumApp

    package = ROOT / "app"
    assert FluxumApp.CSS_PATH == STYLESHEET and STYLESHEET.parent == package.resolve()
    top = ROOT / "styles.tcss"
    assert top.is_symlink() and top.resolve() == STYLESHEET
    sheets = {path.resolve() for path in ROOT.rglob("*.tcss") if ".venv" not in path.parts}
    assert sheets == {STYLESHEET}
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "styles.tcss" in data["app"]
