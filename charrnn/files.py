"""Writing files so that a crash, a kill or a full disk never leaves a half-written one in
place of a good one, and never touching a file charrnn did not write.

Every file charrnn writes goes through `atomic_write`: a temporary ".<name>.<16 hex>.tmp" in the
same folder, created exclusively, written, flushed and fsynced, renamed over the target, and the
folder fsynced so the rename itself survives a power cut. Only names of that exact pattern are
ever cleaned up as leftovers (`temp_files`).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from .errors import OutputError

TEMP_SUFFIX = ".tmp"
_TEMP_NAME = re.compile(r"^\..+\.[0-9a-f]{16}\.tmp$")


def atomic_write(path: str | os.PathLike, content: bytes | Callable[[BinaryIO], None], *,
                 name: str | None = None) -> Path:
    """Write `content` (bytes, or a function that writes to the open binary file) to `path`
    atomically; return the path. OutputError, naming `name` (default: the path), when it
    cannot be written; the temporary file is removed whatever goes wrong, and an exception
    raised by `content` passes through."""
    path = Path(path)
    label = name or str(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}{TEMP_SUFFIX}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise OutputError(f"cannot write {label}: {reason(exc)}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            if callable(content):
                content(f)
            else:
                f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise OutputError(f"cannot write {label}: {reason(exc)}") from None
        raise
    try:
        fsync_dir(path.parent)
    except OSError as exc:
        raise OutputError(f"cannot write {label}: {reason(exc)}") from None
    return path


def is_temp_name(name: str) -> bool:
    """Whether `name` is that of a temporary file `atomic_write` writes."""
    return bool(_TEMP_NAME.match(name))


def temp_files(directory: Path) -> list[Path]:
    """Temporary files that `atomic_write` left in `directory` because its process was killed
    before it could rename or remove them."""
    try:
        return sorted(p for p in Path(directory).iterdir() if is_temp_name(p.name) and p.is_file())
    except OSError:
        return []


def fsync_dir(directory: Path) -> None:
    """Make renames in `directory` durable (directories cannot be opened this way on Windows)."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def reason(exc: OSError) -> str:
    """What went wrong, for a one-line message: the OS's words, without the path."""
    return exc.strerror or str(exc)
