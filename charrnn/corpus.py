"""Reading text input: files, directories of files, or standard input, as strict UTF-8 (or as
raw bytes for byte-unit models); and the id cache that lets training read a corpus larger
than memory; and the public corpora `charrnn corpus` downloads.

The id cache is a folder (a run directory's cache/) holding ids.bin, the corpus encoded once
as raw little-endian uint8/uint16/uint32 ids (the smallest type the vocabulary fits), and
ids.json, which says what it was made from: each source file's resolved path, size,
modification time and the sha256 of its first MiB, the unit, separator and vocabulary, and
the ids' count and sha256 (the data fingerprint a resumed run is checked against). Training
memory-maps ids.bin. Encoding streams: the sources are read CHUNK bytes at a time, once to
count the symbols (the vocabulary) and once to write the ids; standard input, which cannot be
read twice, is spooled to the cache folder on the first pass.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .errors import CheckpointError, ConfigError, InputError, OutputError
from .vocab import SPACE, Vocab, code_points, id_dtype, symbols_of

BOM = b"\xef\xbb\xbf"
_SNIFF = 8192  # bytes looked at to tell a text file from a binary one inside a directory
CHUNK = 1 << 22  # bytes read at a time while encoding: bounds the memory a pass needs
HEAD = 1 << 20  # bytes of each source file hashed to tell whether it changed
CACHE_VERSION = 1
_WAY_OUT = " (--errors replace or --unit byte reads it)"
IDS, MANIFEST, SPOOL = "ids.bin", "ids.json", "stdin.spool"
STDIN = "-"


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


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise InputError(f"{path} is a directory") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None


def _looks_binary(path: Path, unit: str, errors: str = "strict") -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(_SNIFF)
    except OSError:
        return True
    if b"\x00" in head:
        return True
    if unit == "byte" or errors == "replace":
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        cut = len(head) == _SNIFF and exc.start >= len(head) - 3  # a character cut by the sniff window
        return not cut
    return False


def directory_files(directory: Path, unit: str = "char", errors: str = "strict") -> list[Path]:
    """Regular files under `directory` that look like text, in sorted path order. Hidden
    files and folders are skipped, and so are files that look binary: NUL bytes in their
    first 8 KiB, or for the char unit with strict `errors` invalid UTF-8 there."""
    found = []
    for root, dirs, names in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in names:
            path = Path(root) / name
            if not name.startswith(".") and path.is_file() and not _looks_binary(path, unit, errors):
                found.append(path)
    return sorted(found)


def _parts(sources: Sequence[str], unit: str = "char", errors: str = "strict") -> list[Path | None]:
    """The files `sources` stand for, in order (a directory: its text files, sorted); None
    for standard input. InputError for a missing file or a directory without text files."""
    if not sources:
        raise InputError("no input given")
    parts: list[Path | None] = []
    for source in sources:
        if source == STDIN:
            parts.append(None)
            continue
        path = Path(source)
        if path.is_dir():
            files = directory_files(path, unit, errors)
            if not files:
                raise InputError(f"{path} has no text files")
            parts.extend(files)
        elif not path.exists():
            raise InputError(f"no such file: {path}")
        else:
            parts.append(path)
    return parts


def _name(part: Path | None) -> str:
    return "standard input" if part is None else str(part)


def _empty_error(sources: Sequence[str]) -> InputError:
    name = sources[0] if len(sources) == 1 else "the input"
    return InputError(f"{'standard input' if name == STDIN else name} is empty")


def _read_part(part: Path | None, stdin: BinaryIO | None) -> bytes:
    if part is None:
        if stdin is None:
            raise InputError("standard input is not available")
        return stdin.read()
    return _read_bytes(part)


def read_text(sources: Sequence[str], stdin: BinaryIO | None = None, separator: str = "\n",
              errors: str = "strict") -> str:
    """The text of every source joined by `separator`. A source is a file, a directory (its
    text files, see directory_files) or "-" for `stdin`. `errors`: see decode_utf8."""
    parts = _parts(sources, errors=errors)
    hint = " (--errors replace reads it)"
    text = separator.join(decode_utf8(_read_part(part, stdin), _name(part), errors, hint) for part in parts)
    if not text:
        raise _empty_error(sources)
    return text


def read_bytes(sources: Sequence[str], stdin: BinaryIO | None = None, separator: str = "\n") -> bytes:
    """The bytes of every source, as they are, joined by `separator` in UTF-8 (for models
    whose unit is the byte)."""
    data = separator.encode("utf-8").join(_read_part(part, stdin) for part in _parts(sources, "byte"))
    if not data:
        raise _empty_error(sources)
    return data


# ---- streaming ------------------------------------------------------------------------------

def _complete_prefix(data: bytes) -> int:
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


def _part_symbols(f: BinaryIO, name: str, unit: str, tee: BinaryIO | None,
                  progress: Callable[[int], None] | None, errors: str = "strict") -> Iterator[np.ndarray]:
    """Symbols (code points, or byte values) of one open source, CHUNK bytes at a time. For
    the char unit: UTF-8 with a leading BOM dropped; a sequence cut by a chunk's end is
    carried into the next chunk; errors name the byte offset in the source, unless `errors`
    is "replace" (then bytes that are not UTF-8 become U+FFFD)."""
    carry, pos, first = b"", 0, True  # pos: the source's offset of carry[0]
    while True:
        try:
            data = f.read(CHUNK)
        except OSError as exc:
            raise InputError(f"cannot read {name}: {exc.strerror or exc}") from None
        if tee is not None and data:
            _write(tee, data)
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
                             "trains on text (--unit byte takes any file)")
        if not data:
            if carry and errors == "replace":
                yield code_points(carry.decode("utf-8", "replace"))
            elif carry:
                raise InputError(f"{name} is not valid UTF-8: byte 0x{carry[0]:02x} at offset {pos} "
                                 f"(the file ends inside a character){_WAY_OUT}")
            return
        buf = carry + data
        cut = _complete_prefix(buf)
        try:
            text = buf[:cut].decode("utf-8", errors)
        except UnicodeDecodeError as exc:
            raise InputError(f"{name} is not valid UTF-8: byte 0x{buf[exc.start]:02x} at offset "
                             f"{pos + exc.start}{_WAY_OUT}") from None
        carry, pos = buf[cut:], pos + cut
        yield code_points(text)


def _symbols(parts: list[Path | None], unit: str, separator: str, stdin: BinaryIO | None,
             spool: Path | None, progress: Callable[[int], None] | None,
             errors: str = "strict") -> Iterator[np.ndarray]:
    """Symbols of the sources joined by `separator`, chunk by chunk. Standard input is copied
    to `spool` as it is read, when given; a part None read from a spool that exists already
    is standard input read before."""
    sep = symbols_of(separator, unit)
    for index, part in enumerate(parts):
        if index and sep.size:
            yield sep
        name = _name(part)
        if part is None and spool is not None and spool.exists():
            with _open_input(spool, name) as f:
                yield from _part_symbols(f, name, unit, None, progress, errors)
        elif part is None:
            if stdin is None:
                raise InputError("standard input is not available")
            if spool is None:
                yield from _part_symbols(stdin, name, unit, None, progress, errors)
                continue
            with _open_output(spool) as tee:
                yield from _part_symbols(stdin, name, unit, tee, progress, errors)
        else:
            with _open_input(part, name) as f:
                yield from _part_symbols(f, name, unit, None, progress, errors)


def _open_input(path: Path, name: str):
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise InputError(f"no such file: {name}") from None
    except IsADirectoryError:
        raise InputError(f"{name} is a directory") from None
    except OSError as exc:
        raise InputError(f"cannot read {name}: {exc.strerror or exc}") from None


def _open_output(path: Path):
    try:
        return open(path, "wb")
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None


def _write(f: BinaryIO, data) -> None:
    try:
        f.write(data)
    except OSError as exc:
        raise OutputError(f"cannot write {f.name}: {exc.strerror or exc}") from None


# ---- the id cache -----------------------------------------------------------------------------

@dataclass(frozen=True)
class EncodedText:
    """A corpus as ids: `ids` is memory-mapped from the cache (1-D, uint8/16/32); `fingerprint`
    identifies the data for --resume; `reused` says whether the cache was valid already."""

    ids: np.ndarray
    vocab: Vocab
    fingerprint: dict
    reused: bool
    path: Path


def _signature(part: Path | None) -> dict | None:
    """What tells whether a source changed: its path, size, modification time and the hash of
    its first HEAD bytes. None for standard input, which is read anew every time."""
    if part is None:
        return None
    try:
        stat = part.stat()
        with open(part, "rb") as f:
            head = hashlib.sha256(f.read(HEAD)).hexdigest()
    except OSError as exc:
        raise InputError(f"cannot read {part}: {exc.strerror or exc}") from None
    return dict(path=str(part.resolve()), size=stat.st_size, mtime_ns=stat.st_mtime_ns, head_sha256=head)


def _cached(cache: Path, signatures: list, unit: str, separator: str, errors: str, vocab: Vocab | None,
            min_count: int) -> EncodedText | None:
    """The cache's ids when they were made from these very sources with these settings."""
    if None in signatures:
        return None
    try:
        manifest = json.loads((cache / MANIFEST).read_text(encoding="utf-8"))
        made = (manifest["version"], manifest["unit"], manifest["separator"], manifest.get("errors", "strict"),
                manifest["sources"])
        if made != (CACHE_VERSION, unit, separator, errors, signatures):
            return None
        cached_vocab = Vocab.from_meta(manifest["vocab"])
        if vocab is not None and cached_vocab != vocab:
            return None
        if vocab is None and manifest["min_count"] != min_count:
            return None
        count, dtype = manifest["fingerprint"]["chars"], np.dtype(manifest["dtype"])
        if (cache / IDS).stat().st_size != count * dtype.itemsize or count < 1:
            return None
        ids = np.memmap(cache / IDS, dtype=dtype, mode="r", shape=(count,))
    except (OSError, ValueError, KeyError, TypeError, CheckpointError):
        return None  # an unreadable or foreign cache is rebuilt
    return EncodedText(ids, cached_vocab, manifest["fingerprint"], True, cache / IDS)


def encode_sources(sources: Sequence[str], cache: Path, *, unit: str = "char", min_count: int = 1,
                   separator: str = "\n", errors: str = "strict", vocab: Vocab | None = None,
                   stdin: BinaryIO | None = None, progress: Callable[[int], None] | None = None) -> EncodedText:
    """The ids of `sources` (files, directories, "-" for `stdin`) joined by `separator`, from
    the id cache folder `cache`, encoding them into it first unless it holds them already.

    Without `vocab`, the vocabulary is made from the text (symbols seen fewer than
    `min_count` times share an unknown symbol); with it, the text must fit it (InputError
    naming what it lacks, unless it has an unknown symbol). `errors`: see _part_symbols.
    `progress` is called with the number of bytes read, chunk by chunk.
    """
    if vocab is not None:
        unit = vocab.unit
    parts = _parts(sources, unit, errors)
    signatures = [_signature(part) for part in parts]
    found = _cached(cache, signatures, unit, separator, errors, vocab, min_count)
    if found is not None:
        return found
    try:
        cache.mkdir(parents=True, exist_ok=True)
        (cache / MANIFEST).unlink(missing_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot write the id cache {cache}: {exc.strerror or exc}") from None
    spool = cache / SPOOL if None in parts and vocab is None else None
    try:
        if spool is not None:
            spool.unlink(missing_ok=True)
        if vocab is None:
            counts = np.zeros(SPACE[unit], dtype=np.int64)
            for symbols in _symbols(parts, unit, separator, stdin, spool, progress, errors):
                counts += np.bincount(symbols, minlength=counts.size)
            if not counts.any():
                raise _empty_error(sources)
            vocab = Vocab.from_counts(counts, unit, min_count)
        dtype, count, digest = _write_ids(cache / IDS, _symbols(parts, unit, separator, stdin, spool, progress,
                                                                errors), vocab)
    finally:
        if spool is not None:
            spool.unlink(missing_ok=True)
    if count == 0:
        raise _empty_error(sources)
    fingerprint = dict(sources=[s if s == STDIN else str(Path(s).resolve()) for s in sources],
                       separator=separator, errors=errors, chars=count, ids_sha256=digest)
    manifest = dict(version=CACHE_VERSION, unit=unit, separator=separator, errors=errors, sources=signatures,
                    vocab=vocab.to_meta(), min_count=min_count, dtype=dtype.str, fingerprint=fingerprint)
    tmp = cache / (MANIFEST + ".tmp")
    with _open_output(tmp) as f:
        _write(f, json.dumps(manifest, ensure_ascii=False).encode("utf-8"))
    os.replace(tmp, cache / MANIFEST)
    ids = np.memmap(cache / IDS, dtype=dtype, mode="r", shape=(count,))
    return EncodedText(ids, vocab, fingerprint, False, cache / IDS)


def _write_ids(path: Path, chunks: Iterator[np.ndarray], vocab: Vocab) -> tuple[np.dtype, int, str]:
    """Write the ids of `chunks` of symbols to `path` (through a temporary file); return their
    dtype, count and sha256. InputError naming every symbol the vocabulary lacks, when it
    has no unknown symbol."""
    dtype = id_dtype(len(vocab))
    digest, count, missing = hashlib.sha256(), 0, set()
    tmp = path.with_name(path.name + ".tmp")
    try:
        with _open_output(tmp) as f:
            for symbols in chunks:
                ids = vocab.ids_of_symbols(symbols)
                lacking = ids < 0
                if lacking.any():
                    missing.update(np.unique(symbols[lacking]).tolist())
                    continue
                if missing:
                    continue
                compact = ids.astype(dtype)
                _write(f, compact)
                digest.update(compact)
                count += compact.size
        if missing:
            lacking = sorted(missing)
            raise InputError(vocab.describe_missing([chr(p) for p in lacking] if vocab.unit == "char" else lacking))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return dtype, count, digest.hexdigest()


def same_data(recorded: dict, encoded: EncodedText) -> bool:
    """Whether `encoded` holds the ids a checkpoint's data fingerprint `recorded` was made
    from. Checkpoints from before the id cache hashed the ids as int32; that hash is
    computed here, in chunks, only for them."""
    if recorded.get("chars") != encoded.ids.size:
        return False
    if "ids_sha256" in recorded:
        return recorded["ids_sha256"] == encoded.fingerprint["ids_sha256"]
    legacy = hashlib.sha256()
    for start in range(0, encoded.ids.size, CHUNK):
        legacy.update(np.asarray(encoded.ids[start:start + CHUNK], dtype="<i4"))
    return recorded.get("sha256") == legacy.hexdigest()
def split(ids: np.ndarray, val_frac: float) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation ids: the last int(len * val_frac) ids are held out."""
    if not 0 <= val_frac < 1:
        raise ConfigError(f"--val-frac must be in [0, 1), got {val_frac}")
    n_val = int(len(ids) * val_frac)
    return ids[:len(ids) - n_val], ids[len(ids) - n_val:]


@dataclass(frozen=True)
class KnownCorpus:
    """A public corpus charrnn can download and check (it is not shipped: third-party text)."""

    name: str
    url: str
    sha256: str
    size: int  # bytes
    about: str


KNOWN_CORPORA = {corpus.name: corpus for corpus in (
    KnownCorpus("tinyshakespeare",
                "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
                "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed", 1_115_394,
                "40,000 lines of Shakespeare's plays, the file of karpathy/char-rnn (public domain text)"),
)}


def file_sha256(path: Path) -> str | None:
    """The SHA-256 of a file, or None when there is no such file."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None


def fetch(url: str, sha256: str, dest: Path, timeout: float = 60.0) -> Path:
    """Download `url` into `dest`, written only when its SHA-256 is `sha256`."""
    import urllib.error
    import urllib.request

    from .rundir import write_file

    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            data = response.read()
    except urllib.error.HTTPError as exc:
        raise InputError(f"cannot download {url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise InputError(f"cannot download {url}: {exc.reason}") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot download {url}: {exc}") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise InputError(f"{url} is not the expected file (SHA-256 {digest}, expected {sha256}); nothing written")
    return write_file(dest, data)
