"""What the relay and the desks agree on, without a bus: subjects, snapshot frames, and the commands' flags."""

from __future__ import annotations

import pytest

from app import cli
from exchange.book import BookState, OrderBook
from exchange.relay.feed import _heartbeat, _seq
from exchange.relay.subjects import FeedSubjects, book_snapshot_frame, has_snapshot, plain_decimal

TOPIC = "orderbook.50.BTCUSDT"


def test_subjects_of_an_environment_and_category() -> None:
    subjects = FeedSubjects("sim", "linear")
    assert subjects.data(TOPIC) == "fluxum.sim.linear.orderbook.50.BTCUSDT"
    assert subjects.snapshot(TOPIC) == "fluxum.sim.linear.snapshot.orderbook.50.BTCUSDT"
    assert subjects.link == "fluxum.sim.linear.link"
    assert subjects.data_stream == "FLUXUM_SIM_LINEAR_DATA" and subjects.state_stream == "FLUXUM_SIM_LINEAR_STATE"
    data, state = set(subjects.data_subjects), set(subjects.state_subjects)
    assert not data & state, "two streams never share a subject"
    assert has_snapshot(TOPIC) and has_snapshot("tickers.BTCUSDT") and not has_snapshot("publicTrade.BTCUSDT")


@pytest.mark.parametrize(
    ("value", "text"), [(65000.5, "65000.5"), (1e-05, "0.00001"), (0.1, "0.1"), (1e22, "10000000000000000000000")]
)
def test_a_number_is_written_as_bybit_writes_it(value: float, text: str) -> None:
    assert plain_decimal(value) == text and float(text) == value


def test_a_book_snapshot_frame_rebuilds_the_same_book() -> None:
    """The relay's snapshot of its book, applied by a late desk, gives the very same levels, u and seq."""
    original = OrderBook(TOPIC)
    original.apply(
        {
            "topic": TOPIC,
            "type": "snapshot",
            "ts": 1_700_000_000_000,
            "cts": 1_699_999_999_990,
            "data": {
                "s": "BTCUSDT",
                "b": [["65000.50", "0.010"], ["64999.9", "1.5"]],
                "a": [["65001", "0.00001"], ["65002.1", "3"]],
                "u": 41,
                "seq": 9_000,
            },
        }
    )
    stamp = {"u": original.u, "seq": original.seq, "ts": original.ts, "cts": original.cts}
    frame = book_snapshot_frame(TOPIC, "BTCUSDT", original.bids(), original.asks(), stamp)
    late = OrderBook(TOPIC)
    late.apply(frame)
    assert late.state is BookState.SYNCED
    assert (late.bids(), late.asks(), late.u, late.seq, late.ts, late.cts) == (
        original.bids(),
        original.asks(),
        41,
        9_000,
        original.ts,
        original.cts,
    )


@pytest.mark.parametrize(
    ("data", "read"),
    [
        (b'{"relay": "r1", "ready": true, "reason": "", "topics": ["tickers.X"]}', ("r1", True, "", {"tickers.X"})),
        (b"not json", None),
        (b"[1]", None),
        (b'{"relay": 1, "ready": true, "topics": []}', None),
        (b'{"relay": "r1", "ready": "yes", "topics": []}', None),
        (b'{"relay": "r1", "ready": true, "topics": [3]}', None),
        (b'{"relay": "' + b"r" * 65 + b'", "ready": true, "topics": []}', None),
    ],
)
def test_a_heartbeat_is_read_or_refused(data: bytes, read: tuple[object, ...] | None) -> None:
    assert _heartbeat(data) == read


@pytest.mark.parametrize(
    ("headers", "seq"),
    [
        ({"Fluxum-Seq": "12"}, 12),
        (None, None),
        ({}, None),
        ({"Fluxum-Seq": "-1"}, None),
        ({"Fluxum-Seq": "9" * 20}, None),
        ({"Fluxum-Seq": "\u00b2"}, None),  # a digit to str.isdigit that int() refuses
        ({"Fluxum-Seq": "\u0661\u0662"}, None),  # digits int() reads, no relay writes
    ],
)
def test_a_sequence_header_is_a_whole_number_or_nothing(headers: dict[str, str] | None, seq: int | None) -> None:
    assert _seq(headers) == seq


@pytest.mark.parametrize(
    "argv",
    [
        ["relay", "--nats", "http://127.0.0.1:4222"],
        ["relay", "--nats", "nats://"],
        ["monitor", "--feed", "127.0.0.1:4222", "--base-url", "http://127.0.0.1:9"],
        ["dashboard", "--feed", "nats://host:99999", "--base-url", "http://127.0.0.1:9"],
    ],
)
def test_a_url_that_is_no_nats_url_is_one_line_and_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a NATS URL" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["relay", "--nats", "nats://desk:hunter2@127.0.0.1:4222"],
        ["relay", "--nats", "http://desk:hunter2@127.0.0.1:4222"],
        ["dashboard", "--feed", "nats://s3cr3t-token@127.0.0.1:4222", "--base-url", "http://127.0.0.1:9"],
    ],
)
def test_credentials_in_a_nats_url_are_refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """A password or token on the command line shows in the process list (and ``fluxum serve`` would pass it on
    to every tab's argv): one line, exit 2, and the secret not repeated."""
    assert cli.main(argv) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "credentials" in err
    assert "hunter2" not in err and "s3cr3t" not in err


def test_the_relay_needs_nats(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["relay"])
    assert exited.value.code == 2 and "--nats" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["monitor", "dashboard"])
def test_a_feed_beside_an_embedded_exchange_is_refused(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The relay reads another exchange than the one a desk would embed: refused before anything starts."""
    assert cli.main([command, "--feed", "nats://127.0.0.1:4222"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--base-url" in err


def test_a_relay_whose_publishing_fails_stops_and_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A relay that publishes nothing must not run on as if it did: its session stops, the failure is one line on
    stderr and the status is 1 (the local exchange stands in for Bybit; no NATS is reached)."""
    from exchange.relay.publisher import Relay

    async def broken(self: Relay, session: object) -> None:
        raise RuntimeError("a bug in a publishing task")

    monkeypatch.setattr(Relay, "run", broken)
    assert cli.main(["relay", "--nats", "nats://127.0.0.1:9", "--duration", "60", "--symbols", "BTCUSDT"]) == 1
    assert "a bug in a publishing task" in capsys.readouterr().err
