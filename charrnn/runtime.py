"""Process-wide set-up the numeric core needs: a writable Numba cache and the thread count.

`prepare()` must run before anything imports numba: Numba refuses to import cached kernels
when no cache location is writable, so a read-only install falls back to a temporary one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def _writable(directory: Path) -> bool:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            return True
    except OSError:
        return False


def prepare() -> str | None:
    """Choose the Numba cache directory. Returns a notice for the user when it had to fall
    back to a temporary directory (kernels then compile again in every new process)."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        if _writable(Path(os.environ["NUMBA_CACHE_DIR"])):
            return None
    elif _writable(_PACKAGE_DIR / "kernels" / "__pycache__"):
        return None
    else:
        user_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "charrnn" / "numba"
        if _writable(user_cache):
            os.environ["NUMBA_CACHE_DIR"] = str(user_cache)
            return None
    fallback = Path(tempfile.gettempdir()) / f"charrnn-numba-{os.getuid() if hasattr(os, 'getuid') else 'user'}"
    fallback.mkdir(parents=True, exist_ok=True)
    os.environ["NUMBA_CACHE_DIR"] = str(fallback)
    return f"no writable cache for compiled kernels; using {fallback} (kernels compile once per boot)"


def thread_count(threads: int | None) -> int:
    """The number of threads the model runs windows on: `threads`, or all the cores this
    process may use. Each thread runs a shard of the batch through single-threaded kernels
    (no BLAS: see kernels/gemm.py), so nothing else spawns threads to compete with them."""
    if threads:
        return threads
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def kernels_cached(dispatcher) -> bool:
    """Whether Numba has a cache index for this jitted function (so no compile is due).
    Reads a private attribute; when Numba changes it, the answer is just 'not cached'."""
    index = getattr(getattr(getattr(dispatcher, "_cache", None), "_cache_file", None), "_index_path", None)
    return bool(index) and os.path.exists(index)
