"""Process-wide set-up the numeric core needs: the kernels' level, a writable Numba cache and
the thread count; and the memory this process may use.

`prepare()` must run before anything imports numba: Numba compiles for the level the kernels
use ($CHARRNN_ISA, see kernels/cpu.py), and refuses to import cached kernels when no cache
location is writable, so a read-only home falls back to a temporary one.
Compiled kernels never go into the installed package: a reinstall or an uninstall would leave
them behind (and a folder left with only `__pycache__` in it imports as an empty namespace
package, ahead of a new editable install).
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

from . import events
from ._version import __version__
from .errors import ConfigError, OutputError


def _writable(directory: Path) -> bool:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            return True
    except OSError:
        return False


KERNELS = Path(__file__).parent / "kernels"


def kernels_key(folder: Path = KERNELS, level: str | None = None) -> str:
    """<version>-<digest of the kernels' source>-<level>: Numba checks a cached function
    against its own file only, so a kernel cached with an older version of a kernel it calls
    (in another file) would load, and run the old code; a folder per source leaves none to
    load. The level (kernels/cpu.py; default: this process's) is in the key too, since the
    kernels' shapes follow it: caches for different levels never mix."""
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return f"{__version__}-{digest.hexdigest()[:12]}-{level or kernels_level()}"


def kernels_level() -> str:
    """The level the kernels use ($CHARRNN_ISA, else the CPU's fastest; see kernels/cpu.py),
    applied to Numba's target when Numba is not imported yet. ConfigError for a level this CPU
    does not offer."""
    try:
        from .kernels import cpu

        cpu.apply_level()
        return cpu.level()
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def user_cache() -> Path | None:
    """The user's cache folder for these kernels: $XDG_CACHE_HOME/charrnn/<kernels_key>,
    else ~/.cache/charrnn/<kernels_key>; None when there is no home."""
    base = os.environ.get("XDG_CACHE_HOME")
    if not base:
        try:
            base = Path.home() / ".cache"
        except (RuntimeError, KeyError):  # no $HOME and no entry in the password database
            return None
    return Path(base) / "charrnn" / kernels_key() / "numba"


def prepare() -> str | None:
    """Set Numba's target to the kernels' level (kernels_level) and choose its cache
    directory: $NUMBA_CACHE_DIR (Numba keys its entries on the target too), else the user's
    cache folder (see user_cache). ConfigError for a $CHARRNN_ISA this CPU cannot run.
    Returns a notice for the user when it had to fall back to a temporary directory (kernels
    then compile again after a reboot, or in every process when even the shared temporary
    folder is not safe to use)."""
    kernels_level()
    if os.environ.get("NUMBA_CACHE_DIR"):
        if _writable(Path(os.environ["NUMBA_CACHE_DIR"])):
            return None
    else:
        folder = user_cache()
        if folder is not None and _writable(folder):
            os.environ["NUMBA_CACHE_DIR"] = str(folder)
            return None
    user = os.getuid() if hasattr(os, "getuid") else "user"
    fallback = Path(tempfile.gettempdir()) / f"charrnn-numba-{user}-{kernels_key()}"
    until = "once per boot"
    if not _private(fallback):
        try:
            fallback = Path(tempfile.mkdtemp(prefix="charrnn-numba-"))
        except OSError as exc:
            raise OutputError(f"no writable folder for compiled kernels ({exc.strerror or exc}); "
                              "set NUMBA_CACHE_DIR to one") from None
        until = "in every run"
    os.environ["NUMBA_CACHE_DIR"] = str(fallback)
    return f"no writable cache for compiled kernels; using {fallback} (kernels compile {until})"


def _private(directory: Path) -> bool:
    """Whether `directory` exists or could be made, and only this user can write to it:
    Numba loads its cache with pickle, so a folder in a shared /tmp that someone else made
    first (or can write to) would let them run code as this user."""
    try:
        directory.mkdir(mode=0o700, exist_ok=True)
        info = os.lstat(directory)
    except OSError:
        return False
    owned = not hasattr(os, "getuid") or info.st_uid == os.getuid()
    return stat.S_ISDIR(info.st_mode) and owned and not info.st_mode & 0o022 and _writable(directory)


def thread_count(threads: int | None) -> int:
    """The number of threads the model runs windows on: `threads`, or all the cores this
    process may use. Each thread runs a shard of the batch through single-threaded kernels
    (no BLAS: see kernels/gemm.py), so nothing else spawns threads to compete with them."""
    if threads:
        return threads
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def machine_memory() -> int | None:
    """Bytes of memory this process may use: the machine's, or its control group's limit
    when lower; None when unknown."""
    limits = []
    try:
        limits.append(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        pass
    try:
        with open("/sys/fs/cgroup/memory.max") as f:
            value = f.read().strip()
        if value.isdigit():
            limits.append(int(value))
    except OSError:
        pass
    return min(limits) if limits else None


def kernels_cached(dispatcher) -> bool:
    """Whether Numba has a cache index for this jitted function (so no compile is due).
    Reads a private attribute; when Numba changes it, the answer is just 'not cached'."""
    index = getattr(getattr(getattr(dispatcher, "_cache", None), "_cache_file", None), "_index_path", None)
    return bool(index) and os.path.exists(index)


def prepare_core(notify: Callable[[object], None]) -> None:
    """prepare(), which must come before anything imports numba; what it has to say goes to
    `notify` as an events.Notice."""
    message = prepare()
    if message:
        notify(events.Notice(message))


def notice_compiling(kernel, notify: Callable[[object], None]) -> None:
    """An events.Notice to `notify`, before the first call of a kernel that is not in the
    cache, that it will compile."""
    if not kernels_cached(kernel):
        notify(events.Notice("compiling kernels (first run only; cached afterwards)"))
