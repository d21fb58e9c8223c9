"""The command line's stdout and stderr, made printable: no command can write a terminal control it was sent.

:func:`printable_output` puts a :class:`PrintableStream` in front of ``sys.stdout`` and ``sys.stderr`` while a
command runs (the CLI's ``main`` does it for every command but the dashboard, whose terminal Textual owns),
so a coin name, a ``retMsg``, an order link id, an HTML error body or a log record quoting one reaches the
terminal with its ESC, C1 and bidi controls replaced, whatever path it took. Newlines pass; a field that must
stay on its line is made :func:`~exchange.printable.printable` where it is formatted. A command's own control
sequences (the order book's redraw) go past the guard through :func:`write_control`.

Stdlib imports only: ``fluxum --help`` stays instant.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TextIO, cast

from exchange.printable import printable_lines

__all__ = ["PrintableStream", "printable_output", "write_control"]


class PrintableStream:
    """Writes each text through :func:`~exchange.printable.printable_lines`; everything else (flush, isatty,
    fileno, encoding) is the wrapped stream's."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(printable_lines(text))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


@contextlib.contextmanager
def printable_output() -> Iterator[None]:
    """``sys.stdout`` and ``sys.stderr`` guarded for the block; the streams in place before are restored."""
    saved = sys.stdout, sys.stderr
    sys.stdout = cast(TextIO, PrintableStream(saved[0]))
    sys.stderr = cast(TextIO, PrintableStream(saved[1]))
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


def write_control(sequence: str) -> None:
    """Write a control sequence of the command's own (not data) to stdout, past the guard."""
    stream = sys.stdout
    raw = stream.stream if isinstance(stream, PrintableStream) else stream
    raw.write(sequence)
