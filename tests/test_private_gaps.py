"""Frames on the private stream that may have hidden an execution, and frames that cannot have.

A frame whose topic cannot be read may have been an execution: history is read again over REST. A host can send
thousands a second: one read at a time is made (another after it if more were lost meanwhile) and one notice per
read is shown, not one per frame. A reply to a request (a subscribe or auth acknowledgement nobody asked for)
is no execution: counted and dropped, never a re-read.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from exchange.account_state import AccountState
from exchange.book import OrderBook
from exchange.desk import Desk
from exchange.events import Notice
from exchange.hub import EventHub


def _account() -> tuple[AccountState, Any, list[int]]:
    desk = Desk(environment="SIM", category="linear", symbols=["BTCUSDT"], books={"BTCUSDT": OrderBook()})
    hub = EventHub()
    notices = hub.subscribe([Notice], name="test")
    reads: list[int] = []
    account = AccountState(desk, hub, Counter(), None, "mark", reread=lambda: reads.append(1))
    return account, notices, reads


def _texts(subscription: Any) -> list[str]:
    texts = []
    while (event := subscription.get_nowait()) is not None:
        texts.append(event.text)
    return texts


def test_a_flood_of_lost_private_frames_is_one_read_and_one_notice() -> None:
    account, notices, reads = _account()
    for _ in range(1000):
        account.frame_lost("an unreadable private frame")
    assert reads == [1] and account.counters["private_frames_lost"] == 1000
    assert len([text for text in _texts(notices) if "Re-reading" in text]) == 1
