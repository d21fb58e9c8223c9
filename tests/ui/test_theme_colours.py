"""Colours a trader must read in every theme: four environment badges told apart (production the loudest, white
on red) and the panels' titles and column titles readable in light themes. Measured on the rendered screen (what
the terminal gets, after Textual's filters), with WCAG 2's contrast ratio."""

from __future__ import annotations

import io
from typing import Any

import pytest
from rich.console import Console
from rich.segment import Segment
from textual.color import Color

from app.palette import READABLE, contrast_ratio, hue_distance
from tests.ui import scripted
from tests.ui.support import RecordingApp, screen_update

pytestmark = pytest.mark.timeout(120)

ENVIRONMENTS = ("SIM", "TESTNET", "DEMO", "PRODUCTION")
LIGHT_THEMES = ("textual-light", "catppuccin-latte", "solarized-light", "rose-pine-dawn", "atom-one-light")
RED = Color(255, 0, 0)


def _app() -> RecordingApp:
    app = RecordingApp(desk=scripted.long_in_profit(), clock=scripted.clock)
    app.animation_level = "none"
    return app


def _screen_rows(app: RecordingApp) -> list[list[Segment]]:
    """The screen as rows of segments, colours as the terminal gets them (truecolour)."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True, color_system="truecolor")
    return list(Segment.split_lines(console.render(screen_update(app), console.options)))


def _colours_of(app: RecordingApp, text: str, row: int | None = None) -> tuple[Color, Color, bool]:
    """The foreground, background and boldness of the first segment that holds ``text`` (on ``row`` if given)."""
    rows = _screen_rows(app)
    for index, segments in enumerate(rows):
        if row is not None and index != row:
            continue
        for segment in segments:
            style = segment.style
            if text in segment.text and style is not None and style.color and style.bgcolor:
                fg, bg = style.color.get_truecolor(), style.bgcolor.get_truecolor()
                return Color(*fg), Color(*bg), bool(style.bold)
    raise AssertionError(f"{text!r} is not on screen with its colours")


async def _themes(app: RecordingApp, pilot: Any, themes: tuple[str, ...] | None = None) -> Any:
    for theme in themes or sorted(app.available_themes):
        app.theme = theme
        await pilot.pause()
        yield theme


@pytest.mark.slow
async def test_four_environment_badges_are_four_readable_colours_in_every_theme() -> None:
    app = _app()
    async with app.run_test(size=(100, 30)) as pilot:
        themes = sorted(app.available_themes)
        assert len(themes) >= 20 and "textual-light" in themes and "ansi-dark" in themes
        async for theme in _themes(app, pilot):
            badges: dict[str, tuple[Color, Color, bool]] = {}
            for environment in ENVIRONMENTS:
                app.desk.environment = environment
                app.desk.touch("state")
                app.query_one("ConnectionBar").refresh_now()  # type: ignore[attr-defined]
                await pilot.pause()
                badges[environment] = _colours_of(app, f" {environment} ", row=0)
            for environment, (text, badge, bold) in badges.items():
                ratio = contrast_ratio(text, badge)
                assert ratio >= READABLE, f"{theme}: {environment} reads at {ratio:.2f}"
                assert bold, f"{theme}: {environment} not bold"
            backgrounds = [badge for _, badge, _ in badges.values()]
            for i, first in enumerate(backgrounds):
                for second in backgrounds[i + 1 :]:
                    assert hue_distance(first, second) >= 30, f"{theme}: two badges look alike: {badges}"
            text, production, _ = badges["PRODUCTION"]
            assert hue_distance(production, RED) <= 20 and production.hsl.s >= 0.5, f"{theme}: production not red"
            assert text.hsl.l >= 0.9, f"{theme}: production's text is not white"
            assert all(hue_distance(badge, RED) >= 40 for _, badge, _ in list(badges.values())[:3]), theme


async def test_a_simulator_elsewhere_wears_production_colours() -> None:
    app = _app()
    async with app.run_test(size=(100, 30)) as pilot:
        app.desk.environment = "SIM @ 10.0.0.7:8080"
        app.desk.touch("state")
        await pilot.pause(0.2)
        elsewhere = _colours_of(app, " SIM @ 10.0.0.7:8080 ", row=0)
        app.desk.environment = "PRODUCTION"
        app.desk.touch("state")
        await pilot.pause(0.2)
        assert _colours_of(app, " PRODUCTION ", row=0) == elsewhere


TITLES = ("Order book", "Position · P&L", "Trades", "Wallet", "Open orders")
COLUMN_TITLES = ("price", "time (UTC)", "symbol", "equity")
"""The ladder's and tape's column titles, the orders table's header, the wallet's first label."""


async def test_titles_and_column_titles_are_readable_in_light_themes() -> None:
    app = _app()
    async with app.run_test(size=(140, 44)) as pilot:
        async for theme in _themes(app, pilot, LIGHT_THEMES):
            await pilot.pause(0.3)  # the ladder and tape repaint on their timers
            for title in (*TITLES, *COLUMN_TITLES):
                fg, bg, bold = _colours_of(app, title)
                ratio = contrast_ratio(fg, bg)
                assert ratio >= (3.0 if bold else READABLE), f"{theme}: {title!r} at {ratio:.2f}"


@pytest.mark.slow
async def test_a_book_not_live_says_so_readably_in_every_theme() -> None:
    app = RecordingApp(desk=scripted.resyncing(), clock=scripted.clock)
    app.animation_level = "none"
    async with app.run_test(size=(140, 44)) as pilot:
        async for theme in _themes(app, pilot):
            await pilot.pause(0.1)
            fg, bg, bold = _colours_of(app, "RESYNCING · NOT LIVE")
            assert bold and contrast_ratio(fg, bg) >= 3.0, f"{theme}: {contrast_ratio(fg, bg):.2f}"


async def test_the_link_figures_labels_are_readable_in_light_themes() -> None:
    app = _app()
    async with app.run_test(size=(140, 44)) as pilot:
        async for theme in _themes(app, pilot, LIGHT_THEMES):
            await pilot.pause(0.2)
            value = contrast_ratio(*_colours_of(app, "1.8 ms", row=1)[:2])
            for label in ("ping ", " msg/s", " · reconnects ", " book "):
                fg, bg, _ = _colours_of(app, label, row=1)
                ratio = contrast_ratio(fg, bg)
                # readable (or as readable as the theme's own text on its panel), and never louder than the figure
                assert min(READABLE, value) <= ratio <= value, f"{theme}: {label!r} at {ratio:.2f}, value {value:.2f}"


def test_a_theme_of_one_colour_still_gets_four_badges() -> None:
    """A theme whose every colour is one orange: the badges are made at their own hues, readable."""
    from textual.theme import Theme

    from app.palette import ENVIRONMENTS, environment_colours

    orange = "#FFA62B"
    theme = Theme("orange", primary=orange, secondary=orange, accent=orange, warning=orange, error=orange)
    colours = environment_colours(theme.to_color_system().generate())
    badges = [Color.parse(colours[f"env-{name}"]) for name in ENVIRONMENTS]
    texts = [Color.parse(colours[f"env-{name}-text"]) for name in ENVIRONMENTS]
    assert all(contrast_ratio(text, badge) >= READABLE for text, badge in zip(texts, badges, strict=True))
    assert min(hue_distance(a, b) for i, a in enumerate(badges) for b in badges[i + 1 :]) >= 30
    assert hue_distance(badges[-1], RED) <= 20 and texts[-1] == Color(255, 255, 255)
    assert contrast_ratio(Color(0, 0, 0), Color(255, 255, 255)) == pytest.approx(21.0)
