"""Run directories: where a run's checkpoints and metrics live, and how a CKPT argument
(a file, a run directory, a run name, or nothing) is resolved to a checkpoint file.

A run directory holds latest.safetensors, best.safetensors (lowest validation loss),
step-NNNNNNNN.safetensors periodic checkpoints (the newest --keep of them),
metrics.jsonl, one JSON object per evaluation, and cache/, the training text encoded as ids
(rebuilt whenever it is missing or stale).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import time
from pathlib import Path

from . import checkpoint
from .errors import CheckpointError, OutputError

SUFFIX = ".safetensors"
LATEST = "latest" + SUFFIX
BEST = "best" + SUFFIX
METRICS = "metrics.jsonl"
CACHE = "cache"
_PERIODIC = re.compile(r"^step-(\d{8,})\.safetensors$")


def home() -> Path:
    """The folder runs go in: $CHARRNN_HOME, or ./checkpoints."""
    return Path(os.environ.get("CHARRNN_HOME") or "checkpoints")


def run_name(cell: str, layers: int, hidden: int) -> str:
    return f"{cell}-{layers}x{hidden}-{time.strftime('%Y%m%d-%H%M%S')}"


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
        """The id cache: the training text encoded, see corpus.encode_sources."""
        return self.path / CACHE

    def periodic(self) -> list[Path]:
        """Periodic checkpoints, oldest first."""
        if not self.path.is_dir():
            return []
        return sorted(p for p in self.path.iterdir() if _PERIODIC.match(p.name))

    def prepare(self) -> None:
        """Make sure checkpoints can be written here before any training is spent, and remove
        the temporary files of saves that a killed process left behind. OutputError if the
        directory cannot be created or written."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.path):
                pass
            for path in checkpoint.temp_files(self.path):
                path.unlink(missing_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot write to the run directory {self.path}: {exc.strerror or exc}") from None

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
        """Remove all but the newest `keep` periodic checkpoints; best and latest stay."""
        doomed = self.periodic()[:-keep] if keep > 0 else self.periodic()
        if not dry_run:
            for path in doomed:
                path.unlink(missing_ok=True)
        return doomed

    def append_metrics(self, record: dict) -> None:
        line = json.dumps(record) + "\n"
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            with open(self.path / METRICS, "a+b") as f:
                if f.tell() > 0:  # a process killed mid-write leaves a torn line: end it first
                    f.seek(-1, os.SEEK_END)
                    if f.read(1) != b"\n":
                        line = "\n" + line
                f.write(line.encode("utf-8"))
        except OSError as exc:
            raise OutputError(f"cannot write {self.path / METRICS}: {exc.strerror or exc}") from None

    def metrics(self) -> list[dict]:
        """The metrics records, skipping a torn last line (a run killed mid-write)."""
        records = []
        try:
            lines = (self.path / METRICS).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            return records
        for line in lines:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return records

    def checkpoints(self) -> list[Path]:
        names = [p for p in (self.latest, self.best) if p.is_file()]
        return names + self.periodic()


def history(run: RunDir, meta: dict | None = None, upto: int | None = None) -> list[dict]:
    """A run's evaluation records (step, seconds, train_loss, val_loss), by step: those of
    metrics.jsonl, completed by a checkpoint's history (`meta`) for steps the file lacks. For
    a step recorded twice (a run resumed from an earlier checkpoint) the file's last record
    wins. With `upto`, only steps up to it (a checkpoint's own curve)."""
    by_step = {}
    for record in [*(meta or {}).get("history", []), *run.metrics()]:
        if isinstance(record, dict) and isinstance(record.get("step"), int):
            by_step[record["step"]] = record
    return [by_step[step] for step in sorted(by_step) if upto is None or step <= upto]


def write_file(path: Path, data: bytes) -> Path:
    """Write `data` to `path` atomically (temporary file, fsync, rename); OutputError if it cannot."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def runs(root: Path) -> list[RunDir]:
    """Run directories under `root`, most recently written first."""
    if not root.is_dir():
        return []
    found = [RunDir(p) for p in root.iterdir() if p.is_dir() and RunDir(p).checkpoints()]
    return sorted(found, key=lambda r: max(c.stat().st_mtime for c in r.checkpoints()), reverse=True)


def resolve(arg: str | None, root: Path | None = None, *, latest: bool = False) -> Path:
    """The checkpoint file meant by `arg`: a file; a run directory (its best checkpoint,
    else its latest; with `latest`, the other way round); a run name under `root`; or,
    when None, the most recent run's."""
    root = root or home()
    if arg is None:
        found = runs(root)
        if not found:
            raise CheckpointError(f"no runs in {root}; train one with 'charrnn train' or name a checkpoint")
        return _pick(found[0], latest)
    path = Path(arg)
    if path.is_file():
        return path
    if path.is_dir():
        return _pick(RunDir(path), latest)
    if (root / arg).is_dir():
        return _pick(RunDir(root / arg), latest)
    raise CheckpointError(f"no checkpoint, run directory or run named {arg!r} (runs are looked up in {root})")


def _pick(run: RunDir, latest: bool) -> Path:
    for path in ((run.latest, run.best) if latest else (run.best, run.latest)):
        if path.is_file():
            return path
    periodic = run.periodic()
    if periodic:
        return periodic[-1]
    raise CheckpointError(f"{run.path} holds no checkpoint")
