"""Read a session recording back: its records in order, across its rotated parts, even while it is written.

A recording is a sequence of complete zstandard frames, each a batch of whole JSON lines. A last frame cut short
(a kill -9 mid-write) is waited for when following and left out otherwise; a frame that cannot be decompressed, or
a line that is not a JSON object, is counted in :attr:`RecordingReader.rejected` and skipped, never raised.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import orjson
import zstandard

__all__ = ["RecordingReader", "read_records"]

READ_CHUNK = 1 << 16
POLL_S = 0.1
MAX_FRAME_WAIT_BYTES = 256 * 1024 * 1024  # a partial frame this large is no frame still being written


class RecordingReader:
    """Yields the records of a recording starting at ``path``; ``follow``: wait for more until an ``end`` line
    (or ``stop()`` says enough), as ``tail -f`` does."""

    def __init__(
        self,
        path: Path,
        *,
        follow: bool = False,
        stop: Callable[[], bool] = lambda: False,
        poll_s: float = POLL_S,
    ) -> None:
        self.path = path
        self.follow = follow
        self._stop = stop
        self._poll_s = poll_s
        self.rejected = 0  # frames or lines that could not be read
        self.truncated = False  # the last file ended inside a frame

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """One generator over every record (no generator per layer: a replay reads hundreds of thousands a
        second, and each layer would cost a frame switch per record)."""
        path: Path | None = self.path
        loads, JSONDecodeError = orjson.loads, orjson.JSONDecodeError  # noqa: N806  # bound once, read per line
        while path is not None:
            following = None
            with open(path, "rb") as file:
                for data in self._file_frames(file):
                    for line in data.split(b"\n"):
                        if not line:
                            continue
                        try:
                            record = loads(line)
                        except JSONDecodeError:
                            record = None
                        if record.__class__ is not dict:
                            self.rejected += 1
                            continue
                        yield record
                        kind = record.get("type")
                        if kind == "end":
                            return
                        if kind == "rotated" and isinstance(record.get("next"), str):
                            following = path.with_name(Path(record["next"]).name)
                            break
                    if following is not None:
                        break
            path = following

    def _file_frames(self, file: BinaryIO) -> Iterator[bytes]:
        """The decompressed frames of one file, in order (waiting for more when following)."""
        buffer = b""
        while True:
            chunk = file.read(READ_CHUNK)
            buffer += chunk
            frames, buffer = self._complete_frames(buffer)
            yield from frames
            if chunk:
                continue
            if not self.follow or self._stop() or len(buffer) > MAX_FRAME_WAIT_BYTES:
                self.truncated = bool(buffer)
                return
            time.sleep(self._poll_s)

    def _complete_frames(self, buffer: bytes) -> tuple[list[bytes], bytes]:
        """The decompressed frames complete in ``buffer``, and the bytes of the one not yet complete."""
        frames: list[bytes] = []
        while buffer:
            decompressor = zstandard.ZstdDecompressor().decompressobj()
            try:
                data = decompressor.decompress(buffer)
            except zstandard.ZstdError:
                self.rejected += 1
                return frames, b""  # nothing after a corrupt frame can be framed again
            if not decompressor.eof:
                break
            frames.append(data)
            buffer = decompressor.unused_data
        return frames, buffer


def read_records(
    path: Path, *, follow: bool = False, stop: Callable[[], bool] = lambda: False
) -> Iterator[dict[str, Any]]:
    """The records of the recording at ``path`` (see :class:`RecordingReader`)."""
    return iter(RecordingReader(path, follow=follow, stop=stop))
