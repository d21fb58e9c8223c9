"""One NATS connection as Fluxum uses it: connected once, never reconnected behind our back.

The client's own reconnect loop is off: a connection that drops is closed, and whoever holds it (the relay's
publishing loop, a desk's session) decides when to try again, with its own backoff, and says so. A desk's link
that rides a dead connection must die at once, not wait on a client that buffers and retries unseen.
"""

from __future__ import annotations

import contextlib
import logging
from urllib.parse import urlsplit

import nats
from nats.aio.client import Client
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from exchange.printable import printable
from exchange.relay.subjects import (
    DATA_MAX_AGE_S,
    DATA_MAX_MSGS_PER_SUBJECT,
    DUPLICATE_WINDOW_S,
    MAX_MESSAGE_BYTES,
    STATE_MAX_AGE_S,
    FeedSubjects,
)
from exchange.retry import describe

__all__ = ["BusUnreachable", "bus_name", "connect", "ensure_streams"]

log = logging.getLogger(__name__)


class BusUnreachable(Exception):
    """NATS could not be reached; ``str()`` says where and why, in one line."""


def bus_name(url: str) -> str:
    """``host:port`` of a NATS URL, printable, for the bar and the logs (a URL's credentials never shown)."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return printable(f"{host}:{parts.port or 4222}", 80)


CONNECT_RETRY_S = 0.25


async def connect(url: str, *, name: str, timeout_s: float = 2.0) -> Client:
    """A connected client, or :class:`BusUnreachable`; the client closes itself when the server goes away."""

    async def quiet(error: Exception) -> None:
        log.debug("NATS %s: %s", bus_name(url), describe(error, 120))

    try:
        return await nats.connect(
            url,
            name=name,
            allow_reconnect=False,
            connect_timeout=max(1, round(timeout_s)),
            max_reconnect_attempts=1,  # nats-py tries a server that refused again (60 times, 2 s apart, by
            reconnect_time_wait=CONNECT_RETRY_S,  # default) even at the first connect: once more, soon, then told
            error_cb=quiet,
            ping_interval=2,
            max_outstanding_pings=2,
        )
    except Exception as error:  # refused, timed out, not NATS at all: one line
        raise BusUnreachable(f"NATS at {bus_name(url)} unreachable ({describe(error, 80)})") from None


async def close(client: Client | None) -> None:
    """Close quietly: a connection already gone has nothing left to say."""
    if client is not None and not client.is_closed:
        with contextlib.suppress(Exception):
            await client.close()


def stream_configs(subjects: FeedSubjects) -> list[StreamConfig]:
    """The two bounded streams: the data for a minute (a late joiner catches up from a snapshot), the state the
    last message per subject (each topic's snapshot, the relay's link)."""
    common = {
        "retention": RetentionPolicy.LIMITS,
        "storage": StorageType.FILE,
        "discard": DiscardPolicy.OLD,
        "duplicate_window": DUPLICATE_WINDOW_S,
        "max_msg_size": MAX_MESSAGE_BYTES,
        "allow_direct": True,
    }
    return [
        StreamConfig(
            name=subjects.data_stream,
            subjects=subjects.data_subjects,
            max_age=DATA_MAX_AGE_S,
            max_msgs_per_subject=DATA_MAX_MSGS_PER_SUBJECT,
            **common,  # type: ignore[arg-type]
        ),
        StreamConfig(
            name=subjects.state_stream,
            subjects=subjects.state_subjects,
            max_age=STATE_MAX_AGE_S,
            max_msgs_per_subject=1,
            **common,  # type: ignore[arg-type]
        ),
    ]


async def ensure_streams(client: Client, subjects: FeedSubjects) -> None:
    """Create the streams, or bring existing ones to these limits."""
    jsm = client.jsm()
    for config in stream_configs(subjects):
        assert config.name is not None
        try:
            await jsm.stream_info(config.name)
        except NotFoundError:
            await jsm.add_stream(config)
            continue
        with contextlib.suppress(BadRequestError):  # a limit the server cannot change in place: keep the old
            await jsm.update_stream(config)
