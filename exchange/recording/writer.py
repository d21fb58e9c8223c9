"""The session recorder: a :class:`~exchange.sources.Tap` that writes what crossed the seam to disk, off the hot path.

On the event loop a record is one tuple appended to a bounded queue (a full queue drops the record and counts it:
the session never waits for a disk). A thread drains the queue every :data:`FLUSH_INTERVAL_S`, turns the records
into JSON lines, scrubs the secrets and writes them as one complete zstandard frame, so a kill -9 loses at most
that interval and a reader can follow the file as it grows. A part that passes its size is closed with a
``rotated`` line naming the next; the oldest recordings are deleted while the total passes the cap. A disk error is
told once (``on_failure``) and the session goes on without recording.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import zstandard

from exchange.events import SessionState
from exchange.printable import printable
from exchange.recording.format import (
    FORMAT_VERSION,
    SUFFIX,
    Scrubber,
    clean_body,
    clean_query,
    clean_sent,
    fluxum_version,
)
from exchange.sources import RestExchange

__all__ = ["RecordingPlan", "RecordingUnwritable", "SessionRecorder", "part_path", "recordings_dir"]

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 0.5  # one zstandard frame at least this often: what a kill -9 may lose
MAX_PENDING = 200_000  # records waiting for the thread (~1 minute of a busy desk); more are dropped and counted
ZSTD_LEVEL = 3
MB = 1024 * 1024
DEFAULT_CAP_MB = 2048
DEFAULT_PART_MB = 64


class RecordingUnwritable(Exception):
    """The recording cannot be written (a bad path, a full disk); ``str()`` is one line naming the file."""


@dataclass(frozen=True)
class RecordingPlan:
    """Where a session is recorded: its first file, the size that rotates a part, and the cap on the total of
    ``capped`` (every recording in the data directory, or only this session's parts for a path the user named)."""

    path: Path
    part_bytes: int = DEFAULT_PART_MB * MB
    cap_bytes: int = DEFAULT_CAP_MB * MB
    whole_directory: bool = False


def recordings_dir() -> Path:
    """Where ``record = true`` writes: the user's data directory."""
    from platformdirs import user_data_path

    return user_data_path("fluxum", appauthor=False) / "recordings"


def default_plan(environment: str, now: float, cap_mb: int, part_mb: int) -> RecordingPlan:
    """One new file per session in :func:`recordings_dir`, the cap over every recording there."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now))
    path = recordings_dir() / f"{environment}-{stamp}-{os.getpid()}{SUFFIX}"
    return RecordingPlan(path, part_mb * MB, cap_mb * MB, whole_directory=True)


def part_path(first: Path, part: int) -> Path:
    """The ``part``-th file of a recording (1 is the first): ``x.jsonl.zst``, ``x.2.jsonl.zst``, ..."""
    if part == 1:
        return first
    name = first.name
    stem, suffix = (name[: -len(SUFFIX)], SUFFIX) if name.endswith(SUFFIX) else (name, "")
    return first.with_name(f"{stem}.{part}{suffix}")


class SessionRecorder:
    """Records one session into the files of a :class:`RecordingPlan`; :meth:`open`, :meth:`begin`, :meth:`close`."""

    def __init__(
        self,
        plan: RecordingPlan,
        *,
        secrets: Iterable[str] = (),
        on_failure: Callable[[str], None] = lambda text: None,
        clock: Callable[[], float] = time.time,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self.plan = plan
        self._secrets = list(secrets)
        self._scrub = Scrubber(self._secrets)
        self.on_failure = on_failure  # told once, from the writing thread, when recording stops on an error
        self._clock = clock
        self._max_pending = max_pending
        self._pending: deque[tuple[Any, ...]] = deque()
        self._compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
        self._file: Any = None
        self._part = 1
        self._part_size = 0
        self._header: dict[str, Any] = {}
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._dropped_told = 0
        self.dropped = 0  # records the queue had no room for
        self.failed = ""  # why recording stopped, if it did
        self.bytes_written = 0

    # ------------------------------------------------------------------ life

    def open(self) -> None:
        """Create the first file now, so a bad path is one line at start; raises :class:`RecordingUnwritable`."""
        try:
            self.plan.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.plan.path, "wb")  # noqa: SIM115  # held until close()
        except OSError as error:
            raise RecordingUnwritable(_unwritable(self.plan.path, error)) from None

    def add_secrets(self, *secrets: str) -> None:
        """Secrets that must never reach the file (the session's key and secret): replaced wherever they appear."""
        self._secrets.extend(secrets)
        self._scrub = Scrubber(self._secrets)

    def begin(self, header: Mapping[str, Any]) -> None:
        """Write the header line and start the writing thread; records told before are written after it."""
        self._header = {
            "type": "header",
            "format": FORMAT_VERSION,
            "fluxum": fluxum_version(),
            "start_ms": int(self._clock() * 1000),
            "start_mono_ns": time.monotonic_ns(),
            **header,
        }
        try:
            self._write_frame([self._line({**self._header, "part": 1})])
        except OSError as error:
            self._fail(_unwritable(self.plan.path, error))
            return
        self._thread = threading.Thread(target=self._run, name="session-recorder", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Write what is pending and an ``end`` line, then close the file."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10.0)
            self._thread = None
        if self._file is not None and not self._header:  # never begun (the runtime failed first): no recording
            self._close_file()
            self.plan.path.unlink(missing_ok=True)
            return
        if self._file is not None and not self.failed and self._drain():  # what is pending, and the drops
            self._pending.append(("end", int(self._clock() * 1000), time.monotonic_ns()))
            self._drain()
        self._close_file()

    @property
    def recording(self) -> bool:
        return self._file is not None and not self.failed

    # ------------------------------------------------------------------ the Tap, on the event loop

    def _put(self, record: tuple[Any, ...]) -> None:
        if self.failed:
            return
        if len(self._pending) >= self._max_pending:
            self.dropped += 1
            return
        self._pending.append(record)

    def link_opened(self, link: str, connection: int, url: str) -> None:
        self._put(("open", int(self._clock() * 1000), time.monotonic_ns(), link, connection, url))

    def frame_received(self, link: str, connection: int, text: str | bytes, received_ms: int) -> None:
        self._put(("frame", received_ms, time.monotonic_ns(), link, connection, text))

    def frame_sent(self, link: str, connection: int, payload: Mapping[str, Any]) -> None:
        self._put(("sent", int(self._clock() * 1000), time.monotonic_ns(), link, connection, clean_sent(payload)))

    def link_closed(self, link: str, connection: int, code: int | None, reason: str, by: str) -> None:
        now_ms = int(self._clock() * 1000)
        self._put(("close", now_ms, time.monotonic_ns(), link, connection, code, reason, by))

    def rest_exchanged(self, exchange: RestExchange) -> None:
        self._put(("rest", int(exchange.received_s * 1000), time.monotonic_ns(), exchange))

    def state_changed(self, state: SessionState) -> None:
        self._put(("state", int(self._clock() * 1000), time.monotonic_ns(), state))

    # ------------------------------------------------------------------ the thread

    def _run(self) -> None:
        self._apply_cap(self.plan.path)  # short sessions never rotate: the cap is kept at each start too
        while not self._stop.wait(FLUSH_INTERVAL_S):
            if not self._drain():
                return

    def _drain(self) -> bool:
        """Write every pending record as one frame; False once recording has failed."""
        lines = []
        pending = self._pending
        while pending:
            lines.append(self._line(_record(pending.popleft())))
        if self.dropped > self._dropped_told:
            lost = self.dropped - self._dropped_told
            self._dropped_told = self.dropped
            log.warning("recorder: %d records dropped (the disk did not keep up)", lost)
            lines.append(self._line({"type": "dropped", "count": lost, "wall_ms": int(self._clock() * 1000)}))
        if not lines:
            return True
        try:
            self._write_frame(lines)
            if self._part_size >= self.plan.part_bytes:
                self._rotate()
        except OSError as error:
            self._fail(_unwritable(part_path(self.plan.path, self._part), error))
            return False
        return True

    def _line(self, record: Mapping[str, Any]) -> bytes:
        return orjson.dumps(record) + b"\n"

    def _write_frame(self, lines: list[bytes]) -> None:
        data = self._compressor.compress(self._scrub(b"".join(lines)))
        self._file.write(data)
        self._file.flush()
        self._part_size += len(data)
        self.bytes_written += len(data)

    def _rotate(self) -> None:
        """Close this part with a line naming the next, open the next with its own header, apply the cap."""
        following = part_path(self.plan.path, self._part + 1)
        self._write_frame([self._line({"type": "rotated", "next": following.name})])
        self._file.close()
        self._file = open(following, "wb")  # noqa: SIM115  # held until the next rotation or close()
        self._part += 1
        self._part_size = 0
        self._write_frame([self._line({**self._header, "part": self._part})])
        self._apply_cap(following)

    def _apply_cap(self, current: Path) -> None:
        """Delete the oldest recordings (never the part being written) while the total passes the cap; a file that
        cannot be looked at or deleted (another Fluxum's, gone meanwhile) is left, never a reason to stop."""
        folder = current.parent
        if self.plan.whole_directory:
            files = list(folder.glob(f"*{SUFFIX}"))
        else:
            files = [part_path(self.plan.path, n) for n in range(1, self._part + 1)]
        sized = []
        for path in files:
            with contextlib.suppress(OSError):
                stat = path.stat()
                if path.is_file():
                    sized.append((stat.st_mtime, path.name, stat.st_size))
        total = sum(size for _, _, size in sized)
        for _, name, size in sorted(sized):
            if total <= self.plan.cap_bytes or name == current.name:
                continue
            try:
                (folder / name).unlink(missing_ok=True)
            except OSError as error:
                log.warning("recorder: %s not deleted: %s", name, error.strerror or error)
                continue
            total -= size
            log.info("recorder: %s deleted (recordings over the cap)", name)

    def _fail(self, text: str) -> None:
        self.failed = text
        self._pending.clear()
        self._close_file()
        log.warning("recorder: %s", text)
        self.on_failure(f"Recording stopped: {text}; the desk goes on without it")

    def _close_file(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            try:
                file.close()
            except OSError as error:
                if not self.failed:
                    self.failed = _unwritable(part_path(self.plan.path, self._part), error)


def _record(item: tuple[Any, ...]) -> dict[str, Any]:
    """A queued tuple as the JSON object the format documents."""
    kind, wall_ms, mono_ns, *rest = item
    record: dict[str, Any] = {"type": kind, "wall_ms": wall_ms, "mono_ns": mono_ns}
    if kind == "frame":
        data = rest[2]
        record.update(link=rest[0], conn=rest[1])
        if isinstance(data, bytes):
            record["binary"] = base64.b64encode(data).decode()
        else:
            record["text"] = data
    elif kind == "sent":
        record.update(link=rest[0], conn=rest[1], payload=rest[2])
    elif kind == "open":
        record.update(link=rest[0], conn=rest[1], url=rest[2])
    elif kind == "close":
        record.update(link=rest[0], conn=rest[1], code=rest[2], reason=rest[3], by=rest[4])
    elif kind == "rest":
        record.update(_rest_fields(rest[0]))
    elif kind == "state":
        state: SessionState = rest[0]
        record.update(
            state=state.kind.value,
            reason=state.reason,
            attempt=state.attempt,
            next_retry_ms=state.next_retry_ms,
            since_ms=state.since_ms,
        )
    return record


def _rest_fields(exchange: RestExchange) -> dict[str, Any]:
    return {
        "method": exchange.method,
        "path": exchange.path,
        "query": clean_query(exchange.query),
        "body": clean_body(exchange.body),
        "sent_ms": int(exchange.sent_s * 1000),
        "status": exchange.status,
        "headers": dict(exchange.headers),
        "reply": exchange.reply.decode("utf-8", "replace"),
        "error": exchange.error,
    }


def _unwritable(path: Path, error: OSError) -> str:
    why = error.strerror or type(error).__name__
    return f"cannot write the recording {printable(str(path), 200)}: {why}"
