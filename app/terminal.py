"""Textual's Linux driver for a terminal that can go away (the window closed, the SSH link dropped).

Once the terminal has hung up, every write to it fails (EIO) and every read ends at once (EOF, or EIO). Textual
8.2.8's writer thread dies on the first failed write and the next writes then wait forever for room in its queue,
and its input thread reads the ended input again and again at full speed, for as long as the process lives (a
core at 100 %), or turns a failed read into a crash report. Here output to a terminal that is gone is dropped and
the end of the input ends the input thread. The hang-up itself quits the desk as ``q`` does (:mod:`app.signals`).
"""

from __future__ import annotations

import os
import selectors
from codecs import getincrementaldecoder
from collections.abc import Callable
from typing import IO, Any

from textual._xterm_parser import XTermParser
from textual.drivers.linux_driver import LinuxDriver

from app.style_delta import StyleDelta

__all__ = ["HangupSafeDriver", "HangupSafeOutput"]

READ_SIZE = 4096
POLL_S = 0.1
"""How often the input thread looks at the desk stopping and at a lone Escape (the parser's tick), as Textual's."""


class HangupSafeOutput:
    """The terminal's output stream, each style sent as a change (:mod:`app.style_delta`); once a write or flush
    fails, output is dropped instead of raising."""

    def __init__(self, file: IO[str]) -> None:
        self._file = file
        self._styles = StyleDelta()
        self.gone = False

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                self._file.write(self._styles.encode(text))
            except OSError:
                self.gone = True
        return len(text)

    def restyle(self) -> None:
        """Another writer had the terminal: the next text sends its style whole."""
        self._styles.reset()

    def flush(self) -> None:
        if not self.gone:
            try:
                self._file.flush()
            except OSError:
                self.gone = True

    def fileno(self) -> int:
        return self._file.fileno()

    def isatty(self) -> bool:
        return True


class HangupSafeDriver(LinuxDriver):
    """The Linux driver with :class:`HangupSafeOutput` and an input thread that ends when the input does."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._output = HangupSafeOutput(self._file)  # type: ignore[arg-type]
        self._file = self._output  # type: ignore[assignment]

    def start_application_mode(self) -> None:
        self._output.restyle()  # a suspended desk's terminal was someone else's: its style is not known
        super().start_application_mode()

    def run_input_thread(self) -> None:
        """Keys, mouse and terminal replies to the app until the desk stops or the input ends."""
        parser = XTermParser(self._debug)
        decode = getincrementaldecoder("utf-8")(errors="replace").decode  # a stray byte is no reason to stop
        with selectors.SelectSelector() as selector:
            selector.register(self.fileno, selectors.EVENT_READ)
            while not self.exit_event.is_set():
                if selector.select(POLL_S) and not self._read_input(parser, decode):
                    return  # no more input will come: nothing to wait for
                for event in parser.tick():
                    self.process_message(event)

    def _read_input(self, parser: XTermParser, decode: Callable[[bytes], str]) -> bool:
        """Feed what the terminal sent to the app; False once the input has ended (EOF, or EIO: hung up)."""
        try:
            data = os.read(self.fileno, READ_SIZE)
        except BlockingIOError:  # a non-blocking input with nothing in it after all
            return True
        except OSError:
            return False
        if not data:
            return False
        for event in parser.feed(decode(data)):
            self.process_message(event)
        return True
