"""Cutting input into records for `charrnn score`: lines, NUL-terminated strings or paragraphs
(separated by empty lines), read from files and standard input as they arrive.

A record is yielded as soon as its end is read: reads return what a pipe holds now, never
wait to fill a buffer. A record is a str (a char-unit model's UTF-8 text), or bytes (a
byte-unit model's); a record longer than LONG_RECORD bytes is yielded as an iterator of its
pieces instead, so that one endless line does not have to fit in memory. Records are
numbered from 1 across all the inputs; each input's last record ends where the input does.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator, Sequence
from typing import BinaryIO

from ..errors import ConfigError, InputError
from .sources import BOM, STDIN, open_input, parts

RECORD_KINDS = ("line", "nul", "blank")
SEPARATORS = {"line": "\n", "nul": "\0", "blank": "\n\n"}  # what joins records when read as one stream
READ_SIZE = 1 << 16  # bytes asked of a read; a pipe gives what it has
LONG_RECORD = 1 << 20  # bytes: a record longer than this comes in pieces


def read_records(sources: Sequence[str], kind: str = "line", unit: str = "char", errors: str = "strict",
                 stdin: BinaryIO | None = None) -> Iterator:
    """The records of `sources` ("-" is standard input, read from `stdin`), in order: str for
    the char unit (UTF-8, a leading BOM dropped; bytes that are not UTF-8 are an InputError
    naming the record, unless `errors` is "replace"), bytes for the byte unit. `kind`: "line"
    (a line ends at \\n or \\r\\n; an empty line is an empty record), "nul" (a record ends
    at a NUL byte) or "blank" (paragraphs: one or more empty lines separate records, and
    there are no empty records)."""
    if kind not in RECORD_KINDS:
        raise ConfigError(f"records must be one of {', '.join(RECORD_KINDS)}, not {kind!r}", options=("records",))
    counter = _Counter()
    for part in parts(list(sources) or [STDIN], unit, errors):
        with open_input(part, stdin) as f:
            yield from _Reader(f, part.name, kind, unit, errors, counter).records()


class _Counter:
    """The number of the next record, across inputs."""

    def __init__(self):
        self.next = 1


class _Reader:
    """The records of one open input."""

    def __init__(self, f: BinaryIO, name: str, kind: str, unit: str, errors: str, counter: _Counter):
        self._read = getattr(f, "read1", f.read)
        self.name, self.kind, self.unit, self.errors, self.counter = name, kind, unit, errors, counter
        self.terminator = b"\0" if kind == "nul" else b"\n\n" if kind == "blank" else b"\n"
        self.buf = b""
        self.ended = False

    def _more(self) -> bool:
        """Read what the input has now into buf; False at its end."""
        if self.ended:
            return False
        try:
            data = self._read(READ_SIZE)
        except OSError as exc:
            raise InputError(f"cannot read {self.name}: {exc.strerror or exc}") from None
        self.buf += data
        self.ended = not data
        return bool(data)

    def records(self) -> Iterator:
        more = True
        while more and len(self.buf) < len(BOM):  # enough bytes to tell a BOM
            more = self._more()
        if self.unit == "char" and self.buf.startswith(BOM):
            self.buf = self.buf[len(BOM):]
        while True:
            pieces = self.buf.split(self.terminator)
            self.buf = pieces.pop()
            for piece in pieces:
                record = self._trimmed(piece)
                if record is not None:
                    yield self._decoded(record)
            if not more:
                last = self._trimmed(self.buf.rstrip(b"\n") if self.kind == "blank" else self.buf)
                if last:
                    yield self._decoded(last)
                return
            if len(self.buf) > LONG_RECORD:
                yield self._long_record()
            more = self._more()

    def _trimmed(self, piece: bytes) -> bytes | None:
        """A record's bytes without what belongs to its separator; None for no record (in a
        run of empty lines between paragraphs)."""
        if self.kind == "line":
            return piece[:-1] if piece.endswith(b"\r") else piece
        if self.kind == "blank":
            piece = piece.lstrip(b"\n")
            return piece or None
        return piece

    def _decoded(self, data: bytes):
        number = self.counter.next
        self.counter.next += 1
        if self.unit == "byte":
            return data
        return _Text(self, number).decode(data, final=True)

    def _long_record(self) -> Iterator:
        """The record that buf starts, which has no end yet, as pieces: buf, then what each
        read adds, up to the record's end (the rest stays in buf)."""
        number = self.counter.next
        self.counter.next += 1
        text = _Text(self, number)
        if self.kind == "blank":
            self.buf = self.buf.lstrip(b"\n")

        def pieces():
            while True:
                cut = self.buf.find(self.terminator)
                if cut >= 0:
                    data, self.buf = self._trimmed(self.buf[:cut]) or b"", self.buf[cut + len(self.terminator):]
                    yield text.decode(data, final=True) if self.unit == "char" else data
                    return
                # keep a possible half of the terminator or a "\r" for the next read
                keep = len(self.terminator) - 1 + (self.kind == "line")
                data, self.buf = self.buf[:len(self.buf) - keep], self.buf[len(self.buf) - keep:]
                if data:
                    yield text.decode(data, final=False) if self.unit == "char" else data
                if not self._more():
                    data, self.buf = self.buf, b""
                    data = data.rstrip(b"\n") if self.kind == "blank" else data
                    yield text.decode(data, final=True) if self.unit == "char" else data
                    return

        return pieces()


class _Text:
    """UTF-8 decoding of one record, whole or piece by piece; an InputError names the record."""

    def __init__(self, reader: _Reader, number: int):
        self.reader, self.number, self.offset = reader, number, 0
        errors = "replace" if reader.errors == "replace" else "strict"
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors)

    def decode(self, data: bytes, final: bool) -> str:
        pending = len(self._decoder.getstate()[0])
        try:
            text = self._decoder.decode(data, final)
        except UnicodeDecodeError as exc:
            raise InputError(f"{self.reader.name}: record {self.number} is not valid UTF-8: byte "
                             f"0x{exc.object[exc.start]:02x} at offset {self.offset - pending + exc.start} of the "
                             "record (errors replace reads it)", options=("errors",)) from None
        self.offset += len(data)
        return text
