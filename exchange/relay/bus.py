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
from exchange.secrets import BusCredentials

__all__ = ["BusRefused", "BusUnreachable", "bus_name", "connect", "ensure_streams"]

log = logging.getLogger(__name__)


class BusUnreachable(Exception):
    """NATS could not be reached; ``str()`` says where and why, in one line."""


class BusRefused(BusUnreachable):
    """NATS refused the credentials (or their absence): trying again cannot help; ``str()`` says where, why
    and which setting to check, never a secret."""


AUTH_WORDS = ("authorization", "authentication")
"""Words of the server's refusal of a connection's credentials (``-ERR 'Authorization Violation'``)."""


def bus_name(url: str) -> str:
    """``host:port`` of a NATS URL, printable, for the bar and the logs (a URL's credentials never shown)."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return printable(f"{host}:{parts.port or 4222}", 80)


CONNECT_RETRY_S = 0.25


async def connect(url: str, *, name: str, credentials: BusCredentials | None = None, timeout_s: float = 2.0) -> Client:
    """A connected client, or :class:`BusUnreachable` (:class:`BusRefused` for credentials the server refused);
    the client closes itself when the server goes away."""

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
            **(credentials.connect_options() if credentials is not None else {}),
        )
    except Exception as error:  # refused, timed out, not NATS at all: one line
        said = describe(error, 80)
        if any(word in said.lower() for word in AUTH_WORDS):
            raise BusRefused(_refusal(url, credentials, said)) from None
        raise BusUnreachable(f"NATS at {bus_name(url)} unreachable ({said})") from None


def _refusal(url: str, credentials: BusCredentials | None, said: str) -> str:
    """What a refused connection says: the server's words and which setting to check."""
    if credentials is None:
        hint = "it needs credentials: set FLUXUM_NATS_USER and FLUXUM_NATS_PASSWORD (or FLUXUM_NATS_TOKEN), or [nats]"
        return f"NATS at {bus_name(url)} refused the connection ({said}): {hint} in the secrets file"
    return f"NATS at {bus_name(url)} refused the credentials ({said}): check {credentials.source}"


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
