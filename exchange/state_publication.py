"""How the session's state and link figures reach the desk, the hub, the recorder and the log.

A transition is one :class:`~exchange.events.SessionState` written to the desk (its history notes it), told to
the recorder's tap and published as :class:`~exchange.events.StateChanged`; the link figures follow it at once, so
the bar's reconnect count and reason move with the state. Kept apart from :mod:`exchange.session`, which decides
the transitions.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from exchange.desk import Desk
from exchange.events import LinkState, LinkStats, SessionState, StateChanged, TopicHealth
from exchange.frame_rate import FrameRate
from exchange.hub import EventHub
from exchange.sources import FrameLink, Tap

log = logging.getLogger("exchange.session")  # transitions are logged under the session's name


def transition(
    previous: SessionState,
    kind: LinkState,
    reason: str,
    now_ms: int,
    *,
    attempt: int = 0,
    next_retry_ms: int | None = None,
    since_ms: int | None = None,
    waiting: bool = False,
) -> SessionState | None:
    """The state after ``previous``, or None when nothing changed (a Reconnecting is told every time: each is a
    new attempt). ``since_ms`` dates it earlier than now when it began before the session could tell (a step
    found slow, a silence found dead), never before the last one."""
    since = now_ms if since_ms is None else min(now_ms, max(since_ms, previous.since_ms))
    state = SessionState(kind, since, reason, attempt, next_retry_ms, waiting)
    same = (previous.kind, previous.reason, previous.attempt, previous.next_retry_ms, previous.waiting) == (
        kind,
        reason,
        attempt,
        next_retry_ms,
        waiting,
    )
    return None if same and kind is not LinkState.RECONNECTING else state


def announce(desk: Desk, hub: EventHub, tap: Tap | None, state: SessionState, previous: SessionState) -> None:
    """Write ``state`` to the desk and tell everyone who listens."""
    desk.state = state
    desk.note_state(state)
    desk.touch("state")
    log.info("session: %s", state)
    if tap is not None:
        tap.state_changed(state)
    hub.publish(StateChanged(state, previous))


def link_figures(
    now: float,
    links: Sequence[FrameLink | None],
    rate: FrameRate,
    rejected_frames: int,
    reconnects: int,
    last_reconnect_reason: str,
    topics: tuple[TopicHealth, ...],
) -> LinkStats:
    """The figures now: no link open means no messages and no round trip to show. ``rejected_frames``: those the
    session rejected; each link's own are added."""
    open_links = [link for link in links if link is not None and link.open_]
    rtts = [(link.round_trip_to, link.current_rtt_ms(now)) for link in open_links]
    direct = [rtt for to, rtt in rtts if rtt is not None and to == "exchange"]
    fed = [rtt for to, rtt in rtts if rtt is not None and to != "exchange"]
    rejected = rejected_frames + sum(link.rejected for link in links if link is not None)
    return LinkStats(
        ping_rtt_ms=max(direct) if direct else None,
        feed_rtt_ms=max(fed) if fed else None,
        messages_per_second=rate.per_second(now) if open_links else 0.0,
        reconnects=reconnects,
        last_reconnect_reason=last_reconnect_reason,
        topics=topics,
        rejected_frames=rejected,
    )


def publish_figures(desk: Desk, hub: EventHub, stats: LinkStats) -> None:
    desk.stats = stats
    desk.touch("stats")
    hub.publish(stats)
