"""Untrusted text made printable (exchange/printable.py): nothing the exchange or a file says drives a terminal."""

from __future__ import annotations

import io
import json
import logging
import sys

import orjson
from hypothesis import given
from hypothesis import strategies as st

from app.printable_output import PrintableStream, printable_output, write_control
from exchange.bybit.errors import BybitError, ServerUnavailable, clean_message
from exchange.printable import (
    MAX_CHARS,
    REPLACEMENT,
    TERMINAL_CONTROLS,
    PrintableFormatter,
    escape_json_controls,
    printable,
    printable_lines,
    strip_controls,
)

OSC_52 = "\x1b]52;c;cm0gLXJmIH4=\x07"
OSC_TITLE = "\x1b]0;pwned\x1b\\"
HOSTILE = f"US{OSC_52}DT\x9b31m[/]\u202eevil\u2066\u200b\n\r\t\x00\x7f\ud800{OSC_TITLE}"

any_text = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=400)
printable_text = st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")))


def _terminal_safe(text: str) -> bool:
    return text.isprintable() and TERMINAL_CONTROLS.search(text) is None


@given(any_text)
def test_printable_never_holds_an_unprintable_code_point(text: str) -> None:
    shown = printable(text)
    assert shown.isprintable()
    assert _terminal_safe(shown)
    assert len(shown) <= MAX_CHARS


@given(any_text, st.integers(min_value=1, max_value=500))
def test_printable_keeps_one_character_per_character_up_to_the_limit(text: str, limit: int) -> None:
    shown = printable(text, limit)
    assert len(shown) == min(len(text), limit)  # 1:1 replacement: widths measured before cleaning stay right
    if len(text) <= limit:
        kept = [a == b for a, b in zip(text, shown, strict=True) if a.isprintable()]
        assert all(kept)


@given(printable_text.filter(lambda text: text.isprintable()))
def test_printable_text_is_unchanged(text: str) -> None:
    assert printable(text, None) == text
    assert printable_lines(text) == text
    assert strip_controls(text) == text


def test_the_hostile_sample_is_inert() -> None:
    shown = printable(HOSTILE, None)
    assert "\x1b" not in shown and "\x9b" not in shown and "\x07" not in shown
    assert "\n" not in shown and "\r" not in shown and "\t" not in shown  # no forged line in a one-line field
    assert "\u202e" not in shown and "\u2066" not in shown and "\u200b" not in shown
    assert shown.startswith(f"US{REPLACEMENT}]52;c;cm0gLXJmIH4={REPLACEMENT}DT{REPLACEMENT}31m[/]")
    assert "[/]" in shown  # markup stays literal text: it is the widgets' job never to parse it


def test_a_long_field_is_cut_with_an_ellipsis() -> None:
    assert printable("x" * 1000) == "x" * (MAX_CHARS - 1) + "…"
    assert printable("abc", 2) == "a…"


@given(any_text)
def test_strip_controls_deletes_only_zero_width_controls(text: str) -> None:
    stripped = strip_controls(text)
    assert TERMINAL_CONTROLS.search(stripped) is None
    assert "".join(ch for ch in text if not TERMINAL_CONTROLS.match(ch)) == stripped


@given(any_text)
def test_printable_lines_keeps_newlines_and_nothing_else(text: str) -> None:
    shown = printable_lines(text)
    assert shown.count("\n") == text.count("\n")
    assert all(_terminal_safe(line) for line in shown.split("\n"))


@given(st.dictionaries(st.text(max_size=20), any_text.filter(lambda t: TERMINAL_CONTROLS.search(t) is not None)))
def test_json_lines_keep_the_exact_data_and_no_control(record: dict[str, str]) -> None:
    try:
        raw = orjson.dumps(record).decode()
    except orjson.JSONEncodeError:  # a lone surrogate: orjson refuses it, nothing is written
        return
    line = escape_json_controls(raw)
    assert TERMINAL_CONTROLS.search(line) is None
    assert json.loads(line) == record


def test_log_lines_stay_one_line_each_and_inert() -> None:
    formatter = PrintableFormatter("%(levelname)s %(message)s")
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "order %s rejected", (HOSTILE,), None)
    line = formatter.format(record)
    assert "\n" not in line and _terminal_safe(line)
    try:
        raise ValueError(f"bad level {OSC_TITLE}\nsecond line")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    text = formatter.format(record)
    assert "Traceback" in text and "second line" in text
    assert all(_terminal_safe(line) for line in text.split("\n"))


def test_bybit_errors_carry_a_printable_message() -> None:
    error = BybitError(10001, f"params error {OSC_TITLE}[link=https://evil]x[/link]", path="/v5/order/create")
    assert _terminal_safe(str(error)) and _terminal_safe(error.ret_msg)
    assert "[link=https://evil]" in error.ret_msg  # literal text; nothing parses it
    html = ServerUnavailable(None, f"<html>\n<title>{OSC_52}502</title>", 502)
    assert _terminal_safe(str(html))
    assert _terminal_safe(clean_message(HOSTILE)) and len(clean_message("y" * 5000)) == 301


def test_the_cli_streams_write_printable_lines_and_own_controls_pass() -> None:
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        with printable_output():
            print(f"coin {OSC_52}")
            print(HOSTILE, file=sys.stderr)
            write_control("\x1b[H")
            assert isinstance(sys.stdout, PrintableStream)
        assert sys.stdout is out and sys.stderr is err
    finally:
        sys.stdout, sys.stderr = saved
    assert out.getvalue() == f"coin {REPLACEMENT}]52;c;cm0gLXJmIH4={REPLACEMENT}\n\x1b[H"
    assert all(_terminal_safe(line) for line in err.getvalue().split("\n"))
