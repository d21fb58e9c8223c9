"""The terminal shows the same cells, in the same styles, whether Textual's frames reach it whole or as style
changes (:mod:`app.style_delta`); checked frame by frame on a terminal emulator (pyte)."""

from __future__ import annotations

import pyte
from hypothesis import given, settings
from hypothesis import strategies as st

from app.style_delta import StyleDelta

WIDTH, HEIGHT = 40, 6


def _screen() -> tuple[pyte.Screen, pyte.Stream]:
    screen = pyte.Screen(WIDTH, HEIGHT)
    return screen, pyte.Stream(screen)


def _cells(screen: pyte.Screen) -> list[list[object]]:
    return [[screen.buffer[y][x] for x in range(WIDTH)] for y in range(HEIGHT)]


def _pen(screen: pyte.Screen) -> object:
    """The style the next text would get."""
    return screen.cursor.attrs


def assert_same_screens(frames: list[str]) -> StyleDelta:
    """Feed ``frames`` whole to one terminal and through a :class:`StyleDelta` to another: after every frame both
    show the same cells and would draw the next text in the same style."""
    delta = StyleDelta()
    whole, whole_stream = _screen()
    changed, changed_stream = _screen()
    for frame in frames:
        whole_stream.feed(frame)
        changed_stream.feed(delta.encode(frame))
        assert _cells(changed) == _cells(whole), repr(frame)
        assert _pen(changed) == _pen(whole), repr(frame)
    return delta


def textual_segment(style: str, text: str) -> str:
    """A segment as Textual's strips write it."""
    return f"\x1b[{style}m{text}\x1b[0m" if style else text


BG = "48;2;30;30;40"
ASK = f"38;2;220;80;80;{BG}"
BID = f"38;2;80;200;120;{BG}"
BOLD_ASK = f"1;{ASK}"


def test_a_row_of_one_background_sends_the_background_once() -> None:
    row = "\x1b[2;1H" + "".join(textual_segment(style, text) for style, text in [(ASK, "65,029.2 "), (BID, "0.133 ")])
    delta = assert_same_screens([row])
    encoded = StyleDelta().encode(row)
    assert encoded.count("48;2;30;30;40") == 1
    assert encoded.count("\x1b[0m") == 1  # at the end of the write only
    assert len(encoded) < len(row)
    assert delta.encode("\x1b[3;1H") == "\x1b[3;1H"  # a move alone changes no style


def test_an_attribute_that_goes_is_reset_and_the_rest_is_set_again() -> None:
    frame = textual_segment(BOLD_ASK, "SELL") + textual_segment(BID, " BUY") + textual_segment("", " plain")
    assert_same_screens([frame])
    assert "\x1b[0;38;2;80;200;120;48;2;30;30;40m" in StyleDelta().encode(frame)


def test_erasing_and_text_after_a_move_see_the_wanted_style() -> None:
    frames = [
        f"\x1b[1;1H\x1b[{ASK}mab\x1b[0m\x1b[{BID}m\x1b[2;5Hcd\x1b[K\x1b[0m",
        f"\x1b[{BG}m\x1b[2J\x1b[0m\x1b[3;3Hplain",
    ]
    assert_same_screens(frames)


def test_parameters_it_does_not_model_pass_as_they_are() -> None:
    frames = [
        "\x1b[4:3mcurly\x1b[0m" + textual_segment(ASK, "x"),
        "\x1b[38;5mbroken\x1b[0m" + textual_segment(BID, "y"),
        textual_segment(ASK, "a") + "\x1b[73mup\x1b[31mred\x1b[0m" + textual_segment(ASK, "b"),
        "\x1b[mreset" + textual_segment("38;5;200", "eight-bit") + textual_segment("93;104", "bright"),
    ]
    assert_same_screens(frames)


def test_a_restyled_terminal_gets_the_next_style_whole() -> None:
    delta = StyleDelta()
    first = delta.encode(textual_segment(ASK, "a") + textual_segment(ASK, "b"))
    assert first.count(ASK) == 1
    delta.reset()
    assert delta.encode(textual_segment(ASK, "c")).startswith(f"\x1b[0;{ASK}m")


def test_a_frame_that_sets_its_own_styles_from_a_reset_passes_as_it_is_and_the_next_is_changed_from_its_end() -> None:
    delta = StyleDelta()
    delta.encode(textual_segment(BOLD_ASK, "before"))
    written_as_changes = f"\x1b[0m\x1b[2;1H\x1b[{ASK}mask\x1b[38;2;80;200;120mbid\x1b[0m\x1b[1;1H"
    assert delta.encode(written_as_changes) == written_as_changes
    after = delta.encode(textual_segment(ASK, "x"))
    assert after.startswith(f"\x1b[{ASK}m")  # from the plain terminal the frame left, not from the bold before it
    ends_styled = f"\x1b[0m\x1b[3;1H\x1b[{BID}mbid"
    assert_same_screens([textual_segment(BOLD_ASK, "a"), written_as_changes, ends_styled, textual_segment(BID, "b")])
    assert assert_same_screens([ends_styled, "\x1b[0m\x1b[4:3mcurly", textual_segment(ASK, "c")])._have is not None


_STYLES = st.sampled_from(["", ASK, BID, BOLD_ASK, "2;3;4", "7", "9;53", f"21;{BID}", "38;5;33;48;5;200", "31;42"])
_SEGMENT = st.tuples(_STYLES, st.text(alphabet="ab █▏", min_size=1, max_size=6)).map(lambda s: textual_segment(*s))
_MOVE = st.tuples(st.integers(1, HEIGHT), st.integers(1, WIDTH)).map(lambda yx: f"\x1b[{yx[0]};{yx[1]}H")
_OTHER = st.sampled_from(["\x1b[K", "\x1b[?25l", "\x1b[?2026h", "\x1b[?2026l", "\x1b[0m", f"\x1b[{BG}m"])
_FRAME = st.lists(st.one_of(_SEGMENT, _MOVE, _OTHER), max_size=12).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(_FRAME, min_size=1, max_size=6))
def test_any_stream_of_frames_draws_the_same_screen(frames: list[str]) -> None:
    assert_same_screens(frames)
    whole = sum(len(frame) for frame in frames)
    delta = StyleDelta()
    assert sum(len(delta.encode(frame)) for frame in frames) <= whole + 6 * len(frames)
