"""Helpers the test modules share: the corpus the repository ships and a disk that fills up.
(Fixtures are in conftest.py.)"""

import errno
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLAYS = ROOT / "corpora" / "plays.txt"  # the shipped corpus: tests need nothing outside the repository


def plays(chars: int, start: int = 0) -> str:
    """`chars` characters of corpora/plays.txt from `start`."""
    return PLAYS.read_text(encoding="utf-8")[start:start + chars]


def write_plays(path: Path, chars: int, start: int = 0) -> Path:
    path.write_text(plays(chars, start), encoding="utf-8")
    return path


def enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


class FullDisk:
    """A file object whose writes fail with ENOSPC once `full()` says so and more than 100
    bytes are written: wrap what os.fdopen returns to fill the disk in the middle of a save."""

    def __init__(self, f, full=lambda: True):
        self.f = f
        self.full = full

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()

    def __getattr__(self, name):
        return getattr(self.f, name)

    def write(self, data):
        if self.full() and self.f.tell() > 100:
            enospc()
        return self.f.write(data)
