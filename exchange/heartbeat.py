"""The session's side of the heartbeat: the ping, pong and probe figures each link is opened with, and when a link
found dead of silence lost its path.

The links run the heartbeat themselves (:mod:`exchange.bybit.ws`); what the session decides is which figures each
link gets (a quiet private stream is probed sooner than its pings would catch it) and how far back an outage
found by silence began, so the history dates it from its start, not from the verdict.
"""

from __future__ import annotations

from collections.abc import Mapping

from exchange.retry import Timeouts
from exchange.sources import LinkSpec


def link_spec(timeouts: Timeouts, url: str, name: str, *, idle_probe_after: float, probe_timeout: float) -> LinkSpec:
    """One link with the session's ping, pong and connect timeouts; the probing is what differs per link."""
    return LinkSpec(
        url,
        name,
        ping_interval=timeouts.ping_interval_s,
        pong_timeout=timeouts.pong_timeout_s,
        idle_probe_after=idle_probe_after,
        probe_timeout=probe_timeout,
        connect_timeout=timeouts.connect_s,
    )


def private_idle_probe_s(timeouts: Timeouts) -> float:
    """A quiet private stream is healthy, but only a pong proves it: with pings only every 20 s and a 10 s
    deadline, a dead account stream (frozen fills, orders, wallet) would pass for Ready up to 30 s."""
    return min(timeouts.private_idle_probe_s, timeouts.ping_interval_s)


def silence_began(
    name: str, last_frame: float, heard: Mapping[str, float], now: float, probe_timeout_s: float
) -> float:
    """When link ``name``, found dead of silence, lost the path (the clock's s). A quiet link's last frame may be
    long before: if the other link (``heard``: each link's last data frame) is silent too, the latest last frame
    among them dates the path's death; if the other link still flows, only this one died, and its own last frame
    is all there is."""
    began = last_frame
    for other, at in heard.items():
        if other == name:
            continue
        if now - at < probe_timeout_s:
            return last_frame
        began = max(began, at)
    return min(began, now)
