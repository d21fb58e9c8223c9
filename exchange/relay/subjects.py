"""What the relay and the desks agree on: subjects, stream names, headers, retention, and the snapshot frames.

Subjects, per environment and category (``<env>`` is ``sim``, ``testnet``, ``demo`` or ``production``):

* ``fluxum.<env>.<category>.<topic>``: every public frame of a Bybit topic (``orderbook.50.BTCUSDT``,
  ``publicTrade.BTCUSDT``, ``tickers.BTCUSDT``), as Bybit sent it, with our own per-subject sequence number in the
  ``Fluxum-Seq`` header beside Bybit's ``u``/``seq`` (a desk finds a lost message without reading the frame);
* ``fluxum.<env>.<category>.snapshot.<topic>``: the relay's whole book (or merged ticker) as a Bybit snapshot
  frame, its ``Fluxum-Seq`` the data subject's last message it includes: a late joiner starts there;
* ``fluxum.<env>.<category>.link``: the relay's heartbeat and its own Bybit link state, so no desk is Ready on
  data from a relay that lost Bybit.

Two streams hold them, both bounded: the data (a minute, and a cap per subject) and the state (the last message
per subject only). ``Fluxum-Relay`` names the relay's run: its sequence numbers start over with a new run.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

__all__ = [
    "DATA_MAX_AGE_S",
    "DATA_MAX_MSGS_PER_SUBJECT",
    "MAX_MESSAGE_BYTES",
    "RELAY_HEADER",
    "SEQ_HEADER",
    "FeedSubjects",
    "book_snapshot_frame",
    "has_snapshot",
    "plain_decimal",
    "ticker_snapshot_frame",
]

SEQ_HEADER = "Fluxum-Seq"
RELAY_HEADER = "Fluxum-Relay"
MSG_ID_HEADER = "Nats-Msg-Id"  # JetStream drops a message whose id it saw within the duplicate window

DATA_MAX_AGE_S = 60.0  # long enough for a late joiner to catch up from a snapshot, short enough to stay small
DATA_MAX_MSGS_PER_SUBJECT = 20_000
STATE_MAX_AGE_S = 3600.0
DUPLICATE_WINDOW_S = 5.0
MAX_MESSAGE_BYTES = 4 * 1024 * 1024  # the WebSocket link's frame cap: a bus message is no more trusted
MAX_LINK_MESSAGE_BYTES = 64 * 1024


@dataclass(frozen=True)
class FeedSubjects:
    """The subjects and streams of one environment and category."""

    environment: str
    category: str

    @property
    def prefix(self) -> str:
        return f"fluxum.{self.environment}.{self.category}"

    def data(self, topic: str) -> str:
        return f"{self.prefix}.{topic}"

    def snapshot(self, topic: str) -> str:
        return f"{self.prefix}.snapshot.{topic}"

    @property
    def link(self) -> str:
        return f"{self.prefix}.link"

    @property
    def data_subjects(self) -> list[str]:
        return [f"{self.prefix}.{kind}.>" for kind in ("orderbook", "publicTrade", "tickers")]

    @property
    def state_subjects(self) -> list[str]:
        return [f"{self.prefix}.snapshot.>", self.link]

    @property
    def data_stream(self) -> str:
        return f"FLUXUM_{self.environment}_{self.category}_DATA".upper()

    @property
    def state_stream(self) -> str:
        return f"FLUXUM_{self.environment}_{self.category}_STATE".upper()


def has_snapshot(topic: str) -> bool:
    """Whether a late joiner starts the topic from a snapshot: a book or a ticker (a tape starts empty)."""
    return topic.startswith(("orderbook.", "tickers."))


def plain_decimal(value: float) -> str:
    """A float as Bybit writes numbers: the shortest text that reads back as the same float, never an exponent."""
    text = format(Decimal(repr(value)), "f")
    return text


def book_snapshot_frame(
    topic: str, symbol: str, bids: list[tuple[float, float]], asks: list[tuple[float, float]], stamp: dict[str, Any]
) -> dict[str, Any]:
    """A Bybit order-book snapshot frame of these levels; ``stamp``: ``u`` and, when known, ``seq``, ``ts``, ``cts``."""
    data: dict[str, Any] = {
        "s": symbol,
        "b": [[plain_decimal(price), plain_decimal(size)] for price, size in bids],
        "a": [[plain_decimal(price), plain_decimal(size)] for price, size in asks],
        "u": stamp["u"],
    }
    if stamp.get("seq") is not None:
        data["seq"] = stamp["seq"]
    frame: dict[str, Any] = {"topic": topic, "type": "snapshot", "data": data}
    for key in ("ts", "cts"):
        if stamp.get(key) is not None:
            frame[key] = stamp[key]
    return frame


def ticker_snapshot_frame(symbol: str, fields: dict[str, str], ts: int) -> dict[str, Any]:
    """A Bybit ticker snapshot frame of the merged fields."""
    return {"topic": f"tickers.{symbol}", "type": "snapshot", "ts": ts, "data": {**fields, "symbol": symbol}}
