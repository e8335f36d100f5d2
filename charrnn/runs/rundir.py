"""Run directories: where a run's checkpoints and metrics live, who may write there, and how a
CKPT or RUN argument (a file, a run directory, a run name, or nothing) is resolved.

A run directory holds latest.safetensors, best.safetensors (lowest validation loss),
step-NNNNNNNN.safetensors periodic checkpoints (the newest `keep` of them), metrics.jsonl (one
JSON object per evaluation, one per step), cache/ (the training text encoded as ids, rebuilt
whenever it is missing or stale), and two files of charrnn's own:
- .charrnn-run, the marker: the run's name and identity (run_id, which its checkpoints carry
  too). charrnn writes into, cleans up or prunes only folders that carry it (or that hold only
  what an older charrnn wrote), so a folder of someone else's files is never touched.
- .charrnn-lock, locked (an OS advisory lock, which the kernel releases when the process
  dies) by the one process training in the run, and by `checkpoints prune` and `rm` while
  they delete; it names the holder, for the message the next writer gets.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import secrets
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from ..errors import CheckpointError, ConfigError, OutputError
from ..files import atomic_write, is_temp_name, reason, temp_files
from . import checkpoint
from .model_file import is_run_checkpoint

SUFFIX = ".safetensors"
LATEST = "latest" + SUFFIX
BEST = "best" + SUFFIX
METRICS = "metrics.jsonl"
CACHE = "cache"
MARKER = ".charrnn-run"
LOCK = ".charrnn-lock"
_PERIODIC = re.compile(r"^step-(\d{8,})\.safetensors$")
log = logging.getLogger("charrnn")


class RunInUse(OutputError):
    """Another process holds the run's lock."""


def home() -> Path:
    """The folder runs go in: $CHARRNN_HOME, or ./checkpoints."""
    return Path(os.environ.get("CHARRNN_HOME") or "checkpoints")


def run_name(cell: str, size: str) -> str:
    """A new run's default name: cell, size ("2x256"; "auto" while the budget has yet to choose
    it, which training.py then puts in its place), time."""
    return f"{cell}-{size}-{time.strftime('%Y%m%d-%H%M%S')}"


def new_run_id() -> str:
    return secrets.token_hex(8)


def is_run_folder(path: Path) -> bool:
    """Whether `path` is a run directory: it carries the marker, or an older charrnn's
    latest or best checkpoint."""
    try:
        if (path / MARKER).is_file():
            return True
        return any(is_run_checkpoint(path / name) for name in (LATEST, BEST) if (path / name).is_file())
    except OSError:
        return False


def check_new_file(path: Path, force: bool, option: str = "output") -> None:
    """ConfigError when `path` exists and `force` is not given (a named output never replaces a
    file silently), or when it is not a regular file (a folder, a device) or is a checkpoint of
    a run, which nothing but training writes, --force or not."""
    if not os.path.lexists(path):
        return
    if not path.is_file():
        raise ConfigError(f"{path} exists and is not a regular file; choose another {option}", options=(option,))
    if is_run_checkpoint(path):
        raise ConfigError(f"{path} is a checkpoint of a run; only training writes those (choose another {option})",
                          options=(option,))
    if not force:
        raise ConfigError(f"{path} exists; use force to replace it, or choose another {option}",
                          options=(option, "force"))


def _ours(name: str) -> bool:
    """Whether a folder entry's name is one charrnn writes in a run directory."""
    return name in (LATEST, BEST, METRICS, CACHE, MARKER, LOCK) or bool(_PERIODIC.match(name)) or is_temp_name(name)


def _older_run(path: Path) -> bool:
    """Whether `path`, without a marker, is the run directory of an older charrnn: it holds
    that charrnn's latest or best checkpoint, and nothing but what charrnn writes."""
    return is_run_folder(path) and all(_ours(name) for name in os.listdir(path))


class RunDir:
    """One run's directory."""

    def __init__(self, path: Path):
        self.path = Path(path)

    @property
    def latest(self) -> Path:
        return self.path / LATEST

    @property
    def best(self) -> Path:
        return self.path / BEST

    @property
    def cache(self) -> Path:
        """The id cache: the training text encoded, see idcache.encode_sources."""
        return self.path / CACHE

    # ---- what the folder is --------------------------------------------------------------------
    def marker(self) -> dict | None:
        """The marker's content (run, run_id), or None when there is none (or it is unreadable)."""
        try:
            info = json.loads((self.path / MARKER).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return info if isinstance(info, dict) else None

    def owns(self, meta: dict) -> bool:
        """Whether a checkpoint with this metadata belongs to this run: the same run_id as the
        marker, or (a checkpoint or a folder from before run ids) the same run name."""
        marker = self.marker() or {}
        if marker.get("run_id") and meta.get("run_id"):
            return marker["run_id"] == meta["run_id"]
        label = marker.get("run") or self._legacy_label()
        return label is not None and meta.get("run") == label

    def _legacy_label(self) -> str | None:
        for path in (self.latest, self.best):
            try:
                return checkpoint.read_meta(path).get("run")
            except CheckpointError:
                continue
        return None

    @contextlib.contextmanager
    def take(self, run: str, run_id: str, command: str) -> Iterator[list[Path]]:
        """Claim this folder for the run (see claim) and hold its lock (see lock) while the block
        runs; yields what was created. The lock comes before the marker, so of two writers
        starting together (processes or threads) the second is told the folder is in use by the
        first, never shown the first one's marker half written."""
        created = self._create()
        with self.lock(command):
            yield created + self.claim(run, run_id)

    def claim(self, run: str, run_id: str) -> list[Path]:
        """Make this folder the directory of the run `run` (identity `run_id`), or find that it
        is already: a new folder, an empty one, one with the marker, or an older charrnn's run
        directory is taken; one that holds anything else is refused (ConfigError), as is a
        file. Returns what was created (for a failed start to remove). Writes nothing but
        the folder and the marker."""
        created = self._create()
        try:
            if self.marker() is None:
                info = dict(run=run, run_id=run_id, created=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
                atomic_write(self.path / MARKER, json.dumps(info).encode())
                created.append(self.path / MARKER)
        except OSError as exc:
            raise OutputError(f"cannot write to the run directory {self.path}: {reason(exc)}") from None
        return created

    def _create(self) -> list[Path]:
        """The folder, made if missing (returned, with the parents made for it); ConfigError for a
        file, or a folder without the marker that holds what charrnn did not write. Writes nothing
        in it."""
        try:
            if not self.path.exists():
                missing = [p for p in (self.path, *self.path.parents) if not p.exists()]
                try:
                    self.path.mkdir(parents=True)
                    return list(reversed(missing))
                except FileExistsError:  # another writer made it meanwhile
                    pass
            if not self.path.is_dir():
                raise ConfigError(f"{self.path} is a file, not a run directory", options=("out",))
            if self.marker() is None:
                # the lock, and the marker another writer is writing, are charrnn's own
                entries = sorted(e for e in os.listdir(self.path)
                                 if e != LOCK and not (e.startswith(f".{MARKER}.") and is_temp_name(e)))
                if entries and not _older_run(self.path):
                    raise ConfigError(f"{self.path} holds files charrnn did not write ({entries[0]!r}"
                                      f"{f' and {len(entries) - 1} more' if len(entries) > 1 else ''}); "
                                      "choose a new or empty folder", options=("out",))
        except OSError as exc:
            raise OutputError(f"cannot write to the run directory {self.path}: {reason(exc)}") from None
        return []

    def set_marker(self, run: str, run_id: str) -> None:
        """Record that the run in this folder is now `run_id` (a run written over another)."""
        info = dict(self.marker() or {}, run=run, run_id=run_id)
        atomic_write(self.path / MARKER, json.dumps(info).encode())

    @contextlib.contextmanager
    def lock(self, command: str) -> Iterator[None]:
        """Hold the run's lock while the block runs: OutputError naming the holder when another
        process has it. Without fcntl (not POSIX) there is no lock."""
        try:
            import fcntl
        except ImportError:
            yield
            return
        try:
            fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise OutputError(f"cannot write to the run directory {self.path}: {reason(exc)}") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
                raise RunInUse(f"{self.path} is in use by {holder}") from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{command} (pid {os.getpid()})\n".encode(), 0)
            yield
        finally:
            os.close(fd)  # releases the lock

    def prepare(self) -> None:
        """Make sure checkpoints can be written here before any training is spent, and remove
        the temporary files of saves that a killed process left behind. OutputError if the
        directory cannot be written."""
        try:
            with tempfile.TemporaryFile(dir=self.path):
                pass
            for path in temp_files(self.path):
                path.unlink(missing_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot write to the run directory {self.path}: {reason(exc)}") from None

    # ---- checkpoints ----------------------------------------------------------------------------
    def periodic(self) -> list[Path]:
        """Periodic checkpoint files, oldest (lowest step) first."""
        found = []
        try:
            entries = list(os.scandir(self.path))
        except OSError:
            return []
        for entry in entries:
            match = _PERIODIC.match(entry.name)
            with contextlib.suppress(OSError):
                if match and entry.is_file():
                    found.append((int(match.group(1)), Path(entry.path)))
        return [path for _, path in sorted(found)]

    def checkpoints(self) -> list[Path]:
        """latest, best and the periodic checkpoints that are files."""
        return [p for p in (self.latest, self.best) if p.is_file()] + self.periodic()

    def kept(self, first: str = "latest", run_id: str | None = None) -> str:
        """Which checkpoint the user still has, for a message after a failure: the `first`
        ("latest" or "best") where there is one, else the other; with `run_id`, only that
        run's (a run written over another may have left the other's)."""
        for path in ((self.best, self.latest) if first == "best" else (self.latest, self.best)):
            if path.is_file() and (run_id is None or self.written_by(path, run_id)):
                return f"the {'best' if path == self.best else 'last'} checkpoint is {path}"
        return "no checkpoint was written"

    def written_by(self, path: Path, run_id: str) -> bool:
        """Whether `path` is a checkpoint of the run `run_id`."""
        try:
            return checkpoint.read_meta(path).get("run_id") == run_id
        except CheckpointError:  # none there, or not one charrnn can read
            return False

    def save(self, tensors, meta, *, best: bool = False, periodic_step: int | None = None, keep: int = 0) -> Path:
        """Write latest (always), best (when `best`), and a periodic checkpoint for
        `periodic_step`, then drop periodic ones beyond the newest `keep`."""
        path = checkpoint.save(self.latest, tensors, meta)
        if best:
            checkpoint.save(self.best, tensors, meta)
        if periodic_step is not None and keep > 0:
            checkpoint.save(self.path / f"step-{periodic_step:08d}{SUFFIX}", tensors, meta)
            self.prune(keep)
        return path

    def prune(self, keep: int, dry_run: bool = False) -> list[Path]:
        """Remove all but the newest `keep` periodic checkpoints of this run, newest by step;
        only files read as this run's checkpoints are removed (best and latest stay)."""
        ours = []
        for path in self.periodic():
            try:
                if self.owns(checkpoint.read_meta(path)):
                    ours.append(path)
            except CheckpointError:
                continue
        doomed = ours[:-keep] if keep > 0 else ours
        if not dry_run:
            for path in doomed:
                try:
                    path.unlink(missing_ok=True)
                except OSError as exc:
                    raise OutputError(f"cannot remove {path}: {reason(exc)}") from None
        return doomed

    def remove_checkpoints(self, keep: set[Path]) -> None:
        """Delete this folder's checkpoints other than those in `keep` (a run written over
        another removes the old run's, once it has saved its own)."""
        for path in self.checkpoints():
            if path not in keep:
                try:
                    path.unlink(missing_ok=True)
                except OSError as exc:
                    raise OutputError(f"cannot remove {path}: {reason(exc)}") from None

    # ---- metrics --------------------------------------------------------------------------------
    def metrics(self) -> tuple[list[dict], int]:
        """The metrics records that are well formed, and how many lines were not (a torn last
        line from a run killed mid-write, or a file edited by hand)."""
        records, bad = [], 0
        try:
            lines = (self.path / METRICS).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            return records, bad
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                bad += 1
                continue
            if valid_record(record):
                records.append(record)
            else:
                bad += 1
        return records, bad

    def append_metrics(self, record: dict) -> None:
        line = json.dumps(record) + "\n"
        try:
            with open(self.path / METRICS, "a+b") as f:
                if f.tell() > 0:  # a process killed mid-write leaves a torn line: end it first
                    f.seek(-1, os.SEEK_END)
                    if f.read(1) != b"\n":
                        line = "\n" + line
                f.write(line.encode("utf-8"))
        except OSError as exc:
            raise OutputError(f"cannot write {self.path / METRICS}: {reason(exc)}") from None

    def write_metrics(self, records: list[dict]) -> None:
        """Replace metrics.jsonl with `records` (a resumed or recovered run drops the records
        of the steps it does again; a run written over another, the old run's)."""
        atomic_write(self.path / METRICS, "".join(json.dumps(r) + "\n" for r in records).encode("utf-8"))


def valid_record(record) -> bool:
    """A metrics record as training writes it: a whole step, losses and seconds that are
    finite, non-negative numbers or null."""
    if not isinstance(record, dict) or type(record.get("step")) is not int or record["step"] < 0:
        return False
    for key in ("seconds", "train_loss", "val_loss", "chars_per_sec"):
        value = record.get(key)
        if value is not None and not (type(value) in (int, float) and math.isfinite(value) and value >= 0):
            return False
    return True


def history(run: RunDir, meta: dict | None = None, upto: int | None = None) -> tuple[list[dict], int]:
    """A run's evaluation records (step, seconds, train_loss, val_loss), by step: those of
    metrics.jsonl, completed by a checkpoint's history (`meta`) for steps the file lacks, and
    how many malformed records were left out. For a step recorded twice the file's last
    record wins. With `upto`, only steps up to it (a checkpoint's own curve)."""
    records, bad = run.metrics()
    by_step = {}
    for record in [*(meta or {}).get("history", []), *records]:
        if valid_record(record):
            by_step[record["step"]] = record
    return [by_step[step] for step in sorted(by_step) if upto is None or step <= upto], bad


def runs(root: Path) -> list[RunDir]:
    """Run directories under `root`, most recently written first. An entry that cannot be read
    (gone meanwhile, a dangling link) is left out."""
    found = []
    try:
        entries = sorted(root.iterdir())
    except OSError:
        return []
    for path in entries:
        run = RunDir(path)
        times = []
        for ckpt in (run.checkpoints() if path.is_dir() else []):
            with contextlib.suppress(OSError):
                times.append(ckpt.stat().st_mtime)
        if times:
            found.append((max(times), run))
    return [run for _, run in sorted(found, key=lambda pair: pair[0], reverse=True)]


def resolve(arg: str | None, root: Path | None = None, *, latest: bool = False) -> Path:
    """The checkpoint file meant by `arg`: a file; a run directory (its best checkpoint,
    else its latest; with `latest`, the other way round); a run name under `root`; or,
    when None, the most recent run's."""
    root = root or home()
    if arg is None:
        found = runs(root)
        if not found:
            raise CheckpointError(f"no runs in {root}; train one with 'charrnn train' or name a checkpoint")
        path = _pick(found[0], latest)
        log.info(f"no checkpoint named: using {path}, of the most recent run{_described(path)}")
        return path
    path = Path(arg)
    if path.is_file():
        return path
    return _pick(resolve_run(arg, root), latest)


def resolve_run(arg: str | None, root: Path | None = None) -> RunDir:
    """The run directory meant by `arg`: a run directory, a run name under `root`, or (None)
    the most recent run."""
    root = root or home()
    if arg is None:
        found = runs(root)
        if not found:
            raise CheckpointError(f"no runs in {root}; train one with 'charrnn train' or name a run")
        log.info(f"no run named: using {found[0].path}, the most recent run")
        return found[0]
    path = Path(arg)
    for candidate in (path, root / arg):
        if candidate.is_dir():
            return RunDir(candidate)
    if os.path.lexists(path):
        kind = "a file" if path.is_file() else "a dangling link" if not path.exists() else "not a folder"
        raise CheckpointError(f"{arg} is {kind}, not a run directory")
    raise CheckpointError(f"no checkpoint, run directory or run named {arg!r} (runs are looked up in {root})")


def _described(path: Path) -> str:
    """' (lstm 2x128, trained on corpora/plays.txt)': a checkpoint, for the notice that names it."""
    try:
        meta = checkpoint.read_meta(path)
    except CheckpointError:
        return ""
    model, data = meta.get("model"), meta.get("data")
    parts = []
    if isinstance(model, dict):
        parts.append(f"{model.get('cell')} {model.get('layers')}x{model.get('hidden')}")
    sources = data.get("sources") if isinstance(data, dict) else None
    if isinstance(sources, list) and sources and all(isinstance(s, str) for s in sources):
        parts.append("trained on " + ", ".join("standard input" if s == "-" else s for s in sources))
    return f" ({', '.join(parts)})" if parts else ""


def _pick(run: RunDir, latest: bool) -> Path:
    for path in ((run.latest, run.best) if latest else (run.best, run.latest)):
        if path.is_file():
            return path
    periodic = run.periodic()
    if periodic:
        return periodic[-1]
    raise CheckpointError(f"{run.path} holds no checkpoint")
