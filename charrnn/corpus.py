"""Reading text input: files, directories of files, or standard input, as strict UTF-8 unless
the user chooses another encoding or to replace bytes that do not decode."""

from __future__ import annotations

import codecs
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .errors import ConfigError, InputError

BOM = b"\xef\xbb\xbf"
_SNIFF = 8192  # bytes looked at to tell a text file from a binary one inside a directory


def check_encoding(encoding: str) -> str:
    """The codec's canonical name; ConfigError when Python has no such text encoding."""
    try:
        codecs.lookup(encoding)
        b"a".decode(encoding)  # refuses codecs that are not text encodings (base64, zlib, ...)
    except UnicodeDecodeError:
        pass  # a known text encoding that one byte does not complete (utf-16)
    except LookupError:
        raise ConfigError(f"--encoding {encoding!r} is not a text encoding Python knows") from None
    return codecs.lookup(encoding).name


def decode_text(data: bytes, name: str, encoding: str = "utf-8", errors: str = "strict", hint: str = "") -> str:
    """`data` decoded; InputError naming `name` and the byte offset of the first byte that
    does not decode (with `hint` appended), or of a NUL byte: NUL means a binary file. In
    UTF-8 a leading byte order mark is dropped (other codecs, utf-16 for one, handle theirs)."""
    utf8 = check_encoding(encoding) == "utf-8"
    start = 0
    if utf8:
        nul = data.find(b"\x00")
        if nul >= 0:
            raise InputError(f"{name} looks binary (NUL byte at offset {nul}); charrnn trains on text")
        if data.startswith(BOM):
            start = len(BOM)
    try:
        text = data[start:].decode(encoding, errors)
    except UnicodeDecodeError as exc:
        offset = start + exc.start
        label = "UTF-8" if utf8 else encoding
        raise InputError(f"{name} is not valid {label}: byte 0x{data[offset]:02x} at offset {offset}{hint}") from None
    if not utf8 and "\x00" in text:
        raise InputError(f"{name} looks binary (NUL character at character {text.index(chr(0))}); "
                         "charrnn trains on text")
    return text


def decode_utf8(data: bytes, name: str) -> str:
    """Strict UTF-8 with a leading BOM dropped; InputError naming `name` and the offset."""
    return decode_text(data, name)


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise InputError(f"{path} is a directory") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None


def _looks_binary(path: Path, encoding: str = "utf-8", errors: str = "strict") -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(_SNIFF)
    except OSError:
        return True
    try:  # incremental: a character cut by the sniff window is fine
        text = codecs.getincrementaldecoder(encoding)(errors).decode(head, final=False)
    except UnicodeDecodeError:
        return True
    return "\x00" in text


def directory_files(directory: Path, encoding: str = "utf-8", errors: str = "strict") -> list[Path]:
    """Regular files under `directory` that look like text, in sorted path order. Hidden
    files and folders are skipped, and so are files that look binary (NUL bytes, or with
    strict `errors` bytes that do not decode, in their first 8 KiB)."""
    found = []
    for root, dirs, names in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in names:
            path = Path(root) / name
            if not name.startswith(".") and path.is_file() and not _looks_binary(path, encoding, errors):
                found.append(path)
    return sorted(found)


def read_text(sources: Sequence[str], stdin: BinaryIO | None = None, separator: str = "\n",
              encoding: str = "utf-8", errors: str = "strict") -> str:
    """The text of every source joined by `separator`. A source is a file, a directory (its
    text files, see directory_files) or "-" for `stdin`. Decoded with `encoding` and
    `errors` ("strict" or "replace"), see decode_text."""
    if not sources:
        raise InputError("no input given")
    hint = "; --encoding or --errors replace reads it otherwise" if errors == "strict" else ""

    def decode(data: bytes, name: str) -> str:
        return decode_text(data, name, encoding, errors, hint)

    parts = []
    for source in sources:
        if source == "-":
            if stdin is None:
                raise InputError("standard input is not available")
            parts.append(decode(stdin.read(), "standard input"))
            continue
        path = Path(source)
        if path.is_dir():
            files = directory_files(path, encoding, errors)
            if not files:
                raise InputError(f"{path} has no text files")
            parts.extend(decode(_read_bytes(f), str(f)) for f in files)
        else:
            parts.append(decode(_read_bytes(path), str(path)))
    text = separator.join(parts)
    if not text:
        name = sources[0] if len(sources) == 1 else "the input"
        raise InputError(f"{'standard input' if name == '-' else name} is empty")
    return text


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
