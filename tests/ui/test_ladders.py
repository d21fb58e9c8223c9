"""Ladders side by side: the view key cycles 1 -> 2 -> 4 -> 1, each ladder bound to its own symbol (the selected
one, then the next of the desk's list), remembered across starts, fewer on a terminal too small for them."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from app.desk_screen import LADDERS_NEED
from app.preferences import load_ladders, load_theme, save_ladders, save_theme
from app.replay_app import ReplayApp, replay_settings
from app.screens import HelpScreen
from exchange.recording.opened import Recording
from tests.support.replay_recording import FIXED_RECORDING
from tests.ui import scripted
from tests.ui.support import LIVE_SIZE, RecordingApp, screen_text, scripted_app, until
from widgets.ladder import Ladder

pytestmark = pytest.mark.timeout(60)

WIDE = (190, 42)


def ladders(app: Any) -> list[tuple[str | None, str]]:
    """Each ladder on screen: its symbol and its title, left to right."""
    return [(ladder.symbol, str(ladder.border_title)) for ladder in app.query(Ladder)]


def pulled_ladders(app: Any) -> int:
    """Ladders the desk's pull ticker runs: a ladder not on screen must not pull the book."""
    return sum(isinstance(widget, Ladder) for widget in app.desk_screen.pull_ticker._periods)


def showing(app: Any, *symbols: str) -> bool:
    shown = ladders(app)
    return [symbol for symbol, _ in shown] == list(symbols) and all(
        title.startswith(symbol) for symbol, (_, title) in zip(symbols, shown, strict=True) if len(symbols) > 1
    )


async def test_the_view_key_cycles_one_two_four_ladders_with_distinct_symbols() -> None:
    app = scripted_app(scripted.long_in_profit())
    async with app.run_test(size=WIDE) as pilot:
        await until(pilot, lambda: showing(app, "BTCUSDT") and ladders(app)[0][1] == "Order book", "one ladder")
        await pilot.press("v")
        await until(pilot, lambda: showing(app, "BTCUSDT", "ETHUSDT"), "two ladders")
        await until(pilot, lambda: all(title.endswith("· SYNCED") for _, title in ladders(app)), "each book's state")
        await pilot.press("v")
        await until(pilot, lambda: showing(app, "BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"), "four ladders")
        assert all(ladder.region.width >= 30 for ladder in app.query(Ladder))
        await until(pilot, lambda: pulled_ladders(app) == 4, "four ladders pulled")
        await pilot.press("v")
        await until(pilot, lambda: showing(app, "BTCUSDT"), "one ladder again")
        await until(pilot, lambda: ladders(app)[0][1] == "Order book", "its title back")
        await until(pilot, lambda: pulled_ladders(app) == 1, "the others no longer pulled")


async def test_the_help_screen_names_the_view_key() -> None:
    app = scripted_app(scripted.long_in_profit())
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), "the help screen")
        await until(pilot, lambda: "Ladders side by side: 1, 2, 4" in screen_text(app), "the view key listed")


async def test_a_replay_shows_ladders_side_by_side() -> None:
    save_ladders(2)
    recording = Recording.load(FIXED_RECORDING)
    app = ReplayApp(recording, replay_settings(recording), name=FIXED_RECORDING.name, speed=10.0, paused=True)
    app.animation_level = "none"
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await until(pilot, lambda: app.player.session is not None, "the session")
        await until(
            pilot,
            lambda: len({symbol for symbol, _ in ladders(app)}) == 2 and None not in {s for s, _ in ladders(app)},
            "two ladders, two symbols",
        )
        await pilot.press("v")
        await until(pilot, lambda: len(ladders(app)) == len(app.desk.symbols[:4]), "as many as the recording has")


async def test_the_layout_is_remembered_for_the_next_start() -> None:
    first = scripted_app(scripted.long_in_profit())
    async with first.run_test(size=WIDE) as pilot:
        await pilot.press("v", "v")
        await until(pilot, lambda: load_ladders() == 4, "four ladders remembered")
    second = scripted_app(scripted.long_in_profit())
    async with second.run_test(size=WIDE) as pilot:
        await until(pilot, lambda: len(ladders(second)) == 4, "four ladders at the next start")


async def test_a_small_terminal_falls_back_and_returns_when_it_grows() -> None:
    save_ladders(4)
    app = RecordingApp(desk=scripted.long_in_profit(), clock=scripted.clock)
    app.animation_level = "none"
    async with app.run_test(size=(140, 40)) as pilot:
        await until(pilot, lambda: showing(app, "BTCUSDT", "ETHUSDT"), "two of the four chosen")
        await until(pilot, lambda: app.noticed("4 ladders need a 180x30 terminal"), "the fallback told")
        await pilot.resize_terminal(100, 40)
        await until(pilot, lambda: ladders(app) == [("BTCUSDT", "Order book · 1 of 4 ladders fits")], "one, told")
        await pilot.resize_terminal(80, 24)
        await until(pilot, lambda: len(ladders(app)) == 1 and app.desk_screen.layout_name == "-compact", "compact")
        await pilot.resize_terminal(*LADDERS_NEED[4])
        await until(pilot, lambda: len(ladders(app)) == 4, "four again once the terminal is large enough")
        assert app.desk_screen.chosen_ladders == 4


async def test_symbol_keys_move_the_first_ladder_and_the_others_follow_the_list() -> None:
    save_ladders(2)
    app = scripted_app(scripted.long_in_profit())
    async with app.run_test(size=WIDE) as pilot:
        await until(pilot, lambda: showing(app, "BTCUSDT", "ETHUSDT"), "two ladders")
        await pilot.press("3")
        await until(pilot, lambda: showing(app, "SOLUSDT", "XRPUSDT"), "the third symbol first")
        await pilot.press("5")
        await until(pilot, lambda: showing(app, "DOGEUSDT", "BTCUSDT"), "the list wraps around")
        await pilot.press("right_square_bracket")
        await until(pilot, lambda: showing(app, "BTCUSDT", "ETHUSDT"), "next symbol")
        await pilot.press("left_square_bracket")
        await until(pilot, lambda: showing(app, "DOGEUSDT", "BTCUSDT"), "previous symbol")


async def test_a_desk_with_fewer_symbols_shows_what_it_has() -> None:
    save_ladders(4)
    app = scripted_app(scripted.base_desk(symbols=("BTCUSDT", "ETHUSDT")))
    async with app.run_test(size=WIDE) as pilot:
        await until(pilot, lambda: showing(app, "BTCUSDT", "ETHUSDT"), "both symbols, no more")


def test_the_ladders_and_the_theme_are_remembered_side_by_side(tmp_path: Path) -> None:
    path = tmp_path / "preferences.json"
    save_theme("nord", path)
    save_ladders(4, path)
    assert (load_theme(path), load_ladders(path)) == ("nord", 4)
    save_theme("gruvbox", path)
    assert (load_theme(path), load_ladders(path)) == ("gruvbox", 4)


@pytest.mark.parametrize("content", [b'{"ladders": 3}', b'{"ladders": true}', b'{"ladders": "4"}', b'{"ladders": 2.0}'])
def test_a_ladder_count_this_desk_does_not_offer_is_one_ladder_with_a_log_line(
    tmp_path: Path, content: bytes, caplog: Any
) -> None:
    path = tmp_path / "preferences.json"
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING):
        assert load_ladders(path) == 1
    assert "ladders" in caplog.text


async def test_the_ladders_follow_the_watched_list_as_it_changes() -> None:
    save_ladders(4)
    app = scripted_app(scripted.base_desk(symbols=("BTCUSDT", "ETHUSDT", "SOLUSDT")))
    async with app.run_test(size=WIDE) as pilot:
        await until(pilot, lambda: showing(app, "BTCUSDT", "ETHUSDT", "SOLUSDT"), "three of the four chosen")
        app.desk.symbols.remove("ETHUSDT")  # what the session's unwatch does, then the watchlist tells the desk
        app.desk_screen.symbols_changed()
        await until(pilot, lambda: showing(app, "BTCUSDT", "SOLUSDT"), "the removed symbol's ladder gone")
        app.desk.symbols.append("ETHUSDT")
        app.desk_screen.symbols_changed()
        await until(pilot, lambda: showing(app, "BTCUSDT", "SOLUSDT", "ETHUSDT"), "the added one at the end")
        await until(pilot, lambda: pulled_ladders(app) == 3, "three ladders pulled")
