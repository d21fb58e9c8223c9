"""Textual's Linux driver for a terminal that can go away (SIGHUP: the window closed, the SSH link dropped).

Once the terminal has hung up, every write to it fails (EIO) and every read fails too. Textual 8.2.8's writer
thread dies on the first failed write and the next writes then wait forever for room in its queue, and its
input thread turns the failed read into a crash report: the desk would hang on its way out, the session and
journal still open. Here output to a terminal that is gone is dropped and a failed read ends the input, so the
desk quits as ``q`` does (``app.signals``).
"""

from __future__ import annotations

import contextlib
from typing import IO, Any

from textual.drivers.linux_driver import LinuxDriver

__all__ = ["HangupSafeDriver", "HangupSafeOutput"]


class HangupSafeOutput:
    """The terminal's output stream; once a write or flush fails, output is dropped instead of raising."""

    def __init__(self, file: IO[str]) -> None:
        self._file = file
        self.gone = False

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                self._file.write(text)
            except OSError:
                self.gone = True
        return len(text)

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
    """The Linux driver with :class:`HangupSafeOutput` and an input thread that ends when the terminal does."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._file = HangupSafeOutput(self._file)  # type: ignore[assignment,arg-type]

    def run_input_thread(self) -> None:
        with contextlib.suppress(OSError):  # the terminal hung up: no more keys will come
            super().run_input_thread()
