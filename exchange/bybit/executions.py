"""Bybit v5 execution records into ledger :class:`~exchange.ledger.Fill` values, and execution files.

The same record shape arrives from REST ``/v5/execution/list`` (``result.list``, category at the result level)
and from the private ``execution`` topic (``data``, category per record); numbers are decimal strings and stay
exact. ``execution.fast`` records carry no fee, so they are refused: feeding them to the ledger would make the
full record (same ``execId``) a duplicate and lose its fee.

Fee rule (spot): the ledger counts money in the symbol's quote coin. ``execFee`` is in ``feeCurrency``; when
that is the quote coin (or empty, or any derivatives category) it is used as is; when it is the base coin
(``BTCUSDT`` charging ``BTC`` on a buy) it becomes ``fee * execPrice``, its value in quote at the fill price.
A spot fee in a third coin cannot be valued here: it counts as 0 and is logged. (A base-coin fee also leaves
the coin holding ``execQty - fee`` short of the position; the ledger tracks the traded quantity, as Bybit's
execution list does.)

Contract kind (:func:`contract_of`): the record's ``category`` decides how the ledger counts its money
(``inverse``: coin-margined, quantities in contracts and money in the base coin; ``linear`` and ``spot``: the
quote coin); a record without one (a JSON list exported by hand) is judged by its symbol. A category whose P&L
the ledger does not compute (``option``, ``spread``) is refused, never priced as linear. An inverse fee is
Bybit's ``execFee`` in the settle coin; one in any other coin is refused. A trade whose ``execValue`` is the
other kind's (``qty / price`` on a linear record, ``qty x price`` on an inverse one: a wrong category, or a
symbol misjudged) is refused too, rather than counted in the wrong units.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from exchange.bybit.protocol import cross_seq
from exchange.ledger import (
    FUNDING_EXEC_TYPE,
    MONEY_CONTEXT,
    POSITION_EXEC_TYPES,
    ContractKind,
    Fill,
    execution_order,
)
from exchange.numbers import NumberError, read_decimal, read_epoch_ms

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "MAX_LINE_BYTES",
    "PRICED_CATEGORIES",
    "REQUIRED_FIELDS",
    "SPOT_QUOTE_COINS",
    "batches_in_execution_order",
    "contract_of",
    "ExecutionFileError",
    "ExecutionRecordError",
    "fill_from_execution",
    "fills_from_push",
    "fills_from_response",
    "fills_in_execution_order",
    "load_execution_file",
    "load_fills",
    "read_fills",
    "settle_coin_of",
]

log = logging.getLogger(__name__)

REQUIRED_FIELDS = ("execId", "symbol", "side", "execQty", "execPrice", "execFee", "execType", "execTime")
"""What a record must carry to become a fill (``execution.fast`` lacks ``execFee`` and ``execType``)."""

SPOT_QUOTE_COINS = frozenset({"USDT", "USDC", "USDE", "USD1", "FDUSD", "DAI", "BTC", "ETH", "EUR", "BRL", "PLN"})
"""Quote coins of Bybit spot symbols, used to recognise a base-coin fee (``symbol == base + quote``)."""

_ZERO = Decimal(0)

PRICED_CATEGORIES = {"linear": ContractKind.LINEAR, "spot": ContractKind.LINEAR, "inverse": ContractKind.INVERSE}
"""The categories whose P&L the ledger computes, and how it counts their money."""
_INVERSE_SYMBOL = re.compile(r"([A-Z0-9]+?)USD(?:[FGHJKMNQUVXZ][0-9]{2})?")
"""An inverse perpetual (``BTCUSD``) or dated future (``BTCUSDH25``: month code, year): the base coin, then USD."""
_OPTION_SYMBOL = re.compile(r"[A-Z0-9]+-[0-9]{1,2}[A-Z]{3}[0-9]{2}-[0-9.]+-[CP](?:-[A-Z]+)?")
"""An option (``BTC-28JUN24-60000-P``, ``-USDT`` settled ones too)."""
_QUOTES_LONGEST_FIRST = sorted(SPOT_QUOTE_COINS, key=len, reverse=True)


class ExecutionRecordError(ValueError):
    """One execution record cannot become a fill; the message names the field and why."""


class ExecutionFileError(ValueError):
    """An execution file cannot be used; the message is one sentence naming the file and the place."""


def _decimal(record: Mapping[str, Any], key: str, *, blank: Decimal | None = None) -> Decimal:
    """A field as an exact Decimal in the desk's range (:mod:`exchange.numbers`): Bybit's strings as they are,
    ``""`` as ``blank`` when that is allowed."""
    value = record[key]
    if value == "" and blank is not None:
        return blank
    try:
        return read_decimal(value, key)
    except NumberError as error:
        raise ExecutionRecordError(str(error)) from None


def _time_ms(record: Mapping[str, Any]) -> int:
    try:
        return read_epoch_ms(record["execTime"], "execTime")
    except NumberError as error:
        raise ExecutionRecordError(str(error)) from None


MAX_TEXT_CHARS = 64
"""The longest text field taken (Bybit's ids are UUIDs, 36 characters; its symbols under 30): a host's megabytes
would otherwise ride into the journal's keys, a ledger entry per symbol and every screen."""


def _text(record: Mapping[str, Any], key: str) -> str:
    value = record.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ExecutionRecordError(f"{key} must be a string, not {type(value).__name__}")
    if len(value) > MAX_TEXT_CHARS:
        raise ExecutionRecordError(f"{key} is {len(value)} characters long (at most {MAX_TEXT_CHARS})")
    return value


def _fee_in_quote(fee: Decimal, fee_coin: str, symbol: str, price: Decimal, category: str | None) -> Decimal:
    """The fee valued in the symbol's quote coin (see the module docstring for the rule)."""
    if not fee_coin or fee == 0 or category not in (None, "", "spot"):
        return fee
    if symbol.endswith(fee_coin) and len(symbol) > len(fee_coin):
        return fee  # already the quote coin
    if symbol.startswith(fee_coin) and symbol[len(fee_coin) :] in SPOT_QUOTE_COINS:
        return MONEY_CONTEXT.multiply(fee, price)
    if category == "spot":
        log.warning("%s fee of %s %s is in neither coin of the pair: counted as 0", symbol, fee, fee_coin)
        return _ZERO
    return fee


def contract_of(category: str | None, symbol: str) -> ContractKind:
    """How the ledger counts a record's money: by its ``category`` when it has one (:data:`PRICED_CATEGORIES`),
    else by its symbol: the base coin then ``USD`` (``BTCUSD``, ``BTCUSDH25``; never ``USDT``/``USDC``, so no
    Bybit linear or spot symbol) is inverse, any other linear. Raises :class:`ExecutionRecordError` for a
    category, or an option symbol, whose P&L the ledger does not compute."""
    if category:
        contract = PRICED_CATEGORIES.get(category)
        if contract is None:
            raise ExecutionRecordError(
                f"category {category[:20]!r}: the ledger computes P&L for linear, spot and inverse executions "
                "only, and refuses the others rather than print a wrong number"
            )
        return contract
    if _OPTION_SYMBOL.fullmatch(symbol):
        raise ExecutionRecordError(
            f"{symbol} is an option: the ledger computes P&L for linear, spot and inverse executions only"
        )
    return ContractKind.INVERSE if _INVERSE_SYMBOL.fullmatch(symbol) else ContractKind.LINEAR


VALUE_TOLERANCE = Decimal("0.01")
"""How far (relative) ``execValue`` may be from its kind's ``qty x price`` or ``qty / price`` before it is read as
the other kind's: far above Bybit's rounding of it (8 places of coin), far below what the kinds differ by."""


def _value_problem(record: Mapping[str, Any], contract: ContractKind, qty: Decimal, price: Decimal) -> str | None:
    """Why a trade's ``execValue`` says it is of the other kind, or None (no readable value, or it agrees, or it
    cannot tell: near a price of 1 both kinds give the same value)."""
    text = record.get("execValue")
    if not isinstance(text, str) or not text:
        return None
    try:
        value = read_decimal(text, "execValue")
    except NumberError:
        return None  # the ledger does not need it
    linear, inverse = MONEY_CONTEXT.multiply(qty, price), MONEY_CONTEXT.divide(qty, price)
    expected, other = (inverse, linear) if contract is ContractKind.INVERSE else (linear, inverse)

    def off(reference: Decimal) -> Decimal:
        return abs(MONEY_CONTEXT.divide(value - reference, reference))

    if value <= 0 or off(expected) <= VALUE_TOLERANCE or off(other) > VALUE_TOLERANCE:
        return None
    reading = "qty x price" if other is linear else "qty / price"
    return (
        f"execValue {text[:24]} is {reading}, but the record reads as {contract.value}: its category or symbol is wrong"
    )


def settle_coin_of(symbol: str, contract: ContractKind) -> str:
    """The coin a symbol's money is in, from Bybit's naming; ``""`` when the symbol does not say. Inverse: the
    base coin (``BTCUSD``: BTC); linear: USDC for ``PERP`` and dated USDC futures (``BTC-26DEC25``), else the
    quote coin the symbol ends with (``BTCUSDT``, ``BTCUSDT-26DEC25``: USDT; spot ``ETHBTC``: BTC)."""
    if contract is ContractKind.INVERSE:
        match = _INVERSE_SYMBOL.fullmatch(symbol)
        return match.group(1) if match else ""
    head, dash, _ = symbol.partition("-")
    if symbol.endswith("PERP"):
        return "USDC"
    for coin in _QUOTES_LONGEST_FIRST:
        if head.endswith(coin) and len(head) > len(coin):
            return coin
    return "USDC" if dash else ""


def fill_from_execution(record: Mapping[str, Any], *, category: str | None = None) -> Fill:
    """One Bybit execution record (REST ``execution/list`` item or ``execution`` push item) as a fill.

    ``category`` is used when the record has none (REST items carry it at the result level). Raises
    :class:`ExecutionRecordError`, and nothing else, for a missing field or a value that is not what Bybit sends
    (a number outside :mod:`exchange.numbers`' range included), so a record that passes is one the ledger can
    apply, and a journaled record can be checked again with this on replay.
    """
    try:
        return _fill(record, category)
    except ArithmeticError as error:  # unreachable within the checked range; a record error all the same
        raise ExecutionRecordError(f"its numbers cannot be computed with ({type(error).__name__})") from None


def _coin_and_fee(
    record: Mapping[str, Any], category: str | None, contract: ContractKind, symbol: str, price: Decimal, fee: Decimal
) -> tuple[str, Decimal]:
    """The record's settle coin and its fee in that coin: an inverse fee as Bybit charged it (refused in another
    coin), a spot fee valued in the quote coin (module docstring); a funding row's fee is always as it is."""
    settle_coin = settle_coin_of(symbol, contract)
    fee_coin = _text(record, "feeCurrency")
    if contract is ContractKind.INVERSE:
        settle_coin = settle_coin or fee_coin
        if fee_coin and fee_coin != settle_coin and fee != 0:
            raise ExecutionRecordError(f"an inverse fee in {fee_coin}, not the settle coin {settle_coin}")
        return settle_coin, fee
    if record.get("execType") == FUNDING_EXEC_TYPE:
        return settle_coin, fee
    return settle_coin, _fee_in_quote(fee, fee_coin, symbol, price, category)


def _names(record: Mapping[str, Any]) -> tuple[str, str, str, str]:
    """The execution's id, symbol, type and side, every required field present and the first three non-empty."""
    if not isinstance(record, Mapping):
        raise ExecutionRecordError(f"an execution must be a JSON object, not {type(record).__name__}")
    for key in REQUIRED_FIELDS:
        if key not in record:
            raise ExecutionRecordError(f"missing field {key!r}")
    names = _text(record, "execId"), _text(record, "symbol"), _text(record, "execType")
    for key, text in zip(("execId", "symbol", "execType"), names, strict=True):
        if not text:
            raise ExecutionRecordError(f"{key} is empty")
    return (*names, _text(record, "side"))


def _fill(record: Mapping[str, Any], category: str | None) -> Fill:
    exec_id, symbol, exec_type, side = _names(record)
    moves = exec_type in POSITION_EXEC_TYPES
    if moves and side not in ("Buy", "Sell"):
        raise ExecutionRecordError(f"side {side!r} is neither Buy nor Sell")
    # A funding or fee-only row may leave quantity and price blank; a trade may not.
    blank = None if moves else _ZERO
    qty = _decimal(record, "execQty", blank=blank)
    price = _decimal(record, "execPrice", blank=blank)
    fee = _decimal(record, "execFee", blank=_ZERO)
    if moves and qty <= 0:
        raise ExecutionRecordError(f"execQty {record['execQty']!r} is not positive")
    if moves and price <= 0:
        raise ExecutionRecordError(f"execPrice {record['execPrice']!r} is not positive")
    record_category = record.get("category")
    if isinstance(record_category, str) and record_category:
        category = record_category
    contract = contract_of(category, symbol)
    problem = _value_problem(record, contract, qty, price) if moves else None
    if problem is not None:
        raise ExecutionRecordError(problem)
    settle_coin, fee = _coin_and_fee(record, category, contract, symbol, price, fee)
    is_maker = record.get("isMaker")
    # Every number was read into exchange.numbers' range, which lies inside the ledger's (fill_problem): a fill
    # made here is one the ledger applies (tests/test_numbers.py checks it over hostile records).
    return Fill(
        exec_id=exec_id,
        symbol=symbol,
        side=side,
        qty=qty,
        price=price,
        fee=fee,
        time_ms=_time_ms(record),
        exec_type=exec_type,
        order_id=_text(record, "orderId"),
        order_link_id=_text(record, "orderLinkId"),
        is_maker=is_maker if isinstance(is_maker, bool) else None,
        seq=cross_seq(record),
        contract=contract,
        settle_coin=settle_coin,
    )


REPLAY_BATCH = 20_000
"""Fills per ledger batch in a start replay: large enough that freezing entries costs nothing, small enough that
a long journal is never all in memory."""


def fills_in_execution_order(
    records: Iterable[Mapping[str, Any]],
    *,
    category: str | None,
    rejected: Callable[[ExecutionRecordError], None],
    batch_size: int = REPLAY_BATCH,
) -> Iterator[list[Fill]]:
    """Records in ``execTime`` order (a journal's replay) as fills in the exchange's order, in batches
    (:func:`batches_in_execution_order`). A record that cannot be a fill goes to ``rejected``."""

    def readable() -> Iterator[Fill]:
        for record in records:
            try:
                fill = fill_from_execution(record, category=category)
            except ExecutionRecordError as error:
                rejected(error)
                continue
            yield fill

    return batches_in_execution_order(readable(), batch_size)


def batches_in_execution_order(fills: Iterable[Fill], batch_size: int = REPLAY_BATCH) -> Iterator[list[Fill]]:
    """Fills in ``execTime`` order in the exchange's order, in batches that end between two milliseconds: only
    the fills of one millisecond need sorting (by ``seq``), so a journal of any length streams."""
    batch: list[Fill] = []
    moment: list[Fill] = []
    for fill in fills:
        if moment and fill.time_ms != moment[0].time_ms:
            batch.extend(sorted(moment, key=execution_order))
            moment = []
            if len(batch) >= batch_size:
                yield batch
                batch = []
        moment.append(fill)
    batch.extend(sorted(moment, key=execution_order))
    if batch:
        yield batch


def fills_from_push(message: Mapping[str, Any]) -> list[Fill]:
    """Every fill of one private ``execution`` (or ``execution.{category}``) push."""
    topic = message.get("topic")
    if not isinstance(topic, str) or not topic.startswith("execution"):
        raise ExecutionRecordError(f"not an execution push (topic {topic!r})")
    if topic.startswith("execution.fast"):
        raise ExecutionRecordError("execution.fast pushes carry no fees; use the execution topic")
    data = message.get("data")
    if not isinstance(data, list):
        raise ExecutionRecordError("an execution push needs a data list")
    return [fill_from_execution(record) for record in data]


def fills_from_response(response: Mapping[str, Any]) -> list[Fill]:
    """Every fill of one REST ``/v5/execution/list`` response (one page)."""
    category, records = _response_records(response)
    return [fill_from_execution(record, category=category) for record in records]


def _response_records(response: Mapping[str, Any]) -> tuple[str | None, list[Any]]:
    code = response.get("retCode")
    if code not in (0, "0"):
        raise ExecutionRecordError(f"the response is an error: retCode {code} ({response.get('retMsg', '')})")
    result = response.get("result")
    if not isinstance(result, Mapping) or not isinstance(result.get("list"), list):
        raise ExecutionRecordError("the response has no result.list")
    category = result.get("category")
    return (category if isinstance(category, str) and category else None), result["list"]


# ---------------------------------------------------------------------- files


def _expand(document: Any, where: str) -> list[tuple[str, Any]]:
    """The records of one JSON document, each with where it came from (for error messages)."""
    if isinstance(document, list):
        out: list[tuple[str, Any]] = []
        for index, item in enumerate(document, 1):
            label = f"{where}record {index}"
            if isinstance(item, Mapping) and ("retCode" in item or "topic" in item):
                out.extend(_expand(item, f"{label}, "))
            else:
                out.append((label, item))
        return out
    if not isinstance(document, Mapping):
        raise ExecutionRecordError(
            f"expected a Bybit response, a list of executions or JSON lines, found {type(document).__name__}"
        )
    if "retCode" in document or "result" in document:
        category, records = _response_records(document)
        if category is not None:  # REST items carry their category at the result level
            records = [
                {**record, "category": category} if isinstance(record, Mapping) and "category" not in record else record
                for record in records
            ]
        return [(f"{where}record {index} of result.list", record) for index, record in enumerate(records, 1)]
    if "topic" in document:
        topic = document.get("topic")
        if not isinstance(topic, str) or not topic.startswith("execution"):
            raise ExecutionRecordError(f"a push of topic {topic!r} holds no executions")
        if topic.startswith("execution.fast"):
            raise ExecutionRecordError("execution.fast pushes carry no fees; export the execution topic")
        data = document.get("data")
        if not isinstance(data, list):
            raise ExecutionRecordError("the execution push has no data list")
        return [(f"{where}record {index} of data", record) for index, record in enumerate(data, 1)]
    return [(where.rstrip(", ") or "record 1", document)]


MAX_LINE_BYTES = 1 << 20
"""Longest JSON line read (1 MiB: a full execution/list page is ~60 KB); a longer one is refused, naming it."""
MAX_DOCUMENT_BYTES = 64 << 20
"""Largest file read as one JSON document (a response, a list, a push); larger histories are read as JSON lines."""


def _open_regular(path: str | Path) -> BinaryIO:
    """The file, if it is a regular file: a device (``/dev/zero``), a FIFO or a directory never ends or never
    starts, so it is refused at once."""
    from exchange.regular_file import FileRefused, open_regular

    try:
        return open_regular(path)
    except FileRefused as refused:
        raise ExecutionFileError(f"cannot read {path}: {refused} (save the executions first)") from None
    except OSError as error:
        raise ExecutionFileError(f"cannot read {path}: {error.strerror or error}") from None


def _lines(file: BinaryIO, name: str, number: int) -> Iterator[tuple[int, bytes]]:
    """Non-blank lines after line ``number`` with their numbers, each at most :data:`MAX_LINE_BYTES` (a longer
    one is an error naming it)."""
    while line := file.readline(MAX_LINE_BYTES + 1):
        number += 1
        if len(line) > MAX_LINE_BYTES and not (len(line) == MAX_LINE_BYTES + 1 and line.endswith(b"\n")):
            raise ExecutionFileError(
                f"{name} line {number} is longer than {MAX_LINE_BYTES >> 20} MB: not an execution record"
            )
        if line.strip():
            yield number, line


def _is_json(line: bytes) -> bool:
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return True


def _read(path: str | Path) -> Iterator[tuple[str, Any]]:
    """Every record of an execution file with its place, read as consumed: JSON lines one line at a time, or one
    JSON document (a response, a list, a push) of at most :data:`MAX_DOCUMENT_BYTES`."""
    name = str(path)
    with _open_regular(path) as file:
        number, line = 1, file.readline(MAX_LINE_BYTES + 1)
        while line and not line.strip():
            number, line = number + 1, file.readline(MAX_LINE_BYTES + 1)
        if not line:
            raise ExecutionFileError(f"{name} is empty")
        if line.endswith(b"\n") and _is_json(line):  # a whole line that is JSON on its own: JSON lines
            yield from _read_lines(name, [(number, line)])
            yield from _read_lines(name, _lines(file, name, number))
            return
        file.seek(0)
        yield from _read_document(name, file)


def _read_document(name: str, file: BinaryIO) -> list[tuple[str, Any]]:
    import os

    too_large = os.fstat(file.fileno()).st_size > MAX_DOCUMENT_BYTES  # refused before reading any of it
    raw = b"" if too_large else file.read(MAX_DOCUMENT_BYTES + 1)
    if too_large or len(raw) > MAX_DOCUMENT_BYTES:
        raise ExecutionFileError(
            f"{name} is one JSON document over {MAX_DOCUMENT_BYTES >> 20} MB: save it as JSON lines "
            "(one record or one response a line), which are read a line at a time"
        )
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise ExecutionFileError(f"{name} is not valid JSON: {error.msg} at line {error.lineno}") from None
    try:
        return _expand(document, "")
    except ExecutionRecordError as error:
        raise ExecutionFileError(f"{name}: {error}") from None


def _read_lines(name: str, lines: Iterable[tuple[int, bytes]]) -> Iterator[tuple[str, Any]]:
    for number, line in lines:
        try:
            document = orjson.loads(line)
        except orjson.JSONDecodeError as error:
            raise ExecutionFileError(f"{name} line {number} is not valid JSON: {error.msg}") from None
        try:
            yield from _expand(document, f"line {number}, ")
        except ExecutionRecordError as error:
            raise ExecutionFileError(f"{name} line {number}: {error}") from None


def _parse_all(name: str, located: Iterable[tuple[str, Any]]) -> Iterator[tuple[Any, Fill]]:
    for label, record in located:
        try:
            fill = fill_from_execution(record)
        except ExecutionRecordError as error:
            execution = record.get("execId") if isinstance(record, Mapping) else None
            which = f"{label} (execId {execution})" if isinstance(execution, str) and execution else label
            raise ExecutionFileError(f"{name}, {which}: {error}") from None
        yield record, fill


def read_fills(path: str | Path) -> Iterator[Fill]:
    """The fills of an execution file in file order, read as they are consumed: memory stays bounded whatever
    the file's length (see :func:`load_execution_file` for the formats). Raises :class:`ExecutionFileError`
    at the first record that cannot be used."""
    for _, fill in _parse_all(str(path), _read(path)):
        yield fill


def load_execution_file(path: str | Path) -> list[dict[str, Any]]:
    """The execution records of a file, every one checked to make a fill.

    Accepts a REST ``/v5/execution/list`` response (``retCode`` must be 0), a JSON list of records, an
    ``execution`` push, or JSON lines of any of those. REST records get the result's ``category``. Raises
    :class:`ExecutionFileError` with one sentence naming the file and the line or record.
    """
    return [dict(record) for record, _ in _parse_all(str(path), _read(path))]


def load_fills(path: str | Path) -> list[Fill]:
    """The fills of an execution file, in file order, as a list (see :func:`read_fills` to stream them)."""
    return list(read_fills(path))
