"""Checkpoints: one self-contained safetensors file, written atomically, read with validation;
and what a run's checkpoint holds (this module alone builds and checks its metadata).

Layout (plain safetensors, readable by `safetensors.numpy.load_file`): an 8-byte little-endian
header length N, N bytes of JSON header (space-padded to a multiple of 8), then the tensor data.
The header's `__metadata__` holds one key, "charrnn", whose value is a JSON object: the
caller's metadata plus `format_version`, `created` (UTC, ISO 8601) and `checksum`.

The checksum is the sha256 of, for each tensor in sorted-name order, the compact JSON
`[name, dtype, shape]` and a newline followed by its raw little-endian bytes; then the charrnn
metadata without "checksum" as canonical JSON (sorted keys, compact). So a flipped bit in a
weight or in the metadata (vocabulary, step, configs) is caught, not silently used.

Reading never hands unvalidated bytes to safetensors or numpy and never unpickles anything.

A run's checkpoint holds the tensors `param/<name>` (the weights the optimiser moves),
`average/<name>` (their moving average, when the run keeps one: then that is the model that
is sampled, scored and exported), `optim/<slot>` and `state` (the optimiser's moments and the
carried state), and metadata: the model and training config,
the training progress (Trainer.snapshot), the vocabulary (`vocab`, `unit`), the data it was
trained on (`data`), the run's name and identity (`run`, `run_id`) and the charrnn version.
`read_model` and `read_training` check all of it before anything is built from it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .config import ERRORS, ModelConfig, TrainConfig
from .errors import CheckpointError, ConfigError
from .files import atomic_write, reason
from .vocab import Vocab

FORMAT_VERSION = 1
META_KEY = "charrnn"
MAX_HEADER_BYTES = 100_000_000
MAX_NDIM = 32  # numpy 1.x's limit; numpy 2 allows 64
MAX_ELEMENTS = 2**48  # numpy refuses shapes whose size overflows, even when a dimension is 0
MODEL_COPIES = 2  # float32 copies of the weights a loaded model holds besides the tensors read: weights, gradients

DTYPES = {
    "F32": np.dtype("<f4"),
    "F64": np.dtype("<f8"),
    "I32": np.dtype("<i4"),
    "I64": np.dtype("<i8"),
    "U8": np.dtype("u1"),
    "U32": np.dtype("<u4"),
    "U64": np.dtype("<u8"),
}
_DTYPE_NAMES = {dtype: name for name, dtype in DTYPES.items()}
_HEADER_KEYS = {"dtype", "shape", "data_offsets"}


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint: tensors (owned, writable) and the charrnn metadata."""

    path: Path
    tensors: dict[str, np.ndarray]
    meta: dict


@dataclass(frozen=True)
class _Entry:
    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int


# ---- writing ----------------------------------------------------------------------------------

def save(path: str | os.PathLike, tensors: Mapping[str, np.ndarray], meta: Mapping) -> Path:
    """Write `tensors` and `meta` (JSON-able) to `path` atomically; return the path.

    `path` is either the old file or the complete new one (files.atomic_write). Raises
    OutputError when the file cannot be written; TypeError/ValueError for tensors or metadata
    that cannot be stored (a caller bug).
    """
    path = Path(path)
    return atomic_write(path, _writer(tensors, meta), name=f"checkpoint {path}")


def write(stream: BinaryIO, tensors: Mapping[str, np.ndarray], meta: Mapping) -> None:
    """Write the file `save` would write to a binary `stream` (standard output, say); OSError
    as the stream raises it."""
    _writer(tensors, meta)(stream)


def _writer(tensors: Mapping[str, np.ndarray], meta: Mapping):
    """A function writing the checkpoint of `tensors` and `meta` to a binary file."""
    arrays = _prepare(tensors)
    entries, offset = [], 0
    # Largest items first, as safetensors does, keeps every tensor aligned in the file.
    for name in sorted(arrays, key=lambda n: (-arrays[n].itemsize, n)):
        arr = arrays[name]
        entries.append(_Entry(name, _DTYPE_NAMES[arr.dtype], arr.shape, offset, offset + arr.nbytes))
        offset += arr.nbytes

    # Round-trip through JSON first so the checksum covers exactly what `load` will parse.
    info = json.loads(json.dumps(dict(meta), default=_json_default))
    info.pop("checksum", None)
    info["format_version"] = FORMAT_VERSION
    info["created"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    info["checksum"] = _checksum(entries, {e.name: arrays[e.name] for e in entries}, info)

    header = {"__metadata__": {META_KEY: json.dumps(info)}}
    for e in entries:
        header[e.name] = {"dtype": e.dtype, "shape": list(e.shape), "data_offsets": [e.begin, e.end]}
    header_bytes = json.dumps(header, separators=(",", ":")).encode()
    header_bytes += b" " * (-len(header_bytes) % 8)

    def write_to(f: BinaryIO) -> None:
        f.write(len(header_bytes).to_bytes(8, "little"))
        f.write(header_bytes)
        for e in entries:
            f.write(arrays[e.name])

    return write_to


def _prepare(tensors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    arrays = {}
    for name, value in tensors.items():
        if not isinstance(name, str) or name == "__metadata__":
            raise ValueError(f"invalid checkpoint tensor name {name!r}")
        arr = np.asarray(value)
        little = arr.dtype.newbyteorder("<")
        if little not in _DTYPE_NAMES:
            raise TypeError(f"checkpoint tensor {name!r} has unsupported dtype {arr.dtype}")
        arrays[name] = np.asarray(arr, dtype=little, order="C")
    return arrays


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"checkpoint metadata value {value!r} is not JSON-serializable")


# ---- reading ----------------------------------------------------------------------------------

def load(path: str | os.PathLike, *, expected_shapes: Mapping[str, tuple] | None = None) -> Checkpoint:
    """Read and verify the checkpoint at `path`.

    With `expected_shapes`, each named tensor must exist, be float32 and have that shape;
    other tensors (optimizer moments, state) are allowed. Raises CheckpointError for anything
    missing, malformed, corrupt or not matching.
    """
    return _load(Path(path), expected_shapes, foreign=False)


def load_foreign(path: str | os.PathLike) -> Checkpoint:
    """Read a safetensors file written by anything (a PyTorch state dict, say), validated as
    strictly as a checkpoint; its charrnn metadata (an export's) and checksum are checked
    when it has them, and its metadata is {} when it has none."""
    return _load(Path(path), None, foreign=True)


def _load(path: Path, expected_shapes: Mapping[str, tuple] | None, foreign: bool) -> Checkpoint:
    with _open(path) as f:
        entries, info = _read_header(f, path, foreign)
        if expected_shapes is not None:
            _check_expected(path, entries, expected_shapes)
        tensors = {}
        for e in sorted(entries, key=lambda e: e.begin):
            arr = np.empty(e.shape, DTYPES[e.dtype])
            if f.readinto(arr) != e.end - e.begin:
                raise CheckpointError(f"{path} is truncated")
            tensors[e.name] = arr
    if foreign and not info:
        return Checkpoint(path, tensors, info)
    stored = info.pop("checksum", None)
    try:
        actual = _checksum(entries, tensors, info)
    except RecursionError:  # metadata nested near the recursion limit may parse yet not re-encode
        raise CheckpointError(f"{path} is not a valid checkpoint: metadata nested too deeply") from None
    if stored != actual:
        raise CheckpointError(f"{path} is corrupt: checksum mismatch")
    info["checksum"] = stored
    return Checkpoint(path, tensors, info)


def read_meta(path: str | os.PathLike) -> dict:
    """The charrnn metadata of the checkpoint at `path`, after validating its header only."""
    path = Path(path)
    with _open(path) as f:
        return _read_header(f, path)[1]


@contextlib.contextmanager
def _open(path: Path):
    """The file opened for reading; any I/O error, then or while reading, is a CheckpointError."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path} does not exist") from None
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {reason(exc)}") from None
    if not stat.S_ISREG(mode):  # also keeps open() from blocking on a FIFO
        raise CheckpointError(f"checkpoint {path} is not a file")
    try:
        with open(path, "rb") as f:
            yield f
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {reason(exc)}") from None


def _read_header(f, path: Path, foreign: bool = False) -> tuple[list[_Entry], dict]:
    """Validate everything before the tensor data; returns the entries and charrnn metadata
    ({} for a `foreign` file without any)."""

    def bad(reason: str) -> CheckpointError:
        return CheckpointError(f"{path} is not a valid checkpoint: {reason}")

    size = os.fstat(f.fileno()).st_size
    if size < 10:  # length field plus "{}"
        raise bad(f"only {size} bytes")
    header_len = int.from_bytes(f.read(8), "little")
    if header_len > MAX_HEADER_BYTES:
        raise bad(f"header length {header_len} exceeds the {MAX_HEADER_BYTES} byte limit")
    if header_len > size - 8:
        raise bad(f"header length {header_len} exceeds the file size {size}")
    raw = f.read(header_len)
    if len(raw) != header_len:
        raise CheckpointError(f"{path} is truncated")
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_keys)
    except (ValueError, RecursionError) as exc:
        raise bad(f"header is not JSON ({_one_line(exc)})") from None
    if not isinstance(header, dict):
        raise bad("header is not a JSON object")

    meta = header.pop("__metadata__", None)
    if foreign and (meta is None or isinstance(meta, dict) and META_KEY not in meta):
        if meta is not None and not all(isinstance(v, str) for v in meta.values()):
            raise bad("metadata values must be strings")
        return _entries(header, size, header_len, bad), {}
    if not isinstance(meta, dict) or not isinstance(meta.get(META_KEY), str):
        raise CheckpointError(f"{path} is not a charrnn checkpoint: no charrnn metadata")
    if not all(isinstance(v, str) for v in meta.values()):
        raise bad("metadata values must be strings")
    try:
        info = json.loads(meta[META_KEY], object_pairs_hook=_unique_keys)
    except (ValueError, RecursionError) as exc:
        raise bad(f"charrnn metadata is not JSON ({_one_line(exc)})") from None
    if not isinstance(info, dict):
        raise bad("charrnn metadata is not a JSON object")
    version = info.get("format_version")
    if type(version) is not int or version != FORMAT_VERSION:
        found = "no checkpoint format version"
        if version is not None:
            found = f"checkpoint format version {version!r}"
        raise CheckpointError(f"{path} has {found}; this charrnn reads version {FORMAT_VERSION}")
    return _entries(header, size, header_len, bad), info


def _entries(header: dict, size: int, header_len: int, bad) -> list[_Entry]:
    """The tensor entries of a header, checked to tile the data exactly."""
    entries = [_entry(name, value, bad) for name, value in header.items()]
    data_size, offset = size - 8 - header_len, 0
    for e in sorted(entries, key=lambda e: (e.begin, e.end)):
        if e.begin != offset:
            kind = "overlaps another" if e.begin < offset else "leaves a gap before it"
            raise bad(f"tensor {e.name!r} {kind}")
        if e.end > data_size:
            raise bad(f"tensor {e.name!r} runs past the end of the file")
        offset = e.end
    if offset != data_size:
        raise bad(f"{data_size - offset} unexpected bytes after the tensor data")
    return entries


def _entry(name: str, value, bad) -> _Entry:
    if not isinstance(value, dict) or set(value) != _HEADER_KEYS:
        raise bad(f"tensor {name!r} has a malformed entry")
    dtype, shape, offsets = value["dtype"], value["shape"], value["data_offsets"]
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise bad(f"tensor {name!r} has unsupported dtype {dtype!r} (supported: {', '.join(DTYPES)})")
    if not (isinstance(shape, list) and len(shape) <= MAX_NDIM and all(_is_count(d) for d in shape)):
        raise bad(f"tensor {name!r} has an invalid shape {shape!r}")
    elements = 1
    for d in shape:
        elements *= max(d, 1)
    if elements > MAX_ELEMENTS:
        raise bad(f"tensor {name!r} has an absurd shape {shape!r}")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_count(o) for o in offsets)):
        raise bad(f"tensor {name!r} has invalid data offsets {offsets!r}")
    begin, end = offsets
    nbytes = DTYPES[dtype].itemsize * (elements if 0 not in shape else 0)
    if end - begin != nbytes:
        raise bad(f"tensor {name!r} has offsets {offsets} that do not fit shape {shape} and dtype {dtype}")
    return _Entry(name, dtype, tuple(shape), begin, end)


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate key")
    return result


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def _check_expected(path: Path, entries: list[_Entry], expected: Mapping[str, tuple]) -> None:
    found = {e.name: e for e in entries}
    problems = []
    for name, shape in expected.items():
        e = found.get(name)
        if e is None:
            problems.append(f"tensor {name!r} is missing")
        elif e.dtype != "F32":
            problems.append(f"tensor {name!r} is {DTYPES[e.dtype].name}, expected float32")
        elif e.shape != tuple(shape):
            problems.append(f"tensor {name!r} has shape {e.shape}, expected {tuple(shape)}")
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise CheckpointError(f"{path} does not fit this model: {'; '.join(problems[:3])}{more}")


def _checksum(entries: list[_Entry], arrays: Mapping[str, np.ndarray], info: dict) -> str:
    h = hashlib.sha256()
    for e in sorted(entries, key=lambda e: e.name):
        h.update(json.dumps([e.name, e.dtype, list(e.shape)], separators=(",", ":")).encode() + b"\n")
        h.update(arrays[e.name])
    h.update(json.dumps(info, sort_keys=True, separators=(",", ":")).encode())
    return h.hexdigest()


# ---- what a run's checkpoint holds ----------------------------------------------------------------

@dataclass(frozen=True)
class ModelFile:
    """A checkpoint read for its model: the config, the vocabulary, the loaded checkpoint
    (its `param/<name>` tensors checked against the config) and where it is."""

    path: Path
    config: ModelConfig
    vocab: Vocab
    checkpoint: Checkpoint

    @property
    def meta(self) -> dict:
        return self.checkpoint.meta

    @property
    def weights(self) -> dict[str, np.ndarray]:
        """The model's `param/<name>` tensors: the moving average where the run kept one."""
        return model_weights(self.checkpoint.tensors)


def model_weights(tensors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """`param/<name>` -> the weights that are the model: `average/<name>` where the checkpoint
    has it (the weights' moving average), else `param/<name>`."""
    return {name: tensors.get("average/" + name.split("/", 1)[1], array)
            for name, array in tensors.items() if name.startswith("param/")}


def run_meta(training: dict, *, vocab: Vocab, data: dict, run: str, run_id: str, version: str,
             threads: int, precision: str, kernel: str) -> dict:
    """The metadata of a run's checkpoint: the trainer's snapshot (`training`), the
    vocabulary, the data fingerprint, the run's name and identity, the charrnn version, and
    how its products were computed."""
    return dict(training, **vocab.to_meta(), data=data, run=run, run_id=run_id, charrnn_version=version,
                threads=threads, precision=precision, kernel=kernel)


def describe(path: Path, meta: dict) -> tuple[ModelConfig, Vocab]:
    """The ModelConfig and Vocab of a checkpoint's metadata; CheckpointError when either is
    missing or malformed, or when they disagree (ids beyond the embedding would be read)."""
    try:
        cfg = ModelConfig.from_dict(meta["model"])
        vocab = Vocab.from_meta(meta)
    except (KeyError, TypeError, ConfigError, CheckpointError) as exc:
        raise CheckpointError(f"{path} lacks a usable model description ({exc})") from None
    if len(vocab) != cfg.vocab_size:
        raise CheckpointError(f"{path} is inconsistent: {len(vocab)} symbols but a model for {cfg.vocab_size}")
    return cfg, vocab


def read_model(path: str | os.PathLike) -> ModelFile:
    """Read a run's checkpoint for its model, checking the description first, then the sizes it
    declares against its tensors and the machine's memory, then every parameter's shape
    against it (nothing is allocated for a description that is wrong), and last that every
    number it holds is finite."""
    path = Path(path)
    with _open(path) as f:
        entries, meta = _read_header(f, path)
    if meta.get("format") == "torch":
        raise CheckpointError(f"{path} is a PyTorch export (from charrnn checkpoints export), not a checkpoint; "
                              f"turn it back into one with: charrnn checkpoints import {path} -o FILE")
    cfg, _ = describe(path, meta)
    _check_declared_sizes(path, cfg, {e.name: e.shape for e in entries})
    _check_loadable(path, cfg, sum(e.end - e.begin for e in entries))
    shapes = cfg.param_shapes()
    expected = {f"param/{name}": shape for name, shape in shapes.items()}
    if any(e.name.startswith("average/") for e in entries):
        expected.update({f"average/{name}": shape for name, shape in shapes.items()})
    loaded = load(path, expected_shapes=expected)
    _check_finite(path, loaded.tensors)
    cfg, vocab = describe(path, loaded.meta)
    return ModelFile(path, cfg, vocab, loaded)


def _check_declared_sizes(path, cfg: ModelConfig, shapes: Mapping[str, tuple]) -> None:
    """CheckpointError unless the layers, vocabulary, embedding and hidden sizes `cfg` declares
    are those of the `param/<name>` tensors (name -> shape: a header's, read before any data).
    Checked before anything of the declared size is built."""
    for name in ("param/embed", "param/layer0.wh"):
        if len(shapes.get(name, ())) != 2:
            found = "missing" if name not in shapes else f"of shape {shapes[name]}"
            raise CheckpointError(f"{path} does not fit its model: tensor {name!r} is {found}")
    (vocabulary, embedding), hidden = shapes["param/embed"], shapes["param/layer0.wh"][1]
    found = dict(layers=sum(1 for name in shapes if re.fullmatch(r"param/layer\d+\.wh", name)),
                 vocabulary=vocabulary, embedding=embedding, hidden=hidden)
    declared = dict(layers=cfg.layers, vocabulary=cfg.vocab_size, embedding=cfg.embed, hidden=cfg.hidden)
    wrong = [f"{what} {declared[what]} where its tensors have {size}" for what, size in found.items()
             if size != declared[what]]
    if wrong:
        raise CheckpointError(f"{path} is inconsistent: its metadata declares {'; '.join(wrong)}")


def _check_loadable(path, cfg: ModelConfig, tensor_bytes: int) -> None:
    """CheckpointError when loading the model of `cfg` from `tensor_bytes` of tensors (which are
    read whole), and building the model, would take more memory than this machine has."""
    from .estimate import gigabytes, machine_memory

    need = tensor_bytes + MODEL_COPIES * cfg.n_params() * np.dtype(np.float32).itemsize
    have = machine_memory()
    if have is not None and need > have:
        raise CheckpointError(f"{path} holds a {cfg.cell} {cfg.layers}x{cfg.hidden} model that needs about "
                              f"{gigabytes(need)} to load, and this machine has {gigabytes(have)}")


def _check_finite(path, tensors: Mapping[str, np.ndarray]) -> None:
    """CheckpointError unless every floating-point number in `tensors` is finite: a NaN or an
    infinity in a weight makes every prediction after it meaningless."""
    problem = non_finite(tensors)
    if problem:
        raise CheckpointError(f"{path} is not a usable model: {problem}")


def non_finite(tensors: Mapping[str, np.ndarray]) -> str | None:
    """Which tensor holds numbers that are not finite, and how many, for a message; None when
    all of them are."""
    for name in sorted(tensors):
        array = tensors[name]
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            bad = int(array.size - np.count_nonzero(np.isfinite(array)))
            return (f"tensor {name!r} holds {bad} value{'s' if bad != 1 else ''} that {'are' if bad != 1 else 'is'} "
                    "not a finite number (NaN or infinity)")
    return None


def is_run_checkpoint(path: str | os.PathLike) -> bool:
    """Whether `path` is a checkpoint written by training (not an export)."""
    try:
        meta = read_meta(path)
    except CheckpointError:
        return False
    return isinstance(meta.get("model"), dict) and "step" in meta and meta.get("format") != "torch"


def recorded_data(model_file: ModelFile) -> tuple[dict, TrainConfig]:
    """What a checkpoint records of its run's text and training settings, checked: (data
    fingerprint, TrainConfig). CheckpointError when the run cannot be resumed from it."""
    meta, path = model_file.meta, model_file.path
    data = meta.get("data")
    if "imported_from" in meta and data is None:
        raise CheckpointError(f"{path} cannot be resumed: it was imported (charrnn checkpoints import), so it holds "
                              "weights but no training to continue; start a run from its weights with init_from",
                              options=("init_from",))
    try:
        if not (isinstance(data, dict) and isinstance(data.get("sources"), list) and data["sources"]
                and all(isinstance(f, str) for f in data["sources"]) and type(data.get("chars")) is int
                and isinstance(data.get("separator", ""), str) and data.get("errors", "strict") in ERRORS):
            raise ConfigError(f"the text it was trained on is described as {str(data)[:60]}")
        return data, TrainConfig.from_dict(meta["train"])
    except (KeyError, TypeError, ConfigError) as exc:
        raise CheckpointError(f"{path} cannot be resumed: {exc}") from None


def training_state(meta: dict, max_bad_steps: int, max_recoveries: int) -> dict:
    """The training progress in a checkpoint's metadata (Trainer.snapshot's), checked:
    CheckpointError unless the counters, clock, records and recovery state have the types
    and ranges a trainer writes (a checksum shows a file is intact, not that it is sane)."""

    def number(value, allow_none=False) -> bool:  # finite, without float() overflowing on a huge int
        return (value is None and allow_none) or (type(value) in (int, float) and -1e308 < value < 1e308)

    checks = {
        "step": lambda v: type(v) is int and v >= 0,
        "optimizer_steps": lambda v: type(v) is int and v >= 0,
        "skipped": lambda v: type(v) is int and v >= 0,
        "train_seconds": lambda v: number(v) and v >= 0,
        "best_val": lambda v: number(v, allow_none=True),
        "history": lambda v: isinstance(v, list) and all(
            isinstance(h, dict) and type(h.get("step")) is int and number(h.get("val_loss"), allow_none=True)
            for h in v),
        "recent_losses": lambda v: isinstance(v, list) and all(number(x) for x in v),
    }
    for name, valid in checks.items():
        if name not in meta or not valid(meta[name]):
            found = "missing" if name not in meta else repr(meta[name])[:40]
            raise CheckpointError(f"the checkpoint's {name} is malformed ({found})")
    # older checkpoints lack the recovery state
    bad, scale, recoveries = meta.get("bad_in_a_row", 0), meta.get("lr_scale", 1.0), meta.get("recoveries", 0)
    if not (type(bad) is int and 0 <= bad < max_bad_steps and type(scale) in (int, float) and 0 < scale <= 1
            and type(recoveries) is int and 0 <= recoveries <= max_recoveries):
        raise CheckpointError(f"the checkpoint's recovery state is malformed (bad_in_a_row {bad!r}, "
                              f"lr_scale {scale!r}, recoveries {recoveries!r})")
    return dict(meta, bad_in_a_row=bad, lr_scale=float(scale), recoveries=recoveries)


def run_record(meta: dict) -> dict:
    """What a checkpoint records of its run besides the training state, checked: `run` (its
    name) and `run_id` (None in older checkpoints), `saving` (the save cadence `every`, as
    ("steps", n) or ("seconds", s), and `keep`; None each where not recorded), `changes`
    (the options changed on resume), `threads` and `precision`. CheckpointError for anything
    malformed."""
    from .config import steps_or_duration

    def bad(name: str) -> CheckpointError:
        return CheckpointError(f"the checkpoint's {name} is malformed ({repr(meta.get(name))[:40]})")

    run, run_id = meta.get("run"), meta.get("run_id")
    if run is not None and not isinstance(run, str):
        raise bad("run")
    if run_id is not None and not (isinstance(run_id, str) and len(run_id) == 16
                                   and all(c in "0123456789abcdef" for c in run_id)):
        raise bad("run_id")
    saving = meta.get("saving", {})
    if not isinstance(saving, dict):
        raise bad("saving")
    every, keep = saving.get("every"), saving.get("keep")
    try:
        if every is not None:
            if not (isinstance(every, list) and len(every) == 2):
                raise ConfigError("not a pair")
            every = steps_or_duration("save_every", tuple(every))
    except ConfigError:
        raise bad("saving") from None
    if keep is not None and not (type(keep) is int and keep >= 0):
        raise bad("saving")
    changes = meta.get("changes", [])
    if not (isinstance(changes, list) and all(isinstance(c, dict) for c in changes)):
        raise bad("changes")
    threads = meta.get("threads")
    if threads is not None and not (type(threads) is int and 1 <= threads <= 4096):
        raise bad("threads")
    precision = meta.get("precision", "fp32")  # older checkpoints: float32 products
    if precision not in ("fp32", "bf16"):
        raise bad("precision")
    return dict(run=run, run_id=run_id, saving=dict(every=every, keep=keep), changes=changes, threads=threads,
                precision=precision)
