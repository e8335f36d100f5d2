"""Public corpora that `charrnn corpus fetch` downloads and checks. They are not shipped (they
are other people's text); each is known by its address, size and SHA-256."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

from ..durations import duration, format_duration
from ..errors import InputError
from ..files import atomic_write

_PIECE = 1 << 16
DEADLINE = 600.0  # seconds a whole download may take (tinyshakespeare at 2 KB/s)


@dataclass(frozen=True)
class KnownCorpus:
    """A public corpus charrnn can download and check."""

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
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while piece := f.read(_PIECE):
                digest.update(piece)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    return digest.hexdigest()


def fetch(corpus: KnownCorpus, dest: Path, url: str | None = None, timeout: float = 60.0,
          deadline: float | str = DEADLINE) -> Path:
    """Download `corpus` (from `url`, a mirror, when given) into `dest`, which is written only
    when what came is the corpus: its size and SHA-256. Reading stops one byte past the
    expected size, so a wrong address (an endless stream, say) costs at most that much; each
    read waits at most `timeout` seconds, and the whole download `deadline` seconds, however
    slowly the data comes or whatever it waits on (a name lookup, a FIFO no one writes to: a
    file: address is read as any input is, a FIFO as a stream). What is still waiting then is
    left to end by itself in a daemon thread, holding at most the corpus's size. `deadline` is
    seconds or a duration such as "10m" (ConfigError otherwise)."""
    deadline = duration("deadline", deadline)
    url = url or corpus.url
    outcome: dict = {}
    cancelled = threading.Event()

    def download() -> None:
        try:
            outcome["data"] = _download(url, corpus.size + 1, min(timeout, deadline), cancelled)
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc

    worker = threading.Thread(target=download, name="charrnn-fetch", daemon=True)
    worker.start()
    worker.join(deadline)
    if worker.is_alive():
        cancelled.set()
        raise InputError(f"cannot download {url}: not done within deadline {_seconds(deadline)}; nothing written",
                         options=("deadline",))
    if "error" in outcome:
        raise outcome["error"]
    data = outcome["data"]
    if len(data) > corpus.size:
        raise InputError(f"{url} is not the expected file (more than {corpus.size:,} bytes); nothing written")
    digest = hashlib.sha256(data).hexdigest()
    if digest != corpus.sha256:
        raise InputError(f"{url} is not the expected file (SHA-256 {digest}, expected {corpus.sha256}); "
                         "nothing written")
    return atomic_write(dest, data)


def _download(url: str, limit: int, timeout: float, cancelled: threading.Event) -> bytes:
    """At most `limit` bytes from `url`, in reads of what has come (at most `timeout` seconds
    each) until the end, the limit or `cancelled`."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            read = getattr(response, "read1", response.read)
            pieces, size = [], 0
            while size < limit and not cancelled.is_set():
                piece = read(min(_PIECE, limit - size))
                if not piece:
                    break
                pieces.append(piece)
                size += len(piece)
            return b"".join(pieces)
    except urllib.error.HTTPError as exc:
        raise InputError(f"cannot download {url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise InputError(f"cannot download {url}: {exc.reason}") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot download {url}: {exc}") from None


def _seconds(seconds: float) -> str:
    return f"{seconds:g}s" if seconds < 60 else format_duration(seconds)
