"""A recording opened for playing back: its header checked, its records read in the file's order, and (for a tool
that needs it at once) the whole of it grouped by connection attempt and connection.

Every record has its moment on the replay's clock (:class:`Timeline`); :mod:`exchange.recording.replay` plays
the records at those moments.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Container, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exchange.recording.reader import RecordingReader

__all__ = [
    "ORDER_STEP_S",
    "UNTIMED",
    "Attempt",
    "RecordedConnection",
    "Recording",
    "RecordingUnreadable",
    "Timeline",
    "frame_data",
    "refused_links",
    "whole",
]

ORDER_STEP_S = 1e-5  # records within one millisecond are played this far apart, in the file's order
UNTIMED = frozenset({"header", "rotated", "dropped"})  # records that are no moment of the session


class RecordingUnreadable(Exception):
    """The file is no recording (no header line, an unknown format): ``str()`` is the one line to show."""


@dataclass
class RecordedConnection:
    """One recorded WebSocket connection: when it opened, what it received and sent, how it ended."""

    link: str
    conn: int
    opened_s: float
    frames: list[tuple[float, int, str | bytes]] = field(default_factory=list)  # (at, wall_ms, data)
    sent: list[dict[str, Any]] = field(default_factory=list)
    close: dict[str, Any] | None = None


@dataclass
class Attempt:
    """One connection attempt of the session (a ``Connecting`` state): the links it opened, those refused."""

    opens: dict[str, RecordedConnection] = field(default_factory=dict)
    refused: dict[str, tuple[float, str]] = field(default_factory=dict)
    connected: bool = False


class Recording:
    """A recording opened for playing back: :meth:`load` reads its header only; a replay streams its records
    (:meth:`records`) as its clock reaches them, so a recorded day replays in bounded memory.

    :attr:`attempts`, :attr:`rest`, :attr:`states`, :attr:`ticks`, :attr:`stop_s` and :attr:`frames` hold the
    whole recording grouped for a tool that needs it at once: read on first use, in memory as large as the
    recording."""

    def __init__(self, path: Path, header: dict[str, Any]) -> None:
        self.path = path
        self.header = header
        self.start_ms = whole(header.get("start_ms"))
        self._whole: _Loader | None = None
        self._reader: RecordingReader | None = None

    @classmethod
    def load(cls, path: Path) -> Recording:
        """The recording at ``path``, its header checked; raises :class:`RecordingUnreadable` (or ``OSError``)."""
        reader = RecordingReader(path)
        header = next(iter(reader), None)
        if header is None or header.get("type") != "header":
            raise RecordingUnreadable(f"{path.name}: not a Fluxum recording (no header line)")
        if header.get("format") != 1:
            raise RecordingUnreadable(f"{path.name}: recording format {header.get('format')!r} is not known")
        return cls(path, header)

    def records(self) -> Iterator[dict[str, Any]]:
        """The records after the header, in the file's order, read as they are asked for."""
        self._reader = RecordingReader(self.path)
        records = iter(self._reader)
        next(records, None)  # the header, read by load()
        return records

    @property
    def rejected(self) -> int:
        """Lines the last reading could not read."""
        return 0 if self._reader is None else self._reader.rejected

    def _grouped(self) -> _Loader:
        if self._whole is None:
            loader = _Loader(self.header)
            for record in self.records():
                loader.take(record)
            self._whole = loader
        return self._whole

    @property
    def attempts(self) -> list[Attempt]:
        return self._grouped().attempts

    @property
    def rest(self) -> list[dict[str, Any]]:
        return self._grouped().rest

    @property
    def states(self) -> list[dict[str, Any]]:
        return self._grouped().states

    @property
    def ticks(self) -> list[float]:
        return self._grouped().ticks

    @property
    def stop_s(self) -> float:
        loader = self._grouped()
        return loader.stop_s if loader.stop_s is not None else loader.timeline.last_s

    @property
    def frames(self) -> int:
        return self._grouped().frames


class Timeline:
    """When each record happened on the replay's clock: its ``wall_ms`` (the time the session read, so a replay
    reads the same), a few microseconds on (so that ``int(clock() * 1000)`` is that millisecond, whatever the
    float arithmetic), and after the record before it when not later, so the file's order (what happened first
    within one millisecond: a reply, then the request it let go) is the order played back."""

    __slots__ = ("last_s",)

    def __init__(self, start_ms: int) -> None:
        self.last_s = start_ms / 1000.0

    def at(self, record: dict[str, Any]) -> float:
        self.last_s = max(whole(record.get("wall_ms")) / 1000.0 + ORDER_STEP_S / 2, self.last_s + ORDER_STEP_S)
        return self.last_s


class _Loader:
    """The whole recording grouped by attempt and connection (:class:`Recording`'s attributes)."""

    def __init__(self, header: dict[str, Any]) -> None:
        self.header = header
        self.attempts: list[Attempt] = []
        self.connections: dict[int, RecordedConnection] = {}
        self.rest: list[dict[str, Any]] = []
        self.states: list[dict[str, Any]] = []
        self.stop_s: float | None = None
        self.timeline = Timeline(whole(header.get("start_ms")))
        self.ticks: list[float] = []
        self.frames = 0

    def take(self, record: dict[str, Any]) -> None:
        kind = record.get("type")
        if kind in UNTIMED:
            return
        at = self.timeline.at(record)
        if kind == "tick":
            self.ticks.append(at)
        elif kind == "frame":
            self._frame(record, at)
        elif kind == "sent":
            self._sent(record)
        elif kind == "open":
            self._open(record, at)
        elif kind == "close":
            self._close(record, at)
        elif kind == "rest":
            self.rest.append({**record, "at": at, "attempt": len(self.attempts) - 1})
        elif kind == "state":
            self._state(record, at)

    def _frame(self, record: dict[str, Any], at: float) -> None:
        connection = self.connections.get(whole(record.get("conn")))
        data = frame_data(record)
        if connection is not None and data is not None:
            connection.frames.append((at, whole(record.get("wall_ms")), data))
            self.frames += 1

    def _sent(self, record: dict[str, Any]) -> None:
        connection = self.connections.get(whole(record.get("conn")))
        if connection is not None and isinstance(record.get("payload"), dict):
            connection.sent.append(record["payload"])

    def _open(self, record: dict[str, Any], at: float) -> None:
        link, conn = str(record.get("link")), whole(record.get("conn"))
        self.connections[conn] = RecordedConnection(link, conn, at)
        if not self.attempts:
            self.attempts.append(Attempt())
        self.attempts[-1].opens.setdefault(link, self.connections[conn])

    def _close(self, record: dict[str, Any], at: float) -> None:
        connection = self.connections.get(whole(record.get("conn")))
        if connection is not None and connection.close is None:
            connection.close = {**record, "at": at}
        if record.get("reason") == "stopped" and self.stop_s is None:
            self.stop_s = at

    def _state(self, record: dict[str, Any], at: float) -> None:
        self.states.append(record)
        state, reason = record.get("state"), str(record.get("reason") or "")
        if state == "Connecting":
            self.attempts.append(Attempt())
        elif state == "Connected" and self.attempts:
            self.attempts[-1].connected = True
        elif state in ("Reconnecting", "Failed") and self.attempts and not self.attempts[-1].connected:
            for link in refused_links(reason, self.attempts[-1].opens):
                self.attempts[-1].refused.setdefault(link, (at, reason))
        elif state == "Disconnected" and reason == "stopped" and self.stop_s is None:
            self.stop_s = at


def refused_links(reason: str, opened: Container[str]) -> list[str]:
    """The links an attempt that never connected was refused, by the reason the session gave."""
    return [link for link in ("public", "private") if reason.startswith(f"{link}: ") and link not in opened]


def whole(value: object) -> int:
    return value if value.__class__ is int else 0


def frame_data(record: dict[str, Any]) -> str | bytes | None:
    text = record.get("text")
    if isinstance(text, str):
        return text
    try:
        return base64.b64decode(str(record.get("binary")), validate=True)
    except (binascii.Error, ValueError):
        return None
