"""A recording read ahead for serving it as an exchange: what it holds, how each connection ended, its REST replies.

:func:`scan` reads a recording once and keeps what a host must know before it plays: the header, the span, each
WebSocket connection's path, the time of its last frame and its close, the topics each link carried, and the REST
replies. The frames themselves are not kept: the host reads the file again in order while it plays, so memory
holds the replies and a few figures per connection, never the stream.

How a recorded connection ended decides what the host does to its own clients at that moment
(:meth:`RecordedSocket.ending`): the exchange closed it (a close frame): the host closes with the same code; the
transport failed, or the session found the link dead (no pong, silence): the host drops the TCP connection, after
staying silent from the connection's last frame; the session closed it on its own (a stop, the other link's loss,
an account down): nothing, that was the recorded client's choice, not the exchange's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

from exchange.recording.format import FORMAT_VERSION, clean_body, clean_query
from exchange.recording.opened import RecordingUnreadable
from exchange.recording.reader import RecordingReader

__all__ = ["CLOSE_CODES", "Ending", "RecordedReplies", "RecordedSocket", "ServedRecording", "scan", "topic_of"]

TOPIC = re.compile(r'"topic"\s*:\s*"([^"\\]{1,200})"')
TOPIC_LOOKAHEAD = 512  # Bybit puts "topic" first, or after a short "id": no need to search a whole frame
MAX_TOPICS = 10_000  # a recording naming more topics than this is hostile; the rest are not served
CLOSE_CODES = frozenset((*range(1000, 1004), *range(1007, 1015), *range(3000, 5000)))
"""Close codes a server may send (RFC 6455): any other recorded code (1005, 1006, ...) is a drop without one."""


def topic_of(text: str) -> str | None:
    """The ``topic`` of a data frame, read off its text without parsing it (None for a control reply)."""
    found = TOPIC.search(text, 0, TOPIC_LOOKAHEAD)
    return found.group(1) if found else None


@dataclass(frozen=True)
class Ending:
    """What the host does to its clients of a link when a recorded connection ends: close with ``code``, or drop
    the TCP connection (``code`` None); ``silent``: the link died of silence, so the host answers nothing from the
    connection's last frame on."""

    code: int | None
    reason: str
    silent: bool = False


@dataclass
class RecordedSocket:
    """One recorded WebSocket connection: its link, the URL path it used, when it opened, spoke last and ended."""

    link: str
    conn: int
    path: str
    opened_ms: int
    last_frame_ms: int | None = None
    close: dict[str, Any] | None = None

    @property
    def closed_ms(self) -> int | None:
        return None if self.close is None else _whole(self.close.get("wall_ms"))

    def ending(self) -> Ending | None:
        """How the exchange side ended this connection, or None when the recorded session closed it itself."""
        close = self.close
        if close is None:
            return None
        by, reason, code = close.get("by"), str(close.get("reason") or ""), close.get("code")
        if by == "exchange":
            return Ending(code if code in CLOSE_CODES else None, reason or "closed by the exchange")
        if by == "transport":
            return Ending(None, reason)
        if reason.startswith(f"{self.link}: "):  # the session found this very link dead (no pong, silence)
            return Ending(None, reason, silent=True)
        return None

    def silent_at(self, now_ms: float) -> bool:
        """Whether the recorded exchange answered nothing at ``now_ms``: after the last frame of a connection
        that then died of silence (a half-open link), until it closed."""
        ending, closed = self.ending(), self.closed_ms
        if ending is None or not ending.silent or closed is None:
            return False
        since = self.last_frame_ms if self.last_frame_ms is not None else self.opened_ms
        return since <= now_ms < closed


@dataclass
class _Reply:
    at_ms: int
    query: tuple[tuple[str, str], ...]
    body: bytes
    record: dict[str, Any]


class RecordedReplies:
    """The recorded REST replies, by method and path; a request is matched on its query (or body) as recorded,
    keys and signatures left out, the order of parameters not counted."""

    def __init__(self) -> None:
        self._routes: dict[tuple[str, str], list[_Reply]] = {}
        self.count = 0

    def add(self, record: dict[str, Any]) -> None:
        """A ``rest`` record; one with no reply (the request failed live) answers nothing."""
        if not isinstance(record.get("status"), int) or not isinstance(record.get("reply"), str):
            return
        key = (str(record.get("method")), str(record.get("path")))
        query = _query_key(str(record.get("query") or ""))
        reply = _Reply(_whole(record.get("wall_ms")), query, _body_key(record.get("body")), record)
        self._routes.setdefault(key, []).append(reply)
        self.count += 1

    def knows(self, path: str) -> bool:
        """Whether any request to ``path`` was recorded."""
        return any(route_path == path for _, route_path in self._routes)

    def answer(self, method: str, path: str, query: str, body: bytes | None, now_ms: float) -> dict[str, Any] | None:
        """The recorded reply to this request as the exchange gave it by ``now_ms`` (the latest one by then, or the
        first when it was asked for only later); None when the recording never saw this request."""
        query_key = _query_key(clean_query(query))
        body_key = _body_key(clean_body(body) if body else None)
        matching = [r for r in self._routes.get((method, path), ()) if r.query == query_key and r.body == body_key]
        if not matching:
            return None
        past = [r for r in matching if r.at_ms <= now_ms]
        return (past[-1] if past else matching[0]).record


def _query_key(query: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(parse_qsl(query, keep_blank_values=True)))


def _body_key(body: object) -> bytes:
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


@dataclass
class ServedRecording:
    """What a host serving the recording at ``path`` knows before it plays (see :func:`scan`)."""

    path: Path
    header: dict[str, Any]
    first_ms: int
    last_ms: int
    sockets: dict[int, RecordedSocket] = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)  # link -> the URL path its connections used
    topics: dict[str, set[str]] = field(default_factory=dict)  # link -> the topics its frames carried
    replies: RecordedReplies = field(default_factory=RecordedReplies)
    frames: int = 0
    rejected: int = 0  # lines the reader could not read

    @property
    def symbols(self) -> list[str]:
        symbols = self.header.get("symbols")
        return [str(s) for s in symbols] if isinstance(symbols, list) else []

    def link_of(self, path: str) -> str | None:
        """The recorded link whose connections used ``path`` (``/v5/public/linear`` -> ``public``)."""
        return next((link for link, used in self.paths.items() if used == path), None)

    def records(self) -> Iterator[dict[str, Any]]:
        """The records a host plays (``open``, ``frame``, ``close``), in the file's order, read again from disk."""
        for record in RecordingReader(self.path):
            if record.get("type") in ("open", "frame", "close"):
                yield record


def scan(path: Path) -> ServedRecording:
    """Read the recording at ``path`` once; raises :class:`RecordingUnreadable` (no header, an unknown format)
    or :class:`OSError` (no such file, unreadable)."""
    reader = RecordingReader(path)
    records = iter(reader)
    header = next(records, None)
    if header is None or header.get("type") != "header":
        raise RecordingUnreadable(f"{path.name}: not a Fluxum recording (no header line)")
    if header.get("format") != FORMAT_VERSION:
        raise RecordingUnreadable(f"{path.name}: recording format {header.get('format')!r} is not known")
    start = _whole(header.get("start_ms"))
    served = ServedRecording(path, header, start, start)
    for record in records:
        _take(served, record)
    served.rejected = reader.rejected
    return served


def _take(served: ServedRecording, record: dict[str, Any]) -> None:
    kind = record.get("type")
    if kind in ("header", "rotated", "dropped"):
        return
    at = _whole(record.get("wall_ms"))
    served.last_ms = max(served.last_ms, at)
    if kind == "rest":
        served.replies.add(record)
        return
    conn = _whole(record.get("conn"))
    if kind == "open":
        link, path = str(record.get("link")), urlsplit(str(record.get("url") or "")).path
        served.sockets[conn] = RecordedSocket(link, conn, path, at)
        served.paths.setdefault(link, path)
        return
    socket = served.sockets.get(conn)
    if socket is None:
        return
    if kind == "close" and socket.close is None:
        socket.close = record
    elif kind == "frame":
        served.frames += 1
        socket.last_frame_ms = at
        text = record.get("text")
        topic = topic_of(text) if isinstance(text, str) else None
        topics = served.topics.setdefault(socket.link, set())
        if topic is not None and len(topics) < MAX_TOPICS:
            topics.add(topic)


def _whole(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
