"""Scoring records: a score per record (a line, a string, a paragraph), for many records at a
time and as a stream, each written as soon as it is scored.

What is predicted from what is what `charrnn eval` does with a text: the model reads a record
from its zero state, and every symbol after the first is predicted (context "reset"); or it
reads the records as one stream joined by a separator, carrying its state across them, and
each record gets the scores of its own symbols (context "carry"; the stream's first symbol is
only context, the separators are read but not scored). Symbols the model lacks follow the one
rule of Vocab.scoring_ids: left out of what the model reads (or read as the unknown symbol) and
counted. A record is scored to find what is odd, so a symbol left out is not free: it costs
UNKNOWN_NATS[unit], what it takes to name one symbol among all the unit's possible ones (all
of Unicode's code points, 20.1 bits; all byte values, 8 bits), and counts among the record's
symbols. A record of symbols the model has never seen then scores far above any it knows.

Reset context is batched: up to MAX_LANES records run side by side as the streams of one
batch, through the forward products training uses (Model.log_probs), WINDOW symbols at a time;
a lane whose record ends takes the next record with a zero state at the next window. A long
record takes as many windows as it needs with its state carried, so memory does not grow
with a record's length, and a record given in pieces is scored as its pieces arrive.

The records are read on a thread of their own, at most READ_AHEAD symbols ahead: the scorer
takes whatever has arrived, so a record waiting on more input holds back none before it.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError
from ..model.network import Model
from ..text.vocab import SPACE, Vocab, symbols_of
from .predictions import windows

log = logging.getLogger("charrnn")

CONTEXTS = ("reset", "carry")
WINDOW = 16  # symbols per lane per window, reset context: a record's padding is under WINDOW symbols
LONE_WINDOW = 256  # per window when one lane is left with a long record
MAX_LANES = 256  # records scored side by side
UNKNOWN_NATS = {unit: math.log(size) for unit, size in SPACE.items()}  # a symbol the model lacks
READ_AHEAD = 1 << 20  # symbols read ahead of the scorer
TEXT_LIMIT = 1 << 20  # characters of a record given in pieces kept for its `text`


@dataclass
class _Record:
    """A record on its way: its ids so far (those not yet read by the model), whether they
    are all there, and its score so far."""

    number: int
    text: list[str] = field(default_factory=list)
    text_chars: int = 0
    text_cut: bool = False
    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    ended: bool = False
    seen: int = 0  # ids given so far
    nats: float = 0.0
    scored: int = 0
    unknown: int = 0
    missing: set = field(default_factory=set)  # distinct symbols the model lacks

    def add(self, text, ids: np.ndarray, unknown: int, missing: list, ended: bool) -> None:
        if self.text_chars < TEXT_LIMIT:
            piece = text[:TEXT_LIMIT - self.text_chars]
            self.text.append(piece)
            self.text_chars += len(piece)
            self.text_cut = self.text_cut or len(piece) < len(text)
        else:
            self.text_cut = self.text_cut or len(text) > 0
        self.ids = np.concatenate([self.ids, ids]) if self.ids.size else ids
        self.seen += ids.size
        self.unknown += unknown
        self.missing.update(missing)
        self.ended = ended


def check_records(records, context: str, separator: str) -> None:
    if isinstance(records, (str, bytes, bytearray)) or not isinstance(records, Iterable):
        raise ConfigError(f"records must be an iterable of records (str), not {type(records).__name__}",
                          options=("records",))
    if context not in CONTEXTS:
        raise ConfigError(f"context must be one of {', '.join(CONTEXTS)}, not {context!r}", options=("context",))
    if not isinstance(separator, str):
        raise ConfigError(f"separator must be a str, not {type(separator).__name__}", options=("separator",))


def score_records(model: Model, vocab: Vocab, records: Iterable, context: str = "reset",
                  separator: str = "\n") -> Iterator[dict]:
    """One result per record of `records`, in order, each as soon as it is scored (see the
    module's docstring and LanguageModel.score_records)."""
    check_records(records, context, separator)
    reader = _ReadAhead(records, vocab)
    scorer = _Lanes(model) if context == "reset" else _Stream(model, vocab, separator)
    notice = _UnknownNotice(vocab)
    try:
        for record in scorer.run(reader):
            notice.record(record)
            yield _result(record, vocab)
    finally:
        reader.close()


def _result(record: _Record, vocab: Vocab) -> dict:
    left_out = record.unknown if vocab.unknown is None else 0  # else read and scored as the unknown symbol
    nats = record.nats + left_out * UNKNOWN_NATS[vocab.unit]
    symbols = record.scored + left_out
    bits = nats / symbols / math.log(2) if symbols else None
    result = {"record": record.number, f"bits_per_{vocab.unit}": bits, "nats": nats, f"{vocab.unit}s": symbols,
              "unknown": record.unknown, "text": "".join(record.text)}
    if record.text_cut:
        result["text_cut"] = True
    return result


class _UnknownNotice:
    """One notice, at the first record with symbols the model lacks."""

    def __init__(self, vocab: Vocab):
        self.vocab = vocab
        self.given = False

    def record(self, record: _Record) -> None:
        if record.unknown and not self.given:
            self.given = True
            what = self.vocab.describe_missing(sorted(record.missing))
            rule = ("read as its unknown symbol" if self.vocab.unknown is not None
                    else f"left out of what the model reads and cost {UNKNOWN_NATS[self.vocab.unit]:.2f} nats each")
            log.warning(f"record {record.number} {what.removeprefix('text ')}; such symbols are {rule}, "
                        "counted in `unknown`")


# ---- reading ahead ------------------------------------------------------------------------------

_END = object()


class _ReadAhead:
    """Events (number, text, ids, unknown, missing, ended) of the records, read on a thread:
    `take` returns those that have arrived (waiting for one only when asked to). An error
    while reading is raised by `take` after the events before it."""

    def __init__(self, records: Iterable, vocab: Vocab):
        self.vocab = vocab
        self._events: deque = deque()
        self._symbols = 0
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._read, args=(records,), daemon=True,
                                        name="charrnn-score-reader")
        self._thread.start()

    def _put(self, event, size: int = 0) -> None:
        with self._cond:
            while self._symbols and self._symbols + size > READ_AHEAD and not self._closed:
                self._cond.wait()
            if self._closed:
                raise _Closed
            self._events.append(event)
            self._symbols += size
            self._cond.notify_all()

    def _convert(self, number: int, piece, ended: bool):
        unit = self.vocab.unit
        if isinstance(piece, str):
            text = piece
        elif unit == "byte" and isinstance(piece, (bytes, bytearray)):
            text = bytes(piece).decode("utf-8", "surrogateescape")
        else:
            kind = "str or bytes" if unit == "byte" else "str"
            raise ConfigError(f"records must hold {kind} (or iterables of {kind}, a record in pieces); record "
                              f"{number} is {type(piece).__name__}", options=("records",))
        if isinstance(piece, (bytes, bytearray)):
            symbols = symbols_of(piece, unit)
        else:
            symbols = symbols_of(text.encode("utf-8", "surrogateescape") if unit == "byte" else text, unit)
        ids, unknown = self.vocab.scoring_ids(symbols)
        missing = self.vocab.missing_symbols(symbols) if unknown else []
        return (number, text, ids, unknown, missing, ended), ids.size

    def _read(self, records: Iterable) -> None:
        try:
            for number, item in enumerate(records, 1):
                if isinstance(item, (str, bytes, bytearray)):
                    self._put(*self._convert(number, item, True))
                    continue
                if not isinstance(item, Iterable):
                    self._convert(number, item, True)  # the error naming what it is
                for piece in item:
                    self._put(*self._convert(number, piece, False))
                self._put((number, "", np.zeros(0, np.int32), 0, [], True))
            self._put(_END)
        except _Closed:
            return
        except BaseException as exc:  # raised by take(), in order, on the scorer's thread
            try:
                self._put(exc)
            except _Closed:
                return

    def take(self, wait: bool) -> list:
        """The events that have arrived (at least one when `wait`)."""
        with self._cond:
            while wait and not self._events:
                self._cond.wait()
            events = list(self._events)
            self._events.clear()
            self._symbols = 0
            self._cond.notify_all()
        return events

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class _Closed(Exception):
    """The scorer stopped reading."""


# ---- reset context: records side by side ----------------------------------------------------------

class _Lanes:
    """Records scored side by side, each from a zero state (see the module's docstring)."""

    def __init__(self, model: Model):
        self.model = model
        cfg = model.config
        self.states = np.zeros((cfg.layers, cfg.n_states, MAX_LANES, cfg.hidden), model.dtype)
        self.lanes: list[_Record | None] = [None] * MAX_LANES
        self.waiting: deque[_Record] = deque()  # records not in a lane yet, in order
        self.done: dict[int, _Record] = {}
        self.next_number = 1

    def run(self, reader: _ReadAhead) -> Iterator[_Record]:
        open_record: _Record | None = None  # the record whose pieces are still coming
        finished = False
        error: BaseException | None = None
        while True:
            self._fill_lanes()
            ready = self._ready()
            must_wait = not ready and not self._yieldable()
            if error is None and not finished and (must_wait or self._pending() < READ_AHEAD):
                for event in reader.take(wait=must_wait):
                    if isinstance(event, BaseException):  # raised once the records before it are scored
                        error = event
                        self._drop(open_record)
                        break
                    if event is _END:
                        finished = True
                        continue
                    open_record = self._add(event, open_record)
                self._fill_lanes()
                ready = self._ready()
            if ready:
                self._window(ready)
            yield from self._in_order()
            if not ready and not self._busy() and (finished or error is not None):
                if error is not None:
                    raise error
                return

    def _drop(self, record: _Record | None) -> None:
        """Forget a record that will never end (its input failed)."""
        if record is None:
            return
        if record in self.waiting:
            self.waiting.remove(record)
        self.lanes = [None if lane is record else lane for lane in self.lanes]

    def _add(self, event, open_record: _Record | None) -> _Record | None:
        number, text, ids, unknown, missing, ended = event
        record = open_record if open_record is not None and open_record.number == number else None
        if record is None:
            record = _Record(number)
            self.waiting.append(record)
        record.add(text, ids, unknown, missing, ended)
        return None if ended else record

    def _pending(self) -> int:
        """Symbols taken from the reader and not yet read by the model (bounded by READ_AHEAD,
        and by what one window reads, so that memory does not grow with the input)."""
        return sum(r.ids.size for r in self.waiting) + sum(r.ids.size for r in self.lanes if r is not None)

    def _busy(self) -> bool:
        return bool(self.waiting) or any(lane is not None for lane in self.lanes)

    def _yieldable(self) -> bool:
        return self.next_number in self.done

    def _fill_lanes(self) -> None:
        """Records that predict nothing are done at once; the others take free lanes."""
        while self.waiting:
            record = self.waiting[0]
            if record.ended and record.seen < 2:
                self.waiting.popleft()
                self.done[record.number] = record
                continue
            free = next((b for b, lane in enumerate(self.lanes) if lane is None), None)
            if free is None:
                return
            self.waiting.popleft()
            self.lanes[free] = record
            self.states[:, :, free] = 0

    def _ready(self) -> list[int]:
        """Lanes that can run a window: their record has ended, or has a window's worth of
        symbols (and the one to predict after them) not yet read."""
        return [b for b, lane in enumerate(self.lanes)
                if lane is not None and (lane.ended or lane.ids.size > WINDOW)]

    def _window(self, ready: list[int]) -> None:
        lanes = [self.lanes[b] for b in ready]
        T = LONE_WINDOW if len(ready) == 1 and lanes[0].ids.size > LONE_WINDOW else WINDOW
        B = 1 << (len(ready) - 1).bit_length()  # a few window shapes, so a few workspaces
        x = np.zeros((T, B), np.int32)
        y = np.zeros((T, B), np.int32)
        counts = np.zeros(B, np.int64)
        for k, record in enumerate(lanes):
            n = max(0, min(T, record.ids.size - 1))
            x[:n, k], y[:n, k] = record.ids[:n], record.ids[1:n + 1]
            counts[k] = n
        state = np.zeros(self.states.shape[:2] + (B,) + self.states.shape[3:], self.states.dtype)
        state[:, :, :len(ready)] = self.states[:, :, ready]
        log_probs = self.model.log_probs(x, state)
        nats = -np.take_along_axis(log_probs, y[:, :, None], axis=2)[:, :, 0].astype(np.float64)
        nats[np.arange(T)[:, None] >= counts[None, :]] = 0.0
        totals = nats.sum(axis=0)
        self.states[:, :, ready] = state[:, :, :len(ready)]
        for k, (b, record) in enumerate(zip(ready, lanes)):
            n = int(counts[k])
            record.nats += float(totals[k])
            record.scored += n
            record.ids = record.ids[n:]
            if record.ended and record.ids.size < 2:
                self.lanes[b] = None
                self.done[record.number] = record

    def _in_order(self) -> Iterator[_Record]:
        while self.next_number in self.done:
            yield self.done.pop(self.next_number)
            self.next_number += 1


# ---- carry context: one stream ----------------------------------------------------------------------

class _Stream:
    """The records read as one stream joined by `separator`, the state carried across them.
    The stream runs in windows of up to LONE_WINDOW symbols; when no more input has arrived,
    what is pending runs at once, in windows of powers of two (a few shapes)."""

    def __init__(self, model: Model, vocab: Vocab, separator: str):
        self.model = model
        self.state = model.zero_state(1)
        self.separator = vocab.scoring_ids(symbols_of(separator, vocab.unit))[0]
        self.ids = np.zeros(0, np.int32)  # not yet read; ids[0] is the last symbol read (context)
        self.owners = np.zeros(0, np.int64)  # the record each of ids[1:] belongs to (-1: a separator)
        self.records: deque[_Record] = deque()  # records not yet scored to their end, in order
        self.started = False

    def run(self, reader: _ReadAhead) -> Iterator[_Record]:
        finished = False
        record: _Record | None = None
        while not finished:
            for event in reader.take(wait=True):
                if isinstance(event, BaseException):  # raised once the records before it are scored
                    self._flush()
                    yield from self._scored()
                    raise event
                if event is _END:
                    finished = True
                    continue
                number, text, ids, unknown, missing, ended = event
                if record is None:
                    record = _Record(number)
                    self.records.append(record)
                    if self.started:
                        self._append(self.separator, -1)
                    self.started = True
                self._append(ids, number)
                record.add(text, ids, unknown, missing, ended)
                if ended:
                    record = None
                while self.ids.size > LONE_WINDOW:
                    self._run(LONE_WINDOW)
                yield from self._scored()
            self._flush()
            yield from self._scored()

    def _append(self, ids: np.ndarray, owner: int) -> None:
        if not ids.size:
            return
        if not self.ids.size:  # the stream's first symbol is only context
            self.ids, ids = ids[:1], ids[1:]
        self.ids = np.concatenate([self.ids, ids])
        self.owners = np.concatenate([self.owners, np.full(ids.size, owner, np.int64)])

    def _flush(self) -> None:
        for T in windows(self.ids.size - 1, LONE_WINDOW):
            self._run(T)

    def _run(self, T: int) -> None:
        x = self.ids[:T].reshape(T, 1)
        y = self.ids[1:T + 1].reshape(T, 1)
        nats = -np.take_along_axis(self.model.log_probs(np.ascontiguousarray(x), self.state), y[:, :, None],
                                   axis=2)[:, 0, 0].astype(np.float64)
        owners = self.owners[:T]
        for record in self.records:
            mine = owners == record.number
            if mine.any():
                record.nats += float(nats[mine].sum())
                record.scored += int(mine.sum())
        self.ids, self.owners = self.ids[T:], self.owners[T:]

    def _scored(self) -> Iterator[_Record]:
        """Records that have ended and whose every symbol is scored."""
        while self.records and self.records[0].ended and not (self.owners == self.records[0].number).any():
            yield self.records.popleft()

