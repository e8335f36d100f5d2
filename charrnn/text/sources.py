"""Reading text input: files, directories of files, standard input and other streams (pipes,
process substitution, devices), as UTF-8 or, for byte-unit models, as raw bytes; streamed in
CHUNK-byte pieces, so nothing here holds a whole input in memory.

A source given by the user is a path or "-" (standard input). A directory stands for its text
files, sorted, leaving out hidden ones and the run folders charrnn writes (a run's metrics and
id cache are not training text). A regular file can be read as often as needed; anything else
(standard input, a FIFO, /dev/stdin, `<(cmd)`) can be read only once, so whoever needs two
passes spools it (see data/idcache.py).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..errors import InputError, OutputError
from .vocab import code_points, symbols_of

BOM = b"\xef\xbb\xbf"
_SNIFF = 8192  # bytes looked at to tell a text file from a binary one inside a directory
CHUNK = 1 << 22  # bytes read at a time: bounds the memory a pass needs
STDIN = "-"
_SHOWN = 8  # file names a message about a directory lists, of those read and of those skipped
_WAYS_OUT = {"errors": "errors replace", "unit": "unit byte"}  # the options that read any bytes


def _way_out(options: tuple[str, ...]) -> str:
    """' (errors replace or unit byte reads it)', for the options a caller offers."""
    return f" ({' or '.join(_WAYS_OUT[o] for o in options)} reads it)" if options else ""


@dataclass(frozen=True)
class Part:
    """One input to read: a file (`path`), or standard input (`path` None). `once` when it
    is a stream that cannot be read twice."""

    name: str
    path: Path | None
    once: bool


def decode_utf8(data: bytes, name: str, errors: str = "strict", hint: str = "") -> str:
    """UTF-8 with a leading BOM dropped; InputError naming `name` and the byte offset (the
    BOM counted) of a NUL byte or, unless `errors` is "replace", of a byte that is not UTF-8
    (then followed by `hint`)."""
    nul = data.find(b"\x00")
    if nul >= 0:
        raise InputError(f"{name} looks binary (NUL byte at offset {nul}); charrnn trains on text")
    start = len(BOM) if data.startswith(BOM) else 0
    try:
        return data[start:].decode("utf-8", errors)
    except UnicodeDecodeError as exc:
        offset = start + exc.start
        raise InputError(f"{name} is not valid UTF-8: byte 0x{data[offset]:02x} at offset {offset}{hint}") from None


def read_limited(f: BinaryIO, limit: int, name: str) -> bytes:
    """At most `limit` bytes of `f`; InputError naming `name` when there are more."""
    try:
        data = f.read(limit + 1)
    except OSError as exc:
        raise InputError(f"cannot read {name}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise InputError(f"{name} is larger than {limit:,} bytes")
    return data


def _binary(path: Path, unit: str, errors: str = "strict") -> str | None:
    """Why a file inside a directory is not read as text (None when it is read)."""
    try:
        with open(path, "rb") as f:
            head = f.read(_SNIFF)
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"
    if b"\x00" in head:
        return "binary: a NUL byte in its first 8 KiB"
    if unit == "byte" or errors == "replace":
        return None
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        cut = len(head) == _SNIFF and exc.start >= len(head) - 3  # a character cut by the sniff window
        return None if cut else "not UTF-8 in its first 8 KiB"
    return None


def scan_directory(directory: Path, unit: str = "char", errors: str = "strict"
                   ) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The regular files under `directory` that look like text, in sorted path order, and
    what was left out, with why: hidden files and folders, charrnn's run folders, and files
    that look binary (NUL bytes in their first 8 KiB, or for the char unit with strict
    `errors` invalid UTF-8 there)."""
    from ..runs.rundir import is_run_folder

    found, skipped = [], []
    for root, dirs, names in os.walk(directory):
        kept = []
        for d in sorted(dirs):
            if d.startswith("."):
                skipped.append((Path(root) / d, "a hidden folder"))
            elif is_run_folder(Path(root) / d):
                skipped.append((Path(root) / d, "a charrnn run folder"))
            else:
                kept.append(d)
        dirs[:] = kept
        for name in names:
            path = Path(root) / name
            why = ("hidden" if name.startswith(".") else None if path.is_file() else "not a regular file") \
                or _binary(path, unit, errors)
            if why is None:
                found.append(path)
            else:
                skipped.append((path, why))
    return sorted(found), sorted(skipped)


def describe_directory(directory: Path, files: list[Path], skipped: list[tuple[Path, str]]) -> str:
    """'read 2 files of notes: a.txt, b.md; skipped 1: binary.bin (binary: ...)', names
    relative to the directory, at most _SHOWN of each."""
    read = _names([str(f.relative_to(directory)) for f in files])
    text = f"read {len(files)} file{'s' if len(files) != 1 else ''} of {directory}: {read}"
    return text + (f"; {_skipped(directory, skipped)}" if skipped else "")


def _skipped(directory: Path, skipped: list[tuple[Path, str]]) -> str:
    return f"skipped {len(skipped)}: " + _names([f"{p.relative_to(directory)} ({why})" for p, why in skipped])


def _names(names: list[str]) -> str:
    more = f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else ""
    return ", ".join(names[:_SHOWN]) + more


def parts(sources: Sequence[str], unit: str = "char", errors: str = "strict",
          on_directory: Callable[[str], None] | None = None) -> list[Part]:
    """The inputs `sources` stand for, in order (a directory: its text files, sorted, and
    `on_directory` told which were read and which skipped). InputError for a missing file
    or a directory without text files."""
    if not sources:
        raise InputError("no input given")
    found: list[Part] = []
    for source in sources:
        if source == STDIN:
            found.append(Part("standard input", None, True))
            continue
        path = Path(source)
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            raise InputError(f"no such file: {path}") from None
        except OSError as exc:
            raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
        if stat.S_ISDIR(mode):
            files, skipped = scan_directory(path, unit, errors)
            if not files:
                raise InputError(f"{path} has no text files" + (f" ({_skipped(path, skipped)})" if skipped else ""))
            if on_directory is not None:
                on_directory(describe_directory(path, files, skipped))
            found.extend(Part(str(f), f, False) for f in files)
        else:
            found.append(Part(str(path), path, not stat.S_ISREG(mode)))
    return found


def text_stream(text: str, unit: str, errors: str = "strict") -> BinaryIO:
    """A str given to train on (`train(text=...)`) as the stream of its UTF-8, checked first so
    that a message names it as the caller holds it: "text", and an index into the str where a
    stream's would be a byte offset. InputError when it is empty, holds a NUL (char unit), or
    holds a lone surrogate, which has no UTF-8 (with `errors` "replace", it becomes U+FFFD)."""
    import io
    import re

    if not text:
        raise InputError("text is empty")
    nul = text.find("\x00")
    if nul >= 0 and unit == "char":
        raise InputError(f"text looks binary (NUL at index {nul}); charrnn trains on text (unit byte takes any)",
                         options=("unit",))
    surrogate = re.search("[\ud800-\udfff]", text)
    if surrogate is not None:
        if errors != "replace":
            ways_out = ("errors",) if unit == "char" else ()
            raise InputError(f"text holds a lone surrogate, U+{ord(surrogate[0]):04X} at index {surrogate.start()}, "
                             f"which is not a character{_way_out(ways_out)}", options=ways_out)
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return io.BytesIO(text.encode("utf-8"))


def empty_error(sources: Sequence[str]) -> InputError:
    name = sources[0] if len(sources) == 1 else "the input"
    return InputError(f"{'standard input' if name == STDIN else name} is empty")


def open_input(part: Part, stdin: BinaryIO | None) -> BinaryIO:
    """The part opened for reading; standard input is lent, not closed when the caller's
    `with` ends."""
    if part.path is None:
        if stdin is None:
            raise InputError("standard input is not available")
        return _Borrowed(stdin)
    try:
        return open(part.path, "rb")
    except FileNotFoundError:
        raise InputError(f"no such file: {part.name}") from None
    except IsADirectoryError:
        raise InputError(f"{part.name} is a directory") from None
    except OSError as exc:
        raise InputError(f"cannot read {part.name}: {exc.strerror or exc}") from None


class _Borrowed:
    """A stream used in a `with` block that must stay open afterwards (standard input)."""

    def __init__(self, stream: BinaryIO):
        self._stream = stream

    def __enter__(self):
        return self._stream

    def __exit__(self, *exc):
        return False


def complete_prefix(data: bytes) -> int:
    """The length of `data` without a UTF-8 sequence its end cuts short."""
    n = len(data)
    for back in range(1, min(4, n) + 1):
        byte = data[n - back]
        if byte < 0x80:
            return n
        if byte >= 0xC0:  # a lead byte: how long its sequence is
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return n - back if back < need else n
    return n


def part_symbols(f: BinaryIO, name: str, unit: str, tee: BinaryIO | None = None,
                 progress: Callable[[int], None] | None = None, errors: str = "strict",
                 ways_out: tuple[str, ...] = ("errors", "unit")) -> Iterator[np.ndarray]:
    """Symbols (code points, or byte values) of one open input, CHUNK bytes at a time. For
    the char unit: UTF-8 with a leading BOM dropped; a sequence cut by a chunk's end is
    carried into the next chunk; errors name the byte offset in the input and the options
    `ways_out` that would read it, unless `errors` is "replace" (then bytes that are not
    UTF-8 become U+FFFD). What is read is also written to `tee`, when given."""
    carry, pos, first = b"", 0, True  # pos: the input's offset of carry[0]
    while True:
        try:
            data = f.read(CHUNK)
        except OSError as exc:
            raise InputError(f"cannot read {name}: {exc.strerror or exc}") from None
        if tee is not None and data:
            write(tee, data)
        if progress is not None and data:
            progress(len(data))
        if unit == "byte":
            if not data:
                return
            yield np.frombuffer(data, dtype=np.uint8)
            continue
        if first and data.startswith(BOM):
            data, pos = data[len(BOM):], len(BOM)
        first = False
        nul = data.find(b"\x00")
        if nul >= 0:
            raise InputError(f"{name} looks binary (NUL byte at offset {pos + len(carry) + nul}); charrnn "
                             "trains on text (unit byte takes any file)", options=("unit",))
        if not data:
            if carry and errors == "replace":
                yield code_points(carry.decode("utf-8", "replace"))
            elif carry:
                raise InputError(f"{name} is not valid UTF-8: byte 0x{carry[0]:02x} at offset {pos} "
                                 f"(the file ends inside a character){_way_out(ways_out)}", options=ways_out)
            return
        buf = carry + data
        cut = complete_prefix(buf)
        try:
            text = buf[:cut].decode("utf-8", errors)
        except UnicodeDecodeError as exc:
            raise InputError(f"{name} is not valid UTF-8: byte 0x{buf[exc.start]:02x} at offset "
                             f"{pos + exc.start}{_way_out(ways_out)}", options=ways_out) from None
        carry, pos = buf[cut:], pos + cut
        yield code_points(text)


def symbols(inputs: Sequence[Part], unit: str, separator: str, stdin: BinaryIO | None = None,
            progress: Callable[[int], None] | None = None, errors: str = "strict",
            spools: dict[int, Path] | None = None, ways_out: tuple[str, ...] = ("errors", "unit")
            ) -> Iterator[np.ndarray]:
    """Symbols of the inputs joined by `separator`, chunk by chunk (see part_symbols).
    `spools` maps the index of an input that can be read only once to a file: the first
    pass (no such file yet) copies the input there as it reads it, a later pass reads the
    copy."""
    sep = symbols_of(separator, unit)
    spools = spools or {}
    for index, part in enumerate(inputs):
        if index and sep.size:
            yield sep
        spool = spools.get(index)
        if spool is not None and spool.exists():
            with open_input(Part(part.name, spool, False), None) as f:
                yield from part_symbols(f, part.name, unit, None, progress, errors, ways_out)
        elif spool is not None:
            with open_input(part, stdin) as f, open_output(spool) as tee:
                yield from part_symbols(f, part.name, unit, tee, progress, errors, ways_out)
        else:
            with open_input(part, stdin) as f:
                yield from part_symbols(f, part.name, unit, None, progress, errors, ways_out)


def read_text(sources: Sequence[str], stdin: BinaryIO | None = None, separator: str = "\n",
              errors: str = "strict") -> str:
    """The whole text of `sources` joined by `separator` (for small inputs and tests; training
    and scoring stream instead). `errors`: see part_symbols."""
    inputs = parts(sources, errors=errors)
    pieces = list(symbols(inputs, "char", separator, stdin, errors=errors, ways_out=("errors",)))
    text = np.concatenate(pieces).astype("<u4").tobytes().decode("utf-32-le", "surrogatepass") if pieces else ""
    if not text:
        raise empty_error(sources)
    return text


def open_output(path: Path) -> BinaryIO:
    try:
        return open(path, "wb")
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None


def write(f: BinaryIO, data) -> None:
    try:
        f.write(data)
    except OSError as exc:
        raise OutputError(f"cannot write {f.name}: {exc.strerror or exc}") from None
